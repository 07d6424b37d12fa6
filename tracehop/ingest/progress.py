"""The ingest progress bar (rich, on stderr): bytes read across all files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

AdvanceFn = Callable[[int, int], None]


@contextmanager
def progress_bar(enabled: bool) -> Iterator[AdvanceFn | None]:
    """Yield ``advance(bytes, total_bytes)`` that drives a bar, or None when disabled (not a
    terminal, or --json): machines get clean output."""
    if not enabled:
        yield None
        return
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(n: int, total: int) -> None:
            bar.update(task, advance=n, total=total)

        yield advance
