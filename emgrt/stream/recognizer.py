"""Recognizer and Stream: what streams share, and one band's state.

A :class:`Recognizer` holds what every stream of a bundle shares: the bundle and its typed
manifest, the ONNX sessions, the decoder configuration.  A :class:`Stream` holds one band's
state: stamp clock, ring, front end (filters, spectrogram, adaptation), model state, decoder,
counters.  The shape is that of streaming speech engines::

    rec = Recognizer("models/default", decoder="char-lm")
    a, b = rec.create_stream(), rec.create_stream()
    a.accept(samples_a, stamps_a)          # clock, ring, front end; queues the model steps
    b.accept(samples_b, stamps_b)
    rec.decode([a, b])                     # every queued step, all streams in one ONNX call
    a.result().to_json()                   # frozen: the new events, committed text, hypothesis

Per :meth:`Stream.accept` of a chunk of (n, channels) samples and their time stamps:

1. **Sanitise**: NaN/Inf values become the channel's last finite value (0 before any), counted.
2. **Clock**: the stamps go through :class:`~emgrt.stream.clock.StampClock`, which follows
   the band's regular timeline through stamp jitter and finds the real gaps in it (never
   inventing or dropping a sample for jitter).  A gap of up to ``max_fill_s`` (default 0.1 s)
   is filled by holding the last sample (the filled samples go through the pipeline,
   counted in ``filled``), so model time stays on the band's clock; a longer gap ends the
   stream's segment (its queued steps decoded, the decoder flushed, a ``status`` event
   ``reset``) and a fresh one starts at the sample after it.  Samples the stamps say are
   missing and that were not filled are counted in ``lost``.  A clock that steps back is
   followed and counted in ``backwards_stamps``.
3. **Ring**: samples and stamps go into preallocated ring buffers.
4. **Front end per step**: as soon as the ring holds the samples that complete the next model
   step (``F`` spectrogram frames: ``n_fft - hop + F * hop`` samples for the first step of a
   segment, ``F * hop`` after that), they are read out, filtered and framed (exactly ``F``
   new frames), and the frames are queued for the model.

:meth:`Recognizer.decode` then runs the queued steps: with the bundle's batched step graph,
one ONNX call per round for every stream with a step queued (each stream's state its own
row; streams join and leave at any step), else one call of the step graph per stream; the
log-probs go into each stream's decoder.  Work per step is bounded; nothing grows with the
length of a stream.

Events are JSON-ready dicts: the decoder's events with ``type`` (char/hypothesis/final)
instead of ``kind``, plus ``t``, the time stamp (source clock, s) of the sample that
completed the step that produced them; char and gesture events also get ``frame_t``, the stamp
of the last sample of their output frame.  ``status`` events report resets.

**IMU** (a fused model: manifest ``task.inputs`` with ``imu``): :meth:`Stream.accept_imu` takes
the band's IMU samples with their stamps into an :class:`~emgrt.stream.imu_track.ImuTrack`;
each queued step carries the stamps of its frames' last samples, and its IMU is read there
when it runs (the training definition: linear interpolation, held at the ends).  A step whose
IMU is still on its way (the newest IMU sample is before its last frame, but recent) waits up
to ``imu_wait_s`` (30 ms) of wall clock; an IMU silent for ``imu_timeout_s`` (0.25 s) before a
step's last frame is absent for that step (``imu_present`` 0, counted in ``imu_absent_steps``).

Counters prove that nothing is lost: ``received + filled == processed + buffered`` after
every call, ``processed`` counting the samples that went through the front end and
``buffered`` those waiting for the next step (or held by the clock); ``filled + lost`` are the
samples the band's clock says it took but that never arrived.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.logs import RateLimitedWarning
from emgrt.stream.clock import Gap, Samples, StampClock, StepBack
from emgrt.stream.frontend import LiveFrontEnd
from emgrt.stream.imu_track import IMU_TIMEOUT_S, ImuTrack
from emgrt.stream.ring import RingBuffer

MAX_FILL_S = 0.1  # gaps up to this long are filled by holding the last sample
IMU_WAIT_S = 0.03  # a fused model's step waits at most this long (wall clock) for its IMU samples
HOP_TIMES_KEPT = 8192  # per-step compute times kept for the percentiles
PARTS = ("clock", "ring", "frontend", "step", "decoder")  # what Stream.parts times, in pipeline order
COUNTERS = (
    "received", "filled", "lost", "processed", "sanitised_values", "sanitised_samples",
    "gaps_filled", "gap_resets", "backwards_stamps", "resets", "steps", "outputs", "chars", "gestures",
)
IMU_COUNTERS = ("imu_received", "imu_rejected", "imu_overflow", "imu_steps", "imu_absent_steps", "imu_waited_out")


def load_bundle(bundle):
    """A Bundle from a Bundle or a path."""
    if isinstance(bundle, (str, Path)):
        from emgrt.bundle import Bundle

        return Bundle.load(bundle)
    return bundle


@dataclass(frozen=True)
class StreamResult:
    """What a stream has decoded: ``events`` since the last :meth:`Stream.result`, ``keys`` the
    committed key string of the whole stream (charset characters, ⌫ included), ``text`` its
    screen text, ``hypothesis`` the tentative text shown after it."""

    events: tuple[dict, ...]
    keys: str
    text: str
    hypothesis: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["events"] = list(self.events)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass
class _QueuedStep:
    frames: np.ndarray  # (F, bands, channels, n_freq)
    t: float  # stamp of the step's last sample
    frame_t: np.ndarray | None  # (F,) stamps of each frame's last sample (a fused model reads the IMU there)
    stream_samples: int  # samples of the segment through the front end, this step's included
    frontend_s: float  # front-end compute of this step
    queued_at: float  # time.perf_counter() when it was queued


class Recognizer:
    """What every stream of one bundle shares.  ``batched`` None: the batched step graph when the
    bundle has one (False: one step-graph call per stream, with its state in onnxruntime
    buffers bound once).  Not thread-safe: one thread calls accept() and decode()."""

    def __init__(
        self,
        bundle,
        decoder: str | None = None,
        providers: Sequence[str] | None = None,
        threads: int = 1,
        max_fill_s: float = MAX_FILL_S,
        int8: bool = False,
        adapt: bool | None = None,
        batched: bool | None = None,
        imu_timeout_s: float = IMU_TIMEOUT_S,
        imu_wait_s: float = IMU_WAIT_S,
        **decoder_opts,
    ) -> None:
        from emgrt.decode import make_decoder
        from emgrt.stream.decoders import decoder_options
        from emgrt.stream.step_runner import BatchedStepRunner, StepRunner

        self.bundle = bundle = load_bundle(bundle)
        spec = bundle.spec
        decoder = decoder or spec.decoder.default
        if decoder not in spec.decoders:
            from emgrt.errors import ConfigError

            raise ConfigError(f"{bundle.dir}: a {spec.task.name} bundle decodes with {' or '.join(spec.decoders)}, "
                              f"not {decoder!r} (drop --decoder to use the bundle's)")
        self.task = spec.task.name
        self.imu = "imu" in spec.task.inputs  # the model fuses the band's IMU: Stream.accept_imu feeds it
        self.imu_timeout_s, self.imu_wait_s = imu_timeout_s, imu_wait_s
        self.rate = float(spec.signal.sample_rate)
        self.channels = int(spec.signal.channels)
        self.decoder_kind = decoder
        self._decoder_opts = decoder_options(bundle, decoder, decoder_opts)
        self._make_decoder = lambda: make_decoder(decoder, bundle.labels, bundle.blank, **self._decoder_opts)
        self._make_decoder()  # a bad option fails here, once, not at the first stream
        self.adapt = adapt  # None: the bundle's setting
        self.providers, self.threads, self.int8 = providers, threads, int8
        st = spec.stream
        self.frames_per_step = st.frames_per_step
        self.subsample = st.subsample
        self.output_time_offset = st.output_time_offset
        self.skip_outputs = st.skip_outputs
        self.hop = spec.frontend.hop
        self.step_samples = st.frames_per_step * self.hop
        self.first_step_samples = spec.frontend.n_fft - self.hop + self.step_samples
        self.max_fill = int(round(max_fill_s * self.rate))
        if batched is None:
            batched = bundle.batched_step_path is not None and (not int8 or bundle.int8_path("batched_step_graph"))
        self.batched = bool(batched)
        if self.batched:
            self._batch = BatchedStepRunner(bundle, providers, threads, int8)
            self.provider = self._batch.provider
            self.step_path = self._batch.path
        else:
            self._batch = None
            probe = StepRunner(bundle, providers, threads, int8)  # the session every stream shares
            self.provider, self.step_path = probe.provider, probe.path
        self.calls = 0  # ONNX step calls made by decode()

    def create_stream(self) -> Stream:
        return Stream(self)

    def decode(self, streams: Iterable[Stream], force: bool = False) -> None:
        """Run every queued model step of ``streams`` (in rounds: each round one step of every
        stream that has one queued, in one batched call) and push the log-probs into their
        decoders; the events go to each stream's :meth:`Stream.result`.  A fused model's step
        whose IMU is still on its way waits (:attr:`Stream.ready`) unless ``force``."""
        ready = [s for s in streams if s._runnable(force)]
        while ready:
            t0 = time.perf_counter()
            imu = [s._step_imu() for s in ready] if self.imu else None
            if self._batch is not None:
                lp = self._batch.run(ready, [s._queue[0].frames for s in ready], imu)
                self.calls += 1
                share = (time.perf_counter() - t0) / len(ready)
                for row, s in enumerate(ready):
                    s._stepped(*s._cursor.take(lp[row]), share)
            else:
                for row, s in enumerate(ready):
                    t1 = time.perf_counter()
                    lp, first = s._runner.step(s._queue[0].frames, None if imu is None else imu[row])
                    self.calls += 1
                    s._stepped(lp, first, time.perf_counter() - t1)
            ready = [s for s in ready if s._runnable(force)]


class Stream:
    """One band through a :class:`Recognizer`: created by :meth:`Recognizer.create_stream`."""

    def __init__(self, rec: Recognizer) -> None:
        from emgrt.stream.step_runner import OutputCursor, StepRunner

        self.rec = rec
        self.rate, self.channels = rec.rate, rec.channels
        self.frontend = LiveFrontEnd.from_bundle(rec.bundle, rec.adapt)
        self.decoder = rec._make_decoder()
        if rec.batched:
            self.state = rec._batch.new_state()  # the batched runner keeps it (a view of its buffers)
            self._cursor = OutputCursor(rec.skip_outputs)  # StepRunner keeps its own
            self._runner = None
        else:
            self._runner = StepRunner(rec.bundle, rec.providers, rec.threads, rec.int8)
        cap = max(4096, 4 * rec.first_step_samples)
        self._ring = RingBuffer(cap, (self.channels,), np.float32)
        self._ts_ring = RingBuffer(cap, (), np.float64)
        self._block = np.zeros((rec.first_step_samples, self.channels), np.float32)
        self._block_ts = np.zeros(rec.first_step_samples, np.float64)
        self._last_good = np.zeros(self.channels, np.float32)
        self._hop_times = np.zeros(HOP_TIMES_KEPT, np.float64)
        self._queue: deque[_QueuedStep] = deque()
        self._events: list[dict] = []  # since the last result()
        self._keys: list[str] = []
        self._hypothesis = ""
        self.event_offsets: list[float] = []  # per event since begin_call(): s since it
        self.hop_log: list[float] | None = None  # set to a list to collect every step's compute (ms)
        self.parts: dict[str, float] | None = None  # set to {} to add up each part's seconds (PARTS)
        self._call_start = time.perf_counter()
        self._clock = StampClock(self.rate)  # kept across resets: a disconnect's loss is seen in its stamps
        self._last_jitter_s: float | None = None  # the spread measured on the last finished stream
        self._warn_sanitised = RateLimitedWarning("engine: {count} non-finite values sanitised")
        self.counters = dict.fromkeys(COUNTERS, 0)
        # A fused model's IMU: kept across segment resets (it is read by stamp), cleared by finish().
        self.imu = ImuTrack(rec.imu_timeout_s) if rec.imu else None
        self._hop_offsets = None
        if rec.imu:  # a block's frame k ends at sample len(block) - 1 - (F - 1 - k) * hop
            self._hop_offsets = (rec.frames_per_step - 1 - np.arange(rec.frames_per_step)) * rec.hop
            self.counters.update(dict.fromkeys(IMU_COUNTERS, 0))
        self._new_segment()

    # -- results -----------------------------------------------------------------------------------
    def result(self) -> StreamResult:
        """The events since the last call, the committed text and the hypothesis (frozen)."""
        from emgrt.decode.events import apply_keys

        events, self._events = tuple(self._events), []
        return StreamResult(events, "".join(self._keys), apply_keys("", self._keys), self._hypothesis)

    def take_events(self) -> list[dict]:
        """The events since the last call (what :meth:`result` gives, without the texts)."""
        events, self._events = self._events, []
        return events

    @property
    def ready(self) -> bool:
        """Model steps are queued: :meth:`Recognizer.decode` has work for this stream (a fused
        model's step once its IMU has arrived, is absent, or has been waited for long enough)."""
        return self._runnable(False)

    def _runnable(self, force: bool) -> bool:
        if not self._queue:
            return False
        if self.imu is None or force:
            return True
        q = self._queue[0]
        if not self.imu.waiting(float(q.frame_t[-1])):
            return True
        return time.perf_counter() - q.queued_at >= self.rec.imu_wait_s  # then on the IMU held since its newest sample

    def _step_imu(self) -> tuple[np.ndarray, bool]:
        """The oldest queued step's IMU at its frames, and whether it is present (fused models)."""
        frame_t = self._queue[0].frame_t
        if self.imu.waiting(float(frame_t[-1])):
            self.counters["imu_waited_out"] += 1  # waited for long enough, or the segment ends
        x, present = self.imu.at(frame_t)
        self.imu.release(float(frame_t[-1]))  # the next step's frames all come later
        self.counters["imu_steps"] += 1
        if not present:
            self.counters["imu_absent_steps"] += 1
        return x, present

    def accept_imu(self, samples: np.ndarray, timestamps: np.ndarray, final: bool = False) -> None:
        """Take the band's (n, 6) IMU samples (accel m/s^2, gyro rad/s) with their (n,) stamps on
        the EMG's clock, for a fused model (manifest ``task.inputs`` with ``imu``).  Call it before
        :meth:`accept` of the EMG chunk they came with, so the steps that chunk completes find
        them.  ``final``: the IMU's last samples (a recording's end; no step waits for more).  An
        EMG-only bundle refuses it with one line."""
        if self.imu is None:
            raise EmgrtError(f"{self.rec.bundle.dir}: this bundle's model does not read the IMU (task.inputs "
                             f"{list(self.rec.bundle.spec.task.inputs)}); feed it EMG only")
        before = (self.imu.rejected, self.imu.overflow)
        self.imu.push(samples, timestamps, final)
        self.counters["imu_received"] += len(timestamps)
        self.counters["imu_rejected"] += self.imu.rejected - before[0]
        self.counters["imu_overflow"] += self.imu.overflow - before[1]

    @property
    def waited(self) -> float:
        """Seconds the oldest queued step has waited for :meth:`Recognizer.decode` (0 if none)."""
        return time.perf_counter() - self._queue[0].queued_at if self._queue else 0.0

    @property
    def last_stamp(self) -> float | None:
        """The stamp of the last sample into the pipeline (None at a segment's start)."""
        return self._last_ts

    def begin_call(self) -> None:
        """Start the clock :attr:`event_offsets` count from (one call of the feeding loop)."""
        self._call_start = time.perf_counter()
        self.event_offsets = []

    # -- segment lifetime --------------------------------------------------------------------------
    def _new_segment(self) -> None:
        self.frontend.reset()
        if self._runner is not None:
            self._runner.reset()
        else:
            for x in self.state:
                x[...] = 0
            self._cursor.reset()
        self.decoder.reset()
        self._stream_samples = 0  # samples of this segment through the front end
        self._last_ts: float | None = None
        self._next_block = self.rec.first_step_samples

    def _end_segment(self) -> None:
        """Decode the queued steps, push what is buffered through the front end (too few samples
        to complete a step, so no output comes of them), flush the decoder, start afresh."""
        self.rec.decode([self], force=True)
        self._timeline(self._clock.flush())
        n = len(self._ring)  # < one step, so it fits the block buffer
        if n:
            self._ring.read(n, self._block)
            self._ts_ring.discard(n)
            self.frontend.push(self._block[:n])
            self.counters["processed"] += n
            self._stream_samples += n
        t = self._last_ts
        self._decoder_events(self.decoder.flush(), t, t, self._stream_samples)
        self._new_segment()

    def _reset(self, reason: str) -> None:
        t = self._last_ts
        self._end_segment()
        self.counters["resets"] += 1
        self._events.append({"type": "status", "status": "reset", "reason": reason, "t": t})
        self.event_offsets.append(self._elapsed())

    def reset(self, reason: str = "reset") -> None:
        """End the current segment (its queued steps decoded, the decoder flushed) and start fresh."""
        self._reset(reason)

    def finish(self) -> None:
        """End of input: flush everything; the stream is then ready for a new, unrelated input."""
        self._end_segment()
        if self._clock.started:
            self._last_jitter_s = self._clock.jitter_s  # what stats() reports until the next input
        self._clock.clear()
        if self.imu is not None:
            self.imu.clear()
        self._warn_sanitised.flush()

    def _elapsed(self) -> float:
        return time.perf_counter() - self._call_start

    # -- data --------------------------------------------------------------------------------------
    def accept(self, samples: np.ndarray, timestamps: np.ndarray) -> None:
        """Take (n, channels) float32 samples with their (n,) float64 stamps; the model steps they
        complete are queued for :meth:`Recognizer.decode`."""
        samples = np.asarray(samples)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        n = len(samples)
        if samples.ndim != 2 or samples.shape[1] != self.channels or len(timestamps) != n:
            raise EmgrtError(
                f"engine got samples of shape {samples.shape} with {len(timestamps)} stamps; expected "
                f"(n, {self.channels}) and n stamps (both bands, left channels first)"
            )
        if n == 0:
            return
        self.counters["received"] += n
        if self.parts is None:
            self._timeline(self._clock.push(self._sanitise(samples), timestamps))
            return
        t0 = time.perf_counter()
        items = self._clock.push(self._sanitise(samples), timestamps)
        self._part("clock", t0)
        self._timeline(items)

    def _part(self, name: str, t0: float) -> float:
        """Add the time since ``t0`` to part ``name`` of :attr:`parts`; returns now."""
        t = time.perf_counter()
        self.parts[name] = self.parts.get(name, 0.0) + t - t0
        return t

    def _timeline(self, items: list) -> None:
        """Feed the clock's output: samples into the pipeline, gaps filled or counted."""
        for item in items:
            if isinstance(item, Samples):
                self._ingest(item.x, item.t)
            elif isinstance(item, Gap):
                self._gap(item.missing, item.seconds)
            elif isinstance(item, StepBack):
                self.counters["backwards_stamps"] += 1

    def _sanitise(self, x: np.ndarray) -> np.ndarray:
        finite = np.isfinite(x)
        if finite.all():
            return x if x.dtype == np.float32 else x.astype(np.float32)
        x = x.astype(np.float32, copy=True)
        bad_rows = ~finite.all(axis=1)
        self.counters["sanitised_values"] += int(np.count_nonzero(~finite))
        self.counters["sanitised_samples"] += int(np.count_nonzero(bad_rows))
        # Hold the last finite value per channel: index of the latest finite row at or before each row.
        idx = np.where(finite, np.arange(len(x))[:, None], -1)
        np.maximum.accumulate(idx, axis=0, out=idx)
        held = np.take_along_axis(x, np.maximum(idx, 0), axis=0)
        x[:] = np.where(idx >= 0, held, self._last_good[None, :])
        self._warn_sanitised.add(int(np.count_nonzero(~finite)))
        return x

    def _gap(self, missing: int, dt: float) -> None:
        last = self._last_ts
        if last is None:  # the segment just (re)started, after a reset or a lost connection
            self.counters["lost"] += missing
            return
        if missing <= self.rec.max_fill:
            fill = np.broadcast_to(self._last_good, (missing, self.channels))
            stamps = last + np.arange(1, missing + 1) / self.rate
            self.counters["filled"] += missing
            self.counters["gaps_filled"] += 1
            self._ingest(fill, stamps)
            return
        self.counters["gap_resets"] += 1
        self.counters["lost"] += missing
        self._reset(f"gap of {dt:.3f} s in the time stamps ({missing} samples lost)")

    def _ingest(self, x: np.ndarray, ts: np.ndarray) -> None:
        pos, n = 0, len(x)
        while pos < n:
            k = min(n - pos, self._ring.free)
            t0 = time.perf_counter()
            self._ring.write(x[pos : pos + k])
            self._ts_ring.write(ts[pos : pos + k])
            if self.parts is not None:
                self._part("ring", t0)
            pos += k
            self._last_ts = float(ts[pos - 1])
            while len(self._ring) >= self._next_block:
                self._front_end_step()
        if n:
            self._last_good[:] = x[-1]

    def _front_end_step(self) -> None:
        t0 = time.perf_counter()
        n = self._next_block
        block = self._ring.read(n, self._block)
        stamps = self._ts_ring.read(n, self._block_ts)
        if self.parts is not None:
            t_fe = self._part("ring", t0)
        frames = self.frontend.push(block)
        if self.parts is not None:
            self._part("frontend", t_fe)
        self.counters["processed"] += n
        self._stream_samples += n
        self._next_block = self.rec.step_samples
        if len(frames) != self.rec.frames_per_step:  # the block schedule guarantees F frames
            raise RuntimeError(f"front end gave {len(frames)} frames for a step of {self.rec.frames_per_step}")
        # Both front-end paths return fresh arrays per push, so the queue holds them as they are.
        frame_t = None if self._hop_offsets is None else stamps[len(stamps) - 1 - self._hop_offsets]
        t1 = time.perf_counter()
        self._queue.append(_QueuedStep(frames, float(stamps[-1]), frame_t, self._stream_samples, t1 - t0, t1))

    def _stepped(self, log_probs: np.ndarray, first: int, step_s: float) -> None:
        """The model step of the oldest queued step ran: decode its log-probs."""
        t0 = time.perf_counter()
        q = self._queue.popleft()
        self.counters["steps"] += 1
        self.counters["outputs"] += len(log_probs)
        self._decoder_events(self.decoder.push(log_probs, first), q.t, q.t, q.stream_samples)
        if self.parts is not None:
            self.parts["step"] = self.parts.get("step", 0.0) + step_s
            self._part("decoder", t0)
        dt = q.frontend_s + step_s + time.perf_counter() - t0
        self._hop_times[(self.counters["steps"] - 1) % HOP_TIMES_KEPT] = dt
        if self.hop_log is not None:
            self.hop_log.append(dt * 1000.0)

    def _frame_time(self, frame: int, t_end: float, stream_samples: int) -> float:
        """Stamp of the last sample of output ``frame`` (``t_end``: stamp of the segment's sample
        number ``stream_samples``)."""
        k = frame * self.rec.subsample + self.rec.output_time_offset
        last_sample = self.frontend.samples_for_frames(k + 1) - 1
        return t_end - (stream_samples - 1 - last_sample) / self.rate

    def _decoder_events(self, evs, t: float | None, t_end: float | None, stream_samples: int) -> None:
        offset = self._elapsed()
        for ev in evs:
            d = ev.to_dict()
            d["type"] = d.pop("kind")
            d["t"] = t
            if d["type"] == "char":
                self.counters["chars"] += 1
                self._keys.append(d["key"])
                self._hypothesis = ""
                if t_end is not None:
                    d["frame_t"] = self._frame_time(int(d["frame"]), t_end, stream_samples)
            elif d["type"] == "gesture":
                self.counters["gestures"] += 1
                if t_end is not None:
                    d["frame_t"] = self._frame_time(int(d["frame"]), t_end, stream_samples)
            elif d["type"] == "hypothesis":
                self._hypothesis = d["text"]
            self._events.append(d)
            self.event_offsets.append(offset)

    # -- figures -----------------------------------------------------------------------------------
    def counts(self) -> dict:
        """The sample counters, consistent with each other (call from the feeding thread): cheap."""
        c = dict(self.counters)
        c["buffered"] = len(self._ring) + self._clock.held  # a queued step's samples count as processed
        c["dropped"] = c["received"] + c["filled"] - c["processed"] - c["buffered"]
        c["bad_stamps"] = self._clock.bad_stamps
        c["queued_steps"] = len(self._queue)
        return c

    def stats(self) -> dict:
        """:meth:`counts` plus the stamp jitter, compute percentiles, provider and decoder."""
        c = self.counts()
        jitter = self._clock.jitter_s if self._clock.started or self._last_jitter_s is None else self._last_jitter_s
        c["jitter_ms"] = round(jitter * 1000.0, 4)
        steps = min(c["steps"], HOP_TIMES_KEPT)
        if steps:
            times = self._hop_times[:steps] * 1000.0
            c["compute_ms_p50"] = float(np.percentile(times, 50))
            c["compute_ms_p99"] = float(np.percentile(times, 99))
        c["provider"] = self.rec.provider
        c["decoder"] = self.rec.decoder_kind
        c["batched"] = self.rec.batched
        return c
