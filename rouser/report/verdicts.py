"""The verdict rule: how one of the paper's claims is judged against our records.

Used by `rouser.report.claims`, one function per claim. The rule (the page states it too):

* **Where the windows meet.** A claim is judged at the paper's horizon on the paper's own
  time axis (`rouser.report.axis`: samples seen / the paper's training-set size; the
  paper's epoch k at k + 1). Where our runs stop short of it (by more than
  ``axis.REACH_TOLERANCE``), the verdict is *not reached at this scale*, and the row says
  how far ours reach and what they show there. A claim whose horizon the paper does not
  state (Table I, the latency) is judged at our longest runs, and says so.
* **Beyond the noise.** A difference between two of our numbers counts only if it exceeds
  its noise: the seeds' spread (standard deviations added in quadrature) and, for
  accuracies, two recordings of the test set, whichever is larger. Where only one seed
  reaches the horizon, the spread is that of the same measure over the seeds that reach
  less far (stated in the row). Beyond the noise with the paper's sign: *agrees*; with the
  opposite sign: *disagrees*.
* **Size.** Within the noise: *too small to detect here* when the paper's own effect is
  within it (our test set and seeds could not have seen it), *effect ruled out* when ours
  excludes the paper's effect beyond the noise, else *inconclusive*.
* A claim about a dataset without records: *not testable without the full data*.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rouser.report import axis
from rouser.report.plotting import mean_sd, seeds_text

AGREES, DISAGREES = "agrees", "disagrees"
RULED_OUT, TOO_SMALL = "effect ruled out", "too small to detect here"
INCONCLUSIVE = "inconclusive (within noise)"
ONE_SEED = "inconclusive (one seed, no spread known)"
NOT_REACHED = "not reached at this scale"
NOT_TESTABLE = "not testable without the full data"
# In the order the page counts them; each with the colour of its cell.
VERDICT_COLORS = {
    AGREES: "#c8e6c9",
    DISAGREES: "#ffcdd2",
    RULED_OUT: "#ffcdd2",
    TOO_SMALL: "#e0e0e0",
    INCONCLUSIVE: "#fff9c4",
    ONE_SEED: "#fff9c4",
    NOT_REACHED: "#e1f5fe",
    NOT_TESTABLE: "#eeeeee",
}
# Where a claim's horizon is not reached, the same rule applied where our runs stop: the
# direction so far, which the row and the bottom line state beside "not reached".
SO_FAR = {
    AGREES: "so far the paper's way, beyond the noise",
    DISAGREES: "so far against the paper, beyond the noise",
    ONE_SEED: "so far one seed each, no spread known",
}
SO_FAR_WITHIN = "so far within the noise"
# Table II's setting: the runs that stand for "Rouser" and "baseline" in Table I and Figs. 3-5.
DEFAULTS = {"config.threshold": 1.25, "config.tau": 3.75, "config.scale": 1.5}
ACCURACY = "test_accuracy"


def compare(difference: float, noise: float | None, sign: int, paper_effect: float | None) -> str:
    """The rule's core: a `difference` of ours against its `noise`, the paper's `sign` and
    the size of the paper's own effect (None where the paper gives none)."""
    if noise is None:
        return ONE_SEED
    if abs(difference) > noise:
        return AGREES if np.sign(difference) == sign else DISAGREES
    if paper_effect is not None:
        if abs(paper_effect) <= noise:
            return TOO_SMALL
        if abs(paper_effect - difference) > noise:
            return RULED_OUT
    return INCONCLUSIVE


def sampling_noise(a: float, b: float, n_test: int) -> float:
    """The binomial standard error, in percentage points, of the difference of accuracies
    `a` and `b` (in %) each measured once on `n_test` test inputs. Why: with one seed per
    setting there is no seeds' spread, and 100 test inputs alone move an accuracy of 35%
    by ~5 points."""
    p, q = a / 100, b / 100
    return 100 * math.sqrt((p * (1 - p) + q * (1 - q)) / n_test)


