"""`emgrt trace summary`: where a profiled training step's time goes (torch-free)."""

from __future__ import annotations

import argparse
import json

from emgrt.validate import PositiveInt, arg

DESCRIPTION = """\
Read a Chrome trace JSON (what `emgrt train --profile` writes under RUN_DIR/trace/,
torch.profiler's export_chrome_trace; .json or .json.gz) and attribute each profiled
step's wall time (ProfilerStep#N) to data-loader wait, forward, backward, optimizer,
communication (all-reduce and other collectives the step waits for), other (operators
outside the labelled phases) and idle (nothing recorded), as fractions that sum to 1,
with the top operators by self time.  Open the same file in https://ui.perfetto.dev
for the timeline.
"""

EPILOG = """\
example: emgrt train --recipe models/recipes/tiny.toml --data data/default --out runs/profile-tiny --profile 3
         emgrt trace summary runs/profile-tiny/trace/train-steps3-5.json --top 15
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "trace",
        help="profiler traces: where step time goes",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="trace_command", metavar="ACTION")
    s = sub.add_parser(
        "summary",
        help="step time by phase and the top operators",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("trace", metavar="TRACE.json", help="Chrome trace JSON (.json or .json.gz)")
    s.add_argument("--top", type=arg(PositiveInt), default=10, metavar="N", help="operators to list by self time (default 10)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_summary)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_summary(args: argparse.Namespace) -> int:
    from emgrt.trace import CATEGORIES, summarize

    summary = summarize(args.trace, top=args.top)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n = len(summary.steps)
    fractions = summary.fractions
    console.print(f"{args.trace}: {n} step{'s' * (n != 1)}, {summary.mean_step_ms:.1f} ms/step")
    phases = Table()
    phases.add_column("where")
    phases.add_column("ms/step", justify="right")
    phases.add_column("fraction", justify="right")
    for c in CATEGORIES:
        phases.add_row(c, f"{summary.ms[c] / max(n, 1):.2f}", f"{fractions[c]:.1%}")
    console.print(phases)
    if summary.overlapped_communication_ms > 0:
        console.print(
            f"collectives hidden behind other work: {summary.overlapped_communication_ms / max(n, 1):.2f} ms/step"
        )
    if summary.note:
        console.print(f"note: {summary.note}")
    if summary.top_ops:
        console.print(f"top {len(summary.top_ops)} operators by self time")
        ops = Table()
        ops.add_column("operator")
        ops.add_column("calls", justify="right")
        ops.add_column("self ms/step", justify="right")
        ops.add_column("of step time", justify="right")
        for op in summary.top_ops:
            ops.add_row(op["name"], str(op["calls"]), f"{op['self_ms'] / max(n, 1):.2f}", f"{op['fraction']:.1%}")
        console.print(ops)
    return 0
