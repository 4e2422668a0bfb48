"""Keep freed memory in the process during CPU training instead of handing it back to the OS.

A CPU training step allocates and frees ~15 tensors of ``[T, B, N]`` (19 MB each for NMNIST's
hidden layers at T = 300, B = 32). glibc's malloc serves blocks that large with fresh pages
from the kernel and, once enough is free at the top of its heap, returns them: measured on
2 cores, every other step then took ~28,000 page faults (the kernel zeroing each fresh
page again), 15-25 ms on top of a 60 ms step (`benchmarks/bench_event_input.py`, mean
against median, ``--keep-freed-memory``). Raising malloc's mmap and trim thresholds keeps
those blocks in the heap for the next step; the numbers computed do not change, and the
peak resident memory grows by what a step allocates at most (measured: +1-9%).

glibc only (Linux); elsewhere this does nothing and says so by its return value.
"""

from __future__ import annotations

import ctypes
import functools
import platform

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap and this much free memory stays there: above
# the largest tensor of a step of the paper's networks, below anything a machine misses.
KEEP_BYTES = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 1 GiB for reuse; True if it took.

    Process-wide and once per process: a training run on the CPU calls it before its first
    step.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the running process's own symbols, glibc's among them
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    )
