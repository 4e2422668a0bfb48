"""tonic readers that load partial datasets offline, and the selected recordings of one split.

Why: tonic 1.7.0 considers a dataset present only when its archive sits next to a minimum
number of extracted files (N-MNIST: `train.zip` and 10,000 `.bin`; DVSGesture: the `.tar.gz`
and 100 `.npy`; SHD: `shd_*.h5.zip` and an `.h5`), and otherwise downloads, checking the md5
only inside `download()`. The 1,000 real N-MNIST recordings would never load, and a missing
dataset offline ends in a urllib traceback (after tonic has created an empty archive file,
which it then mistakes for a downloaded one). `OfflineFirst` keeps tonic's readers and changes
only that decision: a split is present when its extracted files are, a download happens only
when allowed and the split is absent, and every failure is a `DatasetNotFoundError` or a
`CorruptRecordingError` naming the file.

tonic also builds its file list with `os.walk`, which skips what it cannot list or does not
expect without a word: an unreadable class folder, a folder named like a recording, a
symlinked folder. `OfflineFirst` walks the split itself, strictly, and stops at the first such
entry with an `UnreadableDataError` or `DatasetLayoutError` naming it; tonic's own list (and
so the order and content of the data) is kept, and checked to hold exactly those files.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rouser.data.errors import (
    CorruptRecordingError,
    DatasetLayoutError,
    DatasetNotFoundError,
    UnreadableDataError,
)

# What reading a malformed file raises inside tonic, numpy or h5py.
READ_ERRORS = (OSError, ValueError, IndexError, KeyError, TypeError, EOFError, AssertionError)


class OfflineFirst(abc.ABC):
    """Mixin placed before a tonic dataset class (the subclass keeps tonic's class name, which
    tonic uses as the folder name under `save_to`)."""

    display_name: ClassVar[str]  # e.g. "N-MNIST", for messages
    layout: ClassVar[str]  # the expected files, for the not-found message
    source: ClassVar[str]  # where the files come from
    suffix: ClassVar[str]  # extension of the recording files
    spatial_dims: ClassVar[int]  # 2 for cameras, 1 for SHD's channels
    allow_empty: ClassVar[bool] = False  # may a recording hold no events at all?
    # Where recordings sit inside a split folder (a regex on the relative POSIX path); None
    # when the split is one file (SHD)
    placement: ClassVar[str | None]

    def __init__(self, save_to: str | Path, train: bool = True, allow_download: bool = False):
        self.train = train
        self.allow_download = allow_download
        expected = self.expected_path(save_to, train)
        # strict listing first: a bad entry is named before tonic parses paths or downloads
        found = self.list_split(expected)
        super().__init__(str(save_to), train=train)
        self._check_listed(found or self.list_split(expected))

    @classmethod
    @abc.abstractmethod
    def split_path(cls, location: Path, train: bool) -> Path:
        """The extracted folder or file of one split under tonic's dataset folder."""

    @classmethod
    def expected_path(cls, save_to: str | Path, train: bool) -> Path:
        """Where a split must be, given the folder passed to tonic as `save_to`."""
        return cls.split_path(Path(save_to).expanduser() / cls.__name__, train)

    @classmethod
    def split_present(cls, save_to: str | Path, train: bool) -> bool:
        """True when the split's extracted recordings exist (no archive needed).

        An unreadable split is an error, not "absent": absent test splits are replaced by a
        hold-out and absent training splits are downloaded, both wrong for data that is there.
        """
        path = cls.expected_path(save_to, train)
        if _is_dir(path):
            return next(cls._candidates(path), None) is not None
        return path.is_file()

    @classmethod
    def _candidates(cls, split: Path) -> Iterator[Path]:
        """Entries of a split folder named like recordings, in walk order; an error for any
        folder tonic would skip (unreadable, a symlink) or a folder named like a recording."""

        def refuse(error: OSError) -> None:
            raise UnreadableDataError(
                error.filename or split, f"{type(error).__name__}: {error.strerror}"
            ) from error

        for folder, dirs, files in os.walk(split, onerror=refuse):
            here = Path(folder)
            for name in dirs:
                if name.endswith(cls.suffix):
                    raise DatasetLayoutError(
                        here / name,
                        f"is a folder, but a {cls.suffix} entry must be a recording file "
                        f"(expected {cls.layout}); move it away or replace it by the file",
                    )
                if (here / name).is_symlink():
                    raise DatasetLayoutError(
                        here / name,
                        "is a symbolic link to a folder, which tonic does not follow (its "
                        "recordings would be skipped); replace the link by the folder itself, or "
                        "link the whole split folder instead",
                    )
            yield from (here / name for name in files if name.endswith(cls.suffix))

    @classmethod
    def list_split(cls, split: Path) -> list[Path]:
        """Every recording file of a split, sorted, each a readable regular file placed where
        the layout says; [] when the split is absent. The first entry that is not is an error.
        """
        if cls.placement is None:  # one file per split
            if _is_dir(split):
                raise DatasetLayoutError(
                    split, f"is a folder, but must be a {cls.display_name} file ({cls.layout})"
                )
            if not (split.is_symlink() or split.exists()):
                return []
            check_readable_file(split)
            return [split]
        if not _is_dir(split):
            return []
        found = []
        for path in cls._candidates(split):
            check_readable_file(path)
            relative = path.relative_to(split).as_posix()
            if not re.fullmatch(cls.placement, relative):
                raise DatasetLayoutError(
                    path,
                    f"is not where the layout puts recordings (expected {cls.layout}), so its "
                    "label cannot be read from its path; move it into place or delete it",
                )
            found.append(path)
        return sorted(found)

    def _check_listed(self, found: list[Path]) -> None:
        """tonic's list must be exactly the strict listing (guards against a tonic version
        that filters files differently; `data` stays tonic's, so the order is unchanged)."""
        if self.placement is None:
            return
        listed = {os.path.normpath(path) for path in self.data}
        strict = {os.path.normpath(path) for path in found}
        differing = sorted(listed ^ strict)
        if differing:
            raise DatasetLayoutError(
                differing[0],
                f"tonic's {type(self).__name__} reader lists {len(listed)} recordings but the "
                f"split folder holds {len(found)} {self.suffix} files (this one differs); "
                f"expected {self.layout}",
            )

    def _check_exists(self) -> bool:
        """tonic's hook, called before it downloads: extracted files are enough."""
        return self.split_present(Path(self.location_on_system).parent, self.train)

    def download(self) -> None:
        """tonic's download when allowed, without leaving a partial archive on failure."""
        expected = self.split_path(Path(self.location_on_system), self.train)
        if not self.allow_download:
            why = f"the folder holds no {self.suffix} files" if expected.is_dir() else "absent"
            raise DatasetNotFoundError(self.display_name, expected, self.layout, self.source, why)
        location = Path(self.location_on_system)
        archive = location / self.filename
        existed = archive.exists(), location.exists()
        try:
            super().download()
        except Exception as err:  # urllib, zipfile, tarfile and md5 failures alike
            if not existed[0]:
                archive.unlink(missing_ok=True)
            if not existed[1] and not any(location.iterdir()):
                location.rmdir()  # tonic created the folder before connecting
            why = f"download of {self.url} failed: {type(err).__name__}: {err}"
            raise DatasetNotFoundError(
                self.display_name, expected, self.layout, self.source, why
            ) from err

    # -- per-recording access, on top of tonic's __getitem__ --------------------------------
    @abc.abstractmethod
    def sample_key(self, index: int) -> Any:
        """Sort key that puts recordings in sample-id order (subsets take the first N)."""

    def sample_name(self, index: int) -> str:
        """A recording's identity in messages and cache keys."""
        return str(Path(self.data[index]).relative_to(self.location_on_system))

    def source_files(self, indices: Sequence[int]) -> list[Path]:
        """Files whose size and modification time identify these recordings' contents."""
        return [Path(self.data[i]) for i in indices]

    def recording_path(self, index: int) -> Path:
        """The file that holds recording `index` (named in errors)."""
        return Path(self.data[index])

    def check_file(self, index: int) -> None:
        """Checks before tonic parses the file; datasets add format-specific ones."""
        path = self.recording_path(index)
        if path.stat().st_size == 0:
            raise CorruptRecordingError(path, f"is empty (0 bytes): not a {self.display_name} file")

    def read(self, index: int) -> np.ndarray:
        """Recording `index`'s events via tonic, or a CorruptRecordingError naming its file."""
        path = self.recording_path(index)
        try:
            self.check_file(index)
            events, _ = self[index]
        except PermissionError as err:  # made unreadable after the listing checked it
            raise UnreadableDataError(path, f"{type(err).__name__}: {err.strerror}") from err
        except CorruptRecordingError:
            raise
        except READ_ERRORS as err:
            raise CorruptRecordingError(
                path,
                f"cannot be read as {self.display_name} data "
                f"({type(err).__name__}: {err}); expected {self.layout}",
            ) from err
        check_events(events, self.sensor_size, self.allow_empty, self.display_name, path)
        return events


