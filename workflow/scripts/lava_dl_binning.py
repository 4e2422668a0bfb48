"""How differently lava-dl's N-MNIST tutorial and rouser put the same events into time bins.

lava-dl's tutorial reads each recording with times in milliseconds and fills its tensor with
``np.round(t / sampling_time)`` from t = 0 (`slayer.io.Event.fill_tensor`, ties to even),
dropping events at bin 300 or later (`rouser.data.binning.Binning(lava_dl=True)`, the run
setting ``lava_dl_bins``). rouser's default bins with tonic's ``ToFrame`` from the
recording's first event, in half-open 1 ms intervals. Both give 300 bins of 1 ms of the same
spikes; they differ by a delay (the first event's time, rounded) and by where the bin edges
fall. This script measures how much on real recordings, without training:

    python workflow/scripts/lava_dl_binning.py --data-root ../shared/data [--limit 1000]

It reads the first `--limit` training recordings by sample id, as the `cpu` profile does,
and bins them with that profile's settings. It prints the first event's time, the
distribution of (lava-dl's bin - rouser's bin) over events, the events only one of the two
keeps, and the share of occupied (bin, input) positions the two spike tensors have in common.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np

from rouser.config import resolve_run
from rouser.data import binning_for
from rouser.data.nmnist import NMNIST
from rouser.data.readers import Recordings, open_split


def compare(recordings: Recordings) -> dict:
    """The comparison over `recordings` (N-MNIST, the `cpu` profile's binning), as numbers."""
    ours_binning = binning_for(resolve_run("nmnist", "rouser", "cpu"))
    lava_binning = dataclasses.replace(ours_binning, lava_dl=True)
    bins, bin_us = ours_binning.time_bins, ours_binning.bin_us
    offsets: Counter[int] = Counter()
    first_us, only_rouser, only_lava, events, shared, occupied = [], 0, 0, 0, 0, 0
    for position in range(len(recordings)):
        recording = recordings.events(position)
        t = recording["t"].astype(np.int64)
        first_us.append(int(t.min()))
        ours = (t - t.min()) // bin_us
        lava = np.round(t / bin_us).astype(np.int64)
        keep_ours, keep_lava = ours < bins, lava < bins
        both = keep_ours & keep_lava
        offsets.update((lava[both] - ours[both]).tolist())
        only_rouser += int(np.sum(keep_ours & ~keep_lava))
        only_lava += int(np.sum(keep_lava & ~keep_ours))
        events += len(t)
        lava_positions = set(lava_binning(recording).index.tolist())
        rouser_positions = set(ours_binning(recording).index.tolist())
        shared += len(lava_positions & rouser_positions)
        occupied += len(lava_positions | rouser_positions)
    total = sum(offsets.values())
    return {
        "recordings": len(recordings),
        "events": events,
        "first_event_us": {"median": float(np.median(first_us)), "max": max(first_us)},
        "bin_offset_share": {k: v / total for k, v in sorted(offsets.items())},
        "kept_by_rouser_only": only_rouser / events,
        "kept_by_lava_dl_only": only_lava / events,
        "shared_positions": shared / occupied,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=1000, help="recordings to read")
    args = parser.parse_args()
    reader = open_split(NMNIST, args.data_root, train=True, allow_download=False)
    result = compare(Recordings.first(reader, args.limit))
    print(f"{result['recordings']} recordings, {result['events']:,} events")
    first = result["first_event_us"]
    print(f"first event at {first['median']:.0f} us (median), {first['max']} us at most")
    shares = ", ".join(f"{k}: {v:.1%}" for k, v in result["bin_offset_share"].items())
    print(f"lava-dl's bin - rouser's bin, share of events: {shares}")
    print(
        f"kept by rouser only: {result['kept_by_rouser_only']:.3%}; "
        f"by lava-dl only: {result['kept_by_lava_dl_only']:.3%}"
    )
    print(f"occupied (bin, input) positions in common: {result['shared_positions']:.1%}")


if __name__ == "__main__":
    main()
