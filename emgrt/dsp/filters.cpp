// C++ mirror of emgrt/dsp/filters.py (SosFilter's call into scipy.signal.sosfilt).
//
// scipy's _sosfilt loops signal by signal, sample by sample, section by section; each signal is
// independent, so this loops sample by sample, section by section, channel by channel instead:
// the innermost loop runs across channels and vectorises (the recursion itself is serial in
// time).  Per channel the operations and their order are scipy's, in double precision, so the
// output and the carried state are bit-identical to the numpy path.
#include "filters.hpp"

#include <vector>

#include "kernels.hpp"

namespace emgrt::dsp {
namespace {

template <typename T>
EMGRT_INLINE void sosfilt_body(const double* sos, std::size_t n_sections, const T* x, T* y,
                               std::size_t n, std::size_t channels, double* zi,
                               double* EMGRT_RESTRICT cur) {
    for (std::size_t t = 0; t < n; ++t) {
        const T* xt = x + t * channels;
        for (std::size_t c = 0; c < channels; ++c) cur[c] = static_cast<double>(xt[c]);
        for (std::size_t s = 0; s < n_sections; ++s) {
            const double b0 = sos[6 * s], b1 = sos[6 * s + 1], b2 = sos[6 * s + 2];
            const double a1 = sos[6 * s + 4], a2 = sos[6 * s + 5];
            double* EMGRT_RESTRICT z0 = zi + (2 * s) * channels;
            double* EMGRT_RESTRICT z1 = zi + (2 * s + 1) * channels;
            for (std::size_t c = 0; c < channels; ++c) {
                // Direct form II transposed, term for term as scipy's _sosfilt.
                const double x_cur = cur[c];
                const double x_new = b0 * x_cur + z0[c];
                z0[c] = b1 * x_cur - a1 * x_new + z1[c];
                z1[c] = b2 * x_cur - a2 * x_new;
                cur[c] = x_new;
            }
        }
        T* yt = y + t * channels;
        for (std::size_t c = 0; c < channels; ++c) yt[c] = static_cast<T>(cur[c]);
    }
}

EMGRT_CLONES void sosfilt_f32(const double* sos, std::size_t n_sections, const float* x, float* y,
                              std::size_t n, std::size_t channels, double* zi, double* cur) {
    sosfilt_body<float>(sos, n_sections, x, y, n, channels, zi, cur);
}

EMGRT_CLONES void sosfilt_f64(const double* sos, std::size_t n_sections, const double* x,
                              double* y, std::size_t n, std::size_t channels, double* zi,
                              double* cur) {
    sosfilt_body<double>(sos, n_sections, x, y, n, channels, zi, cur);
}

}  // namespace

void sosfilt(const double* sos, std::size_t n_sections, const float* x, float* y, std::size_t n,
             std::size_t channels, double* zi) {
    std::vector<double> cur(channels);  // one sample of every channel, in flight through the cascade
    sosfilt_f32(sos, n_sections, x, y, n, channels, zi, cur.data());
}

void sosfilt(const double* sos, std::size_t n_sections, const double* x, double* y, std::size_t n,
             std::size_t channels, double* zi) {
    std::vector<double> cur(channels);
    sosfilt_f64(sos, n_sections, x, y, n, channels, zi, cur.data());
}

}  // namespace emgrt::dsp
