"""Small synthetic datasets written in each dataset's exact on-disk format.

Why: the real datasets cannot be downloaded everywhere (CI, this project's machines), yet the
code that reads them must run in every test. These writers produce files that tonic's own
readers parse unchanged (N-MNIST 5-byte `.bin` events, DVSGesture `.npy` arrays, SHD HDF5),
with classes a small network separates (class-specific spatial or spectro-temporal patterns
plus uniform noise), so a short training run shows learning.

Every sample is generated from its own seed (dataset seed, split, sample number), so a larger
synthetic set is a superset of a smaller one and only missing files are written. A
`synthetic.json` marker records what was written; a different seed or generator version
rewrites the folder. All windows cover the recording lengths of every profile in
`_config.yml` (N-MNIST 300 ms, DVS128 1.5 s, SHD 1 s).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm  # text bars: tqdm.auto leaves empty widgets under papermill (train.py)

from rouser.atomic import atomic_file
from rouser.datasets import dataset_spec

SYNTHETIC_SEED = 0
GENERATOR_VERSION = 1  # bump when a writer's output changes
MARKER = "synthetic.json"

# -- N-MNIST: seven-segment digits moved along three saccades ------------------------------------
NMNIST_MS = 300
SEGMENTS = {  # standard seven-segment encoding: a top, b/c right, d bottom, e/f left, g middle
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}  # fmt: skip
SEGMENT_BOXES = {  # (x0, x1, y0, y1) inclusive, in a 14 x 24 glyph at (10, 4)
    "a": (10, 23, 4, 5), "g": (10, 23, 15, 16), "d": (10, 23, 26, 27),
    "f": (10, 11, 4, 16), "b": (22, 23, 4, 16), "e": (10, 11, 15, 27), "c": (22, 23, 15, 27),
}  # fmt: skip
SACCADE = np.array([[0, 0], [2, 3], [4, 0], [0, 0]], dtype=float)  # corners, one per 100 ms


def _glyph(digit: int) -> np.ndarray:
    """[n, 2] (x, y) pixels of a seven-segment digit."""
    pixels = {
        (x, y)
        for segment in SEGMENTS[digit]
        for x in range(SEGMENT_BOXES[segment][0], SEGMENT_BOXES[segment][1] + 1)
        for y in range(SEGMENT_BOXES[segment][2], SEGMENT_BOXES[segment][3] + 1)
    }
    return np.array(sorted(pixels))


def nmnist_events(digit: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 4] int (x, y, p, t_us) events of one synthetic N-MNIST recording, time-sorted."""
    glyph = _glyph(digit)
    rate = 0.05 * rng.uniform(0.7, 1.3)  # per pixel and ms; writers vary, strokes stay put
    ms = np.arange(NMNIST_MS)
    phase = ms / 100.0  # three 100 ms saccades between the corners of SACCADE
    leg = np.minimum(phase.astype(int), 2)
    frac = (phase - leg)[:, None]
    shift = np.rint(SACCADE[leg] * (1 - frac) + SACCADE[leg + 1] * frac).astype(int)
    fire_ms, fire_px = np.nonzero(rng.random((NMNIST_MS, len(glyph))) < rate)
    xy = glyph[fire_px] + shift[fire_ms]
    n_noise = rng.poisson(NMNIST_MS)
    noise_xy = rng.integers(0, 34, size=(n_noise, 2))
    noise_ms = rng.integers(0, NMNIST_MS, size=n_noise)
    xy = np.concatenate([xy, noise_xy])
    t = np.concatenate([fire_ms, noise_ms]) * 1000 + rng.integers(0, 1000, size=len(xy))
    p = rng.integers(0, 2, size=len(xy))
    events = np.column_stack([np.clip(xy, 0, 33), p, t])
    return events[np.argsort(events[:, 3], kind="stable")]


