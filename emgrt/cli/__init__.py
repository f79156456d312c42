"""The `emgrt` command line.

Each subcommand lives in its own module under ``emgrt.cli`` exposing
``register(subparsers)``; the module imports its heavy dependencies inside the
command function, so ``emgrt --help`` stays fast and torch is imported only by
training commands.  User mistakes (:class:`emgrt.errors.EmgrtError`, and command lines
argparse refuses: an option's value is checked by its ``type=`` from :mod:`emgrt.validate`)
print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from emgrt import __version__
from emgrt.errors import EmgrtError

# Module names under emgrt.cli, in the order `emgrt --help` lists them.
COMMAND_MODULES = (
    "demo", "run", "serve", "listen", "replay", "record", "latency",
    "synth", "data", "lm", "bench", "model", "train", "eval", "distill", "finetune", "calibrate", "export", "trace",
)

# Optional dependencies and the extra that installs them.
_EXTRAS = {"torch": "train", "onnx": "train", "pandas": "neuromotor", "tables": "neuromotor"}


class UsageError(EmgrtError):
    """A command line argparse refuses (unknown option, missing argument, value out of range)."""

    def __init__(self, prog: str, message: str) -> None:
        self.prog = prog
        super().__init__(message)


class _Parser(argparse.ArgumentParser):
    """argparse, but a refused command line raises UsageError (main prints one line, returns 2)
    instead of printing the usage and exiting.  Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, f"{message.removeprefix('argument ')} (see `{self.prog} --help`)")


class _Version(argparse.Action):
    """--version: emgrt's version, the path the per-sample kernels run on and the digest of the
    default bundle (computed only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace, values, option_string=None) -> NoReturn:
        print(version_line())
        parser.exit()


def version_line() -> str:
    """``emgrt 0.1.0; native C++ core; bundle models/default digest 7a56fd14d3ff``: the kernels'
    path (:func:`emgrt.native.describe`) and the manifest's seal, checked against its content
    (`emgrt export seal` explains the digest)."""
    from emgrt import native
    from emgrt.bundle import SHORT_DIGEST, sealed_digest
    from emgrt.cli.run import default_bundle

    line = f"emgrt {__version__}; {native.describe()}"
    bundle = default_bundle()
    if bundle is None:
        return line
    try:
        return f"{line}; bundle {bundle} digest {sealed_digest(bundle)[:SHORT_DIGEST]}"
    except EmgrtError as exc:
        return f"{line}; bundle {bundle}: {exc}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="emgrt",
        description="Real-time sEMG-to-text: synthesize emg2qwerty-format data, train, "
        "export and run streaming models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and the default bundle's digest")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"emgrt.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except EmgrtError as exc:
        print(f"emgrt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in _EXTRAS:
            raise
        print(
            f"emgrt {args.command}: error: this command needs {exc.name}, which the runtime install "
            f"leaves out; install the extra: pip install 'emgrt[{_EXTRAS[exc.name]}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"emgrt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed by its reader (`emgrt run --json | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's documented SIGPIPE recipe
        return 141
