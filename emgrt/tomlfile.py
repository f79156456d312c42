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


def apply_settings(doc: dict, settings: list[str] | tuple[str, ...]) -> dict:
    """``doc`` with each ``"table.key=VALUE"`` set (nested tables by dots; VALUE a TOML value, or a
    bare string such as ``name=run1``).  The command line's ``--set``; the result is checked by
    whoever parses ``doc``, so a wrong key or value is the same one-line error as in the file."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for setting in settings:
        key, sep, text = setting.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise ConfigError(f"--set {setting!r}: expected TABLE.KEY=VALUE, e.g. --set model.lookahead=6")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        table = out
        for p in parts[:-1]:
            p = p.strip()
            nxt = table.get(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {setting!r}: {p} is a value, not a table")
            table[p] = nxt = dict(nxt)
            table = nxt
        table[parts[-1].strip()] = value
    return out
