"""`emgrt demo`: watch a recorded session being typed, decoded live by the shipped model, offline.

The session is replayed over a real LSL loopback (:class:`~emgrt.lsl.outlet.SessionReplayer`),
the engine reads it like a band (:func:`~emgrt.stream.live.run_live`), and the terminal shows the
prompt, the decoded text, each key's latency and a running CER (rich Live on a terminal, plain
lines otherwise).  Latency is measured as ``emgrt latency --live`` does, by :mod:`emgrt.stream.display` on the
events' timeline (keystroke stamp to the moment the key was shown; at ``--speed`` other than 1 the
wall time after the triggering sample was pushed is added to its stamp, see emgrt/stream/latency.py):
the live line shows the newest shown key's display latency.
The summary uses the same report as ``emgrt latency``.  ``--stream NAME`` decodes a real band
instead (no reference, so no CER or latency).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.validate import PositiveFloat, arg

from emgrt.bundle import DEMO_SESSION  # the bundle's own recording, sealed with it
REFRESH_HZ = 10
SCREEN_CHARS = 2000
CER_LAG_S = 1.0  # running CER: reference keys pressed up to this long before the newest sample


def register(subparsers: argparse._SubParsersAction) -> None:
    from emgrt.cli.run import add_bundle_options, add_stream_options

    p = subparsers.add_parser(
        "demo",
        help="watch a recorded session typed live by the model (offline, no band needed)",
        description="Replay a recorded typing session over LSL as if a band were worn, decode it live and "
        "show the prompt, the decoded text, per-key latency and a running CER; a summary (CER, latency "
        "p50/p99, real-time factor) at the end. With --stream, decode a real band instead.",
    )
    add_bundle_options(p)
    p.add_argument("--session", type=Path, default=None, help=f"session to replay (default: {DEMO_SESSION} in the bundle folder)")
    p.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="replay speed (default 1: real time; 20 for a quick look)")
    p.add_argument("--max-seconds", type=arg(PositiveFloat), default=None, help="replay only the session's first this-many seconds")
    add_stream_options(p)  # a real band instead of a replay
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.set_defaults(func=_run)


def _session_path(args: argparse.Namespace, bundle) -> Path:
    if args.session is not None:
        return args.session
    if bundle.demo_session is None:
        raise EmgrtError(
            f"no {DEMO_SESSION} sealed in {bundle.dir} to replay (pass --session FILE.hdf5, e.g. one from "
            "`emgrt synth`)"
        )
    return bundle.demo_session


class DemoState:
    """What the display shows; written by the engine thread, read by the display (under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.text = ""
        self.hypothesis = ""
        self.status = "connecting"
        self.stream_t: float | None = None
        self.finals: list[str] = []  # finished segments, displayed text, not yet printed (plain mode)


def _run(args: argparse.Namespace) -> int:
    from emgrt.cli.run import decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.lsl import keep_local
    from emgrt.stream.engine import Engine

    bundle = resolve_bundle(args.bundle)
    kind = decoder_kind(args, bundle)
    live_band = args.stream is not None or args.left is not None or args.right is not None
    session = None if live_band else _session_path(args, bundle)
    if session is not None:
        keep_local()  # the replay is private: its stream is not announced beyond this machine
    engine = Engine(bundle, decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8, **decoder_overrides(args))
    fancy = sys.stdout.isatty() and not args.plain
    demo = Demo(engine, bundle, kind, session, args, fancy)
    return demo.run()


class Demo:
    def __init__(self, engine, bundle, kind: str, session: Path | None, args: argparse.Namespace, fancy: bool) -> None:
        from emgrt.lsl import pylsl_quiet
        from emgrt.stream.live import LiveSource

        self.engine, self.bundle, self.kind, self.args, self.fancy = engine, bundle, kind, args, fancy
        self.pylsl = pylsl_quiet()
        self.state = DemoState()
        self.stop = threading.Event()
        self.replayer = None
        self.run_ = None  # emgrt.stream.latency.SessionRun: keys, emission times, reference
        name = args.stream
        if session is not None:
            from emgrt.lsl.outlet import SessionReplayer
            from emgrt.stream.latency import new_run

            name = f"emgrt-demo-{uuid.uuid4().hex[:8]}"
            self.replayer = SessionReplayer(
                session, name, speed=args.speed, wait_for_consumer=10.0, max_seconds=args.max_seconds
            )
            self.run_ = new_run(self.replayer.session, self.replayer.n_samples)
            engine.hop_log = self.run_.hop_ms
        self.source = LiveSource(bundle, stream=name, left=args.left, right=args.right)
        self._key_stamps: np.ndarray | None = None
        self._prompts: list[tuple[float, str]] | None = None
        self._shown_for = -1  # timeline length _last_shown was matched on
        self._last_shown: tuple[str, float] | None = None  # newest keystroke shown, its display latency ms
        self._result: dict = {}

    # -- engine thread ---------------------------------------------------------------------------
    def on_event(self, ev: dict) -> None:
        from emgrt.decode import apply_keys
        from emgrt.stream.latency import record_live_event

        kind = ev["type"]
        with self.state.lock:
            st = self.state
            if ev.get("t") is not None:
                st.stream_t = ev["t"]
            rep = self.replayer
            if self.run_ is not None and rep is not None and rep.t0 is not None:
                # As emgrt latency --live: the trigger's stamp + wall time since it was pushed.
                record_live_event(self.run_, ev, rep, self.pylsl.local_clock())
            if kind == "char":
                st.text = apply_keys(st.text, [ev["key"]])[-SCREEN_CHARS:]
            elif kind == "hypothesis":  # shown as screen text: shift hidden, enter a newline
                st.hypothesis = apply_keys("", ev["text"])
            elif kind == "final":  # one plain line per segment: enter shown as its glyph
                st.finals.append(apply_keys("", ev["text"]).replace("\n", "⏎"))
            elif kind == "status":
                st.status = ev["status"]

    def _feed(self) -> None:
        from emgrt.stream.live import run_live

        try:
            self._result["stats"] = run_live(self.engine, self.source, self.on_event, self.stop)
        except BaseException as exc:  # re-raised in the main thread
            self._result["error"] = exc

    # -- reference on the replay's timeline --------------------------------------------------------
    def _reference_ready(self) -> bool:
        rep = self.replayer
        if rep is None or rep.t0 is None:
            return False
        if self._key_stamps is None:
            s = rep.session
            k = len(self.run_.reference)
            self._key_stamps = np.array([rep.key_stamp(i) for i in range(k)])
            self.run_.key_times = self._key_stamps
            idx = np.arange(len(s), dtype=np.float64)
            self._prompts = sorted(
                (rep.t0 + float(np.interp(float(p["start"]), s.time, idx)) / rep.rate, str(p["payload"].get("text", "")))
                for p in s.prompts if isinstance(p.get("payload"), dict)
            )
        return True

    def _prompt(self, t: float | None) -> str:
        if t is None or not self._reference_ready() or not self._prompts:
            return ""
        current = ""
        for start, text in self._prompts:
            if start <= t:
                current = text
        return current

    def _figures(self, t: float | None) -> tuple[str, float | None, float | None]:
        """(last key shown, its display latency ms or None, running CER % or None)."""
        from emgrt.metrics import ErrorCounts
        from emgrt.stream.display import key_times

        run = self.run_
        if run is None or not run.keys or t is None or not self._reference_ready():
            return "", None, None
        with self.state.lock:
            keys, timeline = list(run.keys), list(run.timeline)
        ref_n = int(np.searchsorted(self._key_stamps, t - CER_LAG_S, side="right"))
        cer = ErrorCounts().update(run.reference[:ref_n], "".join(keys)).cer if ref_n else None
        if len(timeline) != self._shown_for:  # the timeline grew: match it again
            self._shown_for = len(timeline)
            display = key_times(run.reference, self._key_stamps, timeline).display
            shown = np.flatnonzero(np.isfinite(display))
            i = int(shown[-1]) if len(shown) else None
            self._last_shown = None if i is None else (run.reference[i], 1000.0 * float(display[i]))
        if self._last_shown is None:
            return "", None, cer
        return self._last_shown[0], self._last_shown[1], cer

    # -- main thread ---------------------------------------------------------------------------
    def run(self) -> int:
        worker = threading.Thread(target=self._feed, name="emgrt-demo-engine", daemon=True)
        if self.replayer is not None:
            self.replayer.start()
            total = self.replayer.n_samples / self.replayer.rate
            print(
                f"emgrt demo: replaying {self.replayer.session.path.name} ({total:.0f} s at {self.args.speed:g}x) "
                f"through {Path(self.bundle.dir).name} ({self.kind} decoder, {self.engine.provider}); Ctrl-C to stop",
                file=sys.stderr, flush=True,
            )
        worker.start()
        try:
            if self.fancy:
                self._show_live(worker)
            else:
                self._show_plain(worker)
        except KeyboardInterrupt:
            print("emgrt demo: interrupted", file=sys.stderr)
        finally:
            self.stop.set()  # run_live flushes the decoder
            worker.join(15.0)
            if self.replayer is not None:
                self.replayer.stop()
        if not self.fancy:
            with self.state.lock:
                finals, self.state.finals = self.state.finals, []
            for seg in finals:
                print(f"typed:  {seg}", flush=True)
        if "error" in self._result:
            raise self._result["error"]
        self._summary()
        return 0

    def _done(self, worker: threading.Thread) -> bool:
        """True once the replay has been sent and the engine has received all of it."""
        if not worker.is_alive():
            return True
        rep = self.replayer
        if rep is None or not rep.done:
            return False
        if self.engine.counters["received"] >= rep.samples_sent:
            return True
        if not hasattr(self, "_drain_deadline"):
            self._drain_deadline = time.monotonic() + 5.0
        return time.monotonic() > self._drain_deadline

    def _show_plain(self, worker: threading.Thread) -> None:
        shown_prompt = ""
        while not self._done(worker):
            time.sleep(1.0 / REFRESH_HZ)
            with self.state.lock:
                t, finals, self.state.finals = self.state.stream_t, self.state.finals, []
            prompt = self._prompt(t)
            if prompt and prompt != shown_prompt:
                print(f"prompt: {prompt}", flush=True)
                shown_prompt = prompt
            for seg in finals:
                _, lat, cer = self._figures(t)
                extra = "" if cer is None else f"  (running CER {cer:.1f}%" + ("" if lat is None else f", last key {lat:.0f} ms") + ")"
                print(f"typed:  {seg}{extra}", flush=True)

    def _show_live(self, worker: threading.Thread) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        total = self.replayer.n_samples / self.replayer.rate if self.replayer else None

        def render() -> Text:
            with self.state.lock:
                st = self.state
                text, hyp, status, t = st.text, st.hypothesis, st.status, st.stream_t
            out = Text()
            prompt = self._prompt(t)
            if prompt:
                out.append("prompt  ", style="bold")
                out.append(prompt + "\n", style="cyan")
            out.append("typed   ", style="bold")
            out.append(text[-400:])
            out.append(hyp, style="dim")
            out.append("▌\n", style="green")
            key, lat, cer = self._figures(t)
            parts = [f"[{status}]"]
            if key:
                parts.append(f"last key {key!r}" + ("" if lat is None else f" {lat:.0f} ms"))
            if cer is not None:
                parts.append(f"running CER {cer:.1f}%")
            if total and t is not None and self.replayer.t0 is not None:
                parts.append(f"{max(0.0, t - self.replayer.t0):.1f}/{total:.0f} s at {self.args.speed:g}x")
            out.append(" · ".join(parts), style="magenta")
            return out

        with Live(console=Console(), get_renderable=render, refresh_per_second=REFRESH_HZ, transient=False):
            while not self._done(worker):
                time.sleep(1.0 / REFRESH_HZ)
            self.stop.set()
            worker.join(15.0)

    def _summary(self) -> None:
        from emgrt.stream.latency import report, shown_summary

        e = self.engine.stats()
        if self.run_ is None:
            print(f"emgrt demo: {e['received'] / self.engine.rate:.1f} s of signal decoded; "
                  f"compute per step p50 {e.get('compute_ms_p50', float('nan')):.2f} ms")
            return
        self._reference_ready()
        run = self.run_
        run.compute_s = float(np.sum(run.hop_ms)) / 1000.0
        run.stats = e
        rep = report([run], self.bundle, "live", self.kind)
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        ms = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
        shown = rep["display_ms"]
        speed = "" if self.args.speed == 1 else f", replayed at {self.args.speed:g}x"
        print("")
        print(f"summary: {rep['keys']} keys typed, {len(run.keys)} decoded, {rep['signal_s']:.1f} s of signal")
        print(f"  CER {rep['streamed_cer']:.2f}%")
        print(f"  latency p50 {ms(shown['p50'])}, p99 {ms(shown['p99'])} ({rep['matched']} keys matched; "
              f"keystroke to displayed character{speed})")
        print("  p50/p90/p99 ms: " + " · ".join(
            f"{name} " + "/".join(fmt(rep[key][q]) for q in ("p50", "p90", "p99"))
            for name, key in (("displayed", "display_ms"), ("stable", "stable_ms"), ("committed", "latency_ms"))
        ))
        print(f"  {shown_summary(rep)}")
        rtf = rep["real_time_factor"]
        print(f"  real-time factor {rtf if rtf is not None else '-'} (model compute / signal time; "
              f"{e.get('processed', 0)} samples processed, {rep['dropped_samples']} dropped)")
