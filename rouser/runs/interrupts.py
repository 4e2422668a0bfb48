"""SIGTERM stops a run the way Ctrl-C (SIGINT) does: as an exception, not a silent death.

Why: Python's default SIGTERM action ends the process at once, without unwinding, so a run
killed by a scheduler (SLURM at its time limit, Snakemake cancelling jobs, `kill`) left its
record saying "running" for good. Inside `terminate_as_exception()` SIGTERM raises
`Terminated` in the main thread instead; `rouser.runs.train` then marks the record "failed" with
the reason, and the checkpoint of the last finished epoch stays on disk for a rerun to
resume from.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

# What a shell reports for a process ended by SIGTERM (128 + 15); the CLI exits with it.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt: `except Exception` in
    library code must not swallow a request to stop."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    # A second SIGTERM while the failed record is being written must not interrupt that
    # write: later ones are ignored until the context restores the previous handler.
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """Within: SIGTERM raises `Terminated` (main thread only; elsewhere nothing changes,
    as Python lets only the main thread set signal handlers). The previous handler comes
    back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        # None: the previous handler was not installed from Python; the default is closest.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
