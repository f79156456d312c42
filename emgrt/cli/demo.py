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

``--task gestures`` demos the shipped gestures bundle on its recording: the gesture prompted, the
gestures detected, a running CLER and, at the end, the CLER, misses, false alarms and the
gesture-to-event latency (:mod:`emgrt.stream.gesture_score`).  ``--task handwriting`` shows the
prompt being written and the decoded text.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from emgrt.errors import EmgrtError
from emgrt.validate import PositiveFloat, arg

from emgrt.bundle import DEMO_SESSION  # the bundle's own recording, sealed with it

PERSONAL_BUNDLE = "models/personal"  # `emgrt demo --compare`: the demo user's calibrated bundle
REFRESH_HZ = 10
SCREEN_CHARS = 2000


def register(subparsers: argparse._SubParsersAction) -> None:
    from emgrt.cli.run import add_bundle_options, add_stream_options

    p = subparsers.add_parser(
        "demo",
        help="watch a recorded session typed live by the model (offline, no band needed)",
        description="Replay a recorded typing session over LSL as if a band were worn, decode it live and "
        "show the prompt, the decoded text, per-key latency and a running CER; a summary (CER, latency "
        "p50/p99, real-time factor) at the end. With --stream, decode a real band instead. --task gestures "
        "(or handwriting) demos that task's shipped bundle on its recording: gestures prompted and detected, "
        "running CLER and event latency.",
    )
    add_bundle_options(p)
    from emgrt.cli.run import TASK_BUNDLES

    p.add_argument("--task", choices=list(TASK_BUNDLES), default=None,
                   help="demo this task's shipped bundle (" + ", ".join(f"{t}: {b}" for t, b in TASK_BUNDLES.items())
                   + "); default: the typing one, or the task of --bundle")
    p.add_argument("--session", type=Path, default=None, help=f"session to replay (default: {DEMO_SESSION} in the bundle folder)")
    p.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="replay speed (default 1: real time; 20 for a quick look)")
    p.add_argument("--max-seconds", type=arg(PositiveFloat), default=None, help="replay only the session's first this-many seconds")
    p.add_argument(
        "--compare", type=Path, nargs="?", const=Path(PERSONAL_BUNDLE), default=None, metavar="BUNDLE",
        help=f"also decode the replay with this bundle, side by side (default: {PERSONAL_BUNDLE}, the personal bundle "
        "made by `emgrt calibrate` for the demo recording's user): both texts, CERs and latencies",
    )
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
        self.gestures: list[str] = []  # the newest detected gestures (a gestures bundle)


def _run(args: argparse.Namespace) -> int:
    from emgrt.cli.run import adapt_override, decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.lsl import keep_local
    from emgrt.stream.engine import Engine

    bundle = resolve_bundle(args.bundle, args.task)
    live_band = args.stream is not None or args.left is not None or args.right is not None
    if args.compare is not None and live_band:
        from emgrt.errors import ConfigError

        raise ConfigError("--compare replays a recording through two bundles; drop --stream/--left/--right")
    if args.imu is not None and not live_band:
        from emgrt.errors import ConfigError

        raise ConfigError("--imu names a live band's IMU stream (with --stream); a replay sends its recording's own")
    session = None if live_band else _session_path(args, bundle)
    if session is not None:
        _check_recording(session, bundle)
        keep_local()  # the replay is private: its stream is not announced beyond this machine
    bundles = [bundle] + ([resolve_bundle(args.compare)] if args.compare is not None else [])
    lanes = []
    for b in bundles:
        kind = decoder_kind(args, b)
        engine = Engine(b, decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8,
                        adapt=adapt_override(args), **decoder_overrides(args))
        lanes.append(Lane(engine, b, kind))
    fancy = sys.stdout.isatty() and not args.plain
    return Demo(lanes, session, args, fancy).run()


_MARKERS = {"typing": "keys", "gestures": "gestures", "handwriting": "prompts"}  # what each task's recordings carry


def _check_recording(session: Path, bundle) -> None:
    """A one-line error for a recording of another task than the bundle's."""
    from emgrt.errors import ConfigError
    from emgrt.io.recording import open_recording

    task = bundle.spec.task.name
    with open_recording(session) as rec:
        if rec.marker_kind != _MARKERS[task]:
            other = next(t for t, m in _MARKERS.items() if m == rec.marker_kind)
            raise ConfigError(f"{session.name} is a {other} recording but {bundle.dir} is a {task} bundle "
                              f"(pass --task {other}, or a {task} recording with --session)")


