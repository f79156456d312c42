"""The calibration curve as a PNG: CER against minutes of calibration typing and against fine-tuning time.

Reads what ``bash models/results.sh personal`` writes into a results folder:

- ``calibrate-USER-MINUTES.json`` (``emgrt calibrate --json``): CER before (cross-user) and after
  on the user's held-out session, and ``fine_tune_s``;
- ``personal-USER-DECODER.json`` (``emgrt eval --json`` of ``emgrt finetune`` on all of the
  user's training typing): the full personalization, drawn as each user's dashed line.

One row per decoder (greedy, char-lm), one colour per user; the dotted line is half of the full
gain, the issue's target for 3 minutes of typing.  Usage::

    python -m emgrt.viz.calibration_plot models/results --out models/results/calibration-curve.png
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from emgrt.errors import EmgrtError

DECODERS = ("greedy", "char-lm")
_CALIB = re.compile(r"calibrate-(\d+)-([0-9.]+)\.json$")


@dataclass
class UserCurve:
    """One held-out user's points: minutes -> (fine-tuning seconds, CER per decoder)."""

    user: str
    before: dict[str, float] = field(default_factory=dict)  # cross-user CER per decoder
    full: dict[str, float] = field(default_factory=dict)  # after the full fine-tune
    points: dict[float, tuple[float, dict[str, float]]] = field(default_factory=dict)


def read_curves(results: Path) -> list[UserCurve]:
    """Every user with calibration points in ``results``, sorted by user id."""
    curves: dict[str, UserCurve] = {}
    for path in sorted(results.glob("calibrate-*.json")):
        m = _CALIB.search(path.name)
        if not m:  # calibrate-demo-user.json and the like are not curve points
            continue
        d = json.loads(path.read_text())
        c = curves.setdefault(m.group(1), UserCurve(m.group(1)))
        c.before = {k: float(d["cer_before"][k]) for k in DECODERS}
        c.points[float(m.group(2))] = (float(d["fine_tune_s"]), {k: float(d["cer_after"][k]) for k in DECODERS})
    if not curves:
        raise EmgrtError(f"{results}: no calibrate-USER-MINUTES.json files; run `bash models/results.sh personal` first")
    for c in curves.values():
        for k in DECODERS:
            p = results / f"personal-{c.user}-{k}.json"
            if p.exists():
                c.full[k] = float(json.loads(p.read_text())["overall"]["cer"])
    return [curves[u] for u in sorted(curves)]


def plot_curves(curves: list[UserCurve], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(DECODERS), 2, figsize=(13, 4.2 * len(DECODERS)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, dec in enumerate(DECODERS):
        by_minutes, by_time = axes[row]
        for i, c in enumerate(curves):
            col = colours[i % len(colours)]
            mins = sorted(c.points)
            cer = [c.points[m][1][dec] for m in mins]
            secs = [c.points[m][0] for m in mins]
            by_minutes.plot([0.0, *mins], [c.before[dec], *cer], "o-", color=col, label=f"user {c.user}")
            by_time.plot([0.0, *secs], [c.before[dec], *cer], "o", color=col, label=f"user {c.user}")
            for m, s, e in zip(mins, secs, cer):
                by_time.annotate(f"{m:g}", (s, e), textcoords="offset points", xytext=(4, 3), fontsize=7, color=col)
            if dec in c.full:
                for ax in (by_minutes, by_time):
                    ax.axhline(c.full[dec], color=col, ls="--", lw=0.8)
                half = (c.before[dec] + c.full[dec]) / 2
                by_minutes.hlines(half, 2.6, 3.4, color=col, ls=":", lw=1.5)
        by_minutes.axvline(3.0, color="0.6", lw=0.8)
        by_time.axvline(300.0, color="0.6", lw=0.8)
        by_minutes.set(xlabel="minutes of calibration typing (0 = cross-user)", ylabel=f"CER % ({dec})",
                       title=f"{dec}: CER vs typing (dashed: full fine-tune; dotted at 3 min: half its gain)")
        by_time.set(xlabel="fine-tuning time, s (labels: minutes of typing; grey: the 5-minute budget)",
                    ylabel=f"CER % ({dec})", title=f"{dec}: CER vs fine-tuning time")
        for ax in (by_minutes, by_time):
            ax.grid(alpha=0.3)
        by_minutes.legend(fontsize=8)
    fig.suptitle("Calibration curve, held-out users (emgrt calibrate --from-recording)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emgrt.viz.calibration_plot", description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="folder with calibrate-USER-MINUTES.json and personal-USER-DECODER.json")
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = ap.parse_args(argv)
    try:
        print(plot_curves(read_curves(args.results), args.out))
    except EmgrtError as exc:
        ap.exit(2, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
