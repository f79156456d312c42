"""Reading TOML recipes with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from emgrt.errors import ConfigError


def load_toml(path: str | Path) -> dict:
    """Parse a TOML file; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such recipe file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
