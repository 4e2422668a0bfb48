"""Write reference vectors of lava-dl's fixed-point CUBA neuron, computed by lava-dl's own code.

Why: `rouser.CubaLIF(..., fixed_point=True)` claims to reproduce lava-dl SLAYER's CUBA forward
pass spike for spike and voltage for voltage (issue 13). A claim like that is only evidence if
the reference comes from lava-dl itself, not from a re-derivation of it in this repository.
lava-dl does not install on Python 3.11, but the part that matters is plain torch, so this
script reads lava-dl's source at a given commit out of a git repository (a checkout or a bare
mirror) and executes those modules unmodified, in a throwaway package namespace:

    utils/utils.py, utils/int_utils.py, utils/quantize.py, jitconfig.py,
    utils/time/shift.py, utils/filter/conv.py, axon/delay.py, spike/spike.py,
    neuron/dynamics/leaky_integrator.py, neuron/base.py, neuron/cuba.py

(only the CPU paths run; the CUDA extensions are never compiled). Each case is run through
lava-dl's `cuba.Neuron(threshold, current_decay=0.25, voltage_decay=0.03)` exactly as its
`forward` does (`dynamics` then `spike`), and cross-checked against an explicit composition
of lava-dl's `_li_dynamics_fwd` and `right_shift_to_zero` (as `cuba.Neuron.dynamics` calls
them), so that a wrong assumption about how the neuron is wired would stop the script.

Nothing of lava-dl is copied into the repository: the fixture holds only inputs and outputs,
plus the lava-dl commit and the blob id of every source file that ran.

    python workflow/scripts/lava_dl_fixtures.py --lava-dl /path/to/lava-dl \
        --output tests/fixtures/lava_dl_cuba.npz

lava-dl tensors are [batch, neurons, time]; the fixture stores rouser's [T, B, N].
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

SLAYER = "src/lava/lib/dl/slayer"
PACKAGE = "_lava_dl_slayer"  # throwaway name: never clashes with an installed lava-dl

# Modules executed from lava-dl's source, in dependency order (dotted name below `PACKAGE`,
# path below `SLAYER`).
MODULES = (
    ("jitconfig", "jitconfig.py"),
    ("utils.utils", "utils/utils.py"),
    ("utils.int_utils", "utils/int_utils.py"),
    ("utils.quantize", "utils/quantize.py"),
    ("utils.time.shift", "utils/time/shift.py"),
    ("utils.filter.conv", "utils/filter/conv.py"),
    ("axon.delay", "axon/delay.py"),
    ("spike.spike", "spike/spike.py"),
    ("neuron.dynamics.leaky_integrator", "neuron/dynamics/leaky_integrator.py"),
    ("neuron.base", "neuron/base.py"),
    ("neuron.cuba", "neuron/cuba.py"),
)
# What lava-dl's package `__init__` files re-export and the modules above import by name
# (`from ..utils import quantize` is the function, as utils/__init__.py makes it).
REEXPORTS = {
    "utils": (("quantize", "utils.quantize", "quantize"),),
    "utils.time": (("shift", "utils.time.shift", "shift"),),
    "utils.filter": (("conv", "utils.filter.conv", "conv"),),
}

# lava-dl's NMNIST parameters (the paper's Table II): fractions LOST per step.
CURRENT_DECAY_LOST = 0.25
VOLTAGE_DECAY_LOST = 0.03
THRESHOLDS = (1.25, 0.25, 0.0)


def git(repo: Path, *args: str) -> str:
    """Run git on `repo` (bare or not) and return its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def load_lava_dl(repo: Path, commit: str) -> dict[str, types.ModuleType]:
    """Execute lava-dl's source at `commit` as a package `PACKAGE`; return the modules.

    The source is read with `git show <commit>:<path>`, so a dirty work tree cannot change
    what runs, and it is compiled unmodified (its file name in tracebacks is the lava-dl path).
    """
    modules: dict[str, types.ModuleType] = {}

    def package(dotted: str) -> types.ModuleType:
        name = f"{PACKAGE}.{dotted}" if dotted else PACKAGE
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []  # a package, so that relative imports resolve
            module.__package__ = name
            sys.modules[name] = module
            if dotted:
                parent, _, leaf = dotted.rpartition(".")
                setattr(package(parent), leaf, module)
        return sys.modules[name]

    for dotted, path in MODULES:
        parent, _, leaf = dotted.rpartition(".")
        name = f"{PACKAGE}.{dotted}"
        module = types.ModuleType(name)
        module.__package__ = package(parent).__name__
        module.__file__ = f"lava-dl@{commit[:12]}:{SLAYER}/{path}"
        sys.modules[name] = module
        source = git(repo, "show", f"{commit}:{SLAYER}/{path}")
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        setattr(package(parent), leaf, module)
        modules[dotted] = module
        for pkg, exports in REEXPORTS.items():
            for attribute, source_module, source_name in exports:
                if source_module == dotted:
                    setattr(package(pkg), attribute, getattr(module, source_name))
    return modules


