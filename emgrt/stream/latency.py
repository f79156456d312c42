"""Keystroke-to-character latency: recorded sessions replayed through the engine as if live.

Simulated clock (default, deterministic apart from the measured compute): the session's
samples arrive in chunks of ``chunk`` samples, each at the stamp of its last sample (the
session's own clock, unix seconds, the clock of its keystrokes).  The engine starts a chunk
at ``max(arrival, end of the previous chunk's processing)`` and an event is emitted at that
start plus the measured compute time until the engine produced it.  ``--live`` mode sends
the session over a real LSL loopback instead (:class:`~emgrt.lsl.outlet.SessionReplayer`)
and an event's emission is its triggering sample's stamp plus the wall time from that
sample's push to the event reaching the callback (transport and compute together, reported
as ``compute``; ``transport`` is 0 in this mode).

Keys are matched to the session's keystrokes on the event timeline by :mod:`emgrt.stream.display`
(one definition for ``emgrt latency``, ``--live`` and ``emgrt demo``): per keystroke, the
**display** latency (first shown correctly by committed text + hypothesis), the **stable** latency
(shown correctly from then on) and the **commit** latency (first shown by the committed text),
never negative, plus the revisions of the displayed text.  A latency over ``max_match_s`` (default
5 s) is not counted.  The commit latency splits, with ``key`` the keystroke press and, of the char
event whose character first showed it, ``frame`` the stamp of the last sample of the model output
frame that decided the key, ``trigger`` the stamp of the sample that completed the model step that
emitted it, ``arrival`` when that sample's chunk arrived and ``emit`` when the engine emitted it::

    commit     = shown - key           >= emit - key (shown: when the committed text first showed it)
    alignment  = frame - key          where the model places the key (learned; may be < 0)
    algorithmic= trigger - frame      lookahead + waiting for the step (fixed by the manifest)
    transport  = arrival - trigger    the band's chunking
    compute    = emit - arrival       queueing + processing in the engine

``algorithmic_ms`` in the report is the manifest's worst case: one step of samples plus the
lookahead frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emgrt.charset import emg2qwerty_charset
from emgrt.errors import EmgrtError
from emgrt.io.session import SessionFile
from emgrt.metrics import ErrorCounts
from emgrt.stream.display import KeyTimes, key_times

CHUNK = 32  # samples per simulated band packet (16 ms at 2 kHz)
READ_BLOCK = 20_000
MAX_MATCH_S = 5.0  # an aligned key emitted further than this from its keystroke is not counted


@dataclass
class SessionRun:
    """What one replayed session produced."""

    name: str
    duration_s: float
    reference: str  # the session's key string
    key_times: np.ndarray  # (K,) press stamps
    timeline: list[tuple[float, dict]] = field(default_factory=list)  # (emission, char/hypothesis event)
    keys: list[str] = field(default_factory=list)  # emitted committed keys
    emit: list[float] = field(default_factory=list)
    trigger: list[float] = field(default_factory=list)
    frame: list[float] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)
    hop_ms: list[float] = field(default_factory=list)
    compute_s: float = 0.0
    offline_keys: list[str] | None = None  # None: offline decoding not run
    max_match_s: float = MAX_MATCH_S
    stats: dict = field(default_factory=dict)

    def display_times(self) -> KeyTimes:
        """Display, stable and commit latencies of the keystrokes (see :mod:`emgrt.stream.display`)."""
        return key_times(self.reference, self.key_times, self.timeline)


def record_event(run: SessionRun, ev: dict, emit: float, arrival: float) -> None:
    """Record a char or hypothesis event emitted at ``emit`` (its triggering chunk arrived at
    ``arrival``) on the run's timeline; other events are ignored."""
    if ev["type"] not in ("char", "hypothesis"):
        return
    run.timeline.append((emit, ev))
    if ev["type"] == "char":
        run.keys.append(ev["key"])
        run.emit.append(emit)
        run.trigger.append(ev["t"])
        run.frame.append(ev.get("frame_t", ev["t"]))
        run.arrival.append(arrival)


def record_live_event(run: SessionRun, ev: dict, replayer, now: float) -> None:
    """Record a live event (replayer.t0 set) at its stamp plus the wall time since the triggering
    sample was pushed (at t0 + (stamp - t0) / speed), i.e. real transport + compute delays on the
    recording's timeline at any replay speed. `now` is pylsl.local_clock()."""
    if ev.get("t") is None:
        return
    pushed = replayer.t0 + (ev["t"] - replayer.t0) / replayer.speed
    record_event(run, ev, ev["t"] + (now - pushed), ev["t"])