def verdict(
    ours: pd.Series,
    theirs: pd.Series,
    sign: int,
    resolution: float = 0.0,
    paper_effect: float | None = None,
    fallback_noise: float | None = None,
) -> str:
    """Compare mean(ours) - mean(theirs) against its noise, expecting the paper's `sign`.

    The noise is the seeds' spread in quadrature (`fallback_noise` where a group has one
    seed) or the `resolution`, whichever is larger; with neither, one seed each decides
    nothing (`ONE_SEED`).
    """
    if ours.dropna().empty or theirs.dropna().empty:
        return NOT_TESTABLE
    (m1, s1), (m2, s2) = mean_sd(ours), mean_sd(theirs)
    spread = math.hypot(s1, s2) if min(ours.count(), theirs.count()) > 1 else fallback_noise
    if spread is None and resolution == 0:
        return ONE_SEED
    return compare(m1 - m2, max(spread or 0.0, resolution), sign, paper_effect)


@dataclass(frozen=True)
class Evidence:
    """What every claim reads: the trajectories (longest run of each, on the paper axis),
    which experiment each came from, and the paper's values."""

    rows: pd.DataFrame
    members: dict[str, set[str]]
    labels: dict[str, str]
    paper: dict

    def runs(self, *experiments: str, dataset: str = "nmnist") -> pd.DataFrame:
        """The trajectories of `experiments`' runs on `dataset`."""
        ids = set().union(*(self.members.get(name, set()) for name in experiments))
        rows = self.rows[self.rows["run_id"].isin(ids)]
        return rows[rows["config.dataset"] == dataset]

    def defaults(self, method: str) -> pd.DataFrame:
        """Table II's runs of `method` on NMNIST (Table I, one paper epoch, the horizon)."""
        rows = self.runs("table1", "paper_epoch", "horizon_methods")
        rows = rows[rows["config.method"] == method]
        for column, value in DEFAULTS.items():
            rows = rows[np.isclose(rows[column].astype(float), value)]
        return rows

    def resolution(self, rows: pd.DataFrame) -> float:
        """Two test recordings, in percentage points: the smallest accuracy change we count."""
        n_test = rows["data.n_test"].dropna()
        return 200.0 / float(n_test.min()) if len(n_test) else 0.0


def value_at(run: pd.DataFrame, column: str, x: float) -> float:
    """One run's `column` at its history entry nearest to `x` paper epochs."""
    return float(run.loc[(run["paper_epochs"] - x).abs().idxmin(), column])


def best_until(run: pd.DataFrame, column: str, x: float) -> float:
    """One run's largest `column` over its history entries up to `x` paper epochs."""
    return float(run.loc[run["paper_epochs"] <= x * (1 + 1e-9), column].max())


def reaching(rows: pd.DataFrame, x: float) -> pd.DataFrame:
    """The rows of the runs that reach `x` paper epochs (within the tolerance)."""
    reach = rows.groupby("run_id")["paper_epochs"].transform("max")
    return rows[reach >= axis.REACH_TOLERANCE * x]


def farthest_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """Of runs with the same seed (one setting trained along two paths, e.g. with and
    without flushed subnormals), the one that reaches farthest: one value per seed."""
    reach = rows.groupby("run_id")["paper_epochs"].max()
    seeds = rows.groupby("run_id")["config.seed"].first()
    keep = reach.groupby(seeds).idxmax()
    return rows[rows["run_id"].isin(keep)]


def per_run(rows: pd.DataFrame, measure: Callable[[pd.DataFrame], float]) -> pd.Series:
    return pd.Series({run_id: measure(run) for run_id, run in rows.groupby("run_id")})


def seeds_spread(
    groups: list[pd.DataFrame], measure: Callable[[pd.DataFrame, float], float]
) -> tuple[float | None, float]:
    """The seeds' spread of `measure` where at least two seeds of every group reach:
    (noise in quadrature, that reach), or (None, 0) where they never do."""
    reaches = []
    for rows in groups:
        ends = sorted(rows.groupby("run_id")["paper_epochs"].max(), reverse=True)
        if len(ends) < 2:
            return None, 0.0
        reaches.append(ends[1])
    x = min(reaches)
    sds = [
        mean_sd(per_run(reaching(rows, x), lambda run, x=x: measure(run, x)))[1] for rows in groups
    ]
    return math.hypot(*sds), x


def at_text(x: float) -> str:
    return f"{x:.2g} paper epochs" if x < 1 else f"{x:.1f} paper epochs"


