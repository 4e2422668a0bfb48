"""Training runs: determinism, resume, failure and non-convergence records, the CLI.

Most tests train a tiny network on an in-memory toy task (each class raises the spike rate
of its own group of input channels), so the whole file runs in seconds on one core.
"""

from __future__ import annotations

import json

import pytest
import torch
from toy_task import CLASSES, DATASET, killed_after_checkpoint, toy_loaders, toy_settings

import rouser.runs.cli as cli_module
import rouser.runs.epochs as epochs_module
import rouser.runs.train as train_module
from rouser.config import resolve_run
from rouser.data import make_loaders
from rouser.runs.cli import main
from rouser.runs.epochs import check_finite
from rouser.runs.provenance import numerics
from rouser.runs.records import checkpoint_path, read_record, record_path, write_record
from rouser.runs.train import TIMING_KEYS, check_reusable, resolve_device, train


def toy_run(method: str = "rouser", **overrides):
    return resolve_run(DATASET, method, "smoke", **toy_settings(**{"epochs": 3, **overrides}))


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in history]


def test_run_writes_complete_record_and_is_deterministic(tmp_path):
    run = toy_run()
    record = train(run, tmp_path / "a", device="cpu", loaders=toy_loaders(), progress=True)
    assert record == read_record(record_path(run, tmp_path / "a"))
    assert record["status"] == "finished" and record["error"] is None and record["ended"]
    assert record["config"] == run.to_dict() and record["data"]["source"] == "synthetic"
    assert record["env"]["device"] == "cpu"
    history = record["history"]
    assert [entry["epoch"] for entry in history] == [0, 1, 2, 3]
    for entry in history:
        for key in ("train_accuracy", "test_accuracy"):
            assert 0.0 <= entry[key] <= 1.0
        assert set(entry["dead_neurons"]) == set(entry["never_firing"]) == {"layer1", "layer2"}
        assert set(entry["spike_rate"]) == {"layer1", "layer2", "layer3"}
        assert set(entry["weight_change"]) == {"layer1", "layer2", "layer3", "total"}
        assert set(entry["thresholds"]["layer1"]) >= {"mean", "std", "q05", "q95", "hist_counts"}
    assert history[0]["weight_change"]["total"] == 0.0 and history[0]["epoch_seconds"] == 0.0
    assert history[0]["samples_per_second"] is None and history[1]["samples_per_second"] > 0
    assert history[-1]["weight_change"]["total"] > history[1]["weight_change"]["total"] > 0
    assert set(record["summary"]) == {
        "final_test_accuracy", "best_test_accuracy", "best_epoch", "latency_epoch",
        "latency_seconds", "converged",
    }  # fmt: skip
    again = train(run, tmp_path / "b", device="cpu", loaders=toy_loaders(), progress=False)
    assert untimed(again["history"]) == untimed(history)


def test_learns_and_only_rouser_moves_thresholds(tmp_path):
    records = {
        method: train(toy_run(method, epochs=4), tmp_path, "cpu", loaders=toy_loaders(),
                      progress=False)
        for method in ("rouser", "baseline")
    }  # fmt: skip
    for record in records.values():
        assert record["summary"]["best_test_accuracy"] >= 0.6  # chance is 1/10
        first, last = record["history"][0], record["history"][-1]
        assert last["test_loss"] < 0.7 * first["test_loss"]  # learned, not luck at epoch 0
    for layer in ("layer1", "layer2", "layer3"):
        rouser_last = records["rouser"]["history"][-1]["thresholds"][layer]
        baseline_last = records["baseline"]["history"][-1]["thresholds"][layer]
        assert rouser_last["std"] > 0 and rouser_last["mean"] != 1.25
        assert baseline_last["min"] == baseline_last["max"] == 1.25


