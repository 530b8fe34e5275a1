"""The review page: one self-contained HTML file, a row and a spectrum plot per item not in sync."""

from __future__ import annotations

from typing import TextIO

from reconciler.identity import nm
from reconciler.models import Item, Status
from reconciler.plot import Line, describe, inside, line_of, svg
from reconciler.report import Report, headline, html_text, marker, shown_current, summary
from reconciler.windows import Windows

# No web font, no image, no script: nothing to fetch, and the page reads the same printed in grey.
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
h1{font-size:1.3em;margin:0 0 .3em}
.headline{font-weight:600;font-size:1.1em}
.meta{color:#444;font-size:.9em}
table{border-collapse:collapse}
.counts td,.counts th{padding:.1em .8em .1em 0;text-align:left}
.items th,.items td{border-top:1px solid #bbb;padding:.4em .6em .4em 0;text-align:left;vertical-align:top}
.items code{font-size:.92em;overflow-wrap:anywhere}
.items td:nth-child(6) code{white-space:nowrap}
.status{font-weight:600;white-space:nowrap}
.error .status{text-decoration:underline}
.message{color:#333;font-style:italic}
figure{margin:0}
figcaption{font-size:.8em;color:#333;max-width:320px}
.plot text{font:9px system-ui,sans-serif;fill:#111}
.plot .axis{stroke:#111;fill:none}
.plot .spectrum{stroke:#111;fill:none;stroke-width:1.2}
.plot .peak{fill:#111}
.legend{font-size:.85em;color:#333}
.legend svg{vertical-align:middle}
@media print{body{margin:0;font-size:11px}tr,figure{break-inside:avoid}thead{display:table-header-group}}
"""

LEGEND = (
    '<p class="legend">Plots: the spectrum within ±5 nm of the measured peak (▼); '
    '<svg width="28" height="8" aria-hidden="true"><path d="M0 4H28" stroke="#d55e00" stroke-width="1.5" '
    'stroke-dasharray="5 3"/></svg> the current line, '
    '<svg width="28" height="8" aria-hidden="true"><path d="M0 4H28" stroke="#0072b2" stroke-width="2"/>'
    "</svg> the wanted line (the number after the last <code>_</code> of the key).</p>"
)

COUNTS = (
    ("overrides", "overrides"),
    ("entries", "data entries"),
    ("in_sync", "in sync"),
    ("change", "to change"),
    ("applied", "applied"),
    ("failed", "failed"),
    ("stale", "stale"),
    ("errors", "errors"),
    ("element_only", "in sync by element only"),
)


def write_html(report: Report, out: TextIO, *, windows: Windows) -> None:
    """The page: headline, counts, then a row per item not in sync with the plot of its window, if any."""
    title = f"oes-reconcile {report.command}"
    out.write(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html_text(title)}: {html_text(headline(report))}</title><style>{STYLE}</style></head>\n"
        f'<body><header><h1>{html_text(title)}</h1><p class="headline">{html_text(headline(report))}</p>\n'
    )
    sources = ", ".join(report.sources) or "-"
    out.write(
        f'<p class="meta">{html_text(report.endpoint)} · {html_text(report.generated_at)} · '
        f"{html_text(sources)}</p>\n"
    )
    _write_counts(report, out)
    out.write("</header><main>\n")
    listed = [item for item in report.items if item.status is not Status.IN_SYNC]
    if listed:
        out.write(LEGEND + "\n")
        out.write(
            '<table class="items"><thead><tr><th scope="col"></th><th scope="col">Status</th>'
            '<th scope="col">Entry</th><th scope="col">Peak</th><th scope="col">Current → wanted</th>'
            '<th scope="col">Source</th><th scope="col">Note</th><th scope="col">Spectrum</th></tr></thead>'
            "<tbody>\n"
        )
        for item in listed:
            out.write(_row(report, item, windows))
        out.write("</tbody></table>\n")
    in_sync = summary(report)["in_sync"]
    if in_sync:
        overrides = "override" if in_sync == 1 else "overrides"
        out.write(f"<p>{in_sync} {overrides} in sync (not listed).</p>\n")
    out.write("</main></body></html>\n")


def _write_counts(report: Report, out: TextIO) -> None:
    counts = summary(report)
    cells = "".join(
        f"<tr><th scope=row>{words}</th><td>{counts[key]}</td></tr>"
        for key, words in COUNTS
        if counts[key] or key in {"overrides", "entries"}
    )
    out.write(f'<table class="counts">{cells}</table>\n')


def _code(text: str | None) -> str:
    return f"<code>{html_text(text)}</code>" if text else ""


def _row(report: Report, item: Item, windows: Windows) -> str:
    kind = "error" if item.status.is_error else item.status.value
    note = html_text(item.note) if item.note else ""
    if item.message:
        note += f'<div class="message">{html_text(item.message)}</div>'
    cells = [
        html_text(marker(report, item)),
        f'<span class="status">{html_text(item.status.value)}</span>',
        _code(item.data_id),
        _code(item.peak_id) + (f"<br>{nm(item.wavelength_nm)} nm" if item.wavelength_nm is not None else ""),
        f"{_code(shown_current(item))} → {_code(item.desired)}",
        _code(item.source),
        note,
        _figure(item, windows),
    ]
    return f'<tr class="{kind}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>\n"


def _figure(item: Item, windows: Windows) -> str:
    """The plot of the item's window with a caption naming the lines outside it; nothing without a window."""
    window = windows.get(item.sort_key)
    if window is None:
        return ""
    lines = [
        line
        # The wanted line first: a dashed current line drawn over it stays visible where they coincide.
        for line in (line_of(item.desired, "wanted"), line_of(item.current, "current"))
        if line is not None
    ]
    title = describe(window, lines, data_id=item.data_id, peak_id=item.peak_id)
    caption = [f"{window.series}, {nm(window.low)} to {nm(window.high)} nm"]
    caption += [_outside(line, window.peak_nm) for line in lines if not inside(window, line)]
    plot = svg(window, lines, title=title)
    return f"<figure>{plot}<figcaption>{html_text('; '.join(caption))}</figcaption></figure>"


def _outside(line: Line, peak_nm: float) -> str:
    if line.nm is None:
        return f"{line.role} {line.key}: wavelength unknown"
    side = "right" if line.nm > peak_nm else "left"
    return f"{line.role} {line.key} at {nm(line.nm)} nm (off to the {side})"
