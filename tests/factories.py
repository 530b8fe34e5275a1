"""Small builders of overrides and API results shared by the unit tests."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.answers import OESResult
from reconciler.models import Item, Override, PatchRecord, Status
from reconciler.record import Record

ENTRY = "d290f1ee-6c54-4b01-90e6-d701748f0851"
OTHER = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"


def override(
    peak_id: str = "p1", candidate_key: str = "Ga_417.2", *, data_id: str = ENTRY, line: int = 3
) -> Override:
    return Override(data_id=data_id, peak_id=peak_id, candidate_key=candidate_key, path="o.yaml", line=line)


def peak_with_key(
    peak_id: str, applied: str, *, manual: bool, candidates: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The shape that carries `candidate_key` on the peak, with candidates as a list of `key` objects."""
    peak: dict[str, Any] = {"peak_id": peak_id, "wavelength_nm": 401.0, "element": applied.rpartition("_")[0]}
    peak |= {"manual": manual, "candidate_key": applied}
    if candidates:
        peak["candidates"] = [{"key": key, "score": 0.5} for key in candidates]
    return peak


def peak_with_map(peak_id: str, applied: str, *, manual: bool, candidates: tuple[str, ...]) -> dict[str, Any]:
    """The shape with candidates as a mapping from key to object, the applied one `selected`."""
    mapping = {key: {"selected": key == applied, "score": 0.5} for key in candidates}
    return {
        "peak_id": peak_id,
        "element": applied.rpartition("_")[0],
        "manual": manual,
        "candidates": mapping,
    }


def peak_with_list(
    peak_id: str, applied: str, *, manual: bool, candidates: tuple[str, ...]
) -> dict[str, Any]:
    """The shape with candidates as a list of `candidate_key` objects carrying `selected`."""
    listed = [{"candidate_key": key, "selected": key == applied} for key in candidates]
    return {"peak_id": peak_id, "element": applied.rpartition("_")[0], "manual": manual, "candidates": listed}


def peak_by_element(peak_id: str, element: str, *, manual: bool) -> dict[str, Any]:
    """The documented shape only: element and manual, no candidate information."""
    return {"peak_id": peak_id, "wavelength_nm": 401.0, "element": element, "manual": manual}


def result_doc(*peaks: dict[str, Any], data_id: str = ENTRY, points: int = 16) -> dict[str, Any]:
    spectrum = [float(i) for i in range(points)]
    return {
        "data_id": data_id,
        "id": "r1",
        "wavelengths": spectrum,
        "sample": spectrum,
        "reference": spectrum,
        "dark": spectrum,
        "scope_corrected": spectrum,
        "wavelength_unit": "nm",
        "spectrum_type": "emission",
        "detected_peaks": list(peaks),
        "constraint_mode": "none",
        "constrained_elements": [],
        "spectral_metadata": {},
        "last_updated": "2024-01-15T10:35:00Z",
    }


def result(*peaks: dict[str, Any], data_id: str = ENTRY) -> OESResult:
    return OESResult.model_validate_json(json.dumps(result_doc(*peaks, data_id=data_id)))


class FakeApi:
    """An in-memory API for `httpx.MockTransport`: GET and PATCH on results, with scripted failures."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {doc["data_id"]: doc for doc in docs}
        self.requests: list[tuple[str, str]] = []
        self.failures: dict[tuple[str, str], list[int]] = {}
        self.on_request: Any = None

    def fail(self, method: str, path: str, *statuses: int) -> None:
        """Answer the next requests to `method path` with these statuses, in turn."""
        self.failures.setdefault((method, path), []).extend(statuses)

    def handle(self, request: Any) -> Any:
        import httpx

        key = (request.method, request.url.path)
        self.requests.append(key)
        if self.on_request is not None:
            self.on_request(request)
        pending = self.failures.get(key)
        if pending:
            return httpx.Response(pending.pop(0), json={"detail": "scripted failure"})
        data_id = request.url.path.split("/")[2]
        doc = self.docs.get(data_id)
        if doc is None:
            return httpx.Response(404, json={"detail": "no such entry"})
        if request.method == "PATCH":
            body = json.loads(request.content)
            peak = next((p for p in doc["detected_peaks"] if p["peak_id"] == body["peak_id"]), None)
            if peak is None:
                return httpx.Response(404, json={"detail": "no such peak"})
            peak["candidate_key"] = body["candidate_key"]
            peak["element"] = body["candidate_key"].rpartition("_")[0]
            peak["manual"] = True
        return httpx.Response(200, content=json.dumps(doc).encode())

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)


def commit_all(folder: Path) -> str:
    """Make `folder` a git work tree with everything in it committed; the commit's id."""
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "overrides"], check=True)
    done = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


# --- The record, built through its own API (as apply writes it) ---

ENDPOINT = "https://api.example.test/"


def change(
    peak_id: str = "p1",
    desired: str = "Ga_417.2",
    *,
    data_id: str = ENTRY,
    current: str | None = "In_451.1",
    element: str | None = "In",
    manual: bool | None = True,
    wavelength_nm: float | None = 417.1,
) -> Item:
    """A `change` item as the diff makes it: the peak's state before, and the wanted candidate."""
    return Item(
        data_id=data_id,
        peak_id=peak_id,
        desired=desired,
        status=Status.CHANGE,
        source="o.yaml:3",
        current=current,
        element=element,
        manual=manual,
        wavelength_nm=wavelength_nm,
        last_updated="2024-01-15T10:35:00Z",
    )


def start_run(record: Record, *, endpoint: str = ENDPOINT, started_at: str = "2026-01-01T00:00:00Z") -> int:
    return record.begin_run(
        command="apply",
        endpoint=endpoint,
        sources=["o.yaml"],
        git_commit="abc123",
        git_dirty=False,
        started_at=started_at,
    )


def patched(
    record: Record,
    run_id: int,
    item: Item,
    *,
    status: Status | None = Status.APPLIED,
    last_updated: str = "2026-01-01T00:00:01Z",
    http_status: int | None = 200,
) -> int:
    """Record a PATCH of `item`: its `sending` row, then (unless `status` is None: a killed run) its
    outcome, the entry's `last_updated` after it as the answer said."""
    patch_id = record.sending(run_id, item)
    if status is not None:
        done = replace(item, status=status, last_updated=last_updated)
        record.outcome(patch_id, PatchRecord(done, item.current, http_status, 1))
    return patch_id
