"""A progress bar for long work: drawn on a terminal, silent when the output is piped.

The command line, the retention calls and the partitioning ops share it.

Example::

    with progress(1000, "pruning public.item_audit") as advance:
        for batch in batches:
            advance(len(batch))
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def progress(
    total: int, label: str, stream: TextIO | None = None
) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal (stderr), quiet when piped; yields ``advance(n)``.

    Example::

        with progress(1000, "pruning") as advance:
            advance(100)
    """
    stream = stream or sys.stderr
    done = 0
    shown = stream.isatty()

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if shown and total > 0:
            width = 30
            filled = min(width, width * done // total)
            stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            stream.flush()

    try:
        yield advance
    finally:
        if shown:
            stream.write("\n")
            stream.flush()


__all__ = ["progress"]
