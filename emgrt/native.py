"""Which path runs the per-sample kernels: the native C++ core or the numpy reference.

``emgrt._native`` (built from ``CMakeLists.txt`` by ``pip install``) mirrors
:mod:`emgrt.dsp.filters`, :mod:`emgrt.dsp.features`, :mod:`emgrt.stream.clock` and
:mod:`emgrt.decode.charlm` file for file; those modules keep the numpy (Python) code as
the readable reference and call the extension when :data:`ACTIVE`.  The two paths give
bit-identical results (the char-LM search: identical events; tested in ``tests/test_native.py``),
so the choice is about speed only.  It is made once, at import: the numpy path runs when the extension is not
importable (a source tree used without building) or when ``EMGRT_NATIVE=0`` is set.  Objects
read :data:`ACTIVE` when they are built, so :func:`use` can build one of each side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from emgrt.errors import ConfigError

ENV = "EMGRT_NATIVE"


def _load() -> tuple[ModuleType | None, str | None]:
    try:
        from emgrt import _native
    except ImportError as exc:  # not built (or built for another interpreter)
        return None, str(exc)
    return _native, None


kernels, import_error = _load()
AVAILABLE: bool = kernels is not None
DISABLED: bool = os.environ.get(ENV, "").strip() == "0"
ACTIVE: bool = AVAILABLE and not DISABLED


def describe() -> str:
    """One line naming the path that runs, and why when it is numpy."""
    if ACTIVE:
        return "native C++ core"
    if AVAILABLE:
        return f"numpy reference path ({ENV}=0)"
    return "numpy reference path (extension not built)"


def path_name() -> str:
    """``native`` or ``numpy``: the path objects built now use."""
    return "native" if ACTIVE else "numpy"


@contextmanager
def use(active: bool) -> Iterator[None]:
    """Build objects on the given path inside the block (benchmarks and tests compare both in one
    process).  Asking for the native path without the extension is an error."""
    global ACTIVE
    if active and not AVAILABLE:
        raise ConfigError(f"the native core is not built ({import_error}); build it with pip install .")
    saved, ACTIVE = ACTIVE, active
    try:
        yield
    finally:
        ACTIVE = saved
