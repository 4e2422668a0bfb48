"""Claim by claim: does the paper reproduce, at the paper's own horizon?

``claims`` turns the records into one row per claim of the paper: the paper's value and the
horizon it is read at, ours at the same horizon, a verdict and the page with the evidence.
Nothing is typed in: the paper's numbers come from ``paper_values.yml``, ours from records.
Each claim is one function of `CLAIMS`.

The verdict rule (the page states it too):

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

from rouser.experiments import experiment_runs, run_labels
from rouser.report import axis
from rouser.report.plotting import mean_sd, require, seeds_text
from rouser.report.style import METHOD_LABELS, load_paper_values, provenance
from rouser.results import RESULTS

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


def _value(run: pd.DataFrame, column: str, x: float) -> float:
    """One run's `column` at its history entry nearest to `x` paper epochs."""
    return float(run.loc[(run["paper_epochs"] - x).abs().idxmin(), column])


def _reaching(rows: pd.DataFrame, x: float) -> pd.DataFrame:
    """The rows of the runs that reach `x` paper epochs (within the tolerance)."""
    reach = rows.groupby("run_id")["paper_epochs"].transform("max")
    return rows[reach >= axis.REACH_TOLERANCE * x]


def _farthest_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """Of runs with the same seed (one setting trained along two paths, e.g. with and
    without flushed subnormals), the one that reaches farthest: one value per seed."""
    reach = rows.groupby("run_id")["paper_epochs"].max()
    seeds = rows.groupby("run_id")["config.seed"].first()
    keep = reach.groupby(seeds).idxmax()
    return rows[rows["run_id"].isin(keep)]


def _per_run(rows: pd.DataFrame, measure: Callable[[pd.DataFrame], float]) -> pd.Series:
    return pd.Series({run_id: measure(run) for run_id, run in rows.groupby("run_id")})


def _fallback(
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
        mean_sd(_per_run(_reaching(rows, x), lambda run, x=x: measure(run, x)))[1]
        for rows in groups
    ]
    return math.hypot(*sds), x


def _at(x: float) -> str:
    return f"{x:.2g} paper epochs" if x < 1 else f"{x:.1f} paper epochs"


def _horizon_text(horizon: float | None, ours: float) -> str:
    paper = "not stated" if horizon is None else f"{horizon:g}"
    return f"paper {paper} · ours {ours:.2g}" if ours < 1 else f"paper {paper} · ours {ours:.1f}"


def _difference_claim(
    ev: Evidence,
    groups: dict[str, pd.DataFrame],
    measure: Callable[[pd.DataFrame, float], float],
    horizon: float | None,
    sign: int,
    paper_effect: float | None,
    unit: str,
    resolution: float = 0.0,
) -> tuple[str, str, float]:
    """(ours, verdict, where judged) for "group A's `measure` minus group B's has the
    paper's `sign`", at `horizon` (None: the farthest both groups reach)."""
    if any(rows.empty for rows in groups.values()):
        return "no runs", NOT_TESTABLE, 0.0
    groups = {name: _farthest_per_seed(rows) for name, rows in groups.items()}
    reach = min(axis.reach(rows) for rows in groups.values())
    longest = min(rows["paper_epochs"].max() for rows in groups.values())
    x = longest if horizon is None else horizon
    if horizon is not None and longest < axis.REACH_TOLERANCE * horizon:
        x = longest
    values = {
        name: _per_run(_reaching(rows, x), lambda run: measure(run, x))
        for name, rows in groups.items()
    }
    digits = 2 if unit == "" else 1
    ours = (
        ", ".join(f"{name} {seeds_text(v, unit, digits)}" for name, v in values.items())
        + f" at {_at(x)}"
    )
    if horizon is not None and longest < axis.REACH_TOLERANCE * horizon:
        return ours, NOT_REACHED, max(reach, longest)
    first, second = values.values()
    noise, noise_at = (None, 0.0)
    if min(first.count(), second.count()) < 2:
        noise, noise_at = _fallback(list(groups.values()), measure)
        if noise is not None:
            ours += f"; noise from the seeds' spread at {_at(noise_at)}"
    result = verdict(first, second, sign, resolution, paper_effect, noise)
    return ours, result, x


# ---------------------------------------------------------------------------- the claims


def _row(claim: str, paper: str, horizon: str, ours: str, result: str, page: str) -> dict:
    return {
        "claim": claim,
        "paper": paper,
        "horizon (paper epochs)": horizon,
        "ours": ours,
        "verdict": result,
        "evidence": f'<a href="{page}.html">{RESULTS[page].title}</a>',
    }


