// The C++ mirror of emgrt/decode/greedy.py's GreedyDecoder: the best class per output frame
// (numpy's argmax: the first of equal maxima, the first NaN if any), repeats collapsed, blanks
// dropped, a segment ended after pause_frames blank frames.  The Python class keeps the API, the
// events and the checks.  No Python here; emgrt/native.cpp binds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/events.hpp"

namespace emgrt::decode {

class GreedySearch {
public:
    GreedySearch(int blank, std::int64_t pause_frames) : blank_(blank), pause_frames_(pause_frames) {}

    void reset() { prev_ = -1, blank_run_ = 0, last_frame_ = -1; }
    // push of `frames` rows of `labels` log-probs: commits and segment ends, in order.
    void push(const float* rows, std::size_t frames, std::size_t labels, std::int64_t first_frame,
              std::vector<Op>& ops);
    // End of stream: the next push starts without a previous label (flush's segment end is Python's).
    void end() { prev_ = -1; }

    std::int64_t blank_run() const { return blank_run_; }
    std::int64_t last_frame() const { return last_frame_; }

private:
    int blank_;
    std::int64_t pause_frames_;
    int prev_ = -1;
    std::int64_t blank_run_ = 0, last_frame_ = -1;
};

}  // namespace emgrt::decode