def new_run(session: SessionFile, max_samples: int) -> SessionRun:
    labels, key_times = session.ground_truth(-np.inf, float(session.time[max_samples - 1]))
    return SessionRun(
        name=session.session_name,
        duration_s=max_samples / 2000.0,
        reference=session.charset.labels_to_str(labels),
        key_times=key_times,
    )


def _session_stats(engine, before: dict) -> dict:
    """Engine stats of one session: counters since ``before`` (a copy of engine.counters)."""
    stats = engine.stats()
    for k, v in before.items():
        stats[k] -= v
    stats["dropped"] = stats["received"] + stats["filled"] - stats["processed"] - stats["buffered"]
    return stats


def replay_simulated(engine, session: SessionFile, chunk: int = CHUNK, max_seconds: float | None = None) -> SessionRun:
    """Run ``session`` through ``engine`` (a fresh stream) on the simulated clock."""
    n = len(session) if max_seconds is None else min(len(session), int(max_seconds * engine.rate))
    run = new_run(session, n)
    run.duration_s = n / engine.rate
    engine.hop_log = run.hop_ms
    before = dict(engine.counters)
    clock = -np.inf
    for b0 in range(0, n, READ_BLOCK):
        b1 = min(n, b0 + READ_BLOCK)
        emg = session.emg(b0, b1).reshape(b1 - b0, -1)
        stamps = session.time[b0:b1]
        for c0 in range(0, b1 - b0, chunk):
            x, ts = emg[c0 : c0 + chunk], stamps[c0 : c0 + chunk]
            arrival = float(ts[-1])
            start = max(clock, arrival)
            t0 = time.perf_counter()
            events = engine.process(x, ts)
            dt = time.perf_counter() - t0
            run.compute_s += dt
            clock = start + dt
            for ev, off in zip(events, engine.event_offsets):
                record_event(run, ev, start + off, arrival)
    start = max(clock, float(session.time[n - 1]))
    for ev, off in zip(engine.finish(), engine.event_offsets):
        record_event(run, ev, start + off, start)
    engine.hop_log = None
    run.stats = _session_stats(engine, before)
    return run


def replay_live(engine, bundle, session_path: Path, speed: float = 1.0, max_seconds: float | None = None) -> SessionRun:
    """Send the session over a real LSL loopback and run the engine on it live."""
    from emgrt.lsl import local_clock
    from emgrt.stream.live import LiveThread, PrivateReplay

    replay = PrivateReplay(session_path, "latency", speed=speed, max_seconds=max_seconds)
    rep = replay.replayer
    session = rep.session
    n = rep.n_samples
    run = new_run(session, n)
    run.duration_s = n / engine.rate
    engine.hop_log = run.hop_ms
    before = dict(engine.counters)
    source = replay.source(bundle)

    def on_event(ev: dict) -> None:
        replay.note(0, ev)
        if rep.t0 is not None:
            record_live_event(run, ev, rep, local_clock())

    replay.start()
    live = LiveThread(engine, source, on_event).start()
    try:
        rep.wait(n / (engine.rate * speed) + 30.0)
        live.drain(rep, 5.0)  # what LSL has delivered, then stop
    finally:
        try:
            result = live.finish()
        finally:
            replay.stop()
    # The replayed keystrokes, stamped on the replay's timeline.
    k = int(np.searchsorted(session.key_times, session.time[n - 1], side="right"))
    run.key_times = np.array([rep.key_stamp(i) for i in range(k)])
    run.reference = session.charset.labels_to_str(session.key_labels[:k])
    run.compute_s = float(np.sum(run.hop_ms)) / 1000.0
    engine.hop_log = None
    run.stats = _session_stats(engine, before)
    run.stats["source"] = result["source"]
    return run


def frames_for_one_output(output_time_offset: int, lookahead_frames: int) -> int:
    """Input frames a whole-window forward needs for its first output frame, which is timed at
    input frame ``output_time_offset`` and sees ``lookahead_frames`` beyond it.  A shorter recording
    yields no output: the stream emits nothing from it, and a full graph cannot even run on it."""
    return output_time_offset + lookahead_frames + 1


