"""Progress on stderr, only when stderr is a terminal (cron and CI logs stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(
    total: int, *, description: str, enabled: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback taking the number of entries done, or None when no bar is shown."""
    if not enabled or total < 2 or sys.stderr is None or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # rich writes to stdout unless told otherwise; stdout carries the report (JSON, markdown).
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)
