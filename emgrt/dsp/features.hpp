// The C++ mirror of emgrt/dsp/features.py: framing with a carried tail, the window, a real FFT
// and the normalised power of each frame.  No Python here; emgrt/native.cpp binds it.
#pragma once

#include <cstddef>
#include <vector>

namespace emgrt::dsp {

// Whether the real FFT below reproduces scipy.fft.rfft bit for bit at this length: pocketfft's
// radix-4 and radix-2 passes are mirrored, so powers of two (>= 2).  Other lengths stay numpy.
bool rfft_supported(std::size_t n_fft);

// The part of log_power() before the logarithm, for frames of `channels` interleaved channels:
// frame f of channel c is x[(f * hop + j) * channels + c], j < n_fft.  out[(f * channels + c) *
// n_freq + b] = |rfft(frame * window)[b]|^2 / scale + eps, all in float32 as numpy computes it
// (scale is the window energy, or 1 when not normalised).  The logarithm is left to the caller
// (numpy's, see StreamingLogSpectrogram.push in features.py).
class PowerSpectrum {
public:
    PowerSpectrum(std::vector<float> window, std::size_t hop, float scale, float eps);

    std::size_t n_fft() const { return window_.size(); }
    std::size_t hop() const { return hop_; }
    std::size_t n_freq() const { return window_.size() / 2 + 1; }
    // Frames in n samples (no centering): 0 below n_fft, else 1 + (n - n_fft) / hop.
    std::size_t num_frames(std::size_t n) const;
    // Power of the first n_frames frames of x (n_frames <= num_frames(samples in x)).
    void frames(const float* x, std::size_t n_frames, std::size_t channels, float* out) const;

private:
    std::vector<float> window_;
    std::size_t hop_;
    float scale_, eps_;
    std::vector<std::size_t> factors_;   // pocketfft's order: 4s, a 2 first when there is one
    std::vector<std::vector<float>> twiddles_;  // per factor, as pocketfft's rfftp tables
};

// Frame-by-frame: push (n, channels) chunks, get the power of the frames they complete.  Keeps
// the samples not yet consumed by a frame (at most n_fft - 1 once a frame was produced), so any
// chunking of a recording gives the frames of the whole.
class StreamingPower {
public:
    explicit StreamingPower(PowerSpectrum spectrum) : spectrum_(std::move(spectrum)) {}

    const PowerSpectrum& spectrum() const { return spectrum_; }
    void reset();
    // Samples carried over and their channel count (0 before the first push since a reset).
    std::size_t carried() const { return channels_ ? carry_.size() / channels_ : 0; }
    std::size_t channels() const { return channels_; }
    // The carried samples, interleaved (carried() x channels()); pushing them into a fresh stream
    // restores this one (fewer than n_fft once a frame was made, so they make no frame).
    const std::vector<float>& tail() const { return carry_; }
    // Frames the next push of n samples completes (channels as pushed so far).
    std::size_t frames_after(std::size_t n) const;
    // Append n samples; write frames_after(n) frames to out.  Throws std::invalid_argument when
    // the channel count changes without a reset.
    std::size_t push(const float* x, std::size_t n, std::size_t channels, float* out);

private:
    PowerSpectrum spectrum_;
    std::vector<float> carry_;  // carried samples, interleaved, then the pushed chunk
    std::size_t channels_ = 0;
};

}  // namespace emgrt::dsp
