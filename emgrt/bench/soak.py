"""`emgrt bench soak`: the live path for a long time -- RSS and counters, sampled as it runs.

A session is replayed in a loop over a real LSL loopback (:class:`SessionReplayer`, kept on
this machine), read by the band inlet and decoded by the engine in :func:`run_live`, exactly
as `emgrt run` does, for ``minutes`` of signal.  Every ``every_s`` seconds the process RSS and
the engine's counters are recorded.  The report gives the RSS at the start (after a warm-up),
at the end, its growth over the last quarter and a least-squares slope over the second half,
and whether every sample sent was received (``sent == received + lost``, after draining).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from emgrt.bench.stream import _rss_mb

WARMUP_FRAC = 0.1  # the start figure is taken after this share of the run (allocators settle)


def bench_soak(
    bundle,
    session: str | Path,
    minutes: float,
    decoder: str,
    every_s: float = 10.0,
    speed: float = 1.0,
    decoder_opts: dict | None = None,
    progress=None,
) -> dict:
    from emgrt.lsl import keep_local
    from emgrt.lsl.outlet import SessionReplayer
    from emgrt.stream.engine import Engine
    from emgrt.stream.live import LiveSource, LiveThread

    keep_local()
    engine = Engine(bundle, decoder=decoder, **(decoder_opts or {}))
    name = f"emgrt-soak-{uuid.uuid4().hex[:8]}"
    rep = SessionReplayer(session, name, speed=speed, loop=True, wait_for_consumer=30.0)
    source = LiveSource(bundle, stream=name)
    chars = [0]

    def on_event(ev: dict) -> None:
        if ev["type"] == "char":
            chars[0] += 1

    wall_s = minutes * 60.0 / speed
    samples: list[dict] = []
    rep.start()
    live = LiveThread(engine, source, on_event).start()
    t0 = time.monotonic()
    try:
        while True:
            now = time.monotonic() - t0
            c = dict(engine.counters)
            samples.append({"t_s": round(now, 2), "rss_mb": round(_rss_mb(), 3), "received": c["received"],
                            "lost": c["lost"], "chars": chars[0]})
            if progress is not None:
                progress(min(now, wall_s), wall_s)
            if now >= wall_s or live.failed or rep.error is not None:
                break
            time.sleep(min(every_s, max(0.01, wall_s - now)))
        rep.halt()  # stop sending, keep the outlet until the engine has drained it
        live.drain(rep, 10.0)
    finally:
        try:
            stats = live.finish()
        finally:
            rep.stop()
    if rep.error is not None:
        raise rep.error
    e = stats["engine"]
    t = np.array([s["t_s"] for s in samples])
    rss = np.array([s["rss_mb"] for s in samples])
    start = int(np.searchsorted(t, WARMUP_FRAC * t[-1]))
    half = int(np.searchsorted(t, 0.5 * t[-1]))
    quarter = int(np.searchsorted(t, 0.75 * t[-1]))
    slope = float(np.polyfit(t[half:], rss[half:], 1)[0]) * 3600.0 if len(t) - half >= 2 else None
    return {
        "bundle": str(bundle.dir),
        "bundle_digest": bundle.digest,
        "decoder": decoder,
        "signal_minutes": round(e["received"] / engine.rate / 60.0, 2),
        "wall_minutes": round(t[-1] / 60.0, 2),
        "speed": speed,
        "rss_start_mb": float(rss[min(start, len(rss) - 1)]),
        "rss_end_mb": float(rss[-1]),
        "rss_growth_mb": round(float(rss[-1] - rss[min(start, len(rss) - 1)]), 3),
        "rss_growth_last_quarter_mb": round(float(rss[-1] - rss[min(quarter, len(rss) - 1)]), 3),
        "rss_slope_second_half_mb_per_h": None if slope is None else round(slope, 3),
        "sent": rep.samples_sent,
        "counters": {k: e[k] for k in ("received", "processed", "buffered", "dropped", "filled", "lost",
                                       "gaps_filled", "gap_resets", "resets", "sanitised_values", "steps", "chars")},
        "all_samples_accounted": rep.samples_sent == e["received"] + e["lost"] and e["dropped"] == 0,
        "samples": samples,
    }


def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"emgrt bench soak: {r['bundle']} (digest {r['bundle_digest'][:12]}, {r['decoder']}), "
                    f"{r['signal_minutes']} min of signal "
                    f"in {r['wall_minutes']} min at {r['speed']:g}x")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("RSS after warm-up -> end (MB)", f"{r['rss_start_mb']:.1f} -> {r['rss_end_mb']:.1f}")
    t.add_row("RSS growth, whole run / last quarter (MB)", f"{r['rss_growth_mb']:+.2f} / {r['rss_growth_last_quarter_mb']:+.2f}")
    slope = r["rss_slope_second_half_mb_per_h"]
    t.add_row("RSS slope over the second half (MB/h)", "n/a" if slope is None else f"{slope:+.2f}")
    c = r["counters"]
    t.add_row("samples sent / received / lost", f"{r['sent']} / {c['received']} / {c['lost']}")
    t.add_row("processed / buffered / dropped", f"{c['processed']} / {c['buffered']} / {c['dropped']}")
    t.add_row("filled (gaps) / resets", f"{c['filled']} ({c['gaps_filled']}) / {c['resets']}")
    t.add_row("characters emitted", str(c["chars"]))
    t.add_row("every sample accounted for", "yes" if r["all_samples_accounted"] else "NO")
    Console().print(t)


def plot(r: dict, path: str | Path) -> Path:
    """RSS over the run, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60.0 for s in r["samples"]]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(t, [s["rss_mb"] for s in r["samples"]], marker=".", lw=1)
    ax.set_xlabel("wall minutes")
    ax.set_ylabel("RSS (MB)")
    ax.set_title(f"emgrt bench soak: {r['signal_minutes']} min of signal, {r['decoder']}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
