"""The progress bar routers show while they train (encoder, causal LLM, matrix factorisation)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import Progress


@contextmanager
def training_progress(enabled: bool) -> Iterator[Progress]:
    """A rich progress bar over training steps, on stderr so ``--json`` stdout stays clean.

    Silent when ``enabled`` is False, and also when another live display is already running
    (``routegraph bench`` shows its own bar while it fits routers): rich allows only one at a
    time, and a training run must never fail because of a progress bar.
    """
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    bar = Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True))
    bar.disable = not enabled
    try:
        bar.start()
    except LiveError:
        bar.disable = True
    try:
        yield bar
    finally:
        bar.stop()
