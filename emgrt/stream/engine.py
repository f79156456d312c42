"""The streaming engine: band samples in, character events out, every sample accounted for.

Per call of :meth:`Engine.process` with a chunk of (n, 32) samples and their time stamps:

1. **Sanitise**: NaN/Inf values become the channel's last finite value (0 before any), counted.
2. **Clock**: the stamps go through :class:`~emgrt.stream.clock.StampClock`, which follows
   the band's regular timeline through stamp jitter and finds the real gaps in it (never
   inventing or dropping a sample for jitter).  A gap of up to ``max_fill_s`` (default 0.1 s)
   is filled by holding the last sample (the filled samples go through the pipeline,
   counted in ``filled``), so model time stays on the band's clock; a longer gap ends the
   stream (decoder flushed, a ``status`` event ``reset``) and a fresh stream starts at the
   sample after it.  Samples the stamps say are missing and that were not filled -- a long
   gap, or the time a stream was gone before it came back -- are counted in ``lost``.
   A clock that steps back is followed and counted in ``backwards_stamps``.
3. **Ring**: samples and stamps go into preallocated ring buffers.
4. **Per step**: as soon as the ring holds the samples that complete the next model step
   (``F`` spectrogram frames: ``n_fft - hop + F * hop`` samples for the first step of a
   stream, ``F * hop`` after that), they are read out, filtered, framed (exactly ``F`` new
   frames), run through one ONNX step with the cached state, and the log-probs pushed into
   the decoder.  Work per step is bounded; nothing grows with the length of the stream.

Events are JSON-ready dicts: the decoder's events with ``type`` (char/hypothesis/final)
instead of ``kind``, plus ``t``, the time stamp (source clock, s) of the sample that
completed the step that produced them; char events also get ``frame_t``, the stamp of the
last sample of the key's output frame.  ``status`` events report resets.

Counters prove that nothing is lost: ``received + filled == processed + buffered`` after
every call, ``processed`` counting the samples that went through the front end and
``buffered`` those waiting for the next step (or held by the clock); ``filled + lost`` are the
samples the band's clock says it took but that never arrived.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.logs import RateLimitedWarning
from emgrt.stream.clock import Gap, Samples, StampClock, StepBack
from emgrt.stream.frontend import LiveFrontEnd
from emgrt.stream.ring import RingBuffer
from emgrt.stream.step_runner import StepRunner

MAX_FILL_S = 0.1  # gaps up to this long are filled by holding the last sample
HOP_TIMES_KEPT = 8192  # per-step compute times kept for the percentiles


def load_bundle(bundle):
    """A Bundle from a Bundle or a path."""
    if isinstance(bundle, (str, Path)):
        from emgrt.bundle import Bundle

        return Bundle.load(bundle)
    return bundle


class Engine:
    """One live stream through one bundle.  Not thread-safe: one thread calls process()."""

    def __init__(
        self,
        bundle,
        decoder: str = "greedy",
        providers: Sequence[str] | None = None,
        threads: int = 1,
        max_fill_s: float = MAX_FILL_S,
        int8: bool = False,
        adapt: bool | None = None,
        **decoder_opts,
    ) -> None:
        from emgrt.decode import make_decoder
        from emgrt.stream.decoders import decoder_options

        self.bundle = bundle = load_bundle(bundle)
        m = bundle.manifest
        sig, stream = m["signal"], m["stream"]
        self.rate = float(sig["sample_rate"])
        self.channels = int(sig["channels"])
        self.frontend = LiveFrontEnd.from_bundle(bundle, adapt)  # adapt: None = the bundle's setting
        self.runner = StepRunner(bundle, providers, threads, int8)
        self.provider = self.runner.provider
        self.decoder_kind = decoder
        self.decoder = make_decoder(decoder, bundle.labels, bundle.blank, **decoder_options(bundle, decoder, decoder_opts))
        cfg = self.frontend.cfg
        self.hop = cfg.hop
        self.frames_per_step = int(stream["frames_per_step"])
        self.subsample = int(stream["subsample"])
        self.output_time_offset = int(stream["output_time_offset"])
        self.step_samples = self.frames_per_step * cfg.hop
        self.first_step_samples = cfg.n_fft - cfg.hop + self.step_samples
        self.max_fill = int(round(max_fill_s * self.rate))
        cap = max(4096, 4 * self.first_step_samples)
        self._ring = RingBuffer(cap, (self.channels,), np.float32)
        self._ts_ring = RingBuffer(cap, (), np.float64)
        self._block = np.zeros((self.first_step_samples, self.channels), np.float32)
        self._block_ts = np.zeros(self.first_step_samples, np.float64)
        self._last_good = np.zeros(self.channels, np.float32)
        self._hop_times = np.zeros(HOP_TIMES_KEPT, np.float64)
        self.event_offsets: list[float] = []  # per event of the last call: s since the call began
        self.hop_log: list[float] | None = None  # set to a list to collect every step's compute (ms)
        self._call_start = time.perf_counter()
        self._reset_request: str | None = None  # set by request_reset() from another thread
        self._clock = StampClock(self.rate)  # kept across resets: a disconnect's loss is seen in its stamps
        self._last_jitter_s: float | None = None  # the spread measured on the last finished stream
        self._warn_sanitised = RateLimitedWarning("engine: {count} non-finite values sanitised")
        self.counters = dict.fromkeys(
            (
                "received", "filled", "lost", "processed", "sanitised_values", "sanitised_samples",
                "gaps_filled", "gap_resets", "backwards_stamps", "resets", "steps", "outputs", "chars",
            ),
            0,
        )
        self._new_stream()

    # -- stream lifetime -------------------------------------------------------------------------
    def _new_stream(self) -> None:
        self.frontend.reset()
        self.runner.reset()
        self.decoder.reset()
        self._stream_samples = 0  # samples of this stream through the front end
        self._last_ts: float | None = None
        self._next_block = self.first_step_samples

    def _end_stream(self, events: list[dict]) -> None:
        """Push what is buffered through the front end (too few samples to complete a step, so
        no output comes of them), flush the decoder and start a fresh stream."""
        self._timeline(self._clock.flush(), events)
        n = len(self._ring)  # < one step, so it fits the block buffer
        if n:
            self._ring.read(n, self._block)
            self._ts_ring.discard(n)
            self.frontend.push(self._block[:n])
            self.counters["processed"] += n
            self._stream_samples += n
        t = self._last_ts
        self._decoder_events(self.decoder.flush(), events, t, t)
        self._new_stream()

    def _reset(self, reason: str, events: list[dict]) -> None:
        t = self._last_ts
        self._end_stream(events)
        self.counters["resets"] += 1
        events.append({"type": "status", "status": "reset", "reason": reason, "t": t})
        self.event_offsets.append(self._elapsed())

    def reset(self, reason: str = "reset") -> list[dict]:
        """End the current stream (flushing the decoder) and start fresh; returns the events."""
        self._begin_call()
        events: list[dict] = []
        self._reset(reason, events)
        return events

    def request_reset(self, reason: str = "reset requested") -> None:
        """Ask for a reset from another thread; done at the next :meth:`poll` or :meth:`process`
        (the thread feeding the engine runs it, so the engine needs no lock)."""
        self._reset_request = reason

    def poll(self) -> list[dict]:
        """Events of a requested reset (empty if none was asked for)."""
        reason, self._reset_request = self._reset_request, None
        return self.reset(reason) if reason is not None else []

    def finish(self) -> list[dict]:
        """End of input: flush everything; the engine is then ready for a new stream."""
        self._begin_call()
        events: list[dict] = []
        self._end_stream(events)
        if self._clock.started:
            self._last_jitter_s = self._clock.jitter_s  # what stats() reports until the next stream
        self._clock.clear()  # whatever comes next is a new, unrelated stream
        self._warn_sanitised.flush()
        return events

    def _begin_call(self) -> None:
        self._call_start = time.perf_counter()
        self.event_offsets = []

    def _elapsed(self) -> float:
        return time.perf_counter() - self._call_start

    # -- data --------------------------------------------------------------------------------------
    def process(self, samples: np.ndarray, timestamps: np.ndarray) -> list[dict]:
        """Feed (n, channels) float32 samples with (n,) float64 stamps; returns the events."""
        self._begin_call()
        samples = np.asarray(samples)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        n = len(samples)
        if samples.ndim != 2 or samples.shape[1] != self.channels or len(timestamps) != n:
            raise EmgrtError(
                f"engine got samples of shape {samples.shape} with {len(timestamps)} stamps; expected "
                f"(n, {self.channels}) and n stamps (both bands, left channels first)"
            )
        events: list[dict] = []
        if self._reset_request is not None:
            events += self.poll()  # restarts the call's clock and offsets: we are at its start
        if n == 0:
            return events
        self.counters["received"] += n
        samples = self._sanitise(samples)
        self._timeline(self._clock.push(samples, timestamps), events)
        return events

    def _timeline(self, items: list, events: list[dict]) -> None:
        """Feed the clock's output: samples into the pipeline, gaps filled or counted."""
        for item in items:
            if isinstance(item, Samples):
                self._ingest(item.x, item.t, events)
            elif isinstance(item, Gap):
                self._gap(item.missing, item.seconds, events)
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

    def _gap(self, missing: int, dt: float, events: list[dict]) -> None:
        last = self._last_ts
        if last is None:  # the stream just (re)started, after a reset or a lost connection
            self.counters["lost"] += missing
            return
        if missing <= self.max_fill:
            fill = np.broadcast_to(self._last_good, (missing, self.channels))
            stamps = last + np.arange(1, missing + 1) / self.rate
            self.counters["filled"] += missing
            self.counters["gaps_filled"] += 1
            self._ingest(fill, stamps, events)
            return
        self.counters["gap_resets"] += 1
        self.counters["lost"] += missing
        self._reset(f"gap of {dt:.3f} s in the time stamps ({missing} samples lost)", events)

    def _ingest(self, x: np.ndarray, ts: np.ndarray, events: list[dict]) -> None:
        pos, n = 0, len(x)
        while pos < n:
            k = min(n - pos, self._ring.free)
            self._ring.write(x[pos : pos + k])
            self._ts_ring.write(ts[pos : pos + k])
            pos += k
            self._last_ts = float(ts[pos - 1])
            while len(self._ring) >= self._next_block:
                self._step(events)
        if n:
            self._last_good[:] = x[-1]

    def _step(self, events: list[dict]) -> None:
        t0 = time.perf_counter()
        n = self._next_block
        block = self._ring.read(n, self._block)
        stamps = self._ts_ring.read(n, self._block_ts)
        frames = self.frontend.push(block)
        self.counters["processed"] += n
        self._stream_samples += n
        self._next_block = self.step_samples
        if len(frames) != self.frames_per_step:  # the block schedule guarantees F frames
            raise RuntimeError(f"front end gave {len(frames)} frames for a step of {self.frames_per_step}")
        log_probs, first = self.runner.step(frames)
        self.counters["steps"] += 1
        self.counters["outputs"] += len(log_probs)
        t = float(stamps[-1])
        self._decoder_events(self.decoder.push(log_probs, first), events, t, t)
        dt = time.perf_counter() - t0
        self._hop_times[(self.counters["steps"] - 1) % HOP_TIMES_KEPT] = dt
        if self.hop_log is not None:
            self.hop_log.append(dt * 1000.0)

    def _frame_time(self, frame: int, t_end: float) -> float:
        """Stamp of the last sample of output ``frame`` (``t_end``: stamp of the last sample in)."""
        k = frame * self.subsample + self.output_time_offset
        last_sample = self.frontend.samples_for_frames(k + 1) - 1
        return t_end - (self._stream_samples - 1 - last_sample) / self.rate

    def _decoder_events(self, evs, events: list[dict], t: float | None, t_end: float | None) -> None:
        offset = self._elapsed()
        for ev in evs:
            d = ev.to_dict()
            d["type"] = d.pop("kind")
            d["t"] = t
            if d["type"] == "char":
                self.counters["chars"] += 1
                if t_end is not None:
                    d["frame_t"] = self._frame_time(int(d["frame"]), t_end)
            events.append(d)
            self.event_offsets.append(offset)

    # -- figures -----------------------------------------------------------------------------------
    def counts(self) -> dict:
        """The sample counters, consistent with each other (call from the feeding thread): cheap."""
        c = dict(self.counters)
        c["buffered"] = len(self._ring) + self._clock.held
        c["dropped"] = c["received"] + c["filled"] - c["processed"] - c["buffered"]
        c["bad_stamps"] = self._clock.bad_stamps
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
        c["provider"] = self.provider
        c["decoder"] = self.decoder_kind
        return c