def table1_nmnist(ev: Evidence) -> list[dict]:
    reference = ev.paper["table1"]["nmnist"]
    groups = {METHOD_LABELS[m]: ev.defaults(m) for m in ("rouser", "baseline")}
    ours, result, x = _difference_claim(
        ev,
        groups,
        lambda run, x: 100 * _value(run, ACCURACY, x),
        None,
        +1,
        reference["rouser"] - reference["baseline"],
        "%",
        ev.resolution(pd.concat(groups.values())),
    )
    return [
        _row(
            "Table I, NMNIST: Rouser's accuracy is above the baseline's",
            f"{reference['rouser']}% vs {reference['baseline']}%",
            _horizon_text(None, x),
            ours,
            result,
            "table1",
        )
    ]


def table1_full_data(ev: Evidence) -> list[dict]:
    rows = []
    reference = ev.paper["table1"]
    for dataset, label in (("dvs128", "DVS128 Gesture"), ("shd", "SHD")):
        theirs = reference[dataset]
        paper = (
            f"{theirs['rouser']}% vs {theirs['baseline']}%"
            if theirs["baseline"] is not None
            else f"baseline failed; Rouser {theirs['rouser']}%"
        )
        claim = (
            f"Table I, {label}: Rouser's accuracy is above the baseline's"
            if dataset == "dvs128"
            else "Table I, SHD: the baseline does not converge, Rouser does"
        )
        ours = "not run here: needs the full data"
        rows.append(_row(claim, paper, _horizon_text(None, 0), ours, NOT_TESTABLE, "table1"))
    return rows


def fig2_grid(ev: Evidence) -> list[dict]:
    reference = ev.paper["fig2"]
    horizon = float(reference["epochs"])  # "after 10 epochs": 10 epochs trained
    grid = ev.runs("fig2", "horizon_fig2")
    grid = grid[grid["config.method"] == "baseline"]
    values = reference["accuracy"]["nmnist"]
    paper = ", ".join(
        f"{th:g}: {v}%" for th, v in zip(reference["thresholds"], values, strict=True)
    )
    claim = "Fig. 2, NMNIST: best at Th = 1, a dip at Th = 0.25"
    if grid.empty:
        return [
            _row(
                claim,
                paper,
                _horizon_text(horizon, 0),
                "no runs",
                NOT_TESTABLE,
                "fig2_threshold_grid",
            )
        ]
    # per threshold, the runs that reach farthest
    best = grid.groupby("config.threshold")["paper_epochs"].transform("max")
    grid = grid[grid["paper_epochs"].groupby(grid["run_id"]).transform("max") >= best * 0.999]
    x = min(horizon, float(grid.groupby("config.threshold")["paper_epochs"].max().min()))
    means = grid.groupby("config.threshold").apply(
        lambda rows: 100 * np.mean([_value(run, ACCURACY, x) for _, run in rows.groupby("run_id")])
    )
    ours = ", ".join(f"Th {th:g}: {acc:.0f}%" for th, acc in means.items()) + f" at {_at(x)}"
    if x < axis.REACH_TOLERANCE * horizon:
        result = NOT_REACHED
    elif means.max() - means.min() <= ev.resolution(grid):
        result = INCONCLUSIVE
    else:
        dip = {0.0, 0.25, 0.5} <= set(means.index) and means[0.25] < min(means[0.0], means[0.5])
        result = AGREES if float(means.idxmax()) == 1.0 and dip else DISAGREES
    return [_row(claim, paper, _horizon_text(horizon, x), ours, result, "fig2_threshold_grid")]


def fig3_weight_change(ev: Evidence) -> list[dict]:
    points = ev.paper["fig3"]["points"]
    read_at = axis.paper_x(4)  # the paper reads the curves at its epoch 4
    end = axis.paper_x(ev.paper["fig3"]["epochs"])  # ... normalised to its last, epoch 21

    def measure(run: pd.DataFrame, x: float) -> float:
        """Weight change at the same fraction of the run as the paper's epoch 4 of its
        0-21 (5/22 of the way), over its value at the run's end (or at `x` x 22/5)."""
        window = min(float(run["paper_epochs"].max()), x * end / read_at)
        change = "weight_change.total"
        return _value(run, change, window * read_at / end) / _value(run, change, window)

    groups = {METHOD_LABELS[m]: ev.defaults(m) for m in ("rouser", "baseline")}
    ours, result, x = _difference_claim(
        ev, groups, measure, read_at, +1, points["rouser"][4] - points["baseline"][4], ""
    )
    ours += f" (read at 5/22 of each run, normalised to its end; the paper's: {end:g})"
    return [
        _row(
            "Fig. 3: Rouser's weights change earlier (normalised change at epoch 4)",
            f"Rouser {points['rouser'][4]}, baseline {points['baseline'][4]}",
            _horizon_text(read_at, x),
            ours,
            result,
            "fig3_weight_change",
        )
    ]