def offline_log_probs(bundle, emg: np.ndarray, adapt: bool | None = None, recording=None) -> np.ndarray:
    """The full-window graph's log-probs over (n, channels) samples in the stream's unit: the
    bundle's front end over the whole recording at once (adaptation included when on); no rows
    when the recording is too short for the model's first output (as when streamed).  A fused
    model reads the IMU of ``recording`` (an :class:`emgrt.io.recording.Recording` whose first
    samples ``emg`` are) at the frames, absent when it has none."""
    from emgrt.stream.frontend import LiveFrontEnd
    from emgrt.stream.imu_track import frame_imu, imu_feed
    from emgrt.stream.step_runner import make_session

    m = bundle.manifest
    feats = LiveFrontEnd.from_bundle(bundle, adapt).push(emg)
    k = int(m["stream"]["subsample"])
    if len(feats) < frames_for_one_output(int(m["stream"]["output_time_offset"]), int(m["stream"]["lookahead_frames"])):
        return np.zeros((0, len(bundle.labels)), np.float32)
    feats = feats[: len(feats) // k * k]  # a partial last group yields no output anyway
    imu = None if recording is None else frame_imu(recording, bundle, len(feats))
    sess = make_session(bundle.full_path, threads=0)
    feed = imu_feed(bundle.spec.full_graph, None if imu is None else imu[None], len(feats))
    return sess.run(None, {sess.get_inputs()[0].name: feats[None], **feed})[0][0]


def offline_keys(
    bundle, session: SessionFile, decoder: str, decoder_opts: dict, max_seconds: float | None = None,
    adapt: bool | None = None,
) -> list[str]:
    """Keys of the full-window graph over the whole session, decoded offline."""
    from emgrt.decode import decode_offline
    from emgrt.stream.decoders import decoder_options

    sig = bundle.manifest["signal"]
    n = len(session) if max_seconds is None else min(len(session), int(max_seconds * float(sig["sample_rate"])))
    log_probs = offline_log_probs(bundle, session.emg(0, n).reshape(n, -1), adapt)
    if not len(log_probs):
        return []
    return decode_offline(decoder, log_probs, bundle.labels, bundle.blank, **decoder_options(bundle, decoder, decoder_opts))


def percentiles(values, qs=(50, 90, 99)) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {f"p{q}": None for q in qs}
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in qs}


def _pct_mean(values) -> dict:
    return {**percentiles(values), "mean": round(float(np.mean(values)), 3) if len(values) else None, "n": len(values)}


def _counted(latencies: np.ndarray, max_match_s: float) -> np.ndarray:
    """Indices of the keys whose latency (s) exists and is at most ``max_match_s``."""
    return np.flatnonzero(np.isfinite(latencies) & (latencies <= max_match_s))


