"""Lab Streaming Layer in and out: band inlets (inlet.py), key marker inlets (markers.py, for
``emgrt record``) and session replay outlets (outlet.py).

liblsl logs INFO lines (config loaded, build string) and reconnect errors to
stderr from its own threads.  :func:`pylsl_quiet` points liblsl at a config file
(``LSLAPICFG``) that sets its log level to fatal-only before pylsl is first
imported; the engine reports stream loss and reconnection itself as events.
A user's own ``LSLAPICFG`` is left alone.

The outlets emgrt opens for its own replays (``serve --replay``, ``demo``, ``latency
--live``) would listen on every interface, liblsl's default, and so show a private
recording to the whole local network.  Those commands call :func:`keep_local` first:
liblsl is then configured so that its streams are discovered on this machine only, by
emgrt processes of the same user (see ``_LOCAL_CONFIG``).  ``emgrt replay``, whose job is to feed other LSL tools, keeps
liblsl's defaults.  liblsl reads its configuration once per process, at first use.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from emgrt.logs import logger

# liblsl (loguru) verbosity: -3 fatal, -2 error, -1 warning, 0 info.
_LSL_CONFIG = "[log]\nlevel = -3\n"
# This machine only: discovery by the machine multicast scope, its listener on IPv4 loopback,
# and a private session id (outlets answer only queries of their own session: a resolver with
# liblsl's default session, here or elsewhere, never sees these streams).  liblsl 1.18 has no
# key for the address its TCP data and UDP query sockets bind: they stay on all interfaces,
# unannounced.
_LOCAL_CONFIG = (
    "[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\nListenAddress = 127.0.0.1\n"
    f"[lab]\nSessionID = emgrt-local-{os.getuid()}\n"
)
_local = False


def _config_path(text: str, tag: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"emgrt-lsl-api-{tag}{os.getuid()}.cfg"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def _ours(path: str) -> bool:
    p = Path(path)
    return p.parent == Path(tempfile.gettempdir()) and p.name.startswith("emgrt-lsl-api-")


def keep_local() -> bool:
    """Keep this process's LSL streams on this machine; call before anything uses pylsl.

    False (and a warning) if liblsl was already set up with the default visibility."""
    global _local
    if "pylsl" in sys.modules and not _local:
        logger.warning("emgrt: LSL was already in use; this process's streams keep liblsl's default visibility")
        return False
    _local = True
    return True


def pylsl_quiet() -> ModuleType:
    """Import and return pylsl with liblsl's stderr logging turned down (see module doc)."""
    if "LSLAPICFG" not in os.environ or _ours(os.environ["LSLAPICFG"]):  # inherited from an emgrt parent
        text, tag = (_LSL_CONFIG + _LOCAL_CONFIG, "local-") if _local else (_LSL_CONFIG, "")
        try:
            os.environ["LSLAPICFG"] = str(_config_path(text, tag))
        except OSError:  # read-only temp dir: liblsl keeps its defaults
            pass
    import pylsl

    return pylsl


def local_clock() -> float:
    """This machine's LSL clock (s), the clock band and marker stamps are on."""
    return pylsl_quiet().local_clock()


def list_streams(timeout: float = 2.0) -> list[dict]:
    """The LSL streams visible within ``timeout`` s: name, type, channels, rate, source_id."""
    return [
        {"name": s.name(), "type": s.type(), "channels": s.channel_count(), "rate": s.nominal_srate(),
         "source_id": s.source_id()}
        for s in pylsl_quiet().resolve_streams(timeout)
    ]
