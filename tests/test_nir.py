"""NIR export and import (`rouser.nir_graph`), checked by a round trip and by peer simulators.

The peers (norse 1.1, snnTorch 1.0) are installed by CI from requirements-peers.txt; where
one is not importable its tests skip, saying so. norse keeps per-neuron thresholds, so it
checks Rouser networks; snnTorch's importer accepts only uniform thresholds, so it checks a
baseline network.
"""

from __future__ import annotations

import doctest
import importlib.util
import warnings
from collections.abc import Callable

import nir
import numpy as np
import pytest
import torch
from toy_task import CHANNELS, STEPS, toy_loaders

import rouser.nir_graph
import rouser.runs.cli as cli_module
import rouser.runs.train as train_module
from rouser import from_nir, to_nir
from rouser.config import resolve_run
from rouser.data import make_loaders
from rouser.network import SpikingMLP
from rouser.nir_peers import SNNTORCH_DT, peer_spikes
from rouser.runs.checkpoint import load_checkpoint
from rouser.runs.records import checkpoint_path, record_path, write_record
from rouser.runs.train import export_run

# The bar for a peer: the share of output spike values (spike or no spike, per step,
# sample and neuron) that agree.
AGREEMENT = 0.999


def needs(peer: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(peer) is None,
        reason=f"{peer} is not installed (pip install --no-deps -r requirements-peers.txt)",
    )


