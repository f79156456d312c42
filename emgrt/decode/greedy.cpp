// See greedy.hpp.
#include "decode/greedy.hpp"

#include <cmath>

namespace emgrt::decode {

namespace {

// numpy's argmax of one row: the first of the largest values, or the first NaN.
int argmax(const float* row, std::size_t n) {
    int best = 0;
    if (std::isnan(row[0])) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        if (std::isnan(row[i])) return static_cast<int>(i);
        if (row[i] > row[best]) best = static_cast<int>(i);
    }
    return best;
}

}  // namespace

void GreedySearch::push(const float* rows, std::size_t frames, std::size_t labels, std::int64_t first_frame,
                        std::vector<Op>& ops) {
    for (std::size_t i = 0; i < frames; ++i) {
        const std::int64_t frame = first_frame + static_cast<std::int64_t>(i);
        const int b = argmax(rows + i * labels, labels);
        if (b != blank_ && b != prev_) ops.push_back(Op{b, frame});
        prev_ = b;
        blank_run_ = b == blank_ ? blank_run_ + 1 : 0;  // DecoderBase._pause_tick
        last_frame_ = frame;
        if (blank_run_ == pause_frames_) ops.push_back(Op{Op::kFinal, frame});
    }
}

}  // namespace emgrt::decode
