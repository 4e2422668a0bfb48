"""The README's Python examples run as written (a stale example is a bug users hit first)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README should show how to use the neuron"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
        spikes, neuron = namespace["spikes"], namespace["neuron"]
        assert spikes.shape == (100, 32, 200) and set(spikes.unique().tolist()) <= {0.0, 1.0}
        assert neuron.threshold.requires_grad and not namespace["baseline"].threshold.requires_grad