def test_short_synthetic_shd_run_learns_and_only_rouser_moves_thresholds(tmp_path, synthetic_root):
    """Through the real `make_loaders`: synthetic SHD files in the true HDF5 format."""
    sizes = {"epochs": 10, "train_subset": 200, "test_subset": 60}
    records = {
        method: train(
            resolve_run("shd", method, "smoke", **sizes),
            tmp_path,
            synthetic_root,
            "cpu",
            progress=False,
        )
        for method in ("rouser", "baseline")
    }
    for record in records.values():
        assert record["data"]["source"] == "synthetic" and record["data"]["n_train"] == 200
        # the record is published: no path of this machine, but the data's fingerprint
        assert not {"root", "location", "cache"} & set(record["data"])
        assert record["data"]["fingerprint"]["recordings"] == {"train": 200, "test": 60}
        text = json.dumps(record)
        assert str(synthetic_root) not in text and str(tmp_path) not in text
        assert record["status"] == "finished"
        assert record["summary"]["best_test_accuracy"] >= 0.25  # chance: 1/20 = 0.05
    rouser_th = records["rouser"]["history"][-1]["thresholds"]
    baseline_th = records["baseline"]["history"][-1]["thresholds"]
    for layer in ("layer1", "layer2", "layer3"):
        assert rouser_th[layer]["std"] > 1e-3
        assert rouser_th[layer]["max"] - rouser_th[layer]["min"] > 1e-3
        assert baseline_th[layer]["min"] == baseline_th[layer]["max"] == 1.25


@pytest.mark.parametrize("augment", [False, True])
def test_resume_after_interruption_gives_identical_history(tmp_path, monkeypatch, augment):
    run = toy_run()
    loaders = toy_loaders(augment=augment)
    uninterrupted = train(run, tmp_path / "full", "cpu", loaders=loaders, progress=False)
    with killed_after_checkpoint(monkeypatch, 1):  # epochs 0 and 1 are on disk
        train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(augment=augment), progress=False)
    broken = read_record(record_path(run, tmp_path / "cut"))
    assert broken["status"] == "failed" and broken["error"].startswith("KeyboardInterrupt")
    assert [entry["epoch"] for entry in broken["history"]] == [0, 1]
    resumed = train(
        run, tmp_path / "cut", "cpu", loaders=toy_loaders(augment=augment), progress=False
    )
    assert resumed["status"] == "finished" and resumed["error"] is None
    assert resumed["started"] == broken["started"]
    assert untimed(resumed["history"]) == untimed(uninterrupted["history"])
    assert resumed["history"][1]["epoch_seconds"] == broken["history"][1]["epoch_seconds"]


@pytest.mark.parametrize("resident", [False, True])
def test_augmented_nmnist_resume_through_make_loaders(
    tmp_path, monkeypatch, synthetic_root, resident
):
    """NMNIST's shift/rotation draws from its own generator: the checkpoint must carry it,
    for the worker loaders and for the device-resident ones (here on the CPU)."""
    run = resolve_run(
        "nmnist", "rouser", "smoke", epochs=3, train_subset=16, test_subset=8, hidden=[8],
        time_bins=20, batch_size=8,
    )  # fmt: skip
    assert run.augment

    def fresh_loaders():  # what a new process builds
        return make_loaders(run, synthetic_root, resident=resident, progress=False)

    full = train(run, tmp_path / "full", device="cpu", loaders=fresh_loaders(), progress=False)
    with killed_after_checkpoint(monkeypatch, 1):
        train(run, tmp_path / "cut", device="cpu", loaders=fresh_loaders(), progress=False)
    resumed = train(run, tmp_path / "cut", device="cpu", loaders=fresh_loaders(), progress=False)
    assert untimed(resumed["history"]) == untimed(full["history"])


def test_finished_run_is_returned_not_recomputed(tmp_path, monkeypatch):
    run = toy_run(epochs=1)
    first = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)

    def must_not_train(*_args, **_kwargs):
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(train_module, "run_epoch", must_not_train)
    # the data is still loaded: a finished record is reused only for the same data
    assert train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False) == first
    with pytest.raises(AssertionError, match="recomputed"):
        train(run, tmp_path, "cpu", loaders=toy_loaders(), resume=False, progress=False)


def test_resume_refuses_other_data(tmp_path, monkeypatch):
    run = toy_run(epochs=2)
    with killed_after_checkpoint(monkeypatch, 0):
        train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    with pytest.raises(ValueError, match="resume=False"):
        train(run, tmp_path, "cpu", loaders=toy_loaders(n_train=40), progress=False)