def fig4_dead_neurons(ev: Evidence) -> list[dict]:
    reference = ev.paper["fig4"]
    dead = reference["dead_neurons"]
    start, horizon = axis.paper_x(reference["epochs"][0]), axis.paper_x(reference["epochs"][-1])
    groups = {m: ev.defaults(m) for m in ("baseline", "rouser")}
    rows = []
    paper = "; ".join(
        f"layer {layer[-1]}: "
        + ", ".join(
            f"{dead[m][layer][0]} → {dead[m][layer][-1]}% ({METHOD_LABELS[m]})" for m in groups
        )
        for layer in ("layer1", "layer2")
    )
    claim = "Fig. 4: dead neurons fall during training (both methods, both hidden layers)"
    if any(g.empty for g in groups.values()):
        rows.append(
            _row(
                claim,
                paper,
                _horizon_text(horizon, 0),
                "no runs",
                NOT_TESTABLE,
                "fig4_dead_neurons",
            )
        )
        return rows
    reach = min(g["paper_epochs"].max() for g in groups.values())
    x = min(horizon, reach)
    changes, texts, results = [], [], []
    for method, group in groups.items():
        far = _reaching(group, x)
        for layer in ("layer1", "layer2"):
            column = f"dead_neurons.{layer}"
            change = _per_run(
                far, lambda run, c=column: 100 * (_value(run, c, x) - _value(run, c, start))
            )
            noise, _ = _fallback(
                [group], lambda run, y, c=column: 100 * _value(run, c, min(start, y))
            )
            noise = math.sqrt(2) * noise if noise is not None else None
            before = _per_run(far, lambda run, c=column: 100 * _value(run, c, start)).mean()
            texts.append(
                f"{METHOD_LABELS[method]} layer {layer[-1]}: {before:.0f} → {before + change.mean():.0f}%"
            )
            changes.append(change.mean())
            results.append(compare(change.mean(), noise, -1, None))
    ours = "; ".join(texts) + f" (per input; from {_at(start)} to {_at(x)})"
    if x < axis.REACH_TOLERANCE * horizon:
        trend = NOT_REACHED
    elif all(r == AGREES for r in results):
        trend = AGREES
    elif DISAGREES in results:
        trend = DISAGREES
    else:
        trend = INCONCLUSIVE
    rows.append(_row(claim, paper, _horizon_text(horizon, x), ours, trend, "fig4_dead_neurons"))
    layer2 = {METHOD_LABELS[m]: groups[m] for m in ("rouser", "baseline")}
    ours, result, x = _difference_claim(
        ev,
        layer2,
        lambda run, x: 100 * _value(run, "dead_neurons.layer2", x),
        horizon,
        -1,
        dead["rouser"]["layer2"][-1] - dead["baseline"]["layer2"][-1],
        "%",
    )
    rows.append(
        _row(
            "Fig. 4: Rouser ends with fewer dead neurons in hidden layer 2",
            f"Rouser {dead['rouser']['layer2'][-1]}%, baseline {dead['baseline']['layer2'][-1]}%"
            f" (epoch {reference['epochs'][-1]})",
            _horizon_text(horizon, x),
            ours,
            result,
            "fig4_dead_neurons",
        )
    )
    return rows


def fig5_spike_rates(ev: Evidence) -> list[dict]:
    reference = ev.paper["fig5"]
    rates = reference["final_spike_rate"]

    def hidden(method: str) -> float:
        values = [
            np.mean(v) if isinstance(v, list) else v
            for v in (rates[method]["layer1"], rates[method]["layer2"])
        ]
        return float(np.mean(values))

    groups = {METHOD_LABELS[m]: ev.defaults(m) for m in ("rouser", "baseline")}
    horizon = axis.paper_x(reference["epochs"])
    ours, result, x = _difference_claim(
        ev,
        groups,
        lambda run, x: (
            50 * (_value(run, "spike_rate.layer1", x) + _value(run, "spike_rate.layer2", x))
        ),
        horizon,
        -1,
        hidden("rouser") - hidden("baseline"),
        "%",
    )
    return [
        _row(
            "Fig. 5: Rouser's hidden layers fire less than the baseline's (mean of layers 1-2)",
            f"Rouser layer 1 {rates['rouser']['layer1']}, layer 2 {rates['rouser']['layer2']}; "
            f"baseline {rates['baseline']['layer1']}, {rates['baseline']['layer2']} (%)",
            _horizon_text(horizon, x),
            ours,
            result,
            "fig5_spike_rates",
        )
    ]


