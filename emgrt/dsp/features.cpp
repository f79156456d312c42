// C++ mirror of emgrt/dsp/features.py: log_power() up to its logarithm, the offline framing of
// LogSpectrogram and the carried tail of StreamingLogSpectrogram.
//
// The spectrum.  No C++ FFT library comes from PyPI as a header, and a 33 x 64 DFT matrix product,
// though cheap, rounds differently from scipy.fft.rfft (pocketfft, float32): bins of near-zero
// power then differ by up to 1e-3 in log10.  So this is a real FFT that performs pocketfft's
// operations in pocketfft's order: the FFTPACK radix-4 and radix-2 forward passes (Swarztrauber),
// factors and twiddle tables laid out as pocketfft's rfftp does.  Its output is bit-identical,
// and it costs a few hundred operations per frame instead of the DFT's 4224.  Each scalar of the
// algorithm is a vector of 8 channels (GCC/Clang vector extensions, exact IEEE per lane), so one
// pass transforms 8 channels' frames at once, as pocketfft's own multi-transform path does.
#include "features.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels.hpp"

namespace emgrt::dsp {
namespace {

#if defined(__GNUC__) || defined(__clang__)
// Under-aligned (4) on purpose: work buffers are plain float storage, so every access is an
// unaligned load/store (as fast as an aligned one on current CPUs) and no allocator has to
// honour a 32-byte alignment; may_alias lets that float storage be read as vectors.
typedef float Lanes __attribute__((vector_size(32), aligned(4), may_alias));
constexpr std::size_t kLanes = 8;
#else
typedef float Lanes;
constexpr std::size_t kLanes = 1;
#endif

// cos and sin of 2 pi m / n, reduced to the first octant by exact symmetries first (so that
// quarter turns give exactly 0 and 1, as pocketfft's sincos_2pibyn does), then rounded to float.
void sincos_2pi(std::size_t m, std::size_t n, float& c, float& s) {
    // The angle is 2 pi num / den throughout.
    std::size_t num = m % n, den = n;
    bool neg_s = false, neg_c = false, swap = false;
    if (2 * num > den) { num = den - num; neg_s = true; }                 // [pi, 2pi) -> (0, pi]
    if (4 * num > den) { num = den - 2 * num; den *= 2; neg_c = true; }   // (pi/2, pi] -> [0, pi/2)
    if (8 * num > den) { num = den - 4 * num; den *= 4; swap = true; }    // (pi/4, pi/2] -> [0, pi/4)
    constexpr double kPi = 3.141592653589793238462643383279502884;
    const double a = 2.0 * kPi * static_cast<double>(num) / static_cast<double>(den);
    double cd = std::cos(a), sd = std::sin(a);
    if (swap) std::swap(cd, sd);
    if (neg_c) cd = -cd;
    if (neg_s) sd = -sd;
    c = static_cast<float>(cd);
    s = static_cast<float>(sd);
}

// One FFTPACK forward pass over `l1` groups of `ip` * `ido` values: cc(a, b, c) = cc[a + ido *
// (b + l1 * c)] in, ch(a, b, c) = ch[a + ido * (b + ip * c)] out, twiddles wa(x, i) = wa[i + x *
// (ido - 1)].  Statement for statement as pocketfft's radf4 / radf2 (the same sums in the same
// order: floating-point addition commutes but does not associate).
EMGRT_INLINE void radf4(std::size_t ido, std::size_t l1, const Lanes* EMGRT_RESTRICT cc,
                        Lanes* EMGRT_RESTRICT ch, const float* wa) {
    constexpr float hsqt2 = 0.707106781186547524400844362104849f;
    auto CC = [&](std::size_t a, std::size_t b, std::size_t c) -> const Lanes& { return cc[a + ido * (b + l1 * c)]; };
    auto CH = [&](std::size_t a, std::size_t b, std::size_t c) -> Lanes& { return ch[a + ido * (b + 4 * c)]; };
    auto WA = [&](std::size_t x, std::size_t i) { return wa[i + x * (ido - 1)]; };
    for (std::size_t k = 0; k < l1; ++k) {
        const Lanes tr1 = CC(0, k, 3) + CC(0, k, 1);
        CH(0, 2, k) = CC(0, k, 3) - CC(0, k, 1);
        const Lanes tr2 = CC(0, k, 0) + CC(0, k, 2);
        CH(ido - 1, 1, k) = CC(0, k, 0) - CC(0, k, 2);
        CH(0, 0, k) = tr2 + tr1;
        CH(ido - 1, 3, k) = tr2 - tr1;
    }
    if ((ido & 1) == 0) {
        for (std::size_t k = 0; k < l1; ++k) {
            const Lanes ti1 = -hsqt2 * (CC(ido - 1, k, 1) + CC(ido - 1, k, 3));
            const Lanes tr1 = hsqt2 * (CC(ido - 1, k, 1) - CC(ido - 1, k, 3));
            CH(ido - 1, 0, k) = CC(ido - 1, k, 0) + tr1;
            CH(ido - 1, 2, k) = CC(ido - 1, k, 0) - tr1;
            CH(0, 3, k) = ti1 + CC(ido - 1, k, 2);
            CH(0, 1, k) = ti1 - CC(ido - 1, k, 2);
        }
    }
    if (ido <= 2) return;
    for (std::size_t k = 0; k < l1; ++k) {
        for (std::size_t i = 2; i < ido; i += 2) {
            const std::size_t ic = ido - i;
            // (cr, ci) = conj(w) * (re, im) for the three rotated inputs.
            const Lanes cr2 = WA(0, i - 2) * CC(i - 1, k, 1) + WA(0, i - 1) * CC(i, k, 1);
            const Lanes ci2 = WA(0, i - 2) * CC(i, k, 1) - WA(0, i - 1) * CC(i - 1, k, 1);
            const Lanes cr3 = WA(1, i - 2) * CC(i - 1, k, 2) + WA(1, i - 1) * CC(i, k, 2);
            const Lanes ci3 = WA(1, i - 2) * CC(i, k, 2) - WA(1, i - 1) * CC(i - 1, k, 2);
            const Lanes cr4 = WA(2, i - 2) * CC(i - 1, k, 3) + WA(2, i - 1) * CC(i, k, 3);
            const Lanes ci4 = WA(2, i - 2) * CC(i, k, 3) - WA(2, i - 1) * CC(i - 1, k, 3);
            const Lanes tr1 = cr4 + cr2, tr4 = cr4 - cr2;
            const Lanes ti1 = ci2 + ci4, ti4 = ci2 - ci4;
            const Lanes tr2 = CC(i - 1, k, 0) + cr3, tr3 = CC(i - 1, k, 0) - cr3;
            const Lanes ti2 = CC(i, k, 0) + ci3, ti3 = CC(i, k, 0) - ci3;
            CH(i - 1, 0, k) = tr2 + tr1;
            CH(ic - 1, 3, k) = tr2 - tr1;
            CH(i, 0, k) = ti1 + ti2;
            CH(ic, 3, k) = ti1 - ti2;
            CH(i - 1, 2, k) = tr3 + ti4;
            CH(ic - 1, 1, k) = tr3 - ti4;
            CH(i, 2, k) = tr4 + ti3;
            CH(ic, 1, k) = tr4 - ti3;
        }
    }
}

EMGRT_INLINE void radf2(std::size_t ido, std::size_t l1, const Lanes* EMGRT_RESTRICT cc,
                        Lanes* EMGRT_RESTRICT ch, const float* wa) {
    auto CC = [&](std::size_t a, std::size_t b, std::size_t c) -> const Lanes& { return cc[a + ido * (b + l1 * c)]; };
    auto CH = [&](std::size_t a, std::size_t b, std::size_t c) -> Lanes& { return ch[a + ido * (b + 2 * c)]; };
    auto WA = [&](std::size_t x, std::size_t i) { return wa[i + x * (ido - 1)]; };
    for (std::size_t k = 0; k < l1; ++k) {
        CH(0, 0, k) = CC(0, k, 0) + CC(0, k, 1);
        CH(ido - 1, 1, k) = CC(0, k, 0) - CC(0, k, 1);
    }
    if ((ido & 1) == 0) {
        for (std::size_t k = 0; k < l1; ++k) {
            CH(0, 1, k) = -CC(ido - 1, k, 1);
            CH(ido - 1, 0, k) = CC(ido - 1, k, 0);
        }
    }
    if (ido <= 2) return;
    for (std::size_t k = 0; k < l1; ++k) {
        for (std::size_t i = 2; i < ido; i += 2) {
            const std::size_t ic = ido - i;
            const Lanes tr2 = WA(0, i - 2) * CC(i - 1, k, 1) + WA(0, i - 1) * CC(i, k, 1);
            const Lanes ti2 = WA(0, i - 2) * CC(i, k, 1) - WA(0, i - 1) * CC(i - 1, k, 1);
            CH(i - 1, 0, k) = CC(i - 1, k, 0) + tr2;
            CH(ic - 1, 1, k) = CC(i - 1, k, 0) - tr2;
            CH(i, 0, k) = ti2 + CC(i, k, 0);
            CH(ic, 1, k) = ti2 - CC(i, k, 0);
        }
    }
}

struct Plan {
    std::size_t n_fft, hop, n_freq;
    const float* window;
    const std::size_t* factors;
    std::size_t n_factors;
    const std::vector<float>* twiddles;
    float scale, eps;
};

// Windowed frames of 8 channels -> halfcomplex spectrum (r0, r1, i1, r2, i2, ..., r[n/2]) ->
// power, for every frame and channel group.  The forward passes run from the last factor to the
// first (ido growing from 1 to n / factors[0]), as pocketfft's rfftp::exec(r2hc = true).
EMGRT_CLONES void power_frames(const Plan& p, const float* x, std::size_t n_frames,
                               std::size_t channels, float* out, Lanes* work) {
    const std::size_t n = p.n_fft;
    Lanes* a = work;
    Lanes* b = work + n;
    for (std::size_t f = 0; f < n_frames; ++f) {
        const float* frame = x + f * p.hop * channels;
        for (std::size_t c0 = 0; c0 < channels; c0 += kLanes) {
            const std::size_t lanes = channels - c0 < kLanes ? channels - c0 : kLanes;
            for (std::size_t j = 0; j < n; ++j) {
                Lanes v{};  // a short last group is padded with zeros (its lanes are dropped)
                if (lanes == kLanes) std::memcpy(&v, frame + j * channels + c0, sizeof v);  // one load
                else std::memcpy(&v, frame + j * channels + c0, lanes * sizeof(float));
                a[j] = v * p.window[j];  // frames * window, float32
            }
            Lanes* p1 = a;
            Lanes* p2 = b;
            std::size_t l1 = n;
            for (std::size_t k1 = 0; k1 < p.n_factors; ++k1) {
                const std::size_t k = p.n_factors - k1 - 1, ip = p.factors[k];
                const std::size_t ido = n / l1;
                l1 /= ip;
                const float* tw = p.twiddles[k].data();
                if (ip == 4) radf4(ido, l1, p1, p2, tw);
                else radf2(ido, l1, p1, p2, tw);
                std::swap(p1, p2);
            }
            // power = re**2 + im**2, / window energy, + eps (log_power's float32 steps), into the
            // pass-in array (free now), then written channel by channel: out is (frame, channel, bin).
            Lanes* power = p1 == a ? b : a;
            for (std::size_t bin = 0; bin < p.n_freq; ++bin) {
                Lanes re, im{};
                if (bin == 0) re = p1[0];
                else if (2 * bin == n) re = p1[n - 1];
                else { re = p1[2 * bin - 1]; im = p1[2 * bin]; }
                Lanes pw = re * re + im * im;
                pw = pw / p.scale;
                power[bin] = pw + p.eps;
            }
            const float* pf = reinterpret_cast<const float*>(power);
            for (std::size_t l = 0; l < lanes; ++l) {
                float* o = out + (f * channels + c0 + l) * p.n_freq;
                for (std::size_t bin = 0; bin < p.n_freq; ++bin) o[bin] = pf[bin * kLanes + l];
            }
        }
    }
}

}  // namespace

bool rfft_supported(std::size_t n_fft) { return n_fft >= 2 && (n_fft & (n_fft - 1)) == 0; }

PowerSpectrum::PowerSpectrum(std::vector<float> window, std::size_t hop, float scale, float eps)
    : window_(std::move(window)), hop_(hop), scale_(scale), eps_(eps) {
    const std::size_t n = window_.size();
    if (!rfft_supported(n))
        throw std::invalid_argument("native front end needs n_fft a power of two >= 2, got " + std::to_string(n));
    if (hop_ < 1 || hop_ > n)
        throw std::invalid_argument("native front end needs 1 <= hop <= n_fft, got " + std::to_string(hop_));
    // pocketfft's rfftp::factorize: 4s first, then a 2 moved to the front.
    std::size_t len = n;
    while (len % 4 == 0) { factors_.push_back(4); len /= 4; }
    if (len % 2 == 0) {
        factors_.push_back(2);
        std::swap(factors_.front(), factors_.back());
    }
    // rfftp::comp_twiddle: factor k (l1 = product of the factors before it, ido = n / (l1 * ip))
    // gets (ip - 1) * (ido - 1) values, cos then sin of 2 pi j l1 i / n.
    std::size_t l1 = 1;
    for (std::size_t k = 0; k < factors_.size(); ++k) {
        const std::size_t ip = factors_[k], ido = n / (l1 * ip);
        std::vector<float> tw((ip - 1) * (ido > 0 ? ido - 1 : 0));
        for (std::size_t j = 1; j < ip; ++j)
            for (std::size_t i = 1; i <= (ido - 1) / 2; ++i)
                sincos_2pi(j * l1 * i, n, tw[(j - 1) * (ido - 1) + 2 * i - 2], tw[(j - 1) * (ido - 1) + 2 * i - 1]);
        twiddles_.push_back(std::move(tw));
        l1 *= ip;
    }
}

std::size_t PowerSpectrum::num_frames(std::size_t n) const {
    return n < n_fft() ? 0 : 1 + (n - n_fft()) / hop_;
}

void PowerSpectrum::frames(const float* x, std::size_t n_frames, std::size_t channels, float* out) const {
    if (n_frames == 0 || channels == 0) return;
    const Plan plan{n_fft(), hop_, n_freq(), window_.data(), factors_.data(), factors_.size(),
                    twiddles_.data(), scale_, eps_};
    std::vector<float> work(2 * n_fft() * kLanes);  // two arrays of n_fft Lanes: pass in, pass out
    power_frames(plan, x, n_frames, channels, out, reinterpret_cast<Lanes*>(work.data()));
}

void StreamingPower::reset() {
    carry_.clear();
    channels_ = 0;
}

std::size_t StreamingPower::frames_after(std::size_t n) const {
    return spectrum_.num_frames(carried() + n);
}

std::size_t StreamingPower::push(const float* x, std::size_t n, std::size_t channels, float* out) {
    if (channels == 0) throw std::invalid_argument("chunk has no channels");
    if (channels_ == 0 && carry_.empty()) channels_ = channels;
    if (channels != channels_)
        throw std::invalid_argument("chunk has " + std::to_string(channels) + " channels, the stream " +
                                    std::to_string(channels_) + "; reset() before changing");
    // buf = concatenate([carry, chunk]); frames of buf; carry = buf[frames * hop:]
    carry_.insert(carry_.end(), x, x + n * channels);
    const std::size_t total = carry_.size() / channels;
    const std::size_t n_frames = spectrum_.num_frames(total);
    spectrum_.frames(carry_.data(), n_frames, channels, out);
    const std::size_t used = n_frames * spectrum_.hop() * channels;
    carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(used));
    return n_frames;
}

}  // namespace emgrt::dsp
