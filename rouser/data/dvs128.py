"""DVS128 Gesture through tonic's preprocessed release (one `.npy` per gesture).

tonic lists the user folders in file-system order; recordings are put in (user, lighting,
label) order here so that a subset ("the first N") is the same on every machine and holds
whole users, i.e. every gesture class.
"""

from __future__ import annotations

from pathlib import Path

import tonic

from rouser.data.readers import OfflineFirst


class DVSGesture(OfflineFirst, tonic.datasets.DVSGesture):
    """tonic's DVSGesture reader that also loads a partial folder offline (see `OfflineFirst`)."""

    display_name = "DVS128 Gesture"
    layout = (
        "DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy and "
        "DVSGesture/ibmGestureTest/userNN_<lighting>/<label>.npy, each an [N, 4] array of "
        "x, y, polarity, t in milliseconds (tonic's preprocessed release)"
    )
    source = (
        "tonic.datasets.DVSGesture: https://figshare.com/ndownloader/files/38022171 "
        "(ibmGestureTrain.tar.gz) and https://figshare.com/ndownloader/files/38020584 "
        "(ibmGestureTest.tar.gz); original recordings: IBM, "
        "https://research.ibm.com/interactive/dvsgesture/ (CC BY 4.0)"
    )
    suffix = ".npy"
    spatial_dims = 2
    placement = r"user[0-9]+_[^/]+/[0-9]+\.npy"  # userNN_<lighting>/<label>.npy

    @classmethod
    def split_path(cls, location: Path, train: bool) -> Path:
        """`ibmGestureTrain/` or `ibmGestureTest/` under `DVSGesture/`."""
        return location / ("ibmGestureTrain" if train else "ibmGestureTest")

    def sample_key(self, index: int) -> tuple[int, str, int]:
        """(user, lighting, label), as tonic parsed them from the path."""
        return self.users[index], self.lighting[index], self.targets[index]