def latency(ev: Evidence) -> list[dict]:
    def measure(run: pd.DataFrame, x: float) -> float:
        """Paper epochs until the test accuracy first reaches 95% of its value at `x`."""
        seen = run[run["paper_epochs"] <= x * 1.001]
        target = seen[ACCURACY].iloc[-1] * float(run["config.latency_target"].iloc[0])
        return float(seen.loc[seen[ACCURACY] >= target, "paper_epochs"].iloc[0])

    groups = {METHOD_LABELS[m]: ev.defaults(m) for m in ("rouser", "baseline")}
    ours, result, x = _difference_claim(ev, groups, measure, None, -1, None, " paper epochs")
    return [
        _row(
            "Faster convergence: Rouser reaches 95% of its final accuracy sooner",
            f"up to {ev.paper['latency']['max_reduction']['v1']}% lower training latency (v1)",
            _horizon_text(None, x),
            ours,
            result,
            "table1",
        )
    ]


def fig6_ablation(ev: Evidence) -> list[dict]:
    settings = ev.paper["fig6"]["settings"]
    horizon = axis.paper_x(ev.paper["fig6"]["epochs"])
    ablation = ev.runs("fig6", "horizon_fig6b", "paper_epoch_6b")
    arm = ablation["run_id"].map(ev.labels)
    rows = []
    for key, claim in (
        ("a", "Fig. 6a (Th 1.25, tau 3.75, s 1.5): learning on ends above learning off"),
        ("b", "Fig. 6b (Th 0.25, tau 3, s 3): learning on converges, learning off does not"),
    ):
        ends = settings[key]["end"]
        on_end, off_end = ends.values()  # lr_Th > 0 first, as paper_values.yml lists them
        paper = " vs ".join(f"{v}%" for v in ends.values())
        if key == "a":  # the baseline is learning off on Rouser's path (a test shows equal)
            groups = {"on": ev.defaults("rouser"), "off": ev.defaults("baseline")}
        else:
            groups = {
                "on": ablation[arm == f"{key}, learning on"],
                "off": ablation[arm == f"{key}, learning off"],
            }
        ours, result, x = _difference_claim(
            ev,
            groups,
            lambda run, x: 100 * _value(run, ACCURACY, x),
            horizon,
            +1,
            on_end - off_end,
            "%",
            ev.resolution(pd.concat(groups.values())),
        )
        rows.append(_row(claim, paper, _horizon_text(horizon, x), ours, result, "fig6_ablation"))
    return rows


CLAIMS: tuple[Callable[[Evidence], list[dict]], ...] = (
    table1_nmnist,
    table1_full_data,
    fig2_grid,
    fig3_weight_change,
    fig4_dead_neurons,
    fig5_spike_rates,
    latency,
    fig6_ablation,
)


def evidence(records: pd.DataFrame, paper: dict) -> Evidence:
    """The records as trajectories, and which experiment each trajectory stands for."""
    profile = records["config.profile"].iloc[0]
    rows = axis.trajectories(records, paper)
    longest = dict(zip(axis.trajectory_key(records), records["run_id"], strict=True))
    kept = dict(zip(rows["trajectory"], rows["run_id"], strict=True))
    stands_for = {run_id: kept[key] for key, run_id in longest.items()}
    members = {}
    for name in RESULTS["reproduce"].experiments:
        ids = {run.run_id for run in experiment_runs(name, profile)}
        members[name] = {stands_for[i] for i in ids if i in stands_for}
    # Fig. 6's arms, by the label of any run a kept trajectory stands for
    arms = {
        **run_labels("fig6", profile),
        **{i: f"b, {label}" for i, label in run_labels("horizon_fig6b", profile).items()},
        **{run.run_id: "b, learning on" for run in experiment_runs("paper_epoch_6b", profile)},
    }
    labels = {stands_for[i]: label for i, label in arms.items() if i in stands_for}
    return Evidence(rows, members, labels, paper)


def claims(records: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """One row per claim of the paper: paper's value and horizon, ours, verdict, evidence."""
    require(records, "Does it reproduce?")
    paper = paper or load_paper_values()
    ev = evidence(records, paper)
    table = pd.DataFrame([row for claim in CLAIMS for row in claim(ev)])
    counts = table["verdict"].value_counts()
    table.attrs["summary"] = summary(counts, len(table))
    table.attrs["cell_colors"] = {"verdict": VERDICT_COLORS}
    table.attrs["title"] = (
        "Does it reproduce? One row per claim of the paper, judged at the paper's horizon "
        "in paper epochs (samples seen / the paper's training-set size). Ours: "
        + provenance(records)
    )
    return table


def summary(counts: pd.Series, total: int) -> str:
    """'Of 12 claims: 1 agrees, 3 disagree, ...' in the order of `VERDICT_COLORS`."""
    parts = [f"{int(counts[v])} {v}" for v in VERDICT_COLORS if counts.get(v, 0)]
    return f"Of the paper's {total} claims: " + "; ".join(parts) + "."