class Lane:
    """One bundle decoding the demo's stream: its engine, display state and score."""

    def __init__(self, engine, bundle, kind: str) -> None:
        self.engine, self.bundle, self.kind = engine, bundle, kind
        self.task = bundle.spec.task.name
        self.name = Path(bundle.dir).name
        self.state = DemoState()
        self.score = None  # emgrt.stream.watch.ReplayScore: the replay scored as it plays
        self.source = None
        self.last_key: dict | None = None  # the newest committed keystroke's `key` figures
        self.result: dict = {}
        self.worker: threading.Thread | None = None


class Demo:
    def __init__(self, lanes: list[Lane], session: Path | None, args: argparse.Namespace, fancy: bool) -> None:
        from emgrt.stream.live import LiveSource

        self.lanes, self.args, self.fancy = lanes, args, fancy
        self.stop = threading.Event()
        self.replay = self.replayer = None
        if session is not None:
            from emgrt.stream.live import PrivateReplay

            # Sending starts once every lane's inlet is open: none misses a sample.
            self.replay = PrivateReplay(session, "demo", receivers=len(lanes), speed=args.speed, max_seconds=args.max_seconds)
            self.replayer = self.replay.replayer
            for lane in lanes:
                if lane.task == "typing":
                    lane.score = self.replay.score()
                    lane.engine.hop_log = lane.score.run.hop_ms
                else:  # the one-band tasks' scores take the replayer and keep the step times
                    from emgrt.stream.gesture_score import GestureScore
                    from emgrt.stream.prompt_score import PromptScore

                    lane.score = {"gestures": GestureScore, "handwriting": PromptScore}[lane.task](self.replayer)
                    lane.engine.hop_log = lane.score.hop_ms
                lane.source = self.replay.source(lane.bundle)
        else:
            for lane in lanes:
                lane.source = LiveSource(lane.bundle, stream=args.stream, left=args.left, right=args.right, imu=args.imu)

    # -- engine threads --------------------------------------------------------------------------
    def on_event(self, lane: Lane, ev: dict) -> None:
        from emgrt.decode import apply_keys
        from emgrt.lsl import local_clock

        kind = ev["type"]
        if lane.score is not None:  # as emgrt latency --live: the trigger's stamp + wall time since its push
            lane.score.record(ev, local_clock())
        with lane.state.lock:
            st = lane.state
            if ev.get("t") is not None:
                st.stream_t = ev["t"]
            if kind == "char":
                st.text = apply_keys(st.text, [ev["key"]])[-SCREEN_CHARS:]
            elif kind == "hypothesis":  # shown as screen text: shift hidden, enter a newline
                st.hypothesis = apply_keys("", ev["text"])
            elif kind == "final":  # one plain line per segment: enter shown as its glyph
                st.finals.append(apply_keys("", ev["text"]).replace("\n", "⏎"))
            elif kind == "gesture":
                st.gestures = [*st.gestures, ev["gesture"]][-8:]
                st.finals.append(f"gesture {ev['gesture']} (p {ev['prob']:.2f})")
            elif kind == "status":
                st.status = ev["status"]
        if self.replay is not None:
            self.replay.note(lane.name + str(id(lane)), ev)

    def _feed(self, lane: Lane) -> None:
        from emgrt.stream.live import run_live

        try:
            lane.result["stats"] = run_live(lane.engine, lane.source, lambda ev: self.on_event(lane, ev), self.stop)
        except BaseException as exc:  # re-raised in the main thread
            lane.result["error"] = exc
            if self.replay is not None:
                self.replay.release()  # a lane that failed must not hold the others' replay

    # -- the replay, scored -----------------------------------------------------------------------
    def _prompt(self, t: float | None) -> str:
        lane = self.lanes[0]
        return lane.score.prompt(t) if lane.score is not None else ""

    @staticmethod
    def _gesture_line(lane: Lane, t: float | None) -> str:
        f = lane.score.figures(t)
        if not f["prompts"]:
            return ""
        # False alarms wait for the summary: an event whose gesture is still inside its match window
        # would count as one here.
        return f"running CLER {100 * f['cler']:.1f}% ({f['matched']} of {f['prompts']} prompted matched)"

    @staticmethod
    def _figures(lane: Lane, t: float | None) -> tuple[dict | None, float | None]:
        """(the newest committed keystroke's figures or None, running CER % or None)."""
        if lane.score is None or lane.task != "typing":
            return None, None
        progress = lane.score.update(t)
        if progress.keys:
            lane.last_key = progress.keys[-1]
        return lane.last_key, progress.cer

    @staticmethod
    def _key_line(key: dict | None) -> str:
        if key is None:
            return ""
        ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        return f"last key {key['key']!r} shown {ms(key['display_ms'])} / stable {ms(key['stable_ms'])} ms"

    def _label(self, lane: Lane) -> str:
        return f"[{lane.name}] " if len(self.lanes) > 1 else ""

    # -- main thread ---------------------------------------------------------------------------
    def run(self) -> int:
        for lane in self.lanes:
            lane.worker = threading.Thread(target=self._feed, args=(lane,), name=f"emgrt-demo-{lane.name}", daemon=True)
        if self.replay is not None:
            self.replay.start()
            total = self.replayer.n_samples / self.replayer.rate
            through = " and ".join(f"{ln.name} ({ln.kind} decoder, {ln.engine.provider})" for ln in self.lanes)
            print(
                f"emgrt demo: replaying {self.replayer.session.path.name} ({total:.0f} s at {self.args.speed:g}x) "
                f"through {through}; Ctrl-C to stop",
                file=sys.stderr, flush=True,
            )
        for lane in self.lanes:
            lane.worker.start()
        try:
            if self.fancy:
                self._show_live()
            else:
                self._show_plain()
        except KeyboardInterrupt:
            print("emgrt demo: interrupted", file=sys.stderr)
        finally:
            self.stop.set()  # run_live flushes the decoder
            for lane in self.lanes:
                lane.worker.join(15.0)
            if self.replay is not None:
                self.replay.stop()
        if not self.fancy:
            for lane in self.lanes:
                with lane.state.lock:
                    finals, lane.state.finals = lane.state.finals, []
                for seg in finals:
                    print(f"typed:  {self._label(lane)}{seg}", flush=True)
        for lane in self.lanes:
            if "error" in lane.result:
                raise lane.result["error"]
        for lane in self.lanes:
            self._summary(lane)
        if len(self.lanes) > 1 and all(lane.task == "typing" for lane in self.lanes):
            self._compare_table()
        return 0

    def _done(self) -> bool:
        """True once the replay has been sent and every engine has received all of it."""
        from emgrt.stream.live import received_all

        if not any(lane.worker.is_alive() for lane in self.lanes):
            return True
        rep = self.replayer
        if rep is None or not rep.done:
            return False
        if all(received_all(lane.engine, rep, lane.source) or not lane.worker.is_alive() for lane in self.lanes):
            return True
        if not hasattr(self, "_drain_deadline"):
            self._drain_deadline = time.monotonic() + 5.0
        return time.monotonic() > self._drain_deadline

    def _show_plain(self) -> None:
        shown_prompt = ""
        while not self._done():
            time.sleep(1.0 / REFRESH_HZ)
            prompt = ""
            for lane in self.lanes:
                with lane.state.lock:
                    t, finals, lane.state.finals = lane.state.stream_t, lane.state.finals, []
                prompt = prompt or self._prompt(t)
                if prompt and prompt != shown_prompt:
                    print(f"prompt: {prompt}", flush=True)
                    shown_prompt = prompt
                for seg in finals:
                    if lane.task == "gestures":
                        line = self._gesture_line(lane, t)
                        print(f"{self._label(lane)}{seg}" + (f"  ({line})" if line else ""), flush=True)
                        continue
                    key, cer = self._figures(lane, t)
                    extra = "" if cer is None else f"  (running CER {cer:.1f}%" + ("" if key is None else f", {self._key_line(key)}") + ")"
                    print(f"typed:  {self._label(lane)}{seg}{extra}", flush=True)

    def _show_live(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        total = self.replayer.n_samples / self.replayer.rate if self.replayer else None

        def render() -> Text:
            out = Text()
            t0 = None
            for i, lane in enumerate(self.lanes):
                with lane.state.lock:
                    st = lane.state
                    text, hyp, status, t, gestures = st.text, st.hypothesis, st.status, st.stream_t, st.gestures
                if i == 0:
                    t0 = t
                    prompt = self._prompt(t)
                    if prompt:
                        out.append("prompt  ", style="bold")
                        out.append(prompt + "\n", style="cyan")
                if len(self.lanes) > 1:
                    out.append(f"{lane.name}\n", style="bold yellow")
                if lane.task == "gestures":
                    out.append("seen    ", style="bold")
                    out.append(" · ".join(gestures) + "\n")
                    out.append(" · ".join(x for x in (f"[{status}]", self._gesture_line(lane, t)) if x) + "\n", style="magenta")
                    continue
                out.append("typed   ", style="bold")
                out.append(text[-400:])  # committed: final
                out.append(hyp, style="italic dim underline")  # hypothesis: may still change
                out.append("▌\n", style="green")
                key, cer = self._figures(lane, t)
                parts = [f"[{status}]"]
                if key:
                    parts.append(self._key_line(key))
                if cer is not None:
                    parts.append(f"running CER {cer:.1f}%")
                out.append(" · ".join(parts) + "\n", style="magenta")
            if total and t0 is not None and self.replayer.t0 is not None:
                out.append(f"{max(0.0, t0 - self.replayer.t0):.1f}/{total:.0f} s at {self.args.speed:g}x", style="magenta")
            return out

        with Live(console=Console(), get_renderable=render, refresh_per_second=REFRESH_HZ, transient=False):
            while not self._done():
                time.sleep(1.0 / REFRESH_HZ)
            self.stop.set()
            for lane in self.lanes:
                lane.worker.join(15.0)

    def _summary(self, lane: Lane) -> None:
        from emgrt.stream.latency import shown_summary

        e = lane.engine.stats()
        if lane.task == "gestures" and lane.score is not None:
            self._gesture_summary(lane, e)
            return
        if lane.task == "handwriting" and lane.score is not None:
            self._handwriting_summary(lane, e)
            return
        if lane.score is None:
            print(f"emgrt demo: {e['received'] / lane.engine.rate:.1f} s of signal decoded; "
                  f"compute per step p50 {e.get('compute_ms_p50', float('nan')):.2f} ms")
            return
        rep = lane.summary = lane.score.summary(lane.bundle, lane.kind, e)
        run = lane.score.run
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        ms = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
        shown = rep["display_ms"]
        speed = "" if self.args.speed == 1 else f", replayed at {self.args.speed:g}x"
        print("")
        print(f"summary{' ' + lane.name if len(self.lanes) > 1 else ''}: {rep['keys']} keys typed, {len(run.keys)} decoded, "
              f"{rep['signal_s']:.1f} s of signal")
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

    def _gesture_summary(self, lane: Lane, e: dict) -> None:
        rep = lane.summary = lane.score.summary()
        ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        lat, comp = rep["event_latency_ms"], rep["compute_ms"]
        print("")
        print(f"summary{' ' + lane.name if len(self.lanes) > 1 else ''}: {rep['prompts']} gestures prompted, "
              f"{e['gestures']} detected, {e['received'] / lane.engine.rate:.1f} s of signal")
        print(f"  CLER {100 * rep['cler']:.2f}% ({rep['wrong']} of {rep['matched']} matched gestures of the wrong class); "
              f"missed {rep['missed']} ({100 * rep['miss_rate']:.1f}%), false alarms {rep['false_alarms']}")
        print(f"  gesture-to-event latency p50/p90/p99 {ms(lat['p50'])}/{ms(lat['p90'])}/{ms(lat['p99'])} ms "
              f"(gesture time to the stamp of the sample that completed the step emitting it); "
              "compute per step p50/p99 " + "/".join("-" if v is None else f"{v:.2f}" for v in (comp["p50"], comp["p99"])) + " ms")
        print(f"  {e.get('processed', 0)} samples processed, {e.get('dropped', 0)} dropped{_imu_line(e)}")

    def _handwriting_summary(self, lane: Lane, e: dict) -> None:
        rep = lane.summary = lane.score.summary()
        print("")
        print(f"summary{' ' + lane.name if len(self.lanes) > 1 else ''}: {rep['prompts']} prompts written through, "
              f"{e['chars']} characters decoded, {e['received'] / lane.engine.rate:.1f} s of signal")
        for ref, hyp in rep["pairs"][-3:]:
            print(f"  {ref!r} -> {hyp!r}")
        print(f"  CER {rep['cer']:.2f}% over those prompts (ins {rep['ins_rate']:.1f} / del {rep['del_rate']:.1f} / "
              f"sub {rep['sub_rate']:.1f}; greedy, no LM); compute per step p50 {e.get('compute_ms_p50', float('nan')):.2f} ms")
        print(f"  {e.get('processed', 0)} samples processed, {e.get('dropped', 0)} dropped{_imu_line(e)}")

    def _compare_table(self) -> None:
        """Both bundles on the same replay, one line each."""
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        print("")
        print("compare (same replay):   CER   displayed / stable / committed p50 ms   revisions per key")
        for lane in self.lanes:
            rep = getattr(lane, "summary", None)
            if rep is None:
                continue
            print(f"  {lane.name:<20} {rep['streamed_cer']:6.2f}%   {fmt(rep['display_ms']['p50'])} / "
                  f"{fmt(rep['stable_ms']['p50'])} / {fmt(rep['latency_ms']['p50'])}"
                  f"   {rep['revision_rate'] if rep['revision_rate'] is not None else '-'}")


def _imu_line(e: dict) -> str:
    """A fused bundle's IMU counters for a summary line ("" for an EMG-only bundle)."""
    if "imu_steps" not in e:
        return ""
    return (f"; IMU: {e['imu_received']} samples, {e['imu_steps'] - e['imu_absent_steps']} of {e['imu_steps']} steps "
            f"with it, {e['imu_waited_out']} waited out")
