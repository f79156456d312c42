// What the native decoders report to emgrt/decode/events.py's side: the Python decoder turns each
// operation into its event (DecoderBase._replay).
#pragma once

#include <cstdint>

namespace emgrt::decode {

// In order: a committed label (label >= 0) at its frame, or the end of a segment (label = kFinal;
// the Python side emits the FinalEvent if the segment holds keys).
struct Op {
    static constexpr int kFinal = -1;
    int label;
    std::int64_t frame;
};

}  // namespace emgrt::decode