def _is_dir(path: Path) -> bool:
    """`path.is_dir()`, with a folder above it that may not be searched named as such."""
    try:
        return path.is_dir()
    except PermissionError as err:
        raise UnreadableDataError(
            path, f"a folder on the way to it may not be searched: {err.strerror}"
        ) from err


def check_readable_file(path: Path) -> None:
    """A recording entry must be a regular file this user can open (symlinks followed)."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):  # never open a FIFO or device: it could block
            os.close(os.open(path, os.O_RDONLY))
    except PermissionError as err:
        raise UnreadableDataError(path, f"{type(err).__name__}: {err.strerror}") from err
    except FileNotFoundError as err:
        if not path.is_symlink():
            raise DatasetLayoutError(path, "vanished while the data was listed") from err
        raise DatasetLayoutError(
            path,
            f"is a broken symbolic link (its target {os.readlink(path)} does not exist); "
            "restore the target or delete the link",
        ) from err
    except OSError as err:
        raise DatasetLayoutError(
            path, f"cannot be opened ({type(err).__name__}: {err.strerror})"
        ) from err
    if not stat.S_ISREG(mode):
        raise DatasetLayoutError(
            path, "is not a regular file (a device, pipe or socket); replace it by the recording"
        )


def open_split(
    reader_cls: type[OfflineFirst], save_to: str | Path, train: bool, allow_download: bool
) -> OfflineFirst:
    """Construct a reader, turning a listing/opening failure inside tonic into a clear error."""
    try:
        return reader_cls(save_to, train=train, allow_download=allow_download)
    except (DatasetNotFoundError, CorruptRecordingError, UnreadableDataError):
        raise
    except READ_ERRORS as err:
        raise CorruptRecordingError(
            reader_cls.expected_path(save_to, train),
            f"cannot be opened as {reader_cls.display_name} data ({type(err).__name__}: {err}); "
            f"expected {reader_cls.layout}",
        ) from err


def check_events(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    allow_empty: bool,
    display_name: str,
    path: Path,
) -> None:
    """Reject event arrays a well-formed recording cannot produce (wrong format, empty)."""
    if len(events) == 0:
        if allow_empty:
            return
        raise CorruptRecordingError(path, f"holds no events (an empty {display_name} recording)")
    limits = {"x": sensor_size[0], "y": sensor_size[1]}
    for name, limit in limits.items():
        if name in events.dtype.names:
            low, high = int(events[name].min()), int(events[name].max())
            if low < 0 or high >= limit:
                raise CorruptRecordingError(
                    path,
                    f"{name} spans [{low}, {high}], outside the {display_name} sensor's "
                    f"[0, {limit - 1}]: not a {display_name} recording",
                )
    if int(events["t"].min()) < 0:
        raise CorruptRecordingError(path, f"negative timestamps: not a {display_name} recording")


class Recordings:
    """The selected recordings of one split, in sample-id order, read through tonic."""

    def __init__(self, reader: OfflineFirst, members: np.ndarray) -> None:
        self.reader = reader
        self.members = np.asarray(members, dtype=np.int64)

    @classmethod
    def first(cls, reader: OfflineFirst, limit: int | None) -> Recordings:
        """The first `limit` recordings by sample id (all when `limit` is None)."""
        order = sorted(range(len(reader)), key=reader.sample_key)
        return cls(reader, np.asarray(order[:limit] if limit is not None else order))

    def __len__(self) -> int:
        return len(self.members)

    @property
    def labels(self) -> np.ndarray:
        """Class labels, read from tonic's listing (no events are read)."""
        return np.asarray([self.reader.targets[i] for i in self.members], dtype=np.int64)

    @property
    def names(self) -> list[str]:
        """Sample names, in order."""
        return [self.reader.sample_name(int(i)) for i in self.members]

    def events(self, position: int) -> np.ndarray:
        """Events of the `position`-th selected recording."""
        return self.reader.read(int(self.members[position]))

    def sizes(self) -> list[int]:
        """Size in bytes of each selected recording's file (SHD: the one shared file)."""
        paths = [self.reader.recording_path(int(i)) for i in self.members]
        size = {path: path.stat().st_size for path in set(paths)}
        return [size[path] for path in paths]

    def fingerprint(self) -> str:
        """Hash of the selection and its files' sizes and times: changes when the data does.

        The cache key: it covers every recording in a cache by name, size and modification
        time, so a cache built from other recordings (795 instead of 1,000) is never reused.
        """
        stats = []
        for path in dict.fromkeys(self.reader.source_files(self.members.tolist())):
            stat = path.stat()
            name = os.path.relpath(path, self.reader.location_on_system)
            stats.append([name, stat.st_size, stat.st_mtime_ns])
        payload = json.dumps(
            {"reader": type(self.reader).__name__, "names": self.names, "files": stats}
        )
        return hashlib.sha256(payload.encode()).hexdigest()