def so_far(result: str) -> str:
    """The direction of a claim whose horizon ours do not reach, from the verdict the rule
    gives where they stop (`result`): the paper's way, against it, or within the noise."""
    return SO_FAR.get(result, SO_FAR_WITHIN)


def short_of_horizon(
    ours: str, result: str, x: float, horizon: float | None
) -> tuple[str, str, str | None]:
    """(ours, verdict, direction so far) of a claim judged at `x` paper epochs: where `x`
    falls short of the paper's `horizon`, *not reached* with the direction so far added to
    `ours`; else unchanged, with no direction."""
    if horizon is None or x >= axis.REACH_TOLERANCE * horizon:
        return ours, result, None
    trend = so_far(result)
    return f"{ours}; {trend}", NOT_REACHED, trend


def horizon_text(horizon: float | None, ours: float) -> str:
    paper = "not stated" if horizon is None else f"{horizon:g}"
    return f"paper {paper} · ours {ours:.2g}" if ours < 1 else f"paper {paper} · ours {ours:.1f}"


def judge_difference(
    ev: Evidence,
    groups: dict[str, pd.DataFrame],
    measure: Callable[[pd.DataFrame, float], float],
    horizon: float | None,
    sign: int,
    paper_effect: float | None,
    unit: str,
    resolution: float = 0.0,
) -> tuple[str, str, float]:
    """(ours, verdict, where judged, direction so far) for "group A's `measure` minus group
    B's has the paper's `sign`", at `horizon` (None: the farthest both groups reach). The
    direction so far (`so_far`) is given where the horizon is not reached, else None."""
    if any(rows.empty for rows in groups.values()):
        return "no runs", NOT_TESTABLE, 0.0, None
    groups = {name: farthest_per_seed(rows) for name, rows in groups.items()}
    reach = min(axis.reach(rows) for rows in groups.values())
    longest = min(rows["paper_epochs"].max() for rows in groups.values())
    x = longest if horizon is None else min(horizon, longest)  # where ours are read
    values = {
        name: per_run(reaching(rows, x), lambda run: measure(run, x))
        for name, rows in groups.items()
    }
    digits = 2 if unit == "" else 1
    ours = (
        ", ".join(f"{name} {seeds_text(v, unit, digits)}" for name, v in values.items())
        + f" at {at_text(x)}"
    )
    first, second = values.values()
    noise, noise_at = (None, 0.0)
    if min(first.count(), second.count()) < 2:
        noise, noise_at = seeds_spread(list(groups.values()), measure)
        if noise is not None:
            ours += f"; noise from the seeds' spread at {at_text(noise_at)}"
    result = verdict(first, second, sign, resolution, paper_effect, noise)
    ours, result, trend = short_of_horizon(ours, result, longest, horizon)
    return ours, result, x if trend is None else max(reach, longest), trend


def summary(table: pd.DataFrame) -> str:
    """The bottom line, as Markdown: counts per verdict, then the claims of each verdict
    (by their figure or table), in the order of `VERDICT_COLORS`, each verdict coloured;
    a claim not reached says its direction so far (the table's "so far" column)."""
    counts = table["verdict"].value_counts()
    shown = [verdict for verdict in VERDICT_COLORS if counts.get(verdict, 0)]
    lines = [
        f"**Of the paper's {len(table)} claims**, each judged at the paper's own horizon: "
        + " · ".join(f"{int(counts[v])} {badge(v)}" for v in shown)
        + ".",
        "",
    ]
    for verdict in shown:
        rows = table[table["verdict"] == verdict]
        claims = [
            claim if not isinstance(trend, str) else f"{claim} ({trend})"
            for claim, trend in zip(rows["claim"], rows["so far"], strict=True)
        ]
        lines.append(f"- {badge(verdict)}: " + "; ".join(claims) + ".")
    return "\n".join(lines)


def badge(verdict: str) -> str:
    """A verdict in its colour, as inline HTML (Markdown pages and notebooks alike)."""
    return (
        f'<span style="background-color: {VERDICT_COLORS[verdict]}; padding: 0 0.3em; '
        f'border-radius: 0.2em">{verdict}</span>'
    )
