"""`from_nir` on graphs from elsewhere: sizes checked before allocating, values a run's
config would refuse are refused, naming the node; nothing is silently approximated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from rouser import from_nir, to_nir
from rouser.network import SpikingMLP


def _graph() -> nir.NIRGraph:
    return to_nir(SpikingMLP([3, 2]), dt=1e-3)


def _with(field: str, value: np.ndarray, node: str = "lif1") -> nir.NIRGraph:
    graph = _graph()
    setattr(graph.nodes[node], field, value)
    return graph


# Reading the bomb under a 4 GiB address-space limit: the declared 37 GiB would fail to
# allocate (MemoryError) if the reader tried.
BOMB = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from rouser import from_nir
try:
    from_nir(sys.argv[1])
except Exception as error:
    print(type(error).__name__, error)
"""


def test_nir_bomb_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nir"
    nir.write(path, _graph())
    with h5py.File(path, "r+") as file:  # a weight declared, never written: a few bytes
        del file["node/nodes/linear1/weight"]
        file.create_dataset(
            "node/nodes/linear1/weight", shape=(100_000, 100_000), dtype="f4", chunks=True
        )
    assert path.stat().st_size < 100_000
    done = subprocess.run(
        [sys.executable, "-c", BOMB, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.startswith(
        f"ValueError {path}: node 'linear1': weight declares shape [100000, 100000] (37.3 GiB)"
    ), done.stdout + done.stderr[-2000:]


def test_file_round_trip_reads_through_the_size_check(tmp_path: Path) -> None:
    path = tmp_path / "model.nir"
    nir.write(path, _graph())
    assert list(from_nir(path).sizes) == [3, 2]


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (_with("v_threshold", np.array([0.5, np.nan], "f4")), r"'lif1': v_threshold is not fin"),
        (_with("v_threshold", np.array([np.inf, 1.0], "f4")), r"'lif1': v_threshold is not fin"),
        (_with("v_threshold", np.array([0.5, -5.0], "f4")), r"'lif1': v_threshold of neuron 1"),
        (_with("tau_mem", np.array([np.nan, np.nan])), r"'lif1': tau_mem is not finite"),
        (
            _with("weight", np.ones((2, 3)) * (1 + 1j), "linear1"),
            r"'linear1': weight is of type complex",
        ),
        (_with("v_threshold", np.zeros(0, "f4")), r"'lif1': v_threshold is empty"),
    ],
)
def test_values_the_config_refuses_are_refused_naming_the_node(
    graph: nir.NIRGraph, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        from_nir(graph)


def test_edge_from_a_missing_node_is_named() -> None:
    graph = _graph()
    graph.edges.append(("ghost", "lif1"))
    with pytest.raises(ValueError, match=r"edge \('ghost', 'lif1'\) names \['ghost'\]"):
        from_nir(graph)


def test_input_of_no_values_is_refused() -> None:
    graph = _graph()
    graph.nodes["input"] = nir.Input(input_type={"input": np.array([0])})
    with pytest.raises(ValueError, match=r"'input': the input has 0 values"):
        from_nir(graph)
