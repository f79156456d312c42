// The C++ mirror of emgrt/stream/clock.py: StampClock._run, the per-block timeline model that turns
// jittered stamps into de-jittered ones, gaps and clock steps back.  The Python class keeps the
// state (t0, next, offset, spread) and the held-back samples; this kernel runs one call of _run
// on it.  No Python here; emgrt/native.cpp binds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emgrt::stream {

// The exponential average of clock.py's _Ema, in its closed form over a block: the tables are the
// Python object's own (c**(i+1), c**i, a * c**-i), passed in, so both paths use the same numbers.
struct EmaTables {
    std::vector<double> decay, decay_prev, gain;
};

// One item of the timeline, in order: `count` samples from input index `start` (their stamps are
// the next `count` values of the stamps output), a gap of `count` missing samples (`seconds` the
// stamp step across it), or a clock step back by `seconds`.
struct ClockItem {
    enum Kind : int { kSamples = 0, kGap = 1, kStepBack = 2 };
    int kind;
    std::size_t start;
    std::int64_t count;
    double seconds;
};

// The state _run reads and leaves (StampClock's _next, _off, _var, candidates).
struct ClockState {
    double t0;
    std::int64_t next;
    double off, var;
    std::int64_t candidates;
};

class StampTimeline {
  public:
    // ramp: i / rate for i < block (clock.py's _ramp); k_sigma2 and min_tol2 as the Python side squares them.
    StampTimeline(double rate, std::size_t window, double k_sigma2, double min_tol2, std::vector<double> ramp,
                  EmaTables off, EmaTables var);

    // clock.py's StampClock._run(x, ts, final) over ts[0..n): appends the items, writes the accepted
    // samples' stamps to stamps (room for n), updates state; returns the input index from which
    // samples are held back for a candidate's window, or -1 when none are.
    std::int64_t run(const double* ts, std::size_t n, bool final, ClockState& state, std::vector<ClockItem>& items,
                     double* stamps) const;

    std::size_t block() const { return ramp_.size(); }

  private:
    double rate_;
    std::size_t window_;
    double k_sigma2_, min_tol2_;
    std::vector<double> ramp_;
    EmaTables off_, var_;
};

}  // namespace emgrt::stream
