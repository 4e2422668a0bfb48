"""Shared pytest fixtures: where the real data is, and small synthetic datasets.

Real-data tests read `<repo>/../shared/data` and skip, saying why, where it is absent: the
project must test green without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tests share two cores with other work: keep torch to one thread."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings folder (see its README), or a skip when it is not on this machine."""
    if not (SHARED_DATA / "NMNIST" / "Train").is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATA / 'NMNIST' / 'Train'} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the smoke-profile synthetic datasets (written on first use)."""
    return tmp_path_factory.mktemp("data")
