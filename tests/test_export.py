"""The `export` command, end to end through the CLI against the sandbox on loopback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.export import render_csv, render_yaml
from reconciler.load import load_overrides
from reconciler.load_rules import text_problem
from reconciler.sandbox import Faults, Sandbox
from tests.factories import ENTRY, peak_by_element, peak_with_key, result_doc

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"  # `candidate_key` on each peak; p2 pinned, p1 not
INGAN = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"  # candidates as a mapping with `selected`
ALN = "5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b"  # element and manual only: nothing to export
PLASMA = "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b"  # candidates as a list with `selected`
EXAMPLES = (GAN, INGAN, ALN, PLASMA)
MISSING = "00000000-0000-4000-8000-000000000000"


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `oes-reconcile export ARGS`; the exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_yaml_export_round_trips(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exported YAML holds the pinned assignments, plans with no changes, and re-exports identically."""
    target = tmp_path / "current.yaml"
    assert export(capsys, *EXAMPLES, "-o", str(target))[0] == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith(f"# Manual peak assignments, exported by oes-reconcile from {sandbox.url}\n")
    assert f"  {GAN}:\n    p2: N2_337.1\n" in text
    assert f"  {INGAN}:\n    p1: In_451.1\n    p4: In_451.1\n" in text
    assert f"  {PLASMA}:\n    p1: Ga_417.2\n" in text
    assert "p1: In_451.1" not in text.split(GAN)[1]  # unpinned: not a manual assignment

    capsys.readouterr()
    assert main(["plan", str(target), "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out == "No changes: 4 overrides match.\n"

    code, again, _err = export(capsys, PLASMA, INGAN, GAN, ALN)  # another order, to stdout
    assert code == 0
    assert again == text


def test_csv_export_round_trips(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CSV export has the spec's header, `\\n` endings, plans with no changes, re-exports the same."""
    target = tmp_path / "current.csv"
    assert export(capsys, *EXAMPLES, "--format", "csv", "-o", str(target))[0] == 0
    data = target.read_bytes()
    assert data.split(b"\n")[:3] == [
        b"data_id,peak_id,candidate_key,note",
        f"{INGAN},p1,In_451.1,".encode(),
        f"{INGAN},p4,In_451.1,".encode(),
    ]
    assert b"\r" not in data

    capsys.readouterr()
    assert main(["plan", str(target), "--detailed-exitcode"]) == 0

    target.unlink()
    assert export(capsys, *reversed(EXAMPLES), "--format", "csv", "-o", str(target))[0] == 0
    assert target.read_bytes() == data


def test_sandbox_flag_names_no_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--sandbox` exports from an in-process sandbox, and the header names no port that would vary."""
    monkeypatch.delenv("AS_API_KEY", raising=False)
    code, out, _err = export(capsys, "--sandbox", GAN)
    assert code == 0
    assert out == (
        "# Manual peak assignments, exported by oes-reconcile from the in-process sandbox\n"
        f"version: 1\noverrides:\n  {GAN}:\n    p2: N2_337.1\n"
    )


def test_all_peaks_includes_unpinned_peaks(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """`--all-peaks` exports every peak's applied candidate, pinned or not."""
    code, out, _err = export(capsys, GAN, "--all-peaks")
    assert code == 0
    assert out.startswith("# Every peak's applied candidate, exported by oes-reconcile")
    assert out.endswith(
        f"overrides:\n  {GAN}:\n    p1: In_451.1\n    p2: N2_337.1\n    p3: Ga_403.3\n    p5: Al_396.2\n"
    )


def test_plan_of_an_all_peaks_export_lists_exactly_the_unpinned_peaks(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An `--all-peaks` export plans as: pinned peaks in sync, unpinned ones a change that pins them."""
    target = tmp_path / "all.yaml"
    assert export(capsys, GAN, "--all-peaks", "-o", str(target))[0] == 0
    assert main(["plan", str(target)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2:5] for line in lines[:-1]] == [
        ["p1", "In_451.1", "(unpinned)"],
        ["p3", "Ga_403.3", "(unpinned)"],
        ["p5", "Al_396.2", "(unpinned)"],
    ]
    assert lines[-1] == "Plan: 3 to change, 1 in sync."


def test_ids_file_skips_comments_and_blank_lines(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--ids-file` reads one id a line, ignores `#` comments and blank lines, and collapses repeats."""
    ids = tmp_path / "entries.txt"
    ids.write_text(f"# entries to adopt\n\n{GAN.upper()}  # GaN run 14\n{PLASMA}\n{GAN}\n", encoding="utf-8")
    code, out, _err = export(capsys, "--ids-file", str(ids), "--format", "csv")
    assert code == 0
    assert out == (f"data_id,peak_id,candidate_key,note\n{PLASMA},p1,Ga_417.2,\n{GAN},p2,N2_337.1,\n")
    assert sandbox.stats()["by_method"] == {"GET": 2}


def test_bad_id_names_its_line(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An id that is not a UUID is an input error naming `file:line` (or the argument); nothing is fetched."""
    ids = tmp_path / "entries.txt"
    ids.write_text(f"{GAN}\n# next one is wrong\nrun-14\n", encoding="utf-8")
    code, out, err = export(capsys, "not-a-uuid", "--ids-file", str(ids))
    assert code == 1
    assert out == ""
    assert "DATA_ID argument 1: data_id 'not-a-uuid' is not a UUID" in err
    assert f"{ids}:3: data_id 'run-14' is not a UUID" in err
    assert sandbox.stats()["requests"] == 0


def test_no_ids_is_an_error(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Naming no entry at all (or an ids file of comments only) is an input error."""
    ids = tmp_path / "entries.txt"
    ids.write_text("# nothing yet\n", encoding="utf-8")
    code, _out, err = export(capsys, "--ids-file", str(ids))
    assert code == 1
    assert "name at least one DATA_ID" in err


def test_missing_entry_fails_and_writes_nothing(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry that answers 404 fails the export with exit 1; the output file is left as it was."""
    target = tmp_path / "current.yaml"
    target.write_text("previous export\n", encoding="utf-8")
    code, out, err = export(capsys, GAN, MISSING, "-o", str(target))
    assert code == 1
    assert out == ""
    assert f"{MISSING}: no OES result for this data entry (HTTP 404)" in err
    assert "nothing was written" in err
    assert target.read_text(encoding="utf-8") == "previous export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["current.yaml"]


def test_failed_fetch_fails_the_export(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """An entry whose GET still fails after the last attempt fails the export, and stdout stays empty."""
    sandbox.set_faults(Faults(fail_first=5, fail_kind="503"))
    code, out, err = export(capsys, GAN, "--max-attempts", "2")
    assert code == 1
    assert out == ""
    assert f"{GAN}: fetch failed: HTTP 503" in err
    assert sandbox.stats()["by_method"] == {"GET": 2}


def test_element_only_peaks_are_skipped_with_a_warning(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A peak the server gives no candidate key for is left out, with a warning naming entry and peak."""
    code, out, err = export(capsys, ALN, "--all-peaks")
    assert code == 0
    assert out.endswith("version: 1\noverrides: {}\n")
    assert f"{ALN} p1: skipped: the server sends no candidate key" in err
    assert f"{ALN} p2: skipped" in err
    assert "WARNING: nothing to export from 1 data entry\n" in err


def test_one_get_per_entry(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """Each entry is fetched exactly once, with no more requests in flight than `--concurrency`."""
    entries = [entry["data_id"] for entry in sandbox.entries()]
    code, _out, _err = export(capsys, *entries, "--concurrency", "2")
    assert code == 0
    stats = sandbox.stats()
    assert stats["by_method"] == {"GET": len(entries)}
    assert len(stats["by_path"]) == len(entries)
    assert stats["max_in_flight"] <= 2


def test_ambiguous_ids_are_quoted_and_the_key_never_shows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids YAML would read as numbers, booleans or null are quoted, and plan reads them back as text."""
    secret = "s3cret-key-4f1a"
    peaks = [
        peak_with_key(peak_id, "Ga_417.2", manual=True) for peak_id in ("1", "yes", "null", "417.2", "p 1")
    ]
    peaks.append(peak_by_element("p9", "Ga", manual=True))
    with Sandbox(entries=[result_doc(*peaks, data_id=ENTRY)], api_key=secret) as server:
        monkeypatch.setenv("AS_API_KEY", secret)
        monkeypatch.setenv("AS_API_ENDPOINT", server.url)
        target = tmp_path / "current.yaml"
        code, out, err = export(capsys, ENTRY, "-o", str(target), "-vv")
        assert code == 0
        text = target.read_text(encoding="utf-8")
        for peak_id in ("1", "yes", "null", "417.2", "p 1"):
            assert f'    "{peak_id}": Ga_417.2\n' in text
        assert secret not in text + out + err
        capsys.readouterr()
        assert main(["plan", str(target), "--detailed-exitcode"]) == 0


_ACCEPTED = st.text(min_size=1, max_size=128).filter(
    lambda text: text_problem("id", text) is None and text == text.strip()
)


@given(st.dictionaries(_ACCEPTED, _ACCEPTED, max_size=4))
def test_any_accepted_id_reads_back_unchanged(peaks: dict[str, str]) -> None:
    """Every peak_id and candidate_key the loader accepts reads back unchanged from both formats."""
    assignments = {ENTRY: dict(sorted(peaks.items()))} if peaks else {}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in (
            ("exported.yaml", render_yaml(assignments, source="https://example.org/", all_peaks=False)),
            ("exported.csv", render_csv(assignments)),
        ):
            path = Path(folder, name)
            path.write_text(text, encoding="utf-8")
            loaded = load_overrides([path])
            assert {override.peak_id: override.candidate_key for override in loaded.overrides} == peaks


def test_refused_key_stops_the_export(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key the API refuses stops the export with exit 1 and a message about the key, writing nothing."""
    monkeypatch.setenv("AS_API_KEY", "not-the-key")
    code, out, err = export(capsys, *EXAMPLES)
    assert code == 1
    assert out == ""
    assert "AuthError: the API refused the key (HTTP 401" in err
    assert "not-the-key" not in err
