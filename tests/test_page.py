"""The review page: self-contained HTML, a row and a plot per item not in sync; drawn by a real browser."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reconciler.models import Item, Status
from reconciler.page import write_html
from reconciler.report import Report
from reconciler.sandbox import Sandbox
from reconciler.windows import Window, Windows
from tests.conftest import Cli
from tests.factories import ENTRY, OTHER, change

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
WANTED_BLUE = (0x00, 0x72, 0xB2)
CURRENT_ORANGE = (0xD5, 0x5E, 0x00)


def report(*items: Item, command: str = "plan") -> Report:
    return Report(
        command=command,
        endpoint="https://api.example.test/",
        sources=["o.yaml"],
        items=list(items),
        entries=len({item.data_id for item in items}),
        generated_at="2026-11-30T07:00:00Z",
    )


def dense_window(peak_nm: float = 417.1, points: int = 400) -> Window:
    grid = tuple(peak_nm - 5 + i * 10 / (points - 1) for i in range(points))
    return Window("scope_corrected", peak_nm, grid, tuple(1000.0 + 123.456 * (i % 17) for i in range(points)))


def page(rep: Report, windows: Windows | None = None) -> str:
    out = io.StringIO()
    write_html(rep, out, windows=windows or {})
    return out.getvalue()


class Page(HTMLParser):
    """Every element and attribute of a page, the rows of its item table, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data

    def count(self, tag: str, **attrs: str) -> int:
        return sum(t == tag and all(a.get(k) == v for k, v in attrs.items()) for t, a in self.tags)


def test_a_row_per_item_not_in_sync_and_in_sync_items_as_a_count() -> None:
    """Changes and errors get a row each (with their plot when they have a window); in-sync ones a count."""
    in_sync = Item(ENTRY, "p2", "Ga_403.3", Status.IN_SYNC, "o.yaml:5", current="Ga_403.3")
    missing = Item(OTHER, "p9", "Ga_417.2", Status.PEAK_NOT_FOUND, "o.yaml:9", message="no peak p9")
    rep = report(change(), in_sync, missing)
    parsed = Page(page(rep, {(ENTRY, "p1"): dense_window()}))
    assert parsed.count("tr", **{"class": "change"}) == 1
    assert parsed.count("tr", **{"class": "error"}) == 1
    assert parsed.count("svg", **{"class": "plot"}) == 1
    assert "Plan: 1 to change, 1 in sync, 1 error." in parsed.text
    assert "1 override in sync (not listed)." in parsed.text
    assert "In_451.1 → Ga_417.2" in parsed.text
    assert "o.yaml:3" in parsed.text
    assert "no peak p9" in parsed.text


def test_a_line_outside_the_window_is_named_with_its_wavelength() -> None:
    """The current line at 451.1 nm is far from a peak at 417.1 nm: the caption prints where it is."""
    parsed = Page(page(report(change()), {(ENTRY, "p1"): dense_window()}))
    assert "current In_451.1 at 451.1 nm (off to the right)" in parsed.text
    (_, svg), *_ = [(t, a) for t, a in parsed.tags if t == "svg" and a.get("role") == "img"]
    assert svg["aria-label"] is not None
    assert "wanted line Ga_417.2 at 417.2 nm" in svg["aria-label"]


def test_the_page_is_self_contained() -> None:
    """No script, stylesheet, image, font or frame from anywhere: nothing in the page names a URL to load."""
    hostile = Item(
        ENTRY, "p1", "Ga_417.2", Status.CHANGE, "o.yaml:3", note='<img src="http://x/">', wavelength_nm=417.1
    )
    text = page(report(hostile), {(ENTRY, "p1"): dense_window()})
    parsed = Page(text)
    assert {tag for tag, _ in parsed.tags} <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "table", "tr", "th", "td",
        "main", "svg", "path", "code", "thead", "tbody", "span", "div", "br", "figure", "figcaption",
        "polyline", "text",
    }  # fmt: skip
    assert not any(key in {"src", "href", "srcset", "action"} for _, attrs in parsed.tags for key in attrs)
    assert "url(" not in text
    assert "@import" not in text
    assert "<script" not in text
    assert "&lt;img src=&quot;http://x/&quot;&gt;" in text


def test_a_plotted_item_costs_under_8_kb_of_page() -> None:
    """With the densest window kept (400 points), each plotted row stays under 8 KB."""
    items = [change(peak_id=f"p{i}") for i in range(20)]
    windows = {(ENTRY, f"p{i}"): dense_window() for i in range(20)}
    empty, full = page(report(*items)), page(report(*items), windows)
    assert (len(full.encode()) - len(empty.encode())) / 20 < 8 * 1024 - 1024
    assert len(full.encode()) / 20 < 8 * 1024


