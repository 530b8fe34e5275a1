"""Answers read as a stream: big bodies in odd chunks, truncated or foreign bodies, bounded error bodies."""

from __future__ import annotations

import json
from array import array
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.answers import OESResultWithSpectra
from reconciler.api import EXCERPT_LIMIT
from reconciler.errors import RequestFailed
from reconciler.sandbox import Sandbox
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.conftest import Cli
from tests.factories import ENTRY, peak_with_key, result_doc
from tests.test_api import client_for, run, scripted


class Chunks(httpx.AsyncByteStream):
    """A body served in pieces of odd sizes, counting the pieces the client pulled."""

    def __init__(self, body: bytes, size: int = 997) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            self.pulled += 1
            yield piece


def big_doc(points: int = 60_000, **fields: Any) -> dict[str, Any]:
    """A result with spectra of `points` points (about 30 bytes each) around one peak."""
    grid = [200.0 + i * 0.01 for i in range(points)]
    doc = result_doc(peak_with_key("p1", "Ga_417.2", manual=True))
    return (
        doc | {"wavelengths": grid, "sample": grid, "scope_corrected": grid, "meta": {"x": ['"]}']}} | fields
    )


async def fetch(stream: Chunks, *, status: int = 200, spectra: bool = False) -> Any:
    handler, _seen = scripted(httpx.Response(status, stream=stream))
    async with client_for(handler) as client:
        return await client.get_result(ENTRY, spectra=spectra)


def test_a_big_answer_in_odd_chunks_keeps_only_the_peaks() -> None:
    """A 2 MB answer in 997-byte pieces: the peaks and timestamp are read, the spectra are not kept."""
    doc = big_doc()
    answer = run(fetch(Chunks(json.dumps(doc).encode())))
    assert answer.result.peak("p1").applied == "Ga_417.2"
    assert answer.result.last_updated == doc["last_updated"]
    assert not isinstance(answer.result, OESResultWithSpectra)


def test_with_spectra_the_plotted_series_is_kept_and_sample_only_without_it() -> None:
    """For the page, `scope_corrected` is kept; `sample` only when there is no corrected series to plot;
    each as an array of doubles (8 bytes a point), equal to what JSON reads."""
    doc = big_doc(points=2_000)
    result = run(fetch(Chunks(json.dumps(doc).encode()), spectra=True)).result
    assert isinstance(result.wavelengths, array)
    assert isinstance(result.scope_corrected, array)
    assert list(result.wavelengths) == doc["wavelengths"]
    assert list(result.scope_corrected) == doc["scope_corrected"]
    assert result.sample is None
    doc["scope_corrected"] = []
    result = run(fetch(Chunks(json.dumps(doc).encode()), spectra=True)).result
    assert list(result.sample) == doc["sample"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(
            json.dumps(big_doc()).encode()[:-40_000],
            "(Invalid JSON: EOF while parsing a list",
            id="truncated",
        ),
        pytest.param(json.dumps([big_doc(points=10)]).encode(), "(Input should be an object)", id="a-list"),
        pytest.param(
            b'{"detected_peaks": [}' + b" " * 100_000, "(Invalid JSON: expected `,` or `]`", id="unbalanced"
        ),
        pytest.param(
            json.dumps(big_doc()).encode() + b"{}", "(Invalid JSON: trailing characters", id="trailing"
        ),
    ],
)
def test_bodies_that_are_no_whole_object_fail_as_before(body: bytes, problem: str) -> None:
    """Truncated, another type, unbalanced, trailing text: the same 'not an OES result' failure as ever."""
    with pytest.raises(RequestFailed, match="HTTP 200 but the body is not an OES result") as failed:
        run(fetch(Chunks(body)))
    assert problem in failed.value.reason


def test_a_kept_field_of_the_wrong_type_names_no_position() -> None:
    """pydantic's complaint about a kept field is kept; a position in the rebuilt document is not."""
    body = json.dumps(big_doc(points=100, last_updated=None) | {"detected_peaks": [{"peak_id": 7}]}).encode()
    with pytest.raises(RequestFailed, match=r"valid string at detected_peaks\.0\.peak_id\)$"):
        run(fetch(Chunks(body)))
    with pytest.raises(RequestFailed, match=r"\(Invalid JSON: invalid unicode code point\)$"):
        run(fetch(Chunks(b'{"detected_peaks": [{"peak_id": "p\xff"}]}')))


def test_a_refusal_with_a_huge_body_is_read_only_as_far_as_its_excerpt() -> None:
    """A 400 with 2 MB of text: a short excerpt in the message, and only the first 64 KiB pulled."""
    stream = Chunks(b"quota exceeded " + b"x" * 2_000_000, size=4096)
    with pytest.raises(RequestFailed, match=r"^HTTP 400: quota exceeded x+…$"):
        run(fetch(stream, status=400))
    assert stream.pulled * 4096 <= EXCERPT_LIMIT + 4096


def test_a_404_detail_past_the_excerpt_is_no_api_not_found() -> None:
    """A 404 whose JSON is cut by the excerpt limit has no readable detail: not the API's 'not found'."""
    body = json.dumps({"pad": "x" * EXCERPT_LIMIT, "detail": "no OES result for data entry e"}).encode()
    with pytest.raises(RequestFailed, match="is the endpoint's path right"):
        run(fetch(Chunks(body), status=404))


def test_a_404_over_the_excerpt_whose_detail_comes_first_is_the_apis_not_found() -> None:
    """A 404 of 2 MB whose `detail` is its first field: cut by the excerpt limit, the detail is still read,
    and the entry is not found (no blame on the endpoint's path)."""
    body = json.dumps({"detail": "no OES result for data entry e", "pad": "x" * 2_000_000}).encode()
    answer = run(fetch(Chunks(body, size=4096), status=404))
    assert (answer.result, answer.status) == (None, 404)


def test_a_refusal_over_the_excerpt_shows_its_detail_not_its_raw_text() -> None:
    """A 400 of 2 MB whose JSON starts with its `detail`: the message is the detail, as for a short body."""
    body = json.dumps({"detail": "quota exceeded", "pad": "x" * 2_000_000}).encode()
    with pytest.raises(RequestFailed, match=r"^HTTP 400: quota exceeded$"):
        run(fetch(Chunks(body, size=4096), status=400))


@pytest.mark.slow
def test_plan_against_a_sandbox_of_big_spectra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Two entries of 60,000-point spectra (about 2 MB each) over loopback: planned, plotted with --html."""
    overrides = tmp_path / "o.csv"
    rows = ["data_id,peak_id,candidate_key", *(",".join(row) for row in synthetic_overrides(2))]
    overrides.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with Sandbox(entries=synthetic_entries(2, points=60_000)) as server:
        monkeypatch.setenv("AS_API_ENDPOINT", server.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        ran = cli("plan", "--no-state", "--format", "json", str(overrides))
        page = tmp_path / "page.html"
        drawn = cli("plan", "--no-state", "--html", str(page), "-q", str(overrides))
    assert ran.code == 0, ran.err
    statuses = [item["status"] for item in json.loads(ran.out)["items"]]
    assert statuses.count("change") == 2
    assert statuses.count("in_sync") == 8
    assert drawn.code == 0, drawn.err
    assert page.read_text(encoding="utf-8").count('class="plot"') == 2