def test_nan_loss_stops_with_failed_record(tmp_path, monkeypatch):
    run = toy_run()
    real_loss = epochs_module.spike_rate_loss

    def nan_when_training(output, labels, *rates):
        loss = real_loss(output, labels, *rates)
        return loss * float("nan") if torch.is_grad_enabled() else loss

    monkeypatch.setattr(epochs_module, "spike_rate_loss", nan_when_training)
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, batch 0"):
        train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    record = read_record(record_path(run, tmp_path))
    assert record["status"] == "failed" and "FloatingPointError" in record["error"]
    assert record["ended"] is not None and record["summary"] is None
    assert [entry["epoch"] for entry in record["history"]] == [0]


def test_non_finite_state_is_named():
    model = train_module.build_model(toy_run())
    check_finite(model, 3)
    with torch.no_grad():
        model.blocks[1].synapse.weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"blocks\.1\.synapse\.weight .* epoch 3"):
        check_finite(model, 3)


def test_run_at_chance_is_non_convergent_not_a_crash(tmp_path):
    # A threshold no voltage reaches: no spike, no surrogate gradient, every prediction is
    # class 0, so test accuracy stays at 1/10 = chance.
    run = toy_run(threshold=1e6, epochs=1)
    record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert record["status"] == "non-convergent" and record["error"] is None
    assert record["summary"]["converged"] is False
    assert record["summary"]["best_test_accuracy"] == pytest.approx(1 / CLASSES)
    assert record["history"][-1]["dead_neurons"] == {"layer1": 1.0, "layer2": 1.0}


def test_rouser_with_zero_threshold_rate_equals_baseline(tmp_path):
    """Same seed, same initial weights; lr_Th = 0 must reproduce the baseline bit for bit."""
    runs = {
        "rouser": toy_run("rouser", lr_th=0.0, epochs=2),
        "baseline": toy_run("baseline", epochs=2),
    }
    records, weights = {}, {}
    for method, run in runs.items():
        records[method] = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
        state = torch.load(checkpoint_path(run, tmp_path), weights_only=True)
        assert state["initial_weights"].keys() == {"layer1", "layer2", "layer3"}
        weights[method] = state
    for layer, initial in weights["rouser"]["initial_weights"].items():
        assert torch.equal(initial, weights["baseline"]["initial_weights"][layer])
    for index in range(3):
        key = f"blocks.{index}.synapse.weight"
        assert torch.equal(weights["rouser"]["model"][key], weights["baseline"]["model"][key])
    assert untimed(records["rouser"]["history"]) == untimed(records["baseline"]["history"])


def test_resolve_device_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device='gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_cli_maps_options_onto_the_run(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_train(run, **kwargs):
        seen.update(run=run, **kwargs)
        return {"status": "finished", "summary": {"final_test_accuracy": 0.5}}

    monkeypatch.setattr(cli_module, "train", fake_train)
    main([
        "--dataset", "shd", "--method", "baseline", "--profile", "smoke", "--seed", "010",
        "--epochs", "5", "--lr-th", "1e-3", "--hidden", "[16, 8]", "--test-subset", "none",
        "--train-subset", "40", "--fixed-point", "--no-synthetic",
        "--runs-dir", str(tmp_path), "--device", "cpu", "--no-progress",
    ])  # fmt: skip
    run = seen["run"]
    assert (run.dataset, run.method, run.profile, run.seed, run.epochs) == (
        "shd", "baseline", "smoke", 10, 5,
    )  # fmt: skip
    assert run.lr_th == 0.001 and run.hidden == (16, 8)
    assert run.test_subset is None and run.train_subset == 40  # none: every recording
    assert run.fixed_point is True and run.synthetic is False
    assert run.batch_size == 16 and run.time_bins == 40  # not given: the profile's
    assert seen["runs_dir"] == tmp_path and seen["device"] == "cpu"
    assert seen["progress"] is False and seen["resume"] is True
    assert str(record_path(run, tmp_path)) in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--dataset", "mnist", "--method", "rouser"])


def test_record_holds_no_local_path(tmp_path):
    run = toy_run(epochs=1)
    record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert "root" not in record["data"] and record["data"]["fingerprint"]["sha256"] == "toy"
    on_disk = record_path(run, tmp_path).read_text()
    assert "/nowhere" not in on_disk and str(tmp_path) not in on_disk
    checkpoint = torch.load(checkpoint_path(run, tmp_path), weights_only=True)
    assert "root" not in checkpoint["data"]


