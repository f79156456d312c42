"""Lab Streaming Layer in and out: band inlets (inlet.py) and session replay outlets (outlet.py).

liblsl logs INFO lines (config loaded, build string) and reconnect errors to
stderr from its own threads.  :func:`pylsl_quiet` points liblsl at a config file
(``LSLAPICFG``) that sets its log level to fatal-only before pylsl is first
imported; the engine reports stream loss and reconnection itself as events.
A user's own ``LSLAPICFG`` is left alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import ModuleType

# liblsl (loguru) verbosity: -3 fatal, -2 error, -1 warning, 0 info.
_LSL_CONFIG = "[log]\nlevel = -3\n"


def _quiet_config_path() -> Path:
    path = Path(tempfile.gettempdir()) / f"emgrt-lsl-api-{os.getuid()}.cfg"
    if not path.exists() or path.read_text() != _LSL_CONFIG:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_LSL_CONFIG)
        os.replace(tmp, path)
    return path


def pylsl_quiet() -> ModuleType:
    """Import and return pylsl with liblsl's stderr logging turned down (see module doc)."""
    if "LSLAPICFG" not in os.environ:
        try:
            os.environ["LSLAPICFG"] = str(_quiet_config_path())
        except OSError:  # read-only temp dir: liblsl keeps its default logging
            pass
    import pylsl

    return pylsl