def report(runs: list[SessionRun], bundle, mode: str, decoder: str) -> dict:
    """The figures of ``runs`` as a JSON-ready dict: ``display_ms``, ``stable_ms`` and ``latency_ms``
    (the commit latency, split into ``components_ms``) over the keys each matched; ``matched``: keys
    ever displayed correctly, of ``visible_keys`` (timed keys that put a character on screen) and
    ``keys`` (typed); ``revision_rate``: revisions per typed key; ``never_shown``: share of the
    visible keys never displayed correctly."""
    m = bundle.manifest
    rate = float(m["signal"]["sample_rate"])
    st, hop = m["stream"], int(m["frontend"]["hop"])
    algorithmic_ms = (int(st["frames_per_step"]) + int(st["lookahead_frames"])) * hop / rate * 1000.0
    comp = {k: [] for k in ("latency", "alignment", "algorithmic", "transport", "compute")}
    shown = {k: [] for k in ("display", "stable")}
    streamed, offline = ErrorCounts(), ErrorCounts()
    hops: list[float] = []
    sessions = []
    duration = compute = 0.0
    dropped = revised = visible = never = 0
    for r in runs:
        kt = r.display_times()
        got = {k: _counted(getattr(kt, k), r.max_match_s) for k in ("display", "stable", "commit")}
        for k in shown:
            shown[k] += list(1000.0 * getattr(kt, k)[got[k]])
        lat = list(1000.0 * kt.commit[got["commit"]])
        for i in got["commit"]:
            key, j = float(r.key_times[i]), int(kt.commit_event[i])
            comp["alignment"].append(1000.0 * (r.frame[j] - key))
            comp["algorithmic"].append(1000.0 * (r.trigger[j] - r.frame[j]))
            comp["transport"].append(1000.0 * (r.arrival[j] - r.trigger[j]))
            comp["compute"].append(1000.0 * (r.emit[j] - r.arrival[j]))
        comp["latency"] += lat
        revised += kt.revisions
        visible += int(np.sum(kt.target & kt.timed))
        never += kt.never_shown
        hyp = "".join(r.keys)
        streamed.update(r.reference, hyp)
        if r.offline_keys is not None:
            offline.update(r.reference, "".join(r.offline_keys))
        hops += r.hop_ms
        duration += r.duration_s
        compute += r.compute_s
        dropped += int(r.stats.get("dropped", 0))
        sessions.append(
            {
                "session": r.name,
                "duration_s": round(r.duration_s, 3),
                "keys": len(r.reference),
                "emitted": len(r.keys),
                "matched": len(got["display"]),
                "display_ms": percentiles(1000.0 * kt.display[got["display"]]),
                "stable_ms": percentiles(1000.0 * kt.stable[got["stable"]]),
                "latency_ms": percentiles(lat),
                "revisions": kt.revisions,
                "streamed_cer": round(ErrorCounts().update(r.reference, hyp).cer, 3),
                "offline_cer": None
                if r.offline_keys is None
                else round(ErrorCounts().update(r.reference, "".join(r.offline_keys)).cer, 3),
                "samples": {k: r.stats.get(k) for k in ("received", "processed", "buffered", "filled", "dropped")},
                "sanitised_values": r.stats.get("sanitised_values"),
                "gap_resets": r.stats.get("gap_resets"),
            }
        )
    keys = sum(len(r.reference) for r in runs)
    out = {
        "mode": mode,
        "decoder": decoder,
        "bundle": str(bundle.dir),
        "provider": runs[0].stats.get("provider") if runs else None,
        "sessions": len(runs),
        "signal_s": round(duration, 3),
        "keys": keys,
        "visible_keys": visible,
        "matched": len(shown["display"]),
        "max_match_s": runs[0].max_match_s if runs else MAX_MATCH_S,
        "display_ms": _pct_mean(shown["display"]),
        "stable_ms": _pct_mean(shown["stable"]),
        "latency_ms": _pct_mean(comp["latency"]),
        "revisions": revised,
        "revision_rate": round(revised / keys, 4) if keys else None,
        "never_shown": round(never / visible, 4) if visible else None,
        "algorithmic_ms": round(algorithmic_ms, 3),
        "components_ms": {k: percentiles(v) for k, v in comp.items() if k != "latency"},
        "hop_compute_ms": percentiles(hops, (50, 99)),
        "hops": len(hops),
        "real_time_factor": round(compute / duration, 5) if duration else None,
        "streamed_cer": round(streamed.cer, 3),
        "offline_cer": round(offline.cer, 3) if all(r.offline_keys is not None for r in runs) else None,
        "dropped_samples": dropped,
        "per_session": sessions,
    }
    return out


def session_paths(path: Path, split: str | None = None) -> list[Path]:
    """One session file, every session of a folder, or (``split``) a dataset's generic split."""
    path = Path(path)
    if split is not None:
        from emgrt.io.dataset import DatasetDir

        return DatasetDir(path).sessions(split)
    if path.is_dir():
        paths = sorted(path.glob("*.hdf5"))
        if not paths:
            raise EmgrtError(f"{path}: no *.hdf5 session files in this folder (pass a session file or a dataset folder)")
        return paths
    if not path.exists():
        raise EmgrtError(f"{path}: no such session file or folder")
    return [path]