def test_cpu_threads_are_the_runs(tmp_path):
    run = toy_run(epochs=1, threads=2)
    try:
        record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert record["config"]["threads"] == 2
    assert record["env"]["numerics"]["torch_threads"] == 2
    assert record["env"]["numerics"]["device_type"] == "cpu"
    assert record["env"]["numerics"]["torch"] == torch.__version__
    assert toy_run(threads=2).run_id != toy_run(threads=1).run_id  # threads are identity


def test_flush_denormal_is_set_by_every_run_either_way(tmp_path):
    """The CPU flag is per thread and outlives a run: each run sets its own value."""

    def subnormal_survives() -> bool:
        return bool(torch.tensor([1e-40]) * torch.tensor([1.0]) != 0)

    try:
        flushing = toy_run(epochs=1, flush_denormal=True)
        assert train(flushing, tmp_path / "a", "cpu", loaders=toy_loaders(), progress=False)
        assert not subnormal_survives()
        keeping = toy_run(epochs=1)
        train(keeping, tmp_path / "b", "cpu", loaders=toy_loaders(), progress=False)
        assert subnormal_survives() and not keeping.flush_denormal
    finally:
        torch.set_flush_denormal(False)
    assert flushing.run_id != keeping.run_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["env"]["numerics"].update(torch="1.0.0"), r"torch '1\.0\.0' \(now '"),
        (lambda r: r["env"]["numerics"].update(device_type="cuda"), r"device_type 'cuda' \(now 'cpu'\)"),
        (lambda r: r["data"]["fingerprint"].update(sha256="other"), "data fingerprint"),
        (lambda r: r["env"].pop("numerics"), r"device_type None .*torch None"),
    ],
    ids=["torch version", "device", "data fingerprint", "no numerics"],
)  # fmt: skip
def test_finished_record_of_other_numerics_or_data_is_refused(
    tmp_path, monkeypatch, change, message
):
    run = toy_run(epochs=1)
    record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    change(record)
    write_record(record, record_path(run, tmp_path))

    def must_not_train(*_args, **_kwargs):
        raise AssertionError("a refused record was silently recomputed")

    monkeypatch.setattr(train_module, "run_epoch", must_not_train)
    with pytest.raises(RuntimeError, match=message) as error:
        train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert "--restart" in str(error.value) and str(record_path(run, tmp_path)) in str(error.value)
    assert read_record(record_path(run, tmp_path)) == record  # left as it was


def test_check_reusable_accepts_the_same_numerics_and_data(tmp_path):
    cpu = torch.device("cpu")
    data = {"fingerprint": {"sha256": "abc"}}
    record = {"env": {"numerics": numerics(cpu)}, "data": dict(data)}
    check_reusable(record, data, cpu, tmp_path / "r.json")  # no error
    other_threads = {**numerics(cpu), "torch_threads": 99}  # threads are in the run id instead
    check_reusable({"env": {"numerics": other_threads}, "data": data}, data, cpu, tmp_path)
    with pytest.raises(RuntimeError, match=r"data fingerprint \{'sha256': 'abc'\} \(now None\)"):
        check_reusable(record, {}, cpu, tmp_path / "r.json")


def test_lava_dl_options_train_and_are_recorded(tmp_path):
    run = toy_run(epochs=1, delay_shift=True, weight_norm=True, dropout=0.05)
    record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert record["status"] in ("finished", "non-convergent")
    assert (record["config"]["delay_shift"], record["config"]["weight_norm"]) == (True, True)
    assert record["config"]["dropout"] == 0.05
    model = train_module.build_model(run)
    assert all(block.delay_shift for block in model.blocks)
    assert [block.dropout for block in model.blocks] == [0.05, 0.05, 0.0]


