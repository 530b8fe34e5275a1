"""The `export` command, end to end through the CLI against the sandbox on loopback."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import export as export_module
from reconciler.cli import main
from reconciler.sandbox import Faults, Sandbox
from tests.conftest import Cli
from tests.factories import ENTRY, peak_by_element, peak_with_key, result_doc

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"  # `candidate_key` on each peak; p2 pinned, p1 not
INGAN = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"  # candidates as a mapping with `selected`
ALN = "5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b"  # element and manual only: nothing to export
PLASMA = "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b"  # candidates as a list with `selected`
EXAMPLES = (GAN, INGAN, ALN, PLASMA)
MISSING = "00000000-0000-4000-8000-000000000000"
# Each exported peak carries the wavelength the sandbox measured it at, and its candidates in a comment.
GAN_P2 = "p2: {candidate_key: N2_337.1, wavelength_nm: 337.4}  # candidates: N2_337.1, N2_357.7"


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
    assert f"  {GAN}:\n    {GAN_P2}\n" in text
    assert (
        f"  {INGAN}:\n    p1: {{candidate_key: In_451.1, wavelength_nm: 451.3}}"
        "  # candidates: In_451.1, In_410.2\n"
        "    p4: {candidate_key: In_451.1, wavelength_nm: 417.9}  # candidates: In_451.1, Ga_417.2\n"
    ) in text
    assert (
        f"  {PLASMA}:\n    p1: {{candidate_key: Ga_417.2, wavelength_nm: 417.5}}"
        "  # candidates: Ga_417.2, Ga_403.3\n" in text
    )
    assert "p1:" not in text.split(GAN)[1]  # unpinned: not a manual assignment

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
        b"data_id,peak_id,candidate_key,wavelength_nm,note",
        f"{INGAN},p1,In_451.1,451.3,".encode(),
        f"{INGAN},p4,In_451.1,417.9,".encode(),
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
        f"version: 1\noverrides:\n  {GAN}:\n    {GAN_P2}\n"
    )


def test_all_peaks_includes_unpinned_peaks(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """`--all-peaks` exports every peak's applied candidate, pinned or not."""
    code, out, _err = export(capsys, GAN, "--all-peaks")
    assert code == 0
    assert out.startswith("# Every peak's applied candidate, exported by oes-reconcile")
    assert out.endswith(
        f"overrides:\n  {GAN}:\n"
        "    p1: {candidate_key: In_451.1, wavelength_nm: 416.9}  # candidates: Ga_417.2, In_451.1\n"
        f"    {GAN_P2}\n"
        "    p3: {candidate_key: Ga_403.3, wavelength_nm: 403.1}  # candidates: Ga_403.3, Ga_417.2\n"
        "    p5: {candidate_key: Al_396.2, wavelength_nm: 396.5}  # candidates: Al_396.2, Al_394.4\n"
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
    assert out == (
        f"data_id,peak_id,candidate_key,wavelength_nm,note\n{PLASMA},p1,Ga_417.2,417.5,\n{GAN},p2,N2_337.1,337.4,\n"
    )
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


def test_failed_fetch_fails_the_export(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """An entry whose GET still fails after the last attempt fails the export, and stdout stays empty."""
    sandbox.set_faults(Faults(fail_first=5, fail_kind="503"))
    code, out, err = export(capsys, GAN, "--max-attempts", "2")
    assert code == 1
    assert out == ""
    assert f"{GAN}: fetch failed: HTTP 503" in err
    assert sandbox.stats()["by_method"] == {"GET": 2}


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
            assert f'    "{peak_id}": {{candidate_key: Ga_417.2, wavelength_nm: 401.0}}\n' in text
        assert secret not in text + out + err
        capsys.readouterr()
        assert main(["plan", str(target), "--detailed-exitcode"]) == 0


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


# --- `-o PATH`: what is already there is never lost ---------------------------------------------------


def _state(path: Path) -> tuple[int, str, bytes]:
    """What is at `path`, without opening anything but a regular file: its type, link text and bytes."""
    mode = path.lstat().st_mode
    link = str(path.readlink()) if stat.S_ISLNK(mode) else ""
    data = path.read_bytes() if stat.S_ISREG(mode) else b""
    return stat.S_IFMT(mode), link, data


def test_existing_file_is_kept_without_force(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`-o` naming an existing file, without --force: exit 1 naming the path and --force, file intact."""
    target = tmp_path / "current.yaml"
    target.write_bytes(b"version: 1\r\noverrides: {}  # mine\r\n")
    ran = cli("export", GAN, "-o", str(target))
    assert ran.code == 1
    assert ran.out == ""
    assert f"{target} already exists; add --force to replace it" in ran.err
    assert target.read_bytes() == b"version: 1\r\noverrides: {}  # mine\r\n"
    assert [path.name for path in tmp_path.iterdir()] == ["current.yaml"]
    assert sandbox.stats()["requests"] == 0


def test_force_replaces_an_existing_file(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """With --force the existing file is replaced by the export, whole, and nothing else is left."""
    target = tmp_path / "current.yaml"
    target.write_text("previous export\n", encoding="utf-8")
    ran = cli("export", GAN, "-o", str(target), "--force")
    assert ran.code == 0, ran.err
    assert target.read_text(encoding="utf-8").endswith(f"  {GAN}:\n    {GAN_P2}\n")
    assert [path.name for path in tmp_path.iterdir()] == ["current.yaml"]


def test_link_to_an_override_file_is_kept_without_force(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """A symlink to an override file, without --force: link and file both left byte for byte."""
    overrides = tmp_path / "overrides.yaml"
    overrides.write_bytes(Path("examples/overrides.yaml").read_bytes())
    link = tmp_path / "current.yaml"
    link.symlink_to(overrides.name)
    before = _state(link), _state(overrides)
    ran = cli("export", GAN, "-o", str(link))
    assert ran.code == 1
    assert f"{link} already exists (a symbolic link to {overrides}); add --force" in ran.err
    assert (_state(link), _state(overrides)) == before
    assert sandbox.stats()["requests"] == 0


def test_force_through_a_link_writes_the_file_it_names(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """With --force, a link to a regular file stays a link; the file it names gets the export, said aloud."""
    (tmp_path / "v3.yaml").write_text("old\n", encoding="utf-8")
    link = tmp_path / "current.yaml"
    link.symlink_to("v3.yaml")
    ran = cli("export", GAN, "-o", str(link), "--force")
    assert ran.code == 0, ran.err
    assert link.is_symlink()
    assert str(link.readlink()) == "v3.yaml"
    assert (tmp_path / "v3.yaml").read_text(encoding="utf-8").endswith(f"{GAN_P2}\n")
    assert f"writing {tmp_path / 'v3.yaml'}, the file that the symbolic link {link} points to" in ran.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["current.yaml", "v3.yaml"]


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))


def _device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
    except OSError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror}): needs root and CAP_MKNOD")


# FIFOs are tried in a real process with a timeout (below): opening one in-process would hang the suite.
SPECIAL: dict[str, tuple[Callable[[Path], object], str]] = {
    "folder": (Path.mkdir, "it is a folder"),
    "socket": (_socket, "it is a socket"),
    "device": (_device, "it is a character device"),
    "link to a device": (
        lambda path: path.symlink_to("/dev/null"),
        "a symbolic link to /dev/null, a character",
    ),
    "link to a folder": (lambda path: path.symlink_to(path.parent), "a symbolic link to "),
    "dangling link": (lambda path: path.symlink_to("nowhere.yaml"), "to nowhere.yaml, which does not exist"),
    "link loop": (lambda path: path.symlink_to(path.name), "a symbolic link that cannot be followed"),
}


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_special_paths_are_refused_even_with_force(
    sandbox: Sandbox,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    kind: str,
    force: tuple[str, ...],
) -> None:
    """A folder, socket, device or odd link at `-o` is refused, named, untouched, before anything is sent."""
    monkeypatch.chdir(tmp_path)  # a short relative path: a socket's name is limited to ~100 bytes
    make, named = SPECIAL[kind]
    target = Path("out.yaml")
    make(target)
    before = sorted(path.name for path in tmp_path.iterdir()), _state(target)
    ran = cli("export", GAN, "-o", "out.yaml", *force)
    assert ran.code == 1
    assert ran.out == ""
    assert "refusing to write out.yaml:" in ran.err
    assert named in ran.err
    assert "even with --force" in ran.err
    assert "Traceback" not in ran.err
    assert (sorted(path.name for path in tmp_path.iterdir()), _state(target)) == before
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
@pytest.mark.parametrize("via_link", [False, True], ids=["fifo", "link-to-fifo"])
def test_fifo_is_refused_by_a_real_process_that_never_hangs(
    sandbox: Sandbox, tmp_path: Path, via_link: bool, force: tuple[str, ...]
) -> None:
    """`-o FIFO` (or a link to one) in a real process: refused at once, the FIFO left; a hang is a timeout."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "out.yaml" if via_link else fifo
    if via_link:
        target.symlink_to(fifo.name)
    before = _state(target)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "reconciler", "export", GAN, "-o", str(target), *force]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"refusing to write {target}: it is " in done.stderr
    assert "a FIFO (named pipe)" in done.stderr
    assert _state(target) == before
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sandbox.stats()["requests"] == 0


def test_the_ids_file_is_never_the_output(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`--ids-file F -o F --force` is refused: the list of entries is not overwritten by their export."""
    ids = tmp_path / "entries.txt"
    ids.write_text(f"{GAN}\n", encoding="utf-8")
    ran = cli("export", "--ids-file", str(ids), "-o", str(ids), "--force")
    assert ran.code == 1
    assert f"refusing to write {ids}: it is the --ids-file" in ran.err
    assert ids.read_text(encoding="utf-8") == f"{GAN}\n"
    assert sandbox.stats()["requests"] == 0


def test_a_file_that_appears_during_the_export_is_kept(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file made at the `-o` path while entries are fetched is not replaced without --force."""
    target = tmp_path / "current.yaml"
    fetch = export_module.fetch_all

    async def fetch_while_someone_writes(*args: Any, **kwargs: Any) -> export_module.Fetched:
        target.write_text("written meanwhile\n", encoding="utf-8")
        return await fetch(*args, **kwargs)

    monkeypatch.setattr(export_module, "fetch_all", fetch_while_someone_writes)
    ran = cli("export", GAN, "-o", str(target))
    assert ran.code == 1
    assert f"{target} already exists; add --force" in ran.err
    assert target.read_text(encoding="utf-8") == "written meanwhile\n"


# --- entries without a result, fetches that fail ------------------------------------------------------


def test_missing_entry_is_reported_and_the_others_written(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """An entry that answers 404 is named on stderr; the others are written all the same; exit 1."""
    target = tmp_path / "current.yaml"
    ran = cli("export", GAN, MISSING, "-o", str(target))
    assert ran.code == 1
    assert f"ERROR: {MISSING}: no OES result for this data entry (HTTP 404)\n" in ran.err
    assert "1 of 2 data entries has no OES result (HTTP 404); the export holds the others" in ran.err
    assert target.read_text(encoding="utf-8").endswith(f"overrides:\n  {GAN}:\n    {GAN_P2}\n")


def test_only_missing_entries_write_nothing(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """When every entry answers 404 nothing is written (an old export is not emptied); exit 1."""
    target = tmp_path / "current.yaml"
    target.write_text("previous export\n", encoding="utf-8")
    ran = cli("export", MISSING, "-o", str(target), "--force")
    assert ran.code == 1
    assert "1 of 1 data entry has no OES result (HTTP 404)" in ran.err
    assert "nothing could be exported; nothing was written" in ran.err
    assert target.read_text(encoding="utf-8") == "previous export\n"


def test_one_failed_fetch_writes_nothing_even_with_force(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """A fetch that fails after retries keeps the old export whole: it would silently lose that entry."""
    sandbox.set_faults(Faults(fail_first=2, fail_kind="503"))
    assert cli("export", GAN, MISSING, "--max-attempts", "2").code == 1  # uses up their two failures
    target = tmp_path / "current.yaml"
    target.write_text("previous export\n", encoding="utf-8")
    ran = cli("export", GAN, INGAN, MISSING, "-o", str(target), "--force", "--max-attempts", "2")
    assert ran.code == 1
    assert f"{INGAN}: fetch failed: HTTP 503" in ran.err
    assert f"{MISSING}: no OES result" in ran.err
    assert "export failed for 1 of 3 data entries; nothing was written" in ran.err
    assert target.read_text(encoding="utf-8") == "previous export\n"


# --- servers that name only elements ------------------------------------------------------------------


@pytest.mark.parametrize("all_peaks", [(), ("--all-peaks",)], ids=["pinned", "all-peaks"])
def test_element_only_entry_exports_nothing_and_says_why(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, all_peaks: tuple[str, ...]
) -> None:
    """An entry in the documented element-only shape: each peak named, the reason given, nothing written."""
    skipped = 2 if all_peaks else 1  # p2 is not pinned: only --all-peaks looks at it
    target = tmp_path / "current.yaml"
    ran = cli("export", ALN, "-o", str(target), *all_peaks)
    assert ran.code == 1
    assert (
        f"WARNING: {ALN} p1: skipped: the server sends no candidate key for this peak (element Al only)"
        in ran.err
    )
    assert (f"{ALN} p2: skipped" in ran.err) == bool(all_peaks)
    assert (
        "ERROR: the server sends no candidate key for these peaks, only elements: an override file needs "
        f"candidate keys; {skipped} peak{'s' if skipped > 1 else ''} skipped\n"
    ) in ran.err
    assert not target.exists()


def test_element_only_server_to_stdout_prints_nothing(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """A server whose every peak is element-only: stdout stays empty, stderr says why, exit 1."""
    entries = [result_doc(peak_by_element("p1", "Ga", manual=True), peak_by_element("p2", "N", manual=True))]
    with Sandbox(entries=entries) as server:
        monkeypatch.setenv("AS_API_ENDPOINT", server.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        ran = cli("export", ENTRY)
    assert ran.code == 1
    assert ran.out == ""
    assert "only elements: an override file needs candidate keys; 2 peaks skipped" in ran.err


def test_some_element_only_peaks_warn_and_exit_0(sandbox: Sandbox, cli: Cli) -> None:
    """Peaks exported from one entry, element-only peaks skipped in another: each named, a count, exit 0."""
    ran = cli("export", GAN, ALN, "--all-peaks")
    assert ran.code == 0, ran.err
    assert f"{ALN} p1: skipped: the server sends no candidate key" in ran.err
    assert f"{ALN} p2: skipped: the server sends no candidate key" in ran.err
    assert "WARNING: 2 peaks skipped: the server sends no candidate key, only the element" in ran.err
    assert ALN not in ran.out
    assert (
        f"  {GAN}:\n    p1: {{candidate_key: In_451.1, wavelength_nm: 416.9}}"
        "  # candidates: Ga_417.2, In_451.1\n" in ran.out
    )


def test_mix_of_found_missing_and_element_only_entries(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """Found, 404 and element-only entries at once: found ones written, in sync; problems named; exit 1."""
    target = tmp_path / "current.yaml"
    ran = cli("export", PLASMA, MISSING, ALN, GAN, "-o", str(target))
    assert ran.code == 1
    assert ran.out == ""
    assert f"ERROR: {MISSING}: no OES result for this data entry (HTTP 404)" in ran.err
    assert f"WARNING: {ALN} p1: skipped: the server sends no candidate key" in ran.err
    assert "WARNING: 1 peak skipped: the server sends no candidate key" in ran.err
    assert "ERROR: 1 of 4 data entries has no OES result (HTTP 404); the export holds the others" in ran.err
    text = target.read_text(encoding="utf-8")
    assert text.endswith(
        f"overrides:\n  {PLASMA}:\n    p1: {{candidate_key: Ga_417.2, wavelength_nm: 417.5}}"
        "  # candidates: Ga_417.2, Ga_403.3\n"
        f"  {GAN}:\n    {GAN_P2}\n"
    )
    planned = cli("plan", str(target), "--detailed-exitcode")
    assert planned.code == 0, planned.err
    assert planned.out == "No changes: 2 overrides match.\n"


def test_only_unnameable_peaks_export_nothing(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """Pinned peaks whose ids no override file may hold: each named, nothing written, exit 1."""
    peaks = [peak_with_key("p\x01", "Ga_417.2", manual=True), peak_with_key("p2 ", "N2_337.1", manual=True)]
    with Sandbox(entries=[result_doc(*peaks)]) as server:
        monkeypatch.setenv("AS_API_ENDPOINT", server.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        ran = cli("export", ENTRY)
    assert ran.code == 1
    assert ran.out == ""
    assert f"{ENTRY} p\ufffd: skipped:" in ran.err  # the control character is not passed to the terminal
    assert f"{ENTRY} p2 : skipped: blank space at the end" in ran.err
    assert "nothing could be exported; nothing was written" in ran.err


# --- wavelengths --------------------------------------------------------------------------------------


def _serving(monkeypatch: pytest.MonkeyPatch, server: Sandbox) -> None:
    monkeypatch.setenv("AS_API_ENDPOINT", server.url)
    monkeypatch.setenv("AS_API_KEY", "sandbox")


def test_a_peak_renumbered_after_the_export_is_peak_moved(
    monkeypatch: pytest.MonkeyPatch, cli: Cli, tmp_path: Path
) -> None:
    """The exported wavelength guards the peak: after reprocessing shifts the ids, a plan of the export
    reports peak_moved (exit 1) and names the peak now at that wavelength, instead of patching."""
    before = [
        {
            **peak_with_key("p1", "Ga_417.2", manual=True, candidates=("Ga_417.2", "In_451.1")),
            "wavelength_nm": 417.3,
        },
        {
            **peak_with_key("p2", "In_451.1", manual=True, candidates=("Ga_417.2", "In_451.1")),
            "wavelength_nm": 451.2,
        },
    ]
    target = tmp_path / "current.yaml"
    with Sandbox(entries=[result_doc(*before)]) as server:
        _serving(monkeypatch, server)
        assert cli("export", ENTRY, "-o", str(target)).code == 0
        assert cli("plan", str(target)).out == "No changes: 2 overrides match.\n"
    new_peak = {**peak_with_key("p1", "N2_337.1", manual=False), "wavelength_nm": 337.2}
    shifted = [new_peak] + [{**peak, "peak_id": f"p{n + 2}"} for n, peak in enumerate(before)]
    with Sandbox(entries=[result_doc(*shifted)]) as server:
        _serving(monkeypatch, server)
        ran = cli("plan", str(target))
    assert ran.code == 1
    assert (
        "peak 'p1' is now at 337.2 nm, expected within 0.5 nm of 417.3 nm (the override's wavelength_nm)"
        in ran.out
    )
    assert "peaks near 417.3 nm now: p2 (417.3 nm)" in ran.out
    assert "peaks near 451.2 nm now: p3 (451.2 nm)" in ran.out


def test_peaks_without_a_usable_wavelength_are_written_in_the_short_form(
    monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """No wavelength from the server: `p1: KEY`; one no file can hold (0, NaN): left out with a warning."""
    peaks = [
        {**peak_with_key("p1", "Ga_417.2", manual=True), "wavelength_nm": None},
        {**peak_with_key("p2", "Ga_417.2", manual=True), "wavelength_nm": 0},
        {**peak_with_key("p3", "Ga_417.2", manual=True), "wavelength_nm": float("nan")},
    ]
    with Sandbox(entries=[result_doc(*peaks)]) as server:
        _serving(monkeypatch, server)
        ran = cli("export", ENTRY)
    assert ran.code == 0, ran.err
    assert ran.out.endswith(f"  {ENTRY}:\n    p1: Ga_417.2\n    p2: Ga_417.2\n    p3: Ga_417.2\n")
    assert f"{ENTRY} p2: written without its wavelength: wavelength_nm must be above 0" in ran.err
    assert f"{ENTRY} p3: written without its wavelength" in ran.err


def test_the_output_name_decides_the_format_unless_told(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`export -o x.csv` writes CSV (a YAML text in a .csv file would stop every later run); a --format
    the name contradicts is refused before anything is sent."""
    assert cli("export", ENTRY, "-o", str(tmp_path / "x.csv")).code == 0
    assert (tmp_path / "x.csv").read_text().startswith("data_id,peak_id,candidate_key")
    assert cli("validate", str(tmp_path / "x.csv")).code == 0
    sandbox.reset_stats()
    ran = cli("export", ENTRY, "--format", "yaml", "-o", str(tmp_path / "y.csv"))
    assert ran.code == 1
    assert "names a CSV file, but --format is yaml" in ran.err
    assert sandbox.stats()["requests"] == 0


def test_hostile_candidates_stay_in_their_comment_and_plan_finds_no_changes(
    monkeypatch: pytest.MonkeyPatch, cli: Cli, tmp_path: Path
) -> None:
    """Candidate keys with `#`, line breaks and quotes from the server: shown escaped in the comment, the
    file still has one line per peak, and a plan of it reports no changes."""
    hostile = ("Ga_417.2", "x\n  p9: Ga_1.0 # y", 'q"uote\u2028')
    peaks = [peak_with_key("p1", "Ga_417.2", manual=True, candidates=hostile)]
    target = tmp_path / "current.yaml"
    with Sandbox(entries=[result_doc(*peaks)]) as server:
        _serving(monkeypatch, server)
        assert cli("export", ENTRY, "-o", str(target)).code == 0
        text = target.read_text(encoding="utf-8")
        assert text.endswith(
            f"  {ENTRY}:\n    p1: {{candidate_key: Ga_417.2, wavelength_nm: 401.0}}"
            '  # candidates: Ga_417.2, "x\\n  p9: Ga_1.0 # y", "q\\"uote\\u2028"\n'
        )
        planned = cli("plan", str(target), "--detailed-exitcode")
    assert planned.code == 0, planned.err
    assert planned.out == "No changes: 1 override matches.\n"


def test_csv_export_has_no_comments(sandbox: Sandbox, cli: Cli) -> None:
    """CSV has no comments: the candidates are left out of it."""
    ran = cli("export", GAN, "--format", "csv")
    assert ran.code == 0
    assert "candidates" not in ran.out
    assert "#" not in ran.out
