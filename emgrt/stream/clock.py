"""The band's sample clock: jittered LSL stamps in, de-jittered stamps and the real gaps out.

LSL stamps are usually taken when a packet is pushed, so they jitter by fractions of a
millisecond to milliseconds around the band's true, regular sample times.  Comparing
neighbouring stamps (a step over 1.5 periods is a gap) turns that jitter into phantom
gaps; liblsl's own ``proc_dejitter`` smooths the stamps by sample count, which hides
real gaps instead.  So the engine keeps its own model of the timeline:

- sample ``i`` of the stream is expected at ``t0 + i / rate + offset``; ``offset`` is an
  exponential average of the residuals (time constant ``tau_s``), so slow clock drift is
  followed, and the residual's spread ``sigma`` is tracked the same way (``tau_spread_s``);
- a sample whose residual leaves ``max(min_tol, k_sigma * sigma)`` is a *candidate*; it
  is decided on the ``window`` samples from it on (held back until they have arrived):
  if their median residual is still beyond the tolerance the timeline really moved --
  a gap of ``round(median * rate)`` samples (forward) or a clock step back -- otherwise
  it was jitter and nothing happens;
- every sample comes out once, in order, with its de-jittered stamp; gaps come out as
  :class:`Gap` items between them.  Nothing is dropped or invented here.

The recursions run per sample (vectorised in closed form, see :class:`_Ema`), so the result
does not depend on how the samples were chunked.  ``emgrt/stream/clock.cpp`` mirrors
:meth:`StampClock._run` (bit-identical, with this module's tables) and runs instead when
:data:`emgrt.native.ACTIVE`; this numpy code stays the reference.
A stream starts with a conservative ``prior_jitter_s`` so that the first second of a
jittery band does not read as gaps; gaps shorter than the tolerance (a few samples
at most, under millisecond jitter) cannot be told from jitter and are absorbed by the
offset instead of filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emgrt import native

WINDOW = 16  # samples a candidate gap is decided on (8 ms at 2 kHz): the hold-back, at candidates only
K_SIGMA = 6.0  # tolerance in residual spreads (Gaussian jitter: one false candidate per ~1e9 samples)
MIN_TOL_PERIODS = 0.5  # never below half a sample period: a single missing sample is still seen
PRIOR_JITTER_S = 1e-3  # assumed spread at a stream's start, until measured
TAU_S = 1.0  # time constant of the offset average
BLOCK = 1024  # samples per vectorised step (longer chunks go in blocks)
TAU_SPREAD_S = 0.25  # time constant of the spread average (the prior is forgotten within a second or two)


@dataclass(frozen=True)
class Samples:
    """Samples in arrival order with their de-jittered stamps."""

    x: np.ndarray
    t: np.ndarray


@dataclass(frozen=True)
class Gap:
    """``missing`` samples are absent from the timeline before the next :class:`Samples`."""

    missing: int
    seconds: float  # the stamp step across it: (missing + 1) periods


@dataclass(frozen=True)
class StepBack:
    """The stamps jumped back by ``seconds`` (a clock reset): the timeline is re-anchored."""

    seconds: float


class StampClock:
    """Per-stream timeline model; ``push(x, ts)`` -> list of Samples / Gap / StepBack."""

    def __init__(
        self,
        rate: float,
        window: int = WINDOW,
        k_sigma: float = K_SIGMA,
        min_tol_periods: float = MIN_TOL_PERIODS,
        prior_jitter_s: float = PRIOR_JITTER_S,
        tau_s: float = TAU_S,
        tau_spread_s: float = TAU_SPREAD_S,
    ) -> None:
        self.rate = float(rate)
        self.window = int(window)
        self.k_sigma = float(k_sigma)
        self.min_tol = float(min_tol_periods) / self.rate
        self.prior_var = float(prior_jitter_s) ** 2
        self.alpha = 1.0 / max(1.0, tau_s * self.rate)
        self.alpha_spread = 1.0 / max(1.0, tau_spread_s * self.rate)
        self._ramp = np.arange(BLOCK) / self.rate
        self._ema_off = _Ema(self.alpha)
        self._ema_var = _Ema(self.alpha_spread)
        self.candidates = 0  # samples that left the tolerance (jitter outliers and real moves)
        self.bad_stamps = 0  # NaN/Inf stamps replaced
        self._kernel = self._native_kernel() if native.ACTIVE else None
        self.clear()

    def _native_kernel(self):
        """clock.cpp's StampTimeline with this clock's settings and tables (so both paths agree)."""
        off, var = self._ema_off, self._ema_var
        return native.kernels.StampTimeline(
            self.rate, self.window, self.k_sigma**2, self.min_tol**2, self._ramp,
            off._decay, off._decay_prev, off._gain, var._decay, var._decay_prev, var._gain,
        )

    def __getstate__(self) -> dict:  # picklable: the path as a flag, the kernel rebuilt on load
        return {**self.__dict__, "_kernel": self._kernel is not None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._kernel = self._native_kernel() if state["_kernel"] and native.AVAILABLE else None

    def clear(self) -> None:
        """Forget the timeline (the next sample starts a new, unrelated one)."""
        self._t0: float | None = None
        self._next = 0  # timeline index of the next sample
        self._off = 0.0
        self._var = self.prior_var
        self._held_x: np.ndarray | None = None
        self._held_t: np.ndarray | None = None

    @property
    def held(self) -> int:
        """Samples held back while a candidate gap waits for its window."""
        return 0 if self._held_t is None else len(self._held_t)

    @property
    def started(self) -> bool:
        """A timeline is being followed (samples arrived since the last :meth:`clear`)."""
        return self._t0 is not None

    @property
    def jitter_s(self) -> float:
        """The current estimate of the stamps' spread around the timeline."""
        return float(np.sqrt(self._var))

    def push(self, x: np.ndarray, ts: np.ndarray) -> list:
        ts = np.asarray(ts, dtype=np.float64)
        if not np.isfinite(ts).all():
            ts = self._patch_stamps(ts)
        if self._held_t is not None:
            x = np.concatenate([self._held_x, x])
            ts = np.concatenate([self._held_t, ts])
            self._held_x = self._held_t = None
        return self._run(x, ts, final=False)

    def flush(self) -> list:
        """Release held samples, deciding their candidate on the samples there are."""
        if self._held_t is None:
            return []
        x, ts = self._held_x, self._held_t
        self._held_x = self._held_t = None
        return self._run(x, ts, final=True)

    def _patch_stamps(self, ts: np.ndarray) -> np.ndarray:
        """NaN/Inf stamps become one period after the stamp before them (the timeline's
        prediction for a stream's first), counted in ``bad_stamps``."""
        ts = ts.copy()
        bad = ~np.isfinite(ts)
        self.bad_stamps += int(np.count_nonzero(bad))
        if self._held_t is not None:
            prev = float(self._held_t[-1])
        elif self._t0 is not None:
            prev = self._t0 + (self._next - 1) / self.rate + self._off
        else:
            good = np.flatnonzero(~bad)
            prev = float(ts[good[0]]) - (good[0] + 1) / self.rate if len(good) else -1.0 / self.rate
        for i in np.flatnonzero(bad).tolist():
            ts[i] = (ts[i - 1] if i else prev) + 1.0 / self.rate
        return ts


    def _run(self, x: np.ndarray, ts: np.ndarray, final: bool) -> list:
        out: list = []
        n = len(ts)
        if n == 0:
            return out
        if self._t0 is None:
            self._t0 = float(ts[0])
        if self._kernel is not None:
            return self._run_native(x, ts, final)
        pos = 0
        while pos < n:
            m = min(n - pos, BLOCK)
            nominal = self._next / self.rate + self._ramp[:m]  # since t0
            resid = (ts[pos : pos + m] - self._t0) - nominal
            off_before, off_after = self._ema_off(resid, self._off)
            dev = resid - off_before
            dev2 = np.square(dev)
            var_before, var_after = self._ema_var(dev2, self._var)
            tol2 = np.maximum(self.min_tol**2, self.k_sigma**2 * var_before)
            outside = np.flatnonzero(dev2 > tol2)
            c = int(outside[0]) if len(outside) else m  # samples accepted as they are
            expected = self._t0 + nominal
            if c:
                out.append(Samples(x[pos : pos + c], expected[:c] + off_after[:c]))
                self._next += c
                self._off, self._var = float(off_after[c - 1]), float(var_after[c - 1])
                pos += c
            if c == m:
                continue
            win = resid[c : c + self.window] - off_before[c]  # against the timeline before the candidate
            if len(win) < self.window and m < n - pos + c:  # the block ends before the window does
                continue  # (the next block starts at the candidate and sees the whole window)
            if len(win) < self.window and not final:
                self._held_x, self._held_t = x[pos:].copy(), ts[pos:].copy()
                break
            self.candidates += 1
            move = float(np.median(win))
            tol = float(np.sqrt(tol2[c]))
            if move > tol:  # the band's samples really are missing
                missing = max(1, int(np.floor(move * self.rate + 0.5)))
                out.append(Gap(missing, (missing + 1) / self.rate))
                self._next += missing
            elif move < -tol:  # the clock stepped back: follow it
                out.append(StepBack(-move))
                self._off += move
            else:  # jitter: this one sample was off, the timeline was not
                out.append(Samples(x[pos : pos + 1], expected[c : c + 1] + off_after[c : c + 1]))
                self._next += 1
                self._off, self._var = float(off_after[c]), float(var_after[c])
                pos += 1
        return out

    def _run_native(self, x: np.ndarray, ts: np.ndarray, final: bool) -> list:
        """:meth:`_run` by clock.cpp: the same items, stamps and state."""
        ts = np.ascontiguousarray(ts, dtype=np.float64)
        items, stamps, self._next, self._off, self._var, self.candidates, held = self._kernel.run(
            ts, self._t0, self._next, self._off, self._var, self.candidates, final)
        out: list = []
        k = 0
        for kind, start, count, seconds in items:
            if kind == 0:
                out.append(Samples(x[start : start + count], stamps[k : k + count]))
                k += count
            elif kind == 1:
                out.append(Gap(count, seconds))
            else:
                out.append(StepBack(seconds))
        if held >= 0:
            self._held_x, self._held_t = x[held:].copy(), ts[held:].copy()
        return out


class _Ema:
    """The exponential average ``y[i] = (1 - a) * y[i-1] + a * v[i]`` over a block, in closed form:
    ``y[i] = c**(i+1) * y0 + c**i * cumsum(a * c**-k * v[k])`` with ``c = 1 - a`` and the powers
    tabled once.  A few array operations instead of scipy.signal.lfilter's per-call overhead
    (this runs twice per pulled chunk on the live path); exact to rounding."""

    def __init__(self, a: float, block: int = BLOCK) -> None:
        c = 1.0 - a
        k = np.arange(block)
        self._decay = c ** (k + 1)  # c**(i+1)
        self._decay_prev = c**k  # c**i
        self._gain = a * c ** (-k.astype(np.float64))  # a * c**-k (<= e**(a*block): no overflow)

    def __call__(self, v: np.ndarray, y0: float) -> tuple[np.ndarray, np.ndarray]:
        """(before, after): the average before and after each value is folded in."""
        m = len(v)
        after = self._decay[:m] * y0 + self._decay_prev[:m] * np.cumsum(self._gain[:m] * v)
        before = np.empty(m)
        before[0] = y0
        before[1:] = after[:-1]
        return before, after