def test_loss_summed_over_the_batch_trains_otherwise_and_records_the_mean(tmp_path):
    """lava-dl's summed loss scales every gradient by B: Adam's steps stay almost the same
    (they differ through its epsilon only), and the recorded loss is still per sample."""
    mean = train(toy_run(epochs=2), tmp_path / "mean", "cpu", loaders=toy_loaders(), progress=False)
    summed_run = toy_run(epochs=2, loss_sum_over_batch=True)
    summed = train(summed_run, tmp_path / "sum", "cpu", loaders=toy_loaders(), progress=False)
    assert summed["config"]["loss_sum_over_batch"] is True
    assert "loss_sum_over_batch" not in mean["config"]  # a later setting at its default
    assert untimed(summed["history"]) != untimed(mean["history"])
    for a, b in zip(mean["history"], summed["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)


def test_sparse_history_records_its_schedule_and_resumes_exactly(tmp_path, monkeypatch):
    """history_every = 3 over 9 epochs keeps 0, powers of two, multiples of 3 and the last;
    each entry counts the steps and samples since the start and the seconds since the
    previous entry; a kill between two recorded epochs resumes to the same history."""
    run = toy_run(epochs=9, history_every=3)
    full = train(run, tmp_path / "full", "cpu", loaders=toy_loaders(), progress=False)
    epochs = [entry["epoch"] for entry in full["history"]]
    assert epochs == [0, 1, 2, 3, 4, 6, 8, 9]
    per_epoch = full["history"][1]["samples"]
    assert per_epoch > 0 and full["history"][1]["steps"] > 0
    for entry in full["history"]:
        assert entry["samples"] == entry["epoch"] * per_epoch
    assert full["history"][0]["samples_per_second"] is None
    assert full["summary"]["latency_seconds"] == pytest.approx(
        sum(
            e["epoch_seconds"]
            for e in full["history"][: epochs.index(full["summary"]["latency_epoch"]) + 1]
        )
    )
    # recorded up to 4, epoch 5 trained but not recorded
    with killed_after_checkpoint(monkeypatch, 5) as saves:
        train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False)
    resumed = train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False)
    assert saves == [0, 1, 2, 3, 4, 5]
    assert untimed(resumed["history"]) == untimed(full["history"])


def test_dead_per_batch_counts_neurons_silent_on_a_whole_batch():
    from rouser.runs.metrics import ActivityMeter

    meter = ActivityMeter()
    spikes = torch.zeros(4, 2, 3)  # [T, B, N]: neuron 0 fires for input 0 only
    spikes[1, 0, 0] = 1.0
    meter.update([spikes, torch.zeros(4, 2, 2)])
    result = meter.result()
    assert result["dead_neurons"]["layer1"] == pytest.approx((2 / 3 + 3 / 3) / 2)
    assert result["dead_per_batch"]["layer1"] == pytest.approx(2 / 3)  # 1 and 2 silent on both


def test_a_longer_run_extends_a_shorter_one_of_the_same_trajectory(tmp_path):
    """Training more epochs of a run that already exists shorter continues from its last
    checkpoint, and the history equals that of the longer run trained from the start."""
    short, long = toy_run(epochs=4, history_every=2), toy_run(epochs=8, history_every=2)
    train(short, tmp_path / "runs", "cpu", loaders=toy_loaders(), progress=False)
    extended = train(long, tmp_path / "runs", "cpu", loaders=toy_loaders(), progress=False)
    direct = train(long, tmp_path / "direct", "cpu", loaders=toy_loaders(), progress=False)
    assert extended["env"]["extended_from"] == {"run_id": short.run_id, "epoch": 4}
    assert "extended_from" not in direct["env"]
    assert untimed(extended["history"]) == untimed(direct["history"])
    assert read_record(record_path(short, tmp_path / "runs"))["status"] == "finished"
    # a shorter run whose last epoch the longer one would not record is not its prefix
    odd = toy_run(epochs=3, history_every=2)
    assert train_module.shorter_run(odd, tmp_path / "runs") is None  # 4 epochs > 3
    train(odd, tmp_path / "odd", "cpu", loaders=toy_loaders(), progress=False)
    assert train_module.shorter_run(toy_run(epochs=6, history_every=2), tmp_path / "odd") is None


def test_an_extension_resumed_from_its_own_checkpoint_still_names_what_it_extends(
    tmp_path, monkeypatch
):
    """Killed after it wrote a checkpoint of its own, the extension resumes from that one,
    not from the shorter run's: its record must still say which run it continues."""
    short, long = toy_run(epochs=4, history_every=2), toy_run(epochs=8, history_every=2)
    train(short, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    with killed_after_checkpoint(monkeypatch, 6):  # inside the extension
        train(long, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    resumed = train(long, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert resumed["status"] == "finished"
    assert resumed["env"]["extended_from"] == {"run_id": short.run_id, "epoch": 4}
