"""`keep_freed_memory`: a step's large tensors come back without page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# 15 tensors of NMNIST's hidden [T, B, N] (19 MB each), allocated, written and freed six
# times, as a training step does; prints the page faults of each round.
ROUNDS = """
import resource, sys, torch
from rouser.runs.allocator import keep_freed_memory
print(keep_freed_memory())
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensors = [torch.ones(300, 32, 500) for _ in range(15)]
    del tensors
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_tensors_are_reused_without_page_faults() -> None:
    # a fresh process: the setting is process-wide and stays
    lines = subprocess.run(
        [sys.executable, "-c", ROUNDS], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert lines[0] == "True"
    faults = [int(count) for count in lines[1].split()]
    pages = 15 * 300 * 32 * 500 * 4 // 4096
    assert faults[0] > pages // 2  # the first round takes its memory from the kernel
    # later ones reuse it: without the setting each round faults ~all its pages again (four
    # rounds ~4 x pages); with it, at most a tensor's pages now and then (seen: 0-2 of 15)
    assert sum(faults[2:]) < pages // 4, faults
