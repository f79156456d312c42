// emgrt._native: the Python bindings of the C++ kernels (nanobind).  The kernels themselves
// (emgrt/dsp/filters.cpp, emgrt/dsp/features.cpp, emgrt/stream/clock.cpp, emgrt/decode/greedy.cpp,
// emgrt/decode/charlm.cpp, emgrt/decode/ngram.cpp) know nothing of Python; this file only checks
// shapes, allocates results and releases the GIL around long calls.
// emgrt/native.py decides whether these run; the Python modules they mirror call them.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/charlm.hpp"
#include "decode/greedy.hpp"
#include "dsp/features.hpp"
#include "dsp/filters.hpp"
#include "stream/clock.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename T>
using In2 = nb::ndarray<const T, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Sos = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using State = nb::ndarray<double, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using Window = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Vec = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out = nb::ndarray<nb::numpy, T>;

// Work above this many values releases the GIL (below it the release costs more than it frees).
constexpr std::size_t kReleaseGil = 1 << 16;

// A new C-contiguous numpy array owned by a capsule; *data points at its values.
template <typename T>
Out<T> new_array(std::vector<std::size_t> shape, T** data) {
    std::size_t size = 1;
    for (std::size_t s : shape) size *= s;
    T* p = new T[size ? size : 1];
    nb::capsule owner(p, [](void* q) noexcept { delete[] static_cast<T*>(q); });
    *data = p;
    return Out<T>(p, shape.size(), shape.data(), owner);
}

template <typename T>
Out<T> sosfilt(Sos sos, In2<T> x, State zi) {
    const std::size_t n = x.shape(0), channels = x.shape(1), sections = sos.shape(0);
    if (sos.shape(1) != 6)
        throw std::invalid_argument("sos must be (n_sections, 6), got (" + std::to_string(sections) + ", " +
                                    std::to_string(sos.shape(1)) + ")");
    if (zi.shape(0) != sections || zi.shape(1) != 2 || zi.shape(2) != channels)
        throw std::invalid_argument("zi must be (" + std::to_string(sections) + ", 2, " + std::to_string(channels) +
                                    ") for this sos and chunk");
    T* y;
    Out<T> out = new_array<T>({n, channels}, &y);
    std::optional<nb::gil_scoped_release> release;
    if (n * channels > kReleaseGil) release.emplace();
    emgrt::dsp::sosfilt(sos.data(), sections, x.data(), y, n, channels, zi.data());
    return out;
}

emgrt::dsp::PowerSpectrum make_spectrum(Window window, std::size_t hop, float scale, float eps) {
    const float* w = window.data();
    return emgrt::dsp::PowerSpectrum(std::vector<float>(w, w + window.shape(0)), hop, scale, eps);
}

std::vector<double> to_vector(Vec v) { return std::vector<double>(v.data(), v.data() + v.shape(0)); }

// StampClock._run on the native path: (items, stamps, next, off, var, candidates, held_from); items
// are (kind, start, count, seconds) tuples (emgrt::stream::ClockItem), stamps the accepted samples'.
nb::tuple clock_run(const emgrt::stream::StampTimeline& clock, Vec ts, double t0, std::int64_t next, double off,
                    double var, std::int64_t candidates, bool final) {
    const std::size_t n = ts.shape(0);
    emgrt::stream::ClockState state{t0, next, off, var, candidates};
    std::vector<emgrt::stream::ClockItem> items;
    double* stamps;
    Out<double> stamps_out = new_array<double>({n}, &stamps);
    const std::int64_t held = clock.run(ts.data(), n, final, state, items, stamps);
    nb::list out;
    for (const auto& it : items) out.append(nb::make_tuple(it.kind, it.start, it.count, it.seconds));
    return nb::make_tuple(out, stamps_out, state.next, state.off, state.var, state.candidates, held);
}

// The character LM of CharBeamSearch over Python callables (charlm.py's _kenlm_scorer), for an LM
// file NgramLM does not read: the contexts are the kenlm.State objects those return, held by
// reference.  Every call of the search runs with the GIL held, so they are created and released
// under it.  The callables must not reference the decoder that owns the search (a cycle the
// garbage collector cannot see through this object).
class PyCharLM : public emgrt::decode::CharLM {
public:
    PyCharLM(nb::callable begin, nb::callable score, nb::callable end_score)
        : begin_(std::move(begin)), score_(std::move(score)), end_(std::move(end_score)) {}