def plot(runs: list[SessionRun], rep: dict, out: Path, window_s: float = 20.0) -> Path:
    """Histogram of all latencies and the timeline of the first session (keystrokes vs emitted keys)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emgrt.charset import glyph

    times = [r.display_times() for r in runs]
    lat = {k: [] for k in ("display", "commit")}
    for kt, r in zip(times, runs):
        for k, v in lat.items():
            v += list(1000.0 * getattr(kt, k)[_counted(getattr(kt, k), r.max_match_s)])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), gridspec_kw={"height_ratios": [1, 1]})
    bins = np.histogram_bin_edges(lat["display"] + lat["commit"] or [0.0], bins=50)
    ax1.hist(lat["display"], bins=bins, color="#ee7733", alpha=0.6, label="display")
    ax1.hist(lat["commit"], bins=bins, color="#4477aa", alpha=0.6, label="commit")
    ax1.legend(fontsize=8)
    for q, height in (("p50", 0.92), ("p90", 0.8), ("p99", 0.68)):
        v = rep["latency_ms"][q]
        if v is not None:
            ax1.axvline(v, color="k", ls="--", lw=0.8)
            ax1.text(v, ax1.get_ylim()[1] * height, f" commit {q} {v:.0f} ms", fontsize=8)
    ax1.set_xlabel("keystroke -> character displayed / committed latency (ms)")
    ax1.set_ylabel("keys")
    ax1.set_title(
        f"{rep['sessions']} session(s), {rep['matched']} matched keys, decoder {rep['decoder']}, "
        f"streamed CER {rep['streamed_cer']:.1f}"
    )
    if runs:
        r = runs[0]
        t0 = float(r.key_times[0]) if len(r.key_times) and np.isfinite(r.key_times[0]) else (r.emit[0] if r.emit else 0.0)
        t0 -= 0.5
        for i, t in enumerate(r.key_times):
            if t0 <= t <= t0 + window_s:
                ax2.plot([t - t0], [1], "o", color="#228833", ms=4)
                ax2.text(t - t0, 1.06, glyph(r.reference[i]), ha="center", fontsize=7)
        for j, t in enumerate(r.emit):
            if t0 <= t <= t0 + window_s:
                ax2.plot([t - t0], [0], "s", color="#cc3311", ms=4)
                ax2.text(t - t0, -0.14, glyph(r.keys[j]), ha="center", fontsize=7)
        for i in _counted(times[0].commit, r.max_match_s):
            j = int(times[0].commit_event[i])
            if t0 <= r.key_times[i] <= t0 + window_s:
                ax2.plot([r.key_times[i] - t0, r.emit[j] - t0], [1, 0], color="0.6", lw=0.5)
        ax2.set_yticks([0, 1], ["emitted", "keystrokes"])
        ax2.set_ylim(-0.4, 1.3)
        ax2.set_xlim(0, window_s)
        ax2.set_xlabel(f"time in session '{r.name}' (s)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def shown_summary(rep: dict) -> str:
    """One line: keys matched, never shown, revisions (the demo prints it too)."""
    never = "-" if rep["never_shown"] is None else f"{100 * rep['never_shown']:.1f}%"
    rate = "-" if rep["revision_rate"] is None else f"{rep['revision_rate']:.3f}"
    return (
        f"{rep['matched']}/{rep['keys']} keys typed shown correctly ({rep['latency_ms']['n']} committed correctly; "
        f"{rep['visible_keys']} put a character on screen, {never} of those never shown); "
        f"revisions {rep['revisions']} ({rate} per typed key)"
    )


def print_report(rep: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"keystroke -> character latency ({rep['mode']} clock, decoder {rep['decoder']}, {rep['provider']})")
    t.add_column("figure")
    t.add_column("p50", justify="right")
    t.add_column("p90", justify="right")
    t.add_column("p99", justify="right")

    def row(name, d):
        t.add_row(name, *(("-" if d.get(q) is None else f"{d[q]:.1f}") for q in ("p50", "p90", "p99")))

    row("display latency (ms)", rep["display_ms"])
    row("stable latency (ms)", rep["stable_ms"])
    row("commit latency (ms)", rep["latency_ms"])
    for k, v in rep["components_ms"].items():
        row(f"  {k} (ms)", v)
    row("compute per hop (ms)", rep["hop_compute_ms"])
    console.print(t)
    console.print(
        f"algorithmic (manifest: one step + lookahead): {rep['algorithmic_ms']:.0f} ms; "
        f"real-time factor {rep['real_time_factor']}; {rep['signal_s']:.1f} s in {rep['sessions']} session(s)"
    )
    console.print(shown_summary(rep))
    off = "-" if rep["offline_cer"] is None else f"{rep['offline_cer']:.2f}"
    console.print(f"CER streamed {rep['streamed_cer']:.2f} | offline (full graph) {off}; dropped samples {rep['dropped_samples']}")
