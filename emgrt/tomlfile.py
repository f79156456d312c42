"""Reading TOML recipes with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from emgrt.errors import ConfigError


def load_toml(path: str | Path) -> dict:
    """Parse a TOML file; a missing, unreadable or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such recipe file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a recipe file (pass the .toml file)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the recipe file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}); save the recipe as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