def encode_nmnist(events: np.ndarray) -> bytes:
    """N-MNIST's 5-byte records: x, y, polarity bit 7 + timestamp bits 22-16, bits 15-8, 7-0."""
    x, y, p, t = (events[:, k].astype(np.uint32) for k in range(4))
    if len(t) and t.max() >= 2**23:
        raise ValueError("N-MNIST timestamps must fit in 23 bits (< 8.39 s)")
    record = np.column_stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return record.astype(np.uint8).tobytes()


def write_nmnist(folder: Path, n_train: int, n_test: int, seed: int, progress: bool) -> None:
    """`NMNIST/Train/<digit>/<id>.bin` and `NMNIST/Test/...`, ids from 00001, digit = (id-1) % 10."""
    for split, name, count in ((0, "Train", n_train), (1, "Test", n_test)):
        for number in tqdm(
            range(1, count + 1), desc=f"synthetic N-MNIST {name}", disable=not progress
        ):
            digit = (number - 1) % 10
            path = folder / "NMNIST" / name / str(digit) / f"{number:05d}.bin"
            if not path.exists():
                rng = np.random.default_rng([seed, split, number])
                with atomic_file(path) as temporary:
                    temporary.write_bytes(encode_nmnist(nmnist_events(digit, rng)))


# -- DVS128 Gesture: a blob circling at a class-specific place, speed and direction ------------
DVS_MS = 1500
DVS_CLASSES = 11
LIGHTINGS = ("fluorescent", "fluorescent_led", "lab", "led", "natural")  # sorted, as listed
BLOB = np.array([(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)])