def test_an_apply_page_says_what_was_left_unpatched() -> None:
    """An apply's change item is `-` (not patched), its headline the apply's."""
    parsed = Page(page(report(change(), command="apply")))
    assert "oes-reconcile apply" in parsed.text
    assert "1 not patched" in parsed.text


# --- against the sandbox, through the CLI ---


@pytest.mark.slow
def test_plan_html_against_the_sandbox_plots_every_change(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`plan --html PATH` writes the page beside the text report; `--format html` prints the same page."""
    target = tmp_path / "review" / "page.html"
    ran = cli("plan", "examples/", "--html", str(target), "-q")
    assert ran.code == 0
    assert "to change" in ran.out
    parsed = Page(target.read_text(encoding="utf-8"))
    rows = parsed.count("tr", **{"class": "change"})
    assert rows >= 5
    assert parsed.count("svg", **{"class": "plot"}) == rows
    printed = cli("plan", "examples/", "--format", "html", "-q")
    assert printed.out.startswith("<!DOCTYPE html>")
    assert printed.out.count('class="plot"') == rows


@pytest.mark.slow
def test_html_refuses_to_be_the_report_file(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`--html` joins the files that must differ: the same path as `--report` is refused before any GET."""
    same = str(tmp_path / "r")
    ran = cli("plan", "examples/", "--html", same, "--report", same)
    assert ran.code != 0
    assert "--html" in ran.err


@pytest.mark.slow
def test_apply_html_keeps_the_windows_of_what_it_patched(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """An apply's page plots each applied peak from the spectrum its GET saw."""
    target = tmp_path / "apply.html"
    ran = cli("apply", "examples/", "--html", str(target), "-q", "--no-state")
    parsed = Page(target.read_text(encoding="utf-8"))
    applied = parsed.count("tr", **{"class": "applied"})
    assert ran.code == 0
    assert applied >= 5
    assert parsed.count("svg", **{"class": "plot"}) == applied


# --- in a real browser ---


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def decode_png(data: bytes) -> tuple[int, list[bytes], int]:
    """Rows of pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), unfiltered; and bytes per pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), "an unexpected PNG format"
    assert colour in {2, 6}, "an unexpected PNG format"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        kind_of_filter = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind_of_filter == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of_filter == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of_filter == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of_filter == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = rows[-1]
    return width, rows, bpp


def near(pixel: Sequence[int], colour: tuple[int, int, int], slack: int = 40) -> bool:
    return all(abs(p - c) <= slack for p, c in zip(pixel, colour, strict=False))


@pytest.mark.slow
def test_a_real_browser_draws_the_plots_and_requests_nothing(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """Headless Chromium loads the page with every other host unresolvable, asks for no URL, and draws the
    plots: dark spectrum pixels, and the wanted line's blue, in the plot column."""
    binary = browser()
    if binary is None:
        pytest.skip(
            "no Chromium found (looked for " + ", ".join(BROWSERS) + "): install chromium-headless-shell "
            "(Debian: apt-get install -y chromium-headless-shell) to run the browser test"
        )
    target, shot, net = tmp_path / "page.html", tmp_path / "page.png", tmp_path / "net.json"
    assert cli("plan", "examples/", "--html", str(target), "-q").code == 0
    subprocess.run(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--log-net-log={net}", f"--screenshot={shot}", "--window-size=1200,1000", target.as_uri(),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    log = json.loads(net.read_text(encoding="utf-8"))
    requested = {event["params"]["url"] for event in log["events"] if "url" in event.get("params", {})}
    assert {url for url in requested if not url.startswith("file:")} == set()
    width, rows, bpp = decode_png(shot.read_bytes())
    plots = [row[bpp * (width * 2 // 3) :] for row in rows]  # the plot column: the right third
    pixels = [plots_row[i : i + 3] for plots_row in plots for i in range(0, len(plots_row), bpp)]
    dark = sum(max(p) < 80 for p in pixels)
    blue = sum(near(p, WANTED_BLUE) for p in pixels)
    assert dark > 2000, f"{dark} dark pixels in the plot column: the spectra were not drawn"
    assert blue > 100, f"{blue} blue pixels in the plot column: the wanted lines were not drawn"


def test_a_key_without_a_line_is_named_as_such_and_a_page_without_changes_has_no_table() -> None:
    """A current key with no number after its `_` has no known wavelength, and the caption says so; a plan
    in sync throughout shows its headline and count, and no empty table."""
    odd = change(current="Ga")
    parsed = Page(page(report(odd), {(ENTRY, "p1"): dense_window()}))
    assert "current Ga: wavelength unknown" in parsed.text
    calm = Page(page(report(Item(ENTRY, "p2", "Ga_403.3", Status.IN_SYNC, "o.yaml:5", current="Ga_403.3"))))
    assert calm.count("table", **{"class": "items"}) == 0
    assert "No changes: 1 override matches." in calm.text
