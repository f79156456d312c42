// The C++ mirror of emgrt/dsp/filters.py: the second-order-section recursion of
// scipy.signal.sosfilt with carried state.  No Python here; emgrt/native.cpp binds it.
#pragma once

#include <cstddef>

namespace emgrt::dsp {

// Filter `n` samples of `channels` interleaved channels (x[t * channels + c], C order) through
// `n_sections` sections (sos: n_sections x 6, rows b0 b1 b2 a0 a1 a2 with a0 == 1), exactly as
// scipy.signal.sosfilt(sos, x, axis=0, zi=zi) in float64: each sample is widened to double, the
// output rounded back to the input type.  zi (n_sections x 2 x channels, double) is read as the
// state before the first sample and left as the state after the last.  x and y may alias.
void sosfilt(const double* sos, std::size_t n_sections, const float* x, float* y, std::size_t n,
             std::size_t channels, double* zi);
void sosfilt(const double* sos, std::size_t n_sections, const double* x, double* y, std::size_t n,
             std::size_t channels, double* zi);

}  // namespace emgrt::dsp
