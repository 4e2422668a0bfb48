"""One thread count for rouser's numba loops and torch's own operations.

numba keeps a thread pool of its own, sized by ``NUMBA_NUM_THREADS`` (the machine's cores),
while users and benchmarks size torch's with ``torch.set_num_threads``. The numba kernels
call `follow_torch` first, so one setting governs both and a run asked to use 2 threads
does not use 16 in the neuron loops.
"""

from __future__ import annotations

import numba
import torch


def follow_torch() -> None:
    """Set numba's thread count to torch's (capped at the size of numba's pool)."""
    wanted = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != wanted:
        numba.set_num_threads(wanted)
