// The C++ mirror of emgrt/stream/clock.py (StampClock._run): the same operations in the same order,
// so the stamps and the decisions are bit-identical to the numpy reference (tests/test_native.py).
// The numpy code computes each block's arrays whole and then finds the first sample outside the
// tolerance; here the same values are computed sample by sample and the loop stops at that sample,
// which is where the time goes in Python: some twenty array operations per pulled chunk.
#include "stream/clock.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace emgrt::stream {

StampTimeline::StampTimeline(double rate, std::size_t window, double k_sigma2, double min_tol2,
                             std::vector<double> ramp, EmaTables off, EmaTables var)
    : rate_(rate), window_(window), k_sigma2_(k_sigma2), min_tol2_(min_tol2), ramp_(std::move(ramp)),
      off_(std::move(off)), var_(std::move(var)) {
    const std::size_t b = ramp_.size();
    for (const EmaTables* t : {&off_, &var_})
        if (t->decay.size() != b || t->decay_prev.size() != b || t->gain.size() != b)
            throw std::invalid_argument("the average's tables must have one value per sample of the block");
    if (b == 0 || window_ == 0) throw std::invalid_argument("block and window must be >= 1");
}

std::int64_t StampTimeline::run(const double* ts, std::size_t n, bool final, ClockState& st,
                                std::vector<ClockItem>& items, double* stamps) const {
    const std::size_t block = ramp_.size();
    std::size_t pos = 0, written = 0;
    std::vector<double> win;  // allocated at the first candidate only, not on every call
    while (pos < n) {
        const std::size_t start = pos, m = std::min(n - pos, block);
        const double base = static_cast<double>(st.next) / rate_;  // nominal = next / rate + ramp
        const double off0 = st.off, var0 = st.var;
        double s_off = 0.0, s_var = 0.0;  // the running cumsums of the closed form
        double off_before = off0, var_before = var0, off_c = 0.0, var_c = 0.0, tol2_c = 0.0;
        std::size_t c = m;
        for (std::size_t k = 0; k < m; ++k) {
            const double nominal = base + ramp_[k];
            const double resid = (ts[start + k] - st.t0) - nominal;
            const double g_off = off_.gain[k] * resid;
            s_off = k ? s_off + g_off : g_off;
            const double off_after = off_.decay[k] * off0 + off_.decay_prev[k] * s_off;
            const double dev = resid - off_before;
            const double dev2 = dev * dev;
            const double g_var = var_.gain[k] * dev2;
            s_var = k ? s_var + g_var : g_var;
            const double var_after = var_.decay[k] * var0 + var_.decay_prev[k] * s_var;
            const double tol2 = std::max(min_tol2_, k_sigma2_ * var_before);
            if (dev2 > tol2) {  // a candidate: decided below on the window from it on
                c = k, off_c = off_after, var_c = var_after, tol2_c = tol2;
                break;
            }
            stamps[written++] = (st.t0 + nominal) + off_after;
            off_before = off_after, var_before = var_after;
        }
        if (c) {  // samples accepted as they are
            items.push_back({ClockItem::kSamples, pos, static_cast<std::int64_t>(c), 0.0});
            st.next += static_cast<std::int64_t>(c);
            st.off = off_before, st.var = var_before;
            pos += c;
        }
        if (c == m) continue;
        const std::size_t wlen = std::min(window_, m - c);  // the window, inside this block
        if (wlen < window_ && m < n - start) continue;      // the next block starts at the candidate
        if (wlen < window_ && !final) return static_cast<std::int64_t>(pos);  // held for its window
        ++st.candidates;
        win.clear();
        for (std::size_t j = 0; j < wlen; ++j)
            win.push_back(((ts[start + c + j] - st.t0) - (base + ramp_[c + j])) - off_before);
        std::sort(win.begin(), win.end());  // numpy's median: the middle value, or the mean of the two
        const double move = wlen % 2 ? win[wlen / 2] : (win[wlen / 2 - 1] + win[wlen / 2]) / 2.0;
        const double tol = std::sqrt(tol2_c);
        if (move > tol) {  // the band's samples really are missing
            const std::int64_t missing = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(move * rate_ + 0.5)));
            items.push_back({ClockItem::kGap, pos, missing, static_cast<double>(missing + 1) / rate_});
            st.next += missing;
        } else if (move < -tol) {  // the clock stepped back: follow it
            items.push_back({ClockItem::kStepBack, pos, 0, -move});
            st.off += move;
        } else {  // jitter: this one sample was off, the timeline was not
            stamps[written++] = (st.t0 + (base + ramp_[c])) + off_c;
            items.push_back({ClockItem::kSamples, pos, 1, 0.0});
            st.next += 1;
            st.off = off_c, st.var = var_c;
            pos += 1;
        }
    }
    return -1;
}

}  // namespace emgrt::stream
