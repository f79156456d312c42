"""The `emgrt` command line.

Each subcommand lives in its own module under ``emgrt.cli`` exposing
``register(subparsers)``; the module imports its heavy dependencies inside the
command function, so ``emgrt --help`` stays fast and torch is imported only by
training commands.  User mistakes (:class:`emgrt.errors.EmgrtError`) print one
line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from emgrt import __version__
from emgrt.errors import EmgrtError

# Module names under emgrt.cli, in the order `emgrt --help` lists them.
COMMAND_MODULES = (
    "demo", "run", "serve", "listen", "replay", "latency",
    "synth", "data", "lm", "bench", "model", "train", "eval", "distill", "finetune", "export", "trace",
)

# Optional dependencies and the extra that installs them.
_EXTRAS = {"torch": "train", "onnx": "train"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emgrt",
        description="Real-time sEMG-to-text: synthesize emg2qwerty-format data, train, "
        "export and run streaming models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emgrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"emgrt.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
