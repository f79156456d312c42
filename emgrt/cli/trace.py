"""`emgrt trace`: placeholder registered so parallel work can land; replaced by its implementation."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("trace", help="(being built)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from emgrt.errors import EmgrtError

    raise EmgrtError("emgrt trace is not built yet")