def dvs_events(label: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 4] int64 (x, y, p, t_ms) events of one synthetic gesture, time-sorted."""
    centre = np.array([24 + 27 * (label % 4), 30 + 34 * (label // 4)]) + rng.integers(-3, 4, 2)
    turns_per_s = (1 + label % 2) * (1 if label % 3 else -1)
    ms = np.arange(DVS_MS)
    angle = rng.uniform(0, 2 * np.pi) + 2 * np.pi * turns_per_s * ms / 1000
    path = centre + np.rint(12 * np.column_stack([np.cos(angle), np.sin(angle)])).astype(int)
    fire_ms, fire_px = np.nonzero(rng.random((DVS_MS, len(BLOB))) < 0.03)
    xy = path[fire_ms] + BLOB[fire_px]
    n_noise = rng.poisson(DVS_MS // 2)
    xy = np.concatenate([xy, rng.integers(0, 128, size=(n_noise, 2))])
    t = np.concatenate([fire_ms, rng.integers(0, DVS_MS, size=n_noise)])
    p = rng.integers(0, 2, size=len(xy))
    events = np.column_stack([np.clip(xy, 0, 127), p, t]).astype(np.int64)
    return events[np.argsort(events[:, 3], kind="stable")]


def write_dvs128(folder: Path, n_train: int, n_test: int, seed: int, progress: bool) -> None:
    """`DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy` (+ Test, users from 24).

    Sample k is label k % 11 in the (k // 11)-th user/lighting folder, so the first N samples
    in (user, lighting, label) order are samples 0..N-1 and every class is present.
    """
    for split, name, first_user, count in (
        (0, "ibmGestureTrain", 1, n_train),
        (1, "ibmGestureTest", 24, n_test),
    ):
        for number in tqdm(range(count), desc=f"synthetic DVS128 {name}", disable=not progress):
            group, label = divmod(number, DVS_CLASSES)
            user, lighting = first_user + group // len(LIGHTINGS), LIGHTINGS[group % len(LIGHTINGS)]
            path = folder / "DVSGesture" / name / f"user{user:02d}_{lighting}" / f"{label}.npy"
            if not path.exists():
                rng = np.random.default_rng([seed, split, number])
                with atomic_file(path) as temporary, temporary.open("wb") as handle:
                    np.save(handle, dvs_events(label, rng))


# -- SHD: a fixed formant band and a sweeping one, both class-specific -------------------------
SHD_MS = 1000
SHD_CHANNELS = 700
SHD_KEYS = [f"english-{word}" for word in (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")] + [
    f"german-{word}" for word in (
    "null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun")]  # fmt: skip


def shd_spikes(label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(times in s as float16, units as uint16) of one synthetic utterance, time-sorted."""
    ms = np.arange(SHD_MS)
    fixed = np.full(SHD_MS, 40 + 31 * label)
    sweep = np.rint(680 - 31 * label + (62 * label - 660) * ms / SHD_MS).astype(int)
    units, times = [], []
    for centre, width in ((fixed, 10), (sweep, 8)):
        offsets = np.arange(width) - width // 2
        fire_ms, fire_ch = np.nonzero(rng.random((SHD_MS, width)) < 0.04)
        units.append(centre[fire_ms] + offsets[fire_ch])
        times.append(fire_ms)
    n_noise = rng.poisson(300)
    units.append(rng.integers(0, SHD_CHANNELS, size=n_noise))
    times.append(rng.integers(0, SHD_MS, size=n_noise))
    t_ms = np.concatenate(times) + rng.random(sum(len(t) for t in times))
    order = np.argsort(t_ms, kind="stable")
    unit = np.clip(np.concatenate(units)[order], 0, SHD_CHANNELS - 1)
    return (t_ms[order] / 1000).astype(np.float16), unit.astype(np.uint16)


def write_shd(folder: Path, n_train: int, n_test: int, seed: int, progress: bool) -> None:
    """`SHD/shd_train.h5` and `SHD/shd_test.h5` with SHD's groups; label = row % 20."""
    for split, name, count in ((0, "shd_train.h5", n_train), (1, "shd_test.h5", n_test)):
        path = folder / "SHD" / name
        if path.exists():
            with h5py.File(path, "r") as handle:
                if len(handle["labels"]) >= count:
                    continue
        labels = np.arange(count) % len(SHD_KEYS)
        rows = [
            shd_spikes(int(labels[row]), np.random.default_rng([seed, split, row]))
            for row in tqdm(range(count), desc=f"synthetic SHD {name}", disable=not progress)
        ]
        with atomic_file(path) as temporary, h5py.File(temporary, "w") as handle:
            times = handle.create_dataset("spikes/times", (count,), h5py.vlen_dtype(np.float16))
            units = handle.create_dataset("spikes/units", (count,), h5py.vlen_dtype(np.uint16))
            for row, (row_times, row_units) in enumerate(rows):
                times[row], units[row] = row_times, row_units
            handle.create_dataset("labels", data=labels.astype(np.uint16))
            handle.create_dataset("extra/keys", data=np.array(SHD_KEYS, dtype="S"))
            handle.create_dataset("extra/speaker", data=(np.arange(count) % 10).astype(np.uint16))


def ensure_synthetic(
    dataset: str,
    folder: str | Path,
    n_train: int,
    n_test: int,
    seed: int = SYNTHETIC_SEED,
    progress: bool = True,
) -> Path:
    """Make sure `folder` holds at least `n_train`/`n_test` synthetic samples of `dataset`
    (its writer in `rouser.datasets`); return it.

    `folder` is what tonic gets as `save_to` (e.g. `<data root>/synthetic/nmnist`).
    """
    write = dataset_spec(dataset).write_synthetic
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise ValueError(f"{name}={value!r} must be >= 1")
    folder = Path(folder)
    marker = folder / MARKER
    wanted = {"dataset": dataset, "seed": seed, "version": GENERATOR_VERSION}
    written = json.loads(marker.read_text()) if marker.is_file() else {}
    if {key: written.get(key) for key in wanted} == wanted:
        if written["n_train"] >= n_train and written["n_test"] >= n_test:
            return folder
    elif written:  # another seed or generator version: start over (an unmarked folder may
        # be another process writing the same deterministic files right now: keep it)
        shutil.rmtree(folder)
        written = {}
    write(folder, n_train, n_test, seed, progress)
    counts = {"n_train": max(n_train, written.get("n_train", 0)),
              "n_test": max(n_test, written.get("n_test", 0))}  # fmt: skip
    with atomic_file(marker) as temporary:
        temporary.write_text(json.dumps(wanted | counts, indent=1))
    return folder
