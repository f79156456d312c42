"""The lifetime every lazy HDF5 reader of :mod:`emgrt.io` shares.

An h5py handle must not cross a ``fork`` or a pickle (DataLoader workers, process pools), so a
reader opens its file on first use in each process and reopens it in a new one; ``close``,
``with`` and pickling behave alike for :class:`~emgrt.io.session.SessionFile`,
:class:`~emgrt.io.gni.GniSession` and :class:`~emgrt.io.imu.ImuStream`.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from emgrt.errors import DataFileError


def open_h5(path: Path, hint: str = "is it a session file, fully copied?") -> h5py.File:
    """``path`` opened read-only, or a one-line DataFileError (missing, not HDF5)."""
    if not path.exists():
        raise DataFileError(path, "no such file")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise DataFileError(path, "not a readable HDF5 file", hint) from None


class LazyH5File:
    """Base of the lazy readers: ``self._h5()`` is the file, opened (and its layout checked by the
    subclass's :meth:`_open_h5`) once per process."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: tuple[int, h5py.File] | None = None  # (pid, file)

    def _open_h5(self) -> h5py.File:
        """Open ``self.path`` and check what the subclass needs of it (override)."""
        return open_h5(self.path)

    def _h5(self) -> h5py.File:
        if self._handle is None or self._handle[0] != os.getpid():
            self._handle = (os.getpid(), self._open_h5())
        return self._handle[1]

    def close(self) -> None:
        if self._handle is not None and self._handle[0] == os.getpid():
            self._handle[1].close()
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None}  # reopened lazily in the new process
