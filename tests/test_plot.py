"""One plot: the lines of candidate keys, where they are drawn, and the plot described in words."""

from __future__ import annotations

import re

import pytest

from reconciler.plot import HEIGHT, WIDTH, Line, describe, line_of, svg
from reconciler.windows import Window


def window(peak_nm: float = 417.9) -> Window:
    grid = tuple(peak_nm - 5 + i * 0.5 for i in range(21))
    return Window("scope_corrected", peak_nm, grid, tuple(100.0 + 50 * (i == 10) for i in range(21)))


@pytest.mark.parametrize(
    ("key", "nm"),
    [("Ga_417.2", 417.2), ("N2_337.1", 337.1), ("Fe_I_404.58", 404.58), ("Ga", None), ("Ga_x", None)],
)
def test_a_keys_line_is_the_number_after_its_last_underscore(key: str, nm: float | None) -> None:
    """`Ga_417.2` is at 417.2 nm; a key without such a number has no known line."""
    assert line_of(key, "wanted") == Line("wanted", key, nm)


def test_no_key_no_line() -> None:
    """An element-only peak has no current key, so no current line."""
    assert line_of(None, "current") is None


def test_lines_in_the_window_are_drawn_and_labelled_the_others_are_not() -> None:
    """The wanted line at 417.2 nm is drawn with its key; the current one at 451.1 nm is not drawn."""
    lines = [Line("wanted", "Ga_417.2", 417.2), Line("current", "In_451.1", 451.1)]
    drawing = svg(window(), lines, title="t")
    assert 'class="wanted"' in drawing
    assert "wanted: Ga_417.2" in drawing
    assert 'class="current"' not in drawing
    assert "In_451.1" not in drawing


def test_current_and_wanted_differ_in_dash_pattern_not_only_colour() -> None:
    """Greyscale print keeps them apart: the current line is dashed, the wanted line solid."""
    lines = [Line("wanted", "Ga_417.2", 417.2), Line("current", "Ga_417.2", 417.2)]
    drawing = svg(window(), lines, title="t")
    current = re.search(r'<path class="current"[^>]*>', drawing)
    wanted = re.search(r'<path class="wanted"[^>]*>', drawing)
    assert current is not None
    assert "stroke-dasharray" in current.group()
    assert wanted is not None
    assert "stroke-dasharray" not in wanted.group()
    # Two labels at one place go on two rows.
    rows = re.findall(r'<text x="[\d.]+" y="(\d+)"[^>]*fill=', drawing)
    assert sorted(rows) == ["10", "20"]


def test_the_plot_has_nm_ticks_a_peak_mark_and_an_accessible_title() -> None:
    """Ticks every 2 nm over 412.9-422.9 nm, the peak marked, and the title as `<title>` and aria-label."""
    drawing = svg(window(), [], title='peak "p1" <at> 417.9 nm')
    ticks = re.findall(r'text-anchor="middle">([\d.]+)</text>', drawing)
    assert ticks == ["414", "416", "418", "420", "422"]
    assert '<path class="peak"' in drawing
    assert 'aria-label="peak &quot;p1&quot; &lt;at&gt; 417.9 nm"' in drawing
    assert "<title>peak &quot;p1&quot; &lt;at&gt; 417.9 nm</title>" in drawing
    assert f'viewBox="0 0 {WIDTH} {HEIGHT}"' in drawing


def test_a_flat_or_sparse_spectrum_still_plots() -> None:
    """A flat spectrum does not divide by zero; a peak beyond the last point sits on the last one."""
    flat = Window("sample", 400.0, (397.0, 399.0), (1.0, 1.0))
    drawing = svg(flat, [], title="flat")
    assert '<polyline class="spectrum" points="' in drawing
    assert len(re.findall(r'text-anchor="middle"', drawing)) == 5


def test_the_description_names_every_line_and_where_it_falls() -> None:
    """The title says which line is outside the window and which has no known wavelength."""
    text = describe(
        window(),
        [Line("wanted", "Ga_417.2", 417.2), Line("current", "In_451.1", 451.1), Line("current", "In", None)],
        data_id="d1",
        peak_id="p4",
    )
    assert text.startswith("Spectrum (scope_corrected) of entry d1 around peak p4 at 417.9 nm")
    assert "wanted line Ga_417.2 at 417.2 nm;" in text
    assert "current line In_451.1 at 451.1 nm, outside the window" in text
    assert "current line In at unknown wavelength" in text