def distinct_thresholds(model: SpikingMLP, seed: int = 0) -> SpikingMLP:
    """Every neuron its own threshold in [0.5, 2), as after Rouser's training."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for neuron in model.neurons:
            neuron.threshold.copy_(0.5 + 1.5 * torch.rand(neuron.n_neurons, generator=generator))
    return model


def small_network(**kwargs) -> SpikingMLP:
    torch.manual_seed(0)
    return SpikingMLP([40, 30, 20], **kwargs)


def random_spikes(steps: int = 200, batch: int = 8, features: int = 40) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(steps, batch, features, generator=generator) < 0.3).float()


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape
    return float((ours == theirs).float().mean())


@pytest.fixture(scope="module")
def real_spikes(shared_data, tmp_path_factory) -> torch.Tensor:
    """10 held-out real N-MNIST recordings, [300, 10, 2, 34, 34], as training reads them."""
    run = resolve_run("nmnist", "rouser", "cpu", train_subset=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no test split": the held-out 10% is the test set
        _, test, _ = make_loaders(
            run, shared_data, cache_dir=tmp_path_factory.mktemp("cache"), progress=False
        )
    events, _ = next(iter(test))
    assert events.shape == (300, 10, 2, 34, 34)
    return events.dense()


def test_module_docstring_example_runs():
    assert doctest.testmod(rouser.nir_graph, raise_on_error=True).attempted > 0


def test_export_maps_the_neurons_exactly():
    model = distinct_thresholds(small_network())
    graph = to_nir(model, dt=2e-3)
    assert list(graph.nodes) == ["input", "linear1", "lif1", "linear2", "lif2", "output"]
    assert graph.edges == [
        ("input", "linear1"),
        ("linear1", "lif1"),
        ("lif1", "linear2"),
        ("linear2", "lif2"),
        ("lif2", "output"),
    ]
    for index, block in enumerate(model.blocks, 1):
        node = graph.nodes[f"lif{index}"]
        np.testing.assert_array_equal(
            graph.nodes[f"linear{index}"].weight, block.synapse.weight.detach()
        )
        np.testing.assert_array_equal(node.v_threshold, block.neuron.threshold.detach())
        np.testing.assert_allclose(node.tau_syn, 2e-3 / (1 - 0.75))
        np.testing.assert_allclose(node.tau_mem, 2e-3 / (1 - 0.97))
        np.testing.assert_allclose(node.r, node.tau_mem / 2e-3)
        np.testing.assert_allclose(node.w_in, node.tau_syn / 2e-3)
        assert not node.v_leak.any() and not node.v_reset.any()
        assert node.v_threshold.shape == (block.neuron.n_neurons,)


@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_round_trip_through_a_nir_file_gives_identical_spikes(tmp_path, dt):
    model = distinct_thresholds(small_network())
    nir.write(tmp_path / "model.nir", to_nir(model, dt=dt))
    again = from_nir(nir.read(tmp_path / "model.nir"), dt=dt)
    x = random_spikes()
    with torch.no_grad():
        ours, theirs = model.forward_layers(x), again.forward_layers(x)
    assert sum(int(layer.sum()) for layer in ours) > 1000
    for layer, layer_again in zip(ours, theirs, strict=True):
        assert torch.equal(layer, layer_again)
    for block, block_again in zip(model.blocks, again.blocks, strict=True):
        assert torch.equal(block.neuron.threshold, block_again.neuron.threshold)
        assert float(np.float32(block_again.neuron.current_decay)) == np.float32(0.75)


def test_a_weight_normalised_network_exports_its_effective_weights():
    model = distinct_thresholds(small_network(weight_norm=True))
    again = from_nir(to_nir(model))
    x = random_spikes()
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_from_nir_reads_per_layer_decays_and_passes_neuron_options():
    model = small_network(learn_threshold=False)
    model.blocks[1].neuron.voltage_decay = 0.5
    again = from_nir(to_nir(model), learn_threshold=False)
    assert [neuron.voltage_decay for neuron in again.neurons] == pytest.approx([0.97, 0.5])
    assert not isinstance(again.neurons[0].threshold, torch.nn.Parameter)


def edited(edit) -> nir.NIRGraph:
    graph = to_nir(small_network())
    edit(graph)
    return graph


def set_field(node: str, field: str, value: np.ndarray) -> Callable[[nir.NIRGraph], None]:
    def edit(graph: nir.NIRGraph) -> None:
        setattr(graph.nodes[node], field, value)

    return edit


def spread_tau(graph: nir.NIRGraph) -> None:
    node = graph.nodes["lif2"]
    node.tau_syn = node.tau_syn * np.linspace(1, 2, node.tau_syn.size)
    node.w_in = node.tau_syn / 1e-3  # gains stay 1: only the decays differ


def add_bias(graph: nir.NIRGraph) -> None:
    weight = graph.nodes["linear1"].weight
    graph.nodes["linear1"] = nir.Affine(weight=weight, bias=np.ones(weight.shape[0]))


def branch(graph: nir.NIRGraph) -> None:
    graph.edges.append(("lif1", "output"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (set_field("lif1", "v_leak", np.full(30, 0.1)), "'lif1': v_leak is not 0"),
        (set_field("lif2", "v_reset", np.full(20, -1.0)), "'lif2': v_reset is not 0"),
        (spread_tau, "'lif2': tau_syn differs between neurons"),
        (set_field("lif1", "r", np.ones(30)), r"'lif1': r \* dt / tau_mem"),
        (add_bias, "node 'linear1' is a nir.Affine"),
        (branch, "node 'lif1' feeds"),
    ],
    ids=["v_leak", "v_reset", "decays-differ", "gain", "unknown-node", "branch"],
)
def test_from_nir_refuses_what_it_cannot_represent_naming_the_node(edit, message):
    with pytest.raises(ValueError, match=message):
        from_nir(edited(edit))


def test_from_nir_at_another_dt_says_which_dt_the_graph_has():
    with pytest.raises(ValueError, match=r"tau_syn / w_in = 0.0001 s"):
        from_nir(to_nir(small_network(), dt=1e-4), dt=1e-3)


def test_to_nir_refuses_what_nir_would_not_describe():
    with pytest.raises(TypeError, match="SpikingMLP"):
        to_nir(torch.nn.Linear(2, 2))
    model = small_network()
    model.neurons[1].fixed_point = True
    with pytest.raises(ValueError, match="layer 2 runs lava-dl's fixed-point"):
        to_nir(model)
    model = small_network()
    model.neurons[0].voltage_decay = 1.0
    with pytest.raises(ValueError, match="layer 1: voltage_decay=1 is a leak-free integrator"):
        to_nir(model)
    with pytest.raises(ValueError, match="layer 1 delays its spikes"):
        to_nir(small_network(delay_shift=True))
    with pytest.raises(ValueError, match="dt=0"):
        to_nir(small_network(), dt=0)


def test_export_run_writes_the_checkpoints_network(tmp_path):
    # SHD's 20 output neurons, of which the toy task's labels use the first 3.
    run = resolve_run(
        "shd", "rouser", "smoke", sensor_size=[CHANNELS, 1, 1], hidden=[10],
        time_bins=STEPS, epochs=2, lr_th=0.05,
    )  # fmt: skip
    record = train_module.train(run, tmp_path, device="cpu", loaders=toy_loaders(), progress=False)
    graph = export_run(run, tmp_path, tmp_path / "run.nir")
    trained = load_checkpoint(checkpoint_path(run, tmp_path), run, record["data"])["model"]
    threshold = trained["blocks.0.neuron.threshold"]
    assert threshold.std() > 0  # Rouser moved each neuron's threshold its own way
    np.testing.assert_array_equal(graph.nodes["lif1"].v_threshold, threshold)
    again = from_nir(nir.read(tmp_path / "run.nir"), dt=run.bin_us * 1e-6)
    for name, tensor in again.state_dict().items():
        assert torch.equal(tensor, trained[name]), name
    record["status"] = "failed"
    write_record(record, record_path(run, tmp_path))
    with pytest.raises(ValueError, match="is 'failed'; only a finished run is exported"):
        export_run(run, tmp_path, tmp_path / "again.nir")


def test_cli_exports_after_training(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        cli_module, "train", lambda run, **kwargs: {"summary": None, "status": "finished"}
    )
    monkeypatch.setattr(cli_module, "export_run", lambda *args: calls.append(args))
    cli_module.main([
        "--dataset", "shd", "--method", "rouser", "--profile", "smoke",
        "--runs-dir", str(tmp_path), "--export-nir", str(tmp_path / "net.nir"),
    ])  # fmt: skip
    ((run, runs_dir, path),) = calls
    assert (run.dataset, runs_dir, path) == ("shd", tmp_path, tmp_path / "net.nir")


@needs("norse")
def test_norse_agrees_on_random_inputs_with_distinct_thresholds():
    model = distinct_thresholds(small_network())
    x = random_spikes()
    with torch.no_grad():
        ours = model(x)
    theirs = peer_spikes(to_nir(model, dt=1e-3), x, "norse", dt=1e-3)
    assert int(ours.sum()) > 500
    assert agreement(ours, theirs) >= AGREEMENT


@needs("norse")
def test_norse_and_rouser_both_keep_a_resting_neuron_silent_at_threshold_zero():
    """The strict V > Th of both: at rest V = 0 = Th, and neither fires."""
    model = small_network(threshold=0.0)
    x = torch.zeros(20, 2, 40)
    with torch.no_grad():
        ours = model(x)
    theirs = peer_spikes(to_nir(model), x, "norse", dt=1e-3)
    assert int(ours.sum()) == int(theirs.sum()) == 0


@needs("norse")
def test_norse_agrees_on_real_nmnist_recordings(real_spikes):
    torch.manual_seed(0)
    model = distinct_thresholds(SpikingMLP([2 * 34 * 34, 100, 100, 10]))
    with torch.no_grad():
        ours = model(real_spikes)
    theirs = peer_spikes(to_nir(model), real_spikes, "norse", dt=1e-3)
    assert int(ours.sum()) > 100
    assert agreement(ours, theirs) >= AGREEMENT


@needs("snntorch")
def test_snntorch_agrees_with_a_baseline_network_on_random_and_real_inputs(real_spikes):
    torch.manual_seed(0)
    model = SpikingMLP([2 * 34 * 34, 100, 100, 10], learn_threshold=False)
    graph = to_nir(model, dt=SNNTORCH_DT)
    generator = torch.Generator().manual_seed(2)
    noise = (torch.rand(100, 4, 2 * 34 * 34, generator=generator) < 0.05).float()
    for x in (noise, real_spikes):
        with torch.no_grad():
            ours = model(x)
        assert int(ours.sum()) > 100
        assert agreement(ours, peer_spikes(graph, x, "snntorch", dt=SNNTORCH_DT)) >= AGREEMENT


@needs("snntorch")
def test_snntorch_refuses_per_neuron_thresholds():
    """Why norse, not snnTorch, is the peer for Rouser networks."""
    graph = to_nir(distinct_thresholds(small_network()), dt=SNNTORCH_DT)
    with pytest.raises(AssertionError, match="v_thr must be same for all neurons"):
        peer_spikes(graph, random_spikes(), "snntorch", dt=SNNTORCH_DT)
