"""Errors a user can cause.  The CLI prints them as one line, never a traceback."""

from __future__ import annotations

from pathlib import Path


class EmgrtError(Exception):
    """Base class for user-facing errors: the message names the problem and the fix."""


class DataFileError(EmgrtError):
    """A session or dataset file is unreadable or violates the emg2qwerty layout."""

    def __init__(self, path: str | Path, problem: str, fix: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        msg = f"{self.path}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class ConfigError(EmgrtError):
    """A recipe/config value is missing, unknown or out of range."""
