"""The paper's own time axis: training samples counted in paper epochs.

Our runs train on a subset (NMNIST-1k: 900 recordings an epoch) and the paper on the full
training set (60,000), so "epoch 20" means 13,000 samples in one and 1.2 million in the
other. Every result that the paper draws over epochs is therefore placed by the samples a
run has trained on, divided by the paper's training-set size (`paper_values.yml`,
``datasets``): a *paper epoch* of steps.

The paper numbers its first trained epoch 0 (lava-dl's tutorial loop does; its Fig. 6a
starts near 85%, which an untrained network cannot score), so the paper's epoch k is drawn
at k + 1 paper epochs, and a claim about its epoch k is judged there (`paper_x`).

Runs that differ only in length (``epochs``) or in how often they measure
(``history_every``) follow one trajectory: same seed, same data order, same updates (a
test retrains a committed record bit for bit). `trajectories` keeps the longest of each, so
that a figure draws a run of 20 paper epochs and the 0.3-epoch run with the same seed once.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# Settings that change how long a run is, or how often it is measured, but not its path.
LENGTH_SETTINGS = ("config.epochs", "config.history_every")
# A claim counts as judged at the paper's horizon when ours reach this fraction of it:
# the 20-paper-epoch runs (1,340 NMNIST-1k epochs of 900 = 20.1) stand for the paper's
# epoch 20, drawn at 21. Stated on the verdict page.
REACH_TOLERANCE = 0.95


def samples_seen(rows: pd.DataFrame) -> pd.Series:
    """Training samples each history entry had seen: the record's own count, or (records
    made before it was counted) the epoch times the training-set size."""
    derived = rows["epoch"] * rows["data.n_train"]
    if "samples" not in rows:
        return derived.astype(float)
    return rows["samples"].fillna(derived).astype(float)


def paper_epochs(rows: pd.DataFrame, paper: dict) -> pd.Series:
    """Samples seen / the paper's training-set size of each row's dataset."""
    sizes = {name: v["train"] for name, v in paper["datasets"].items() if isinstance(v, dict)}
    full = rows["config.dataset"].map(sizes)
    return samples_seen(rows) / full


def paper_x(epoch: float) -> float:
    """Where the paper's epoch `epoch` lies on our axis: after `epoch` + 1 paper epochs."""
    return float(epoch) + 1.0


def trajectory_key(rows: pd.DataFrame) -> pd.Series:
    """One string per row naming its trajectory: every setting but the length ones."""
    columns = sorted(
        c for c in rows.columns if c.startswith("config.") and c not in LENGTH_SETTINGS
    )
    settings = rows[columns].astype(object).where(rows[columns].notna(), None)
    return pd.Series(
        [json.dumps(values, default=str) for values in settings.to_numpy().tolist()],
        index=rows.index,
    )


def trajectories(records: pd.DataFrame, paper: dict) -> pd.DataFrame:
    """`records` with a ``paper_epochs`` column, keeping only the longest run of each
    trajectory (the shorter ones are its prefixes)."""
    rows = records.copy()
    rows["paper_epochs"] = paper_epochs(rows, paper)
    rows["trajectory"] = trajectory_key(rows)
    reach = rows.groupby("run_id")["paper_epochs"].max()
    longest = (
        rows.drop_duplicates("run_id")
        .assign(reach=lambda frame: frame["run_id"].map(reach))
        .sort_values("reach")
        .groupby("trajectory")["run_id"]
        .last()
    )
    return rows[rows["run_id"].isin(longest)].reset_index(drop=True)


def at(rows: pd.DataFrame, x: float) -> pd.DataFrame:
    """Each run's history entry nearest to `x` paper epochs (one row per run)."""
    distance = (rows["paper_epochs"] - x).abs()
    return rows.loc[distance.groupby(rows["run_id"]).idxmin()].set_index("run_id")


def reach(rows: pd.DataFrame) -> float:
    """How far the shortest of `rows`' runs reaches, in paper epochs (0 with no rows)."""
    if rows.empty:
        return 0.0
    return float(rows.groupby("run_id")["paper_epochs"].max().min())


def reaches(rows: pd.DataFrame, horizon: float) -> bool:
    """Whether `rows`' runs reach `horizon` paper epochs (within `REACH_TOLERANCE`)."""
    return reach(rows) >= REACH_TOLERANCE * horizon


def log_ticks(largest: float) -> list[float]:
    """Ticks of a log paper-epoch axis from a hundredth to `largest`: 0.01, 0.1, 1, 10, ..."""
    top = int(np.ceil(np.log10(max(largest, 1.0))))
    return [10.0**k for k in range(-2, top + 1)]