    void begin(emgrt::decode::LMContext& root) override { root.state = wrap(begin_()); }
    double score(const emgrt::decode::LMContext& from, int label, emgrt::decode::LMContext& to) override {
        nb::tuple r = nb::cast<nb::tuple>(score_(object(from.state), label));
        to.state = wrap(r[0]);
        return nb::cast<double>(r[1]);
    }
    double end_score(const emgrt::decode::LMContext& context) override {
        return nb::cast<double>(end_(object(context.state)));
    }

    static emgrt::decode::LMState wrap(nb::handle h) {
        h.inc_ref();
        return emgrt::decode::LMState(h.ptr(), [](void* p) { nb::handle(static_cast<PyObject*>(p)).dec_ref(); });
    }
    static nb::handle object(const emgrt::decode::LMState& s) { return nb::handle(static_cast<PyObject*>(s.get())); }

private:
    nb::callable begin_, score_, end_;
};

nb::list ops_list(const std::vector<emgrt::decode::Op>& ops) {
    nb::list out;
    for (const auto& op : ops) out.append(nb::make_tuple(op.label, op.frame));
    return out;
}

using Rows = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Cands = nb::ndarray<const std::int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Flags = nb::ndarray<const std::uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

}  // namespace

NB_MODULE(_native, m) {
    m.doc() = "emgrt's native C++ core: the per-sample path (stamp clock, IIR filters, framing, spectrum)";

    nb::class_<emgrt::stream::StampTimeline>(m, "StampTimeline",
                                             "StampClock._run of emgrt/stream/clock.py (its tables passed in).")
        .def(nb::new_([](double rate, std::size_t window, double k_sigma2, double min_tol2, Vec ramp, Vec off_decay,
                         Vec off_decay_prev, Vec off_gain, Vec var_decay, Vec var_decay_prev, Vec var_gain) {
                 return emgrt::stream::StampTimeline(
                     rate, window, k_sigma2, min_tol2, to_vector(ramp),
                     {to_vector(off_decay), to_vector(off_decay_prev), to_vector(off_gain)},
                     {to_vector(var_decay), to_vector(var_decay_prev), to_vector(var_gain)});
             }),
             "rate"_a, "window"_a, "k_sigma2"_a, "min_tol2"_a, "ramp"_a, "off_decay"_a, "off_decay_prev"_a,
             "off_gain"_a, "var_decay"_a, "var_decay_prev"_a, "var_gain"_a)
        .def("run", &clock_run, "ts"_a, "t0"_a, "next"_a, "off"_a, "var"_a, "candidates"_a, "final"_a,
             "One StampClock._run over stamps ts: (items, stamps, next, off, var, candidates, held_from).");

    using emgrt::decode::CharBeamSearch;
    nb::class_<CharBeamSearch>(m, "CharBeamSearch",
                               "CharLMDecoder's search and commit rules of emgrt/decode/charlm.py.")
        .def(nb::new_([](std::size_t beam_size, double lm_weight, double insertion_bonus, double beam_threshold,
                         double commit_margin, std::int64_t commit_lag, double commit_prob, std::int64_t endpoint_frames,
                         double hypothesis_hold, std::size_t commit_stable, std::size_t commit_depth,
                         std::size_t max_pending, std::size_t max_undo, std::int64_t pause_frames,
                         std::vector<int> special, int blank, nb::handle ngram, std::vector<std::string> tokens,
                         std::vector<int> enter, std::optional<nb::callable> begin, std::optional<nb::callable> score,
                         std::optional<nb::callable> end_score) {
                 if (special.empty() || blank < 0 || static_cast<std::size_t>(blank) >= special.size())
                     throw std::invalid_argument("special must name every label and blank be one of them");
                 emgrt::decode::SearchOptions o;
                 o.beam_size = beam_size, o.lm_weight = lm_weight, o.insertion_bonus = insertion_bonus;
                 o.beam_threshold = beam_threshold, o.commit_margin = commit_margin, o.commit_lag = commit_lag;
                 o.commit_prob = commit_prob, o.endpoint_frames = endpoint_frames, o.hypothesis_hold = hypothesis_hold;
                 o.commit_stable = commit_stable, o.commit_depth = commit_depth, o.max_pending = max_pending;
                 o.max_undo = max_undo, o.pause_frames = pause_frames, o.special = std::move(special);
                 std::shared_ptr<emgrt::decode::CharLM> lm;
                 if (!ngram.is_none()) {
                     if (tokens.size() != o.special.size() || enter.size() != o.special.size())
                         throw std::invalid_argument("tokens and enter must name every label");
                     const auto* model = nb::cast<const emgrt::decode::NgramLM*>(ngram);
                     std::vector<int> words;
                     for (const auto& t : tokens) words.push_back(model->index(t));
                     // the search holds the Python NgramLM (so the model outlives it), released with it
                     std::shared_ptr<const emgrt::decode::NgramLM> held(
                         model, [ref = nb::borrow<nb::object>(ngram)](const emgrt::decode::NgramLM*) {});
                     lm = std::make_shared<emgrt::decode::NgramCharLM>(held, std::move(words),
                                                                       std::vector<bool>(enter.begin(), enter.end()));
                 } else if (begin && score && end_score) {
                     lm = std::make_shared<PyCharLM>(*begin, *score, *end_score);
                 }
                 return CharBeamSearch(std::move(o), blank, std::move(lm));
             }),
             "beam_size"_a, "lm_weight"_a, "insertion_bonus"_a, "beam_threshold"_a, "commit_margin"_a,
             "commit_lag"_a, "commit_prob"_a, "endpoint_frames"_a, "hypothesis_hold"_a, "commit_stable"_a,
             "commit_depth"_a, "max_pending"_a, "max_undo"_a, "pause_frames"_a, "special"_a, "blank"_a,
             "ngram"_a.none(), "tokens"_a, "enter"_a, "begin"_a.none(), "score"_a.none(), "end_score"_a.none(),
             "The LM: ngram (an NgramLM; the label's token and whether it is ENTER, per label), else the kenlm "
             "callables begin/score/end_score, else none.")
        .def("reset", &CharBeamSearch::reset, "A fresh stream.")
        .def(
            "push",
            [](CharBeamSearch& s, Rows rows, Cands cands, Flags blank_best, std::int64_t first_frame) {
                const std::size_t frames = rows.shape(0);
                if (cands.shape(0) != frames || blank_best.shape(0) != frames)
                    throw std::invalid_argument("rows, cands and blank_best must have one entry per frame");
                for (std::size_t i = 0; i < cands.shape(0) * cands.shape(1); ++i)
                    if (cands.data()[i] < 0 || static_cast<std::size_t>(cands.data()[i]) >= rows.shape(1))
                        throw std::invalid_argument("a candidate label is outside the rows");
                std::vector<emgrt::decode::Op> ops;
                s.push(rows.data(), frames, rows.shape(1), cands.data(), cands.shape(1), blank_best.data(),
                       first_frame, ops);
                return ops_list(ops);
            },
            "rows"_a, "cands"_a, "blank_best"_a, "first_frame"_a,
            "One push: the (label, frame) commits and (-1, frame) segment ends, in order.")
        .def("pending", &CharBeamSearch::pending_labels, "The labels shown after the committed text.")
        .def(
            "beams",
            [](const CharBeamSearch& s) {
                nb::list out;
                for (const auto& h : s.beams()) {
                    nb::list key, frames;
                    for (int c : h.key) key.append(c);
                    for (auto f : h.frames) frames.append(f);
                    out.append(nb::make_tuple(nb::tuple(key), nb::tuple(frames)));
                }
                return out;
            },
            "(pending labels, their frames) of each live hypothesis, best first.")
        .def(
            "flush",
            [](CharBeamSearch& s) {
                std::vector<emgrt::decode::Op> ops;
                s.flush(ops);
                return ops_list(ops);
            },
            "End of stream: the best beam committed, as push's operations.")
        .def_prop_ro("blank_run", &CharBeamSearch::blank_run)
        .def_prop_ro("last_frame", &CharBeamSearch::last_frame);

    using emgrt::decode::GreedySearch;
    nb::class_<GreedySearch>(m, "GreedySearch", "GreedyDecoder's search of emgrt/decode/greedy.py.")
        .def(nb::init<int, std::int64_t>(), "blank"_a, "pause_frames"_a)
        .def("reset", &GreedySearch::reset, "A fresh stream.")
        .def(
            "push",
            [](GreedySearch& s, Rows rows, std::int64_t first_frame) {
                std::vector<emgrt::decode::Op> ops;
                if (rows.shape(1) == 0) throw std::invalid_argument("rows have no labels");
                s.push(rows.data(), rows.shape(0), rows.shape(1), first_frame, ops);
                return ops_list(ops);
            },
            "rows"_a, "first_frame"_a, "One push: the (label, frame) commits and (-1, frame) segment ends, in order.")
        .def("end", &GreedySearch::end, "End of stream: no previous label for the next push.")
        .def_prop_ro("blank_run", &GreedySearch::blank_run)
        .def_prop_ro("last_frame", &GreedySearch::last_frame);

    using emgrt::decode::NgramLM;
    nb::class_<NgramLM>(m, "NgramLM", "An ARPA back-off model scoring as KenLM does (emgrt/decode/ngram.hpp).")
        .def(nb::new_([](nb::bytes arpa) { return NgramLM(std::string_view(arpa.c_str(), arpa.size())); }), "arpa"_a,
             "Parse an ARPA file's text; ValueError (with the line) if it is malformed or too large for this reader.")
        .def_prop_ro("order", &NgramLM::order)
        .def_prop_ro("size", &NgramLM::size)
        .def(
            "sentence_scores",
            [](const NgramLM& lm, const std::vector<std::string>& words) {
                std::vector<double> out;
                emgrt::decode::NgramContext context = lm.begin_sentence(), next;
                for (const auto& w : words) {
                    out.push_back(lm.score(context, lm.index(w), next));
                    context = next;
                }
                return out;
            },
            "words"_a, "log10 P of each word after <s> and the words before it (kenlm's BaseScore, word by word).");

    m.def("sosfilt", &sosfilt<float>, "sos"_a, "x"_a, "zi"_a);
    m.def("sosfilt", &sosfilt<double>, "sos"_a, "x"_a, "zi"_a,
          "scipy.signal.sosfilt(sos, x, axis=0, zi=zi) for (n, channels) x; zi is updated in place.");
    m.def("rfft_supported", &emgrt::dsp::rfft_supported, "n_fft"_a,
          "Whether the native spectrum reproduces scipy.fft.rfft at this length (powers of two).");

    nb::class_<emgrt::dsp::PowerSpectrum>(m, "PowerSpectrum",
                                          "Framing + |rfft(frame * window)|^2 / scale + eps (float32).")
        .def(nb::new_(&make_spectrum), "window"_a, "hop"_a, "scale"_a, "eps"_a)
        .def_prop_ro("n_fft", &emgrt::dsp::PowerSpectrum::n_fft)
        .def_prop_ro("hop", &emgrt::dsp::PowerSpectrum::hop)
        .def_prop_ro("n_freq", &emgrt::dsp::PowerSpectrum::n_freq)
        .def(
            "frames",
            [](const emgrt::dsp::PowerSpectrum& s, In2<float> x) {
                const std::size_t channels = x.shape(1), frames = s.num_frames(x.shape(0));
                float* out;
                Out<float> result = new_array<float>({frames, channels, s.n_freq()}, &out);
                std::optional<nb::gil_scoped_release> release;
                if (x.shape(0) * channels > kReleaseGil) release.emplace();
                s.frames(x.data(), frames, channels, out);
                return result;
            },
            "x"_a, "Every frame of a (n, channels) recording: (frames, channels, n_freq).");

    nb::class_<emgrt::dsp::StreamingPower>(m, "StreamingPower",
                                           "PowerSpectrum frame by frame, with the unconsumed tail carried.")
        .def(nb::new_([](Window window, std::size_t hop, float scale, float eps) {
                 return emgrt::dsp::StreamingPower(make_spectrum(window, hop, scale, eps));
             }),
             "window"_a, "hop"_a, "scale"_a, "eps"_a)
        .def("reset", &emgrt::dsp::StreamingPower::reset)
        .def_prop_ro("carried", &emgrt::dsp::StreamingPower::carried)
        .def(
            "tail",
            [](const emgrt::dsp::StreamingPower& s) -> nb::object {
                if (s.channels() == 0) return nb::none();  // nothing pushed since the last reset
                float* out;
                Out<float> result = new_array<float>({s.carried(), s.channels()}, &out);
                std::copy(s.tail().begin(), s.tail().end(), out);
                return nb::cast(result);
            },
            "The carried (samples, channels) not yet in a frame, or None before the first push.")
        .def(
            "push",
            [](emgrt::dsp::StreamingPower& s, In2<float> x) {
                const std::size_t n = x.shape(0), channels = x.shape(1);
                if (channels == 0) throw std::invalid_argument("chunk has no channels");
                if (s.channels() && channels != s.channels())
                    throw std::invalid_argument("chunk has " + std::to_string(channels) + " channels, the stream " +
                                                std::to_string(s.channels()) + "; reset() before changing");
                const std::size_t frames = s.frames_after(n);
                float* out;
                Out<float> result = new_array<float>({frames, channels, s.spectrum().n_freq()}, &out);
                s.push(x.data(), n, channels, out);
                return result;
            },
            "x"_a, "Append (n, channels) samples; the (frames, channels, n_freq) frames they complete.");
}
