"""`emgrt demo`: watch a recorded session being typed, decoded live by the shipped model, offline.

The session is replayed over a real LSL loopback (:class:`~emgrt.lsl.outlet.SessionReplayer`),
the engine reads it like a band (:func:`~emgrt.stream.live.run_live`), and the terminal shows the
prompt, the decoded text, each key's latency and a running CER (rich Live on a terminal, plain
lines otherwise).  Latency is measured as ``emgrt latency --live`` does, by :mod:`emgrt.stream.display` on the
events' timeline (keystroke stamp to the moment the key was shown; at ``--speed`` other than 1 the
wall time after the triggering sample was pushed is added to its stamp, see emgrt/stream/latency.py):
the live line shows the newest committed key's display and stable latency
(:class:`~emgrt.stream.watch.ReplayScore`, which ``emgrt serve --replay`` uses for the web page).
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

from emgrt.errors import EmgrtError
from emgrt.validate import PositiveFloat, arg

from emgrt.bundle import DEMO_SESSION  # the bundle's own recording, sealed with it
REFRESH_HZ = 10
SCREEN_CHARS = 2000


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
    from emgrt.cli.run import adapt_override, decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.lsl import keep_local
    from emgrt.stream.engine import Engine

    bundle = resolve_bundle(args.bundle)
    kind = decoder_kind(args, bundle)
    live_band = args.stream is not None or args.left is not None or args.right is not None
    session = None if live_band else _session_path(args, bundle)
    if session is not None:
        keep_local()  # the replay is private: its stream is not announced beyond this machine
    engine = Engine(bundle, decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8, adapt=adapt_override(args), **decoder_overrides(args))
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
        self.score = None  # emgrt.stream.watch.ReplayScore: the replay scored as it plays
        name = args.stream
        if session is not None:
            from emgrt.lsl.outlet import SessionReplayer
            from emgrt.stream.watch import ReplayScore

            name = f"emgrt-demo-{uuid.uuid4().hex[:8]}"
            self.replayer = SessionReplayer(
                session, name, speed=args.speed, wait_for_consumer=10.0, max_seconds=args.max_seconds
            )
            self.score = ReplayScore(self.replayer)
            engine.hop_log = self.score.run.hop_ms
        self.source = LiveSource(bundle, stream=name, left=args.left, right=args.right)
        self._last_key: dict | None = None  # the newest committed keystroke's `key` figures
        self._result: dict = {}

    # -- engine thread ---------------------------------------------------------------------------
    def on_event(self, ev: dict) -> None:
        from emgrt.decode import apply_keys

        kind = ev["type"]
        if self.score is not None:  # as emgrt latency --live: the trigger's stamp + wall time since its push
            self.score.record(ev, self.pylsl.local_clock())
        with self.state.lock:
            st = self.state
            if ev.get("t") is not None:
                st.stream_t = ev["t"]
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

    # -- the replay, scored -----------------------------------------------------------------------
    def _prompt(self, t: float | None) -> str:
        return self.score.prompt(t) if self.score is not None else ""

    def _figures(self, t: float | None) -> tuple[dict | None, float | None]:
        """(the newest committed keystroke's figures or None, running CER % or None)."""
        if self.score is None:
            return None, None
        progress = self.score.update(t)
        if progress.keys:
            self._last_key = progress.keys[-1]
        return self._last_key, progress.cer

    @staticmethod
    def _key_line(key: dict | None) -> str:
        if key is None:
            return ""
        ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        return f"last key {key['key']!r} shown {ms(key['display_ms'])} / stable {ms(key['stable_ms'])} ms"

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
                key, cer = self._figures(t)
                extra = "" if cer is None else f"  (running CER {cer:.1f}%" + ("" if key is None else f", {self._key_line(key)}") + ")"
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
            out.append(text[-400:])  # committed: final
            out.append(hyp, style="italic dim underline")  # hypothesis: may still change
            out.append("▌\n", style="green")
            key, cer = self._figures(t)
            parts = [f"[{status}]"]
            if key:
                parts.append(self._key_line(key))
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
        from emgrt.stream.latency import shown_summary

        e = self.engine.stats()
        if self.score is None:
            print(f"emgrt demo: {e['received'] / self.engine.rate:.1f} s of signal decoded; "
                  f"compute per step p50 {e.get('compute_ms_p50', float('nan')):.2f} ms")
            return
        rep = self.score.summary(self.bundle, self.kind, e)
        run = self.score.run
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
        ) + " · compute per step " + "/".join(fmt(rep["hop_compute_ms"][q]) for q in ("p50", "p99")) + " (p50/p99)")
        print(f"  {shown_summary(rep)}")
        rtf = rep["real_time_factor"]
        print(f"  real-time factor {rtf if rtf is not None else '-'} (model compute / signal time; "
              f"{e.get('processed', 0)} samples processed, {rep['dropped_samples']} dropped)")
