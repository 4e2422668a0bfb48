r"""NIR export and import: a trained network as a graph that neuromorphic hardware reads.

NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``) describes a network in
continuous time. Its ``CubaLIF`` node is, per neuron, with input :math:`x`:

.. math::

    \tau_{syn} \dot I = -I + w_{in} \, x, \qquad
    \tau_{mem} \dot V = (v_{leak} - V) + r \, I,

a spike when :math:`V` crosses :math:`v_{threshold}`, then :math:`V \leftarrow v_{reset}`.
rouser's neuron is the discrete recurrence of :mod:`rouser.dynamics` (decays
:math:`\alpha_I`, :math:`\alpha_V`; a spike when :math:`V[t] > \vartheta`, then reset to 0).

**Discretisation convention.** Forward Euler with one step per time bin, ``dt`` seconds
(one bin = ``dt``), the synaptic current updated first and the voltage then reading the
current of the same step, as norse and snnTorch step a CubaLIF node. With

.. math::

    \tau_{syn} = \frac{dt}{1 - \alpha_I}, \quad \tau_{mem} = \frac{dt}{1 - \alpha_V}, \quad
    w_{in} = \frac{\tau_{syn}}{dt}, \quad r = \frac{\tau_{mem}}{dt}, \quad
    v_{leak} = v_{reset} = 0,

Euler's :math:`I \leftarrow (1 - dt/\tau_{syn}) I + (dt/\tau_{syn}) w_{in} x` is exactly
:math:`\alpha_I I + x` and likewise for :math:`V`, so a simulator stepping the graph with the
same ``dt`` computes rouser's network (up to float rounding). Consequences worth knowing:

* the time bin is the unit of time: export with ``dt`` = the run's bin width (NMNIST: 1 ms),
  and step the graph with that ``dt``; another step size is another network;
* a simulator that integrates exactly (decay :math:`e^{-dt/\tau}`) sees slightly different
  decays (:math:`e^{-0.25} = 0.779` instead of 0.75, :math:`e^{-0.03} = 0.970` for 0.97);
* an input value (a bin's event count) enters the current as is, since
  :math:`(dt/\tau_{syn}) w_{in} = 1`;
* the spike condition is strict, :math:`V > \vartheta` (rouser, lava-dl, Loihi; norse and
  snnTorch compare ``V - threshold > 0`` as well), so a neuron at rest never fires at
  :math:`\vartheta = 0`.

The graph is ``input -> linear1 -> lif1 -> linear2 -> ... -> lifK -> output``: a
``nir.Linear`` per synapse (weights ``[out, in]``, no bias) and a ``nir.CubaLIF`` per layer
whose ``v_threshold`` holds each neuron's own threshold. The input is the flattened frame,
in the order rouser's data pipeline produces it (NMNIST: ``[2, 34, 34]`` row-major).
Weights and thresholds keep rouser's float32 values; the time constants are float64.
The surrogate's ``tau`` and ``scale`` are training-only and not part of NIR.

Example (the one-layer network of 3 inputs and 2 neurons, exported, written, read back):

    >>> import tempfile, pathlib, nir, torch
    >>> from rouser import from_nir, to_nir
    >>> from rouser.network import SpikingMLP
    >>> model = SpikingMLP([3, 2])
    >>> model.neurons[0].threshold.data = torch.tensor([0.5, 2.0])
    >>> graph = to_nir(model, dt=1e-3)
    >>> sorted(graph.nodes), graph.nodes["lif1"].v_threshold.tolist()
    (['input', 'lif1', 'linear1', 'output'], [0.5, 2.0])
    >>> round(float(graph.nodes["lif1"].tau_syn[0]), 6), round(float(graph.nodes["lif1"].r[0]), 3)
    (0.004, 33.333)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.nir"
    >>> nir.write(path, graph)
    >>> again = from_nir(path, dt=1e-3)  # read_nir: sizes checked before reading
    >>> x = torch.rand(50, 4, 3)
    >>> bool(torch.equal(again(x), model(x)))
    True
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import nir
import numpy as np
import torch

from rouser.config import SETTINGS
from rouser.network import SpikingMLP
from rouser.neuron import CubaLIF

# Relative tolerance for "these per-neuron values are one value" and "this gain is 1":
# the float64 round trip dt -> tau -> decay moves a decay by ~1e-16, a foreign graph's
# per-neuron spread or gain error is far larger.
RTOL = 1e-6
# The most a .nir file may declare, in bytes, before `read_nir` reads it. HDF5 stores a
# dataset of zeros (or never written) in a few bytes whatever its declared shape: a 39 KB file
# declaring a 100000 x 100000 weight made nir.read allocate 37 GiB. rouser's largest network
# (DVS128: 32768 inputs x 512 neurons, float32) is 67 MB.
MAX_NIR_BYTES = 1 << 30
# The arrays of each node kind that become rouser parameters: checked real and finite.
_ARRAYS = {
    nir.Linear: ("weight",),
    nir.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
}


def _check_model(model: SpikingMLP) -> None:
    """Refuse what a chain of Linear and CubaLIF nodes cannot express exactly."""
    if not isinstance(model, SpikingMLP):
        raise TypeError(f"to_nir exports a rouser SpikingMLP, got {type(model).__name__}")
    for index, block in enumerate(model.blocks, 1):
        neuron = block.neuron
        if neuron.fixed_point:
            raise ValueError(
                f"layer {index} runs lava-dl's fixed-point arithmetic (fixed_point=True); NIR "
                "describes the float dynamics: set neuron.fixed_point = False to export them"
            )
        for name in ("current_decay", "voltage_decay"):
            if getattr(neuron, name) >= 1.0:
                raise ValueError(
                    f"layer {index}: {name}=1 is a leak-free integrator, whose NIR time "
                    "constant would be infinite"
                )
        # An axonal delay would need a nir.Delay node, which norse and snnTorch do not read.
        if block.delay_shift:
            raise ValueError(f"layer {index} delays its spikes (delay_shift=True): not exported")


def to_nir(model: SpikingMLP, dt: float = 1e-3) -> nir.NIRGraph:
    """The network as a NIR graph, one time bin = `dt` seconds (module docstring).

    Every neuron keeps its own threshold; the decays become per-neuron time constants.
    Stepping the graph with forward Euler at the same `dt` gives rouser's spikes.
    """
    if not dt > 0:
        raise ValueError(f"dt={dt!r} must be > 0 (seconds per time bin)")
    _check_model(model)
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type={"input": np.array([model.sizes[0]])})
    }
    edges, previous = [], "input"
    for index, block in enumerate(model.blocks, 1):
        neuron = block.neuron
        threshold = neuron.threshold.detach().cpu().numpy().copy()
        ones = np.ones(neuron.n_neurons)
        tau_syn = ones * (dt / (1.0 - neuron.current_decay))
        tau_mem = ones * (dt / (1.0 - neuron.voltage_decay))
        weight = block.weight.detach().cpu().numpy().copy()  # not a view of the model
        nodes[f"linear{index}"] = nir.Linear(weight=weight)
        nodes[f"lif{index}"] = nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=np.zeros_like(ones),
            v_threshold=threshold,
            v_reset=np.zeros_like(ones),
            w_in=tau_syn / dt,
        )
        edges += [(previous, f"linear{index}"), (f"linear{index}", f"lif{index}")]
        previous = f"lif{index}"
    nodes["output"] = nir.Output(output_type={"output": np.array([model.sizes[-1]])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def read_nir(path: str | os.PathLike, max_bytes: int = MAX_NIR_BYTES) -> nir.NIRGraph:
    """`nir.read(path)`, once the sizes the file declares are known to fit in `max_bytes`.

    Why: `nir.read` reads every HDF5 dataset whole, and a dataset's declared shape costs
    nothing on disk (a never-written or compressed one), so a small file can make the reader
    allocate any amount of memory. The shapes are read from the HDF5 headers first; a file
    declaring more than `max_bytes` in all is a ValueError naming the largest array's node.
    """
    path = Path(path)
    declared: dict[str, tuple[tuple[int, ...], int]] = {}
    try:
        with h5py.File(path, "r") as file:
            file.visititems(
                lambda name, item: (
                    declared.__setitem__(name, (item.shape, item.dtype.itemsize))
                    if isinstance(item, h5py.Dataset)
                    else None
                )
            )
    except OSError as error:
        raise ValueError(f"{path} is not a NIR file (HDF5): {error}") from error
    sizes = {
        name: math.prod(shape or ()) * itemsize for name, (shape, itemsize) in declared.items()
    }
    if sum(sizes.values()) > max_bytes:
        largest = max(sizes, key=sizes.__getitem__)
        where = largest.removeprefix("node/nodes/").rsplit("/", 1)
        label = f"node {where[0]!r}: {where[1]}" if len(where) == 2 else largest
        raise ValueError(
            f"{path}: {label} declares shape {list(declared[largest][0])} "
            f"({sizes[largest] / 2**30:.1f} GiB), {sum(sizes.values()) / 2**30:.1f} GiB in all; "
            f"rouser reads NIR graphs of at most {max_bytes / 2**30:g} GiB (max_bytes)"
        )
    return nir.read(path)


def _check_arrays(name: str, node: nir.NIRNode) -> None:
    """Refuse complex, non-finite or empty parameters of node `name`, naming the field.

    A complex weight would lose its imaginary part in the float32 conversion, a NaN or inf
    would reach training unnoticed, and an empty array has no neuron to build.
    """
    for field in _ARRAYS.get(type(node), ()):
        values = np.asarray(getattr(node, field))
        if np.iscomplexobj(values) or not np.issubdtype(values.dtype, np.number):
            raise ValueError(
                f"node {name!r}: {field} is of type {values.dtype}; rouser reads real numbers"
            )
        if values.size == 0:
            raise ValueError(f"node {name!r}: {field} is empty (shape {list(values.shape)})")
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values.ravel()))
            raise ValueError(
                f"node {name!r}: {field} is not finite at {len(bad)} entries (first: flat "
                f"index {bad[0]}, {values.ravel()[bad[0]]})"
            )


def _chain(graph: nir.NIRGraph) -> list[str]:
    """Node names from input to output; refuses anything but one unbranched path."""
    allowed = (nir.Input, nir.Linear, nir.CubaLIF, nir.Output)
    for name, node in graph.nodes.items():
        if not isinstance(node, allowed):
            raise ValueError(
                f"node {name!r} is a nir.{type(node).__name__}; rouser.from_nir reads a chain "
                "of Input, Linear, CubaLIF and Output nodes (a SpikingMLP) only"
            )
        _check_arrays(name, node)
    for edge in graph.edges:
        missing = [end for end in edge if end not in graph.nodes]
        if missing:
            raise ValueError(
                f"edge {tuple(edge)} names {missing}, not a node of the graph "
                f"(nodes: {sorted(graph.nodes)})"
            )
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph has {len(inputs)} Input nodes {inputs}; a SpikingMLP has 1")
    successors: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for source, target in graph.edges:
        successors[source].append(target)
    order = inputs
    while not isinstance(graph.nodes[order[-1]], nir.Output):
        following = successors[order[-1]]
        if len(following) != 1 or following[0] in order:
            raise ValueError(
                f"node {order[-1]!r} feeds {following}; rouser.from_nir reads one unbranched, "
                "feed-forward path from the Input to the Output node"
            )
        order.append(following[0])
    if len(order) != len(graph.nodes):
        unused = sorted(set(graph.nodes) - set(order))
        raise ValueError(f"nodes {unused} are not on the path from Input to Output")
    return order


def _one_value(name: str, field: str, values: np.ndarray) -> float:
    """The value all neurons of node `name` share, or a ValueError saying they differ."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.allclose(values, values[0], rtol=RTOL, atol=0.0):
        raise ValueError(
            f"node {name!r}: {field} differs between neurons ({values.min():g} to "
            f"{values.max():g}); a rouser CubaLIF layer has one {field} for all its neurons"
        )
    return float(values[0])