def lava_cuba(
    lava: dict[str, types.ModuleType], x: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """lava-dl's CUBA neuron on x [T, B, N]: (current, pre-reset voltage, spikes), [T, B, N].

    Runs `cuba.Neuron.dynamics` and `.spike` (what its `forward` does), then recomputes the
    same from `_li_dynamics_fwd` and `right_shift_to_zero` composed as `dynamics()` composes
    them, and insists the two agree exactly.
    """
    cuba = lava["neuron.cuba"]
    li = lava["neuron.dynamics.leaky_integrator"]
    quantize = lava["utils.quantize"].quantize
    neuron = cuba.Neuron(
        threshold=threshold, current_decay=CURRENT_DECAY_LOST, voltage_decay=VOLTAGE_DECAY_LOST
    )
    bnt = x.permute(1, 2, 0).contiguous()  # lava-dl is [batch, neurons, time]
    with torch.no_grad():
        current, voltage = neuron.dynamics(bnt)
        spikes = neuron.spike(voltage)

        # The same, spelled out: s_scale = w_scale << 6 = 4096 units per 1.0; decays are
        # round(4096 * fraction lost); the voltage resets when it reaches threshold + eps.
        assert neuron.w_scale == 1 << 6 and neuron.s_scale == 1 << 12 and neuron.p_scale == 1 << 12
        th = int(threshold * neuron.w_scale) / neuron.w_scale
        assert neuron.threshold == th and neuron.threshold_eps == 0.01 / neuron.s_scale
        state = torch.zeros(bnt.shape[:-1])
        cur = li._li_dynamics_fwd(
            bnt, quantize(neuron.current_decay), state, -1, neuron.s_scale, dtype=torch.int64
        )
        th_eps = th + neuron.threshold_eps
        volt = li._li_dynamics_fwd(
            cur, quantize(neuron.voltage_decay), state, th_eps, neuron.s_scale, dtype=torch.int64
        )
        spk = (volt >= th_eps).to(volt.dtype)  # spike.py's forward, graded_spike=False
        for a, b in ((cur, current), (volt, voltage), (spk, spikes)):
            assert a.dtype == b.dtype == torch.float32 and torch.equal(a, b)
    back = lambda t: t.permute(2, 0, 1).contiguous()  # noqa: E731
    return back(current), back(voltage), back(spikes)


def random_input(gen: np.random.Generator, shape: tuple[int, int, int], th: float) -> np.ndarray:
    """Noisy constant drive with a per-neuron mean from clearly negative to positive.

    Why this shape: neurons with a negative mean stay silent (or nearly), the others fire at
    rates from rare to frequent, and the noise makes the current cross zero, so the rounding
    toward zero of negative products and the truncation of negative inputs are exercised.
    """
    n = shape[-1]
    scale = max(th, 0.25)
    mean = np.linspace(-0.04, 0.06, n) * scale
    noise = gen.standard_normal(shape) * 0.08 * scale
    return (mean[None, None, :] + noise).astype(np.float32)


def grid_input(gen: np.random.Generator, shape: tuple[int, int, int], th: float) -> np.ndarray:
    """Inputs on and next to the 1/4096 grid, and voltages that land exactly on threshold.

    Why: where float and fixed point part ways is at grid points. Columns, in blocks:
    exact multiples of 1/4096; their float32 neighbours one ulp up and down (truncation
    toward zero sends them to different grid points depending on the sign); half-way
    values; sums of 8-bit SLAYER weights (multiples of 2/64) times binary spikes, which are
    on the grid already; and single impulses of exactly th + k/4096, k in -2..2, at the
    first step, so that the voltage equals the threshold to the unit (strict comparison).
    """
    t, b, n = shape
    scale = max(th, 0.25)
    x = np.zeros(shape, dtype=np.float32)
    blocks = np.array_split(np.arange(n), 5)
    k = gen.integers(-200, 120, size=(t, b, len(blocks[0]))) * scale
    x[..., blocks[0]] = (np.round(k) / 4096).astype(np.float32)
    base = (np.round(gen.integers(-200, 120, size=(t, b, len(blocks[1]))) * scale) / 4096).astype(
        np.float32
    )
    direction = np.where(gen.random(base.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
    x[..., blocks[1]] = np.nextafter(base, direction)
    half = (np.round(gen.integers(-200, 120, size=(t, b, len(blocks[2]))) * scale) + 0.5) / 4096
    x[..., blocks[2]] = half.astype(np.float32)
    weights = gen.integers(-128, 128, size=(16, len(blocks[3]))) * 2 / 64 * 0.2 * scale
    weights = np.round(weights * 32) / 32  # multiples of 1/32 = 2/64: lava-dl's 8-bit grid
    inputs = (gen.random((t, b, 16)) < 0.1).astype(np.float32)
    x[..., blocks[3]] = (inputs @ weights).astype(np.float32)
    impulses = blocks[4]
    for i, column in enumerate(impulses):
        x[0, :, column] = np.float32(th + ((i % 5) - 2) / 4096)
    return x


def cases(seed: int) -> list[tuple[str, float, np.ndarray]]:
    """The fixture's cases: (name, threshold, input [T, B, N] float32)."""
    gen = np.random.default_rng(seed)
    out = []
    for th in THRESHOLDS:
        out.append((f"random_th{th}", th, random_input(gen, (100, 4, 32), th)))
        out.append((f"grid_th{th}", th, grid_input(gen, (64, 2, 25), th)))
    out.append(("rest_th0.0", 0.0, np.zeros((20, 2, 8), dtype=np.float32)))
    return out


def build(repo: Path, commit: str, seed: int, script: str) -> dict[str, np.ndarray]:
    """Run every case through lava-dl; return the arrays the npz will hold."""
    commit = git(repo, "rev-parse", f"{commit}^{{commit}}").strip()
    lava = load_lava_dl(repo, commit)
    arrays: dict[str, np.ndarray] = {}
    summary = {}
    names = []
    for name, th, x in cases(seed):
        _, voltage, spikes = lava_cuba(lava, torch.from_numpy(x), th)
        arrays[f"{name}__input"] = x
        arrays[f"{name}__threshold"] = np.float32(th)
        arrays[f"{name}__voltage"] = voltage.numpy()
        arrays[f"{name}__spikes"] = spikes.numpy().astype(np.uint8)
        fired = spikes.amax(dim=0)  # [B, N]: did the neuron fire at all
        summary[name] = {
            "shape_TBN": list(x.shape),
            "threshold": th,
            "spike_rate": round(float(spikes.mean()), 4),
            "silent_fraction": round(1.0 - float(fired.mean()), 4),
            "voltage_equal_threshold": int((voltage == th).sum()),
        }
        names.append(name)
    blobs = {
        path: git(repo, "rev-parse", f"{commit}:{SLAYER}/{path}").strip() for _, path in MODULES
    }
    meta = {
        "lava_dl_commit": commit,
        "lava_dl_commit_date": git(repo, "show", "-s", "--format=%cI", commit).strip(),
        "lava_dl_sources": blobs,
        "lava_dl_neuron": (
            f"cuba.Neuron(threshold=th, current_decay={CURRENT_DECAY_LOST}, "
            f"voltage_decay={VOLTAGE_DECAY_LOST}): dynamics() then spike()"
        ),
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "script": script,
        "seed": seed,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "layout": "[T, B, N] (lava-dl's [B, N, T] transposed); spikes uint8; voltage pre-reset",
        "cases": summary,
    }
    arrays["case_names"] = np.array(names)
    arrays["current_decay_lost"] = np.float32(CURRENT_DECAY_LOST)
    arrays["voltage_decay_lost"] = np.float32(VOLTAGE_DECAY_LOST)
    arrays["current_decay_kept"] = np.float32(1 - CURRENT_DECAY_LOST)
    arrays["voltage_decay_kept"] = np.float32(1 - VOLTAGE_DECAY_LOST)
    # The decays as lava-dl uses them: round(4096 * fraction lost), a 12-bit integer.
    arrays["current_decay_int"] = np.int32(round(4096 * CURRENT_DECAY_LOST))
    arrays["voltage_decay_int"] = np.int32(round(4096 * VOLTAGE_DECAY_LOST))
    arrays["meta"] = np.array(json.dumps(meta, indent=1))
    return arrays


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lava-dl", type=Path, required=True, help="lava-dl git repo (or bare)")
    parser.add_argument("--commit", default="HEAD", help="lava-dl commit to run (default HEAD)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--output", type=Path, default=Path("tests/fixtures/lava_dl_cuba.npz"), help="npz path"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    arrays = build(args.lava_dl, args.commit, args.seed, "workflow/scripts/lava_dl_fixtures.py")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **arrays)
    meta = json.loads(str(arrays["meta"]))
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    print(f"lava-dl {meta['lava_dl_commit']} ({meta['lava_dl_commit_date']})")
    for name, info in meta["cases"].items():
        print(f"  {name}: {info}")


if __name__ == "__main__":
    main()
