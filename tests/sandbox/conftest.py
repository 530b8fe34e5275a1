"""Shared by the sandbox tests: the seed data served on loopback, a client of it, and what it shows."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.answers import OESResult, PeakState
from reconciler.models import element_of
from reconciler.sandbox import Sandbox
from reconciler.sandbox.data import example_entries

KEY_ID = "d290f1ee-6c54-4b01-90e6-d701748f0851"
MAP_ID = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"
ELEMENT_ID = "5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b"
LIST_ID = "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b"
DOCUMENTED_FIELDS = {
    "data_id", "id", "wavelengths", "wavelength_unit", "sample", "reference", "dark", "scope_corrected",
    "spectrum_type", "detected_peaks", "constraint_mode", "constrained_elements", "spectral_metadata",
    "last_updated",
}  # fmt: skip
# Building an SSL context per client costs ~40 ms; plain-HTTP loopback clients can share one.
TLS = ssl.create_default_context()


def connect(sandbox: Sandbox, *, key: str | None = "sandbox", timeout: float = 5) -> httpx.Client:
    """A client of the sandbox, sending `key` (none when None)."""
    headers = {"X-API-KEY": key} if key is not None else {}
    return httpx.Client(base_url=sandbox.url, headers=headers, timeout=timeout, verify=TLS)


# Documents are only read when a sandbox is built, so one copy of the seed data serves every test.
SEED = example_entries()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The sandbox serving the seed data on loopback (the environment is left alone)."""
    with Sandbox(entries=SEED) as running:
        yield running


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client of that sandbox, sending its key."""
    with connect(sandbox) as http:
        yield http


def peak_in(document: dict[str, Any], peak_id: str) -> dict[str, Any]:
    peak: dict[str, Any] = next(p for p in document["detected_peaks"] if p["peak_id"] == peak_id)
    return peak


def client_view(body: bytes, peak_id: str) -> PeakState:
    """The peak as the reconciler's own models read it."""
    peak = OESResult.model_validate_json(body).peak(peak_id)
    assert peak is not None
    return peak


def patch(client: httpx.Client, data_id: str, peak_id: str, key: str) -> httpx.Response:
    return client.patch(f"oes/{data_id}/peaks", json={"peak_id": peak_id, "candidate_key": key})


def is_in_sync(peak: PeakState, key: str) -> bool:
    """SPEC "When a peak is in sync", restated so the seed data is pinned independently of the diff."""
    applied = peak.applied
    return peak.manual and (applied == key if applied is not None else peak.element == element_of(key))