def _neuron(name: str, node: nir.CubaLIF, dt: float, neuron_kwargs: dict) -> CubaLIF:
    """A rouser layer equal to `node` under the module's convention, or a ValueError."""
    for field in ("v_leak", "v_reset"):
        values = np.asarray(getattr(node, field))
        if np.any(values != 0):
            raise ValueError(
                f"node {name!r}: {field} is not 0 (max |{field}| = {np.abs(values).max():g}); "
                "rouser's neuron leaks towards and resets to 0"
            )
    threshold = np.asarray(node.v_threshold, dtype=np.float32)
    if threshold.ndim != 1:
        raise ValueError(f"node {name!r}: v_threshold has shape {threshold.shape}, not [N]")
    lowest = SETTINGS["threshold"][1]  # what a run's `threshold` setting allows
    if threshold.min() < lowest:
        raise ValueError(
            f"node {name!r}: v_threshold of neuron {int(threshold.argmin())} is "
            f"{threshold.min():g}; rouser's thresholds are {SETTINGS['threshold'][3]} (a "
            "negative one fires at every step, from rest)"
        )
    decays = {}
    for kept, tau_field, gain_field in (
        ("current_decay", "tau_syn", "w_in"),
        ("voltage_decay", "tau_mem", "r"),
    ):
        tau = np.asarray(getattr(node, tau_field), dtype=np.float64)
        gain = dt / tau * np.asarray(getattr(node, gain_field), dtype=np.float64)
        if not np.allclose(gain, 1.0, rtol=RTOL, atol=0.0):
            raise ValueError(
                f"node {name!r}: {gain_field} * dt / {tau_field} is {gain.min():g} to "
                f"{gain.max():g}, not 1, at dt={dt:g}; a graph that to_nir wrote at another dt "
                f"needs that dt here ({tau_field} / {gain_field} = {np.median(dt / gain):g} s)"
            )
        decays[kept] = 1.0 - _one_value(name, tau_field, dt / tau)
        if not 0.0 <= decays[kept] < 1.0:
            raise ValueError(
                f"node {name!r}: {tau_field} gives {kept}={decays[kept]:g} at dt={dt:g}, "
                "outside [0, 1): Euler at this dt is unstable for it"
            )
    neuron = CubaLIF(len(threshold), **decays, **neuron_kwargs)
    neuron.threshold.data.copy_(torch.from_numpy(threshold))
    return neuron


def from_nir(
    graph: nir.NIRGraph | str | os.PathLike, dt: float = 1e-3, **neuron_kwargs
) -> SpikingMLP:
    """The `SpikingMLP` a NIR graph (or a .nir file, read by `read_nir`) describes, one
    time bin = `dt` seconds.

    Reads what `to_nir` writes: Input -> (Linear -> CubaLIF) x K -> Output, each CubaLIF
    with v_leak = v_reset = 0, one tau_syn and one tau_mem per layer, and w_in and r such
    that Euler at `dt` adds the input unscaled (module docstring). Anything else is refused
    with a ValueError naming the node, rather than approximated: also complex, non-finite
    or empty arrays, edges to missing nodes, and thresholds a run's `threshold` setting
    refuses. `neuron_kwargs` go to every `CubaLIF` (e.g. `learn_threshold`, `tau`, `scale`:
    not stored in NIR).
    """
    if not dt > 0:
        raise ValueError(f"dt={dt!r} must be > 0 (seconds per time bin)")
    if not isinstance(graph, nir.NIRGraph):
        graph = read_nir(graph)
    order = _chain(graph)
    layers = order[1:-1]
    kinds = [type(graph.nodes[name]) for name in layers]
    if not layers or kinds != [nir.Linear, nir.CubaLIF] * (len(layers) // 2):
        raise ValueError(
            f"path {order}: rouser.from_nir reads Input, then Linear and CubaLIF in turns "
            "(at least one pair), then Output"
        )
    sizes = [int(np.prod(graph.nodes[order[0]].input_type["input"]))]
    if sizes[0] < 1:
        raise ValueError(f"node {order[0]!r}: the input has {sizes[0]} values; at least 1")
    weights, neurons = [], []
    for linear_name, lif_name in zip(layers[::2], layers[1::2], strict=True):
        weight = np.asarray(graph.nodes[linear_name].weight, dtype=np.float32)
        if weight.ndim != 2 or weight.shape[1] != sizes[-1]:
            raise ValueError(
                f"node {linear_name!r}: weight of shape {list(weight.shape)} does not take "
                f"{sizes[-1]} inputs ([out, in] expected)"
            )
        neuron = _neuron(lif_name, graph.nodes[lif_name], dt, neuron_kwargs)
        if neuron.n_neurons != weight.shape[0]:
            raise ValueError(
                f"node {lif_name!r} has {neuron.n_neurons} neurons but {linear_name!r} "
                f"has {weight.shape[0]} outputs"
            )
        sizes.append(weight.shape[0])
        weights.append(weight)
        neurons.append(neuron)
    model = SpikingMLP(sizes, **neuron_kwargs)
    with torch.no_grad():
        for block, weight, neuron in zip(model.blocks, weights, neurons, strict=True):
            block.synapse.weight.copy_(torch.from_numpy(weight))
            block.neuron = neuron
    return model
