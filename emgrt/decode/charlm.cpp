// See charlm.hpp.  Every function mirrors the charlm.py method of the same name, statement for
// statement where the order of floating-point operations or of the beams matters: the sums are
// taken in the same order, sorts are stable as Python's are, and the log-sum-exp is the same libm
// call, so both paths keep the same beams and commit the same keys at the same frames.
#include "decode/charlm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace emgrt::decode {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double lse(double a, double b) {
    if (a < b) std::swap(a, b);
    if (b == kNegInf) return a;
    return a + std::log1p(std::exp(b - a));
}

bool starts_with(const std::vector<int>& key, const std::vector<int>& prefix, std::size_t n) {
    return key.size() >= n && std::equal(prefix.begin(), prefix.begin() + n, key.begin());
}

// Keys are hashed label by label, so a key's hash extends to the key plus one label.
constexpr std::uint64_t kHashSeed = 0x9e3779b97f4a7c15ull;
std::uint64_t hash_more(std::uint64_t h, int label) { return (h ^ static_cast<std::uint64_t>(label + 1)) * 0x100000001b3ull; }

Hyp make_hyp(std::vector<int> key, std::vector<std::int64_t> frames, int last, Node node, double pb, double pnb) {
    return Hyp{std::move(key), std::move(frames), last, std::move(node), pb, pnb, lse(pb, pnb)};
}

}  // namespace

CharBeamSearch::CharBeamSearch(SearchOptions options, int blank, std::shared_ptr<CharLM> lm)
    : opt_(std::move(options)), blank_(blank), lm_(std::move(lm)) {
    reset();
}

double NgramCharLM::score(const LMContext& from, int label, LMContext& to) {
    if (enter_[label]) {
        NgramContext ignored;
        const float s = lm_->score(from.ngram, lm_->end_sentence(), ignored);
        to.ngram = lm_->begin_sentence();
        return s;
    }
    return lm_->score(from.ngram, words_[label], to.ngram);
}

double NgramCharLM::end_score(const LMContext& context) {
    NgramContext ignored;
    return lm_->score(context.ngram, lm_->end_sentence(), ignored);
}

// -- state ---------------------------------------------------------------------------------------
void CharBeamSearch::reset() {
    Node root;
    if (lm_) {
        root = std::make_shared<LMNode>();
        lm_->begin(root->context);
        root->serial = next_serial_++;
    }
    beams_.clear();
    beams_.push_back(make_hyp({}, {}, -1, root, 0.0, kNegInf));
    committed_node_ = root;
    lm_cache_.assign(kCacheSlots, CacheSlot{});
    shown_.clear();
    best_history_.clear();
    blank_run_ = 0;
    last_frame_ = -1;
}

// -- LM ------------------------------------------------------------------------------------------
CharBeamSearch::CacheSlot& CharBeamSearch::cached(const Node& node, int label) {
    CacheSlot& slot = lm_cache_[cache_slot(node->serial, label)];
    if (slot.serial != node->serial || slot.label != label) {
        const double s = lm_->score(node->context, label, slot.context);
        slot.serial = node->serial;
        slot.label = label;
        slot.score = opt_.lm_weight * s + opt_.insertion_bonus;
        slot.child.reset();
    }
    return slot;
}

double CharBeamSearch::extend_score(const Node& node, int label) {
    if (!node) return 0.0;
    const int special = opt_.special[label];
    if (special == SearchOptions::kShift) return 0.0;
    if (special == SearchOptions::kBackspace) return node->parent ? -node->score : 0.0;
    return cached(node, label).score;
}

Node CharBeamSearch::extend_node(const Node& node, int label) {
    if (!node) return nullptr;
    const int special = opt_.special[label];
    if (special == SearchOptions::kShift) return node;
    if (special == SearchOptions::kBackspace) return node->parent ? node->parent : node;
    CacheSlot& slot = cached(node, label);
    if (!slot.child) {
        auto child = std::make_shared<LMNode>();
        child->context = slot.context;
        child->score = slot.score;
        child->parent = node;
        child->depth = node->depth + 1;
        child->serial = next_serial_++;
        slot.child = std::move(child);
    }
    return slot.child;
}

// -- search --------------------------------------------------------------------------------------
bool CharBeamSearch::same_key(const Candidate& c, std::uint32_t parent, int label) const {
    const std::vector<int>& a = beams_[c.parent].key;
    const std::vector<int>& b = beams_[parent].key;
    const std::size_t na = a.size() + (c.label >= 0), nb = b.size() + (label >= 0);
    if (na != nb) return false;
    if (c.parent == parent) return c.label == label;
    for (std::size_t i = 0; i < na; ++i) {
        const int x = i < a.size() ? a[i] : c.label, y = i < b.size() ? b[i] : label;
        if (x != y) return false;
    }
    return true;
}

std::size_t CharBeamSearch::slot(std::uint64_t hash) const {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = static_cast<std::size_t>(hash ^ (hash >> 29)) & mask;
    while (table_[i].stamp == stamp_ && table_[i].hash != hash) i = (i + 1) & mask;
    return i;
}

std::uint32_t CharBeamSearch::find(std::uint64_t hash, std::uint32_t parent, int label) const {
    const Slot& s = table_[slot(hash)];
    if (s.stamp != stamp_) return kNone;
    for (std::uint32_t i = s.head; i != kNone; i = cands_[i].next)
        if (same_key(cands_[i], parent, label)) return i;
    return kNone;
}

std::uint32_t CharBeamSearch::add(std::uint64_t hash, std::uint32_t parent, int label) {
    const auto i = static_cast<std::uint32_t>(cands_.size());
    Slot& s = table_[slot(hash)];
    const std::uint32_t next = s.stamp == stamp_ ? s.head : kNone;
    s = Slot{hash, i, stamp_};
    cands_.push_back(Candidate{parent, label, kNegInf, kNegInf, next});
    return i;
}

// charlm.py's entry(h.key, h.frames, h.last, h.node) for beam `parent`.
std::uint32_t CharBeamSearch::entry(std::uint32_t parent) {
    const std::uint32_t i = find(hashes_[parent], parent, -1);
    return i != kNone ? i : add(hashes_[parent], parent, -1);
}

void CharBeamSearch::step(const float* row, const std::int64_t* cands, std::size_t k, std::int64_t frame) {
    cands_.clear();
    // Room for every candidate at most half full (beams x (k + 1) keys); a new stamp empties it.
    std::size_t need = 64;
    while (need < 2 * beams_.size() * (k + 1)) need *= 2;
    if (table_.size() < need) table_.assign(need, Slot{0, kNone, 0}), stamp_ = 0;
    if (++stamp_ == 0) std::fill(table_.begin(), table_.end(), Slot{0, kNone, 0}), stamp_ = 1;
    hashes_.resize(beams_.size());
    for (std::size_t b = 0; b < beams_.size(); ++b) {
        std::uint64_t h = kHashSeed;
        for (int c : beams_[b].key) h = hash_more(h, c);
        hashes_[b] = h;
    }
    for (std::uint32_t b = 0; b < beams_.size(); ++b) {
        const Hyp& h = beams_[b];
        const double tot = h.total;
        for (std::size_t j = 0; j < k; ++j) {
            const int c = static_cast<int>(cands[j]);
            const double p = static_cast<double>(row[c]);
            if (c == blank_) {
                Candidate& e = cands_[entry(b)];
                e.pb = lse(e.pb, tot + p);
                continue;
            }
            const std::uint64_t hash = hash_more(hashes_[b], c);
            std::uint32_t e = find(hash, b, c);
            const double s = extend_score(h.node, c);
            if (e == kNone) e = add(hash, b, c);  // its LM node is made if it survives
            if (c == h.last) {
                Candidate& same = cands_[entry(b)];
                same.pnb = lse(same.pnb, h.pnb + p);
                cands_[e].pnb = lse(cands_[e].pnb, h.pb + p + s);
            } else {
                cands_[e].pnb = lse(cands_[e].pnb, tot + p + s);
            }
        }
    }
    totals_.resize(cands_.size());
    for (std::size_t i = 0; i < cands_.size(); ++i) totals_[i] = lse(cands_[i].pb, cands_[i].pnb);
    order_.resize(cands_.size());
    std::iota(order_.begin(), order_.end(), 0u);
    // heapq.nlargest == sorted(reverse=True)[:n], which is stable: ties stay in insertion order
    const std::size_t n = std::min(order_.size(), opt_.beam_size);
    const auto& totals = totals_;
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), [&](std::uint32_t a, std::uint32_t b) {
        return totals[a] > totals[b] || (totals[a] == totals[b] && a < b);
    });
    const double floor = totals[order_[0]] - opt_.beam_threshold;
    std::vector<Hyp> next;
    next.reserve(n);
    for (std::size_t r = 0; r < n; ++r) {
        const std::uint32_t i = order_[r];
        if (totals[i] < floor) continue;
        const Candidate& c = cands_[i];
        const Hyp& parent = beams_[c.parent];
        std::vector<int> key = parent.key;
        std::vector<std::int64_t> frames = parent.frames;
        int last = parent.last;
        Node node = parent.node;
        if (c.label >= 0) {
            key.push_back(c.label);
            frames.push_back(frame);
            last = c.label;
            node = extend_node(parent.node, c.label);
        }
        next.push_back(Hyp{std::move(key), std::move(frames), last, std::move(node), c.pb, c.pnb, totals[i]});
    }
    beams_ = std::move(next);
}

// -- committing ----------------------------------------------------------------------------------
void CharBeamSearch::keep_prefixed(const std::vector<int>& prefix, std::size_t n) {
    std::vector<Hyp> kept;
    for (Hyp& h : beams_)
        if (starts_with(h.key, prefix, n)) kept.push_back(std::move(h));
    beams_ = std::move(kept);
}

void CharBeamSearch::commit_labels(std::vector<int> labels, std::vector<std::int64_t> frames, Node node_after,
                                   std::vector<Op>& ops) {
    const std::size_t n = labels.size();
    if (n == 0) return;
    for (std::size_t i = 0; i < n; ++i) ops.push_back(Op{labels[i], frames[i]});
    if (starts_with(shown_, labels, n))
        shown_.erase(shown_.begin(), shown_.begin() + n);
    else
        shown_.clear();
    if (!best_history_.empty()) {
        std::vector<std::vector<int>> cut;
        for (const auto& k : best_history_)
            if (starts_with(k, labels, n)) cut.emplace_back(k.begin() + n, k.end());
        if (cut.size() == best_history_.size())
            best_history_ = std::move(cut);
        else
            best_history_.clear();
    }
    for (Hyp& h : beams_) {
        h.key.erase(h.key.begin(), h.key.begin() + n);
        h.frames.erase(h.frames.begin(), h.frames.begin() + n);
    }
    committed_node_ = node_after;
    release_history(std::move(node_after));
}

void CharBeamSearch::release_history(Node node) {
    if (!node || node->depth <= static_cast<std::int64_t>(2 * opt_.max_undo)) return;
    for (std::size_t i = 0; i < opt_.max_undo; ++i) {
        if (!node->parent) return;
        node = node->parent;
    }
    node->parent.reset();
    node->depth = 0;
}

void CharBeamSearch::commit_common_prefix(std::vector<Op>& ops) {
    const double floor = beams_[0].total - opt_.commit_margin;
    const std::vector<int> first = beams_[0].key;
    std::size_t n = first.size();
    for (std::size_t b = 1; b < beams_.size(); ++b) {
        if (beams_[b].total < floor) continue;
        const std::vector<int>& k = beams_[b].key;
        n = std::min(n, k.size());
        std::size_t i = 0;
        while (i < n && k[i] == first[i]) ++i;
        n = i;
        if (n == 0) return force_commit(ops);
    }
    if (n) keep_prefixed(first, n);
    Node after = node_after_prefix(n);
    commit_labels(std::vector<int>(first.begin(), first.begin() + n),
                  std::vector<std::int64_t>(beams_[0].frames.begin(), beams_[0].frames.begin() + n), after, ops);
    force_commit(ops);
}

Node CharBeamSearch::node_after_prefix(std::size_t n) {
    Node node = committed_node_;
    const std::vector<int> key(beams_[0].key.begin(), beams_[0].key.begin() + n);
    for (int c : key) node = extend_node(node, c);
    return node;
}

void CharBeamSearch::force_commit(std::vector<Op>& ops) {
    for (;;) {
        std::size_t longest = 0;
        for (const Hyp& h : beams_) longest = std::max(longest, h.key.size());
        if (longest <= opt_.max_pending) return;
        const Hyp& best = beams_[0];
        if (best.key.empty()) {
            std::vector<Hyp> kept;
            for (Hyp& h : beams_)
                if (h.key.size() <= opt_.max_pending) kept.push_back(std::move(h));
            beams_ = std::move(kept);
            return;
        }
        const std::vector<int> first{best.key[0]};
        const std::vector<std::int64_t> frame{best.frames[0]};
        keep_prefixed(first, 1);
        Node after = node_after_prefix(1);
        commit_labels(first, frame, after, ops);
    }
}

void CharBeamSearch::commit_stale(std::int64_t frame, std::vector<Op>& ops) {
    if (opt_.commit_lag == 0) return;
    while (!beams_[0].key.empty() && beams_[0].frames[0] <= frame - opt_.commit_lag) {
        const std::vector<int> first{beams_[0].key[0]};
        const std::vector<std::int64_t> at{beams_[0].frames[0]};
        keep_prefixed(first, 1);
        Node after = node_after_prefix(1);
        commit_labels(first, at, after, ops);
    }
}

void CharBeamSearch::commit_probable(std::vector<Op>& ops) {
    if (opt_.commit_prob == 0.0 || beams_[0].key.empty()) return;
    const double top = beams_[0].total;
    std::vector<double> weights(beams_.size());
    double sum = 0.0;
    for (std::size_t i = 0; i < beams_.size(); ++i) {
        weights[i] = std::exp(beams_[i].total - top);
        sum += weights[i];
    }
    const double need = opt_.commit_prob * sum;
    const std::vector<int> first = beams_[0].key;
    std::vector<std::size_t> alive(beams_.size()), keep;
    std::iota(alive.begin(), alive.end(), 0);
    std::size_t n = 0;
    while (n < first.size()) {
        const int c = first[n];
        keep.clear();
        double mass = 0.0;
        for (std::size_t i : alive)
            if (beams_[i].key.size() > n && beams_[i].key[n] == c) keep.push_back(i);
        for (std::size_t i : keep) mass += weights[i];
        if (mass < need) break;
        alive.swap(keep);
        ++n;
    }
    if (n == 0) return;
    std::vector<Hyp> kept;
    for (std::size_t i : alive) kept.push_back(std::move(beams_[i]));
    beams_ = std::move(kept);
    Node after = node_after_prefix(n);
    commit_labels(std::vector<int>(first.begin(), first.begin() + n),
                  std::vector<std::int64_t>(beams_[0].frames.begin(), beams_[0].frames.begin() + n), after, ops);
}

void CharBeamSearch::commit_stable_prefix(std::vector<Op>& ops) {
    if (opt_.commit_stable == 0) return;
    auto& hist = best_history_;
    hist.push_back(beams_[0].key);
    if (hist.size() > opt_.commit_stable) hist.erase(hist.begin());
    if (hist.size() < opt_.commit_stable) return;
    const std::vector<int> first = hist.back();
    std::size_t n = first.size();
    for (const auto& k : hist) n = std::min(n, k.size());
    for (std::size_t j = 0; j + 1 < hist.size(); ++j) {
        const std::vector<int>& k = hist[j];
        std::size_t i = 0;
        while (i < n && k[i] == first[i]) ++i;
        n = i;
        if (n == 0) return;
    }
    keep_prefixed(first, n);
    Node after = node_after_prefix(n);
    commit_labels(std::vector<int>(first.begin(), first.begin() + n),
                  std::vector<std::int64_t>(beams_[0].frames.begin(), beams_[0].frames.begin() + n), after, ops);
}

void CharBeamSearch::commit_deep(std::vector<Op>& ops) {
    if (opt_.commit_depth == 0) return;
    if (beams_[0].key.size() <= opt_.commit_depth) return;
    const std::size_t n = beams_[0].key.size() - opt_.commit_depth;
    const std::vector<int> prefix(beams_[0].key.begin(), beams_[0].key.begin() + n);
    const std::vector<std::int64_t> frames(beams_[0].frames.begin(), beams_[0].frames.begin() + n);
    keep_prefixed(prefix, n);
    Node after = node_after_prefix(n);
    commit_labels(prefix, frames, after, ops);
}

void CharBeamSearch::commit_endpoint(std::vector<Op>& ops) {
    if (opt_.endpoint_frames == 0 || blank_run_ < opt_.endpoint_frames) return;
    const Hyp& best = beams_[0];
    if (best.key.empty() || best.pb < best.pnb) return;
    const std::vector<int> key = best.key;
    const std::vector<std::int64_t> frames = best.frames;
    Node node = best.node;
    keep_prefixed(key, key.size());
    commit_labels(key, frames, node, ops);
}

void CharBeamSearch::commit_best(std::int64_t frame, std::vector<Op>& ops) {
    std::size_t best = 0;  // max(): the first of the highest totals
    for (std::size_t i = 1; i < beams_.size(); ++i)
        if (beams_[i].total > beams_[best].total) best = i;
    Hyp h = std::move(beams_[best]);
    beams_.clear();
    beams_.push_back(std::move(h));
    const Hyp& b = beams_[0];
    commit_labels(b.key, b.frames, b.node, ops);
    ops.push_back(Op{Op::kFinal, frame});
}

// -- streaming API -------------------------------------------------------------------------------
void CharBeamSearch::push(const float* rows, std::size_t frames, std::size_t labels, const std::int64_t* cands,
                          std::size_t k, const std::uint8_t* blank_best, std::int64_t first_frame, std::vector<Op>& ops) {
    for (std::size_t i = 0; i < frames; ++i) {
        const std::int64_t frame = first_frame + static_cast<std::int64_t>(i);
        step(rows + i * labels, cands + i * k, k, frame);
        commit_common_prefix(ops);
        commit_probable(ops);
        commit_stable_prefix(ops);
        commit_deep(ops);
        commit_stale(frame, ops);
        blank_run_ = blank_best[i] ? blank_run_ + 1 : 0;  // DecoderBase._pause_tick
        last_frame_ = frame;
        const bool pause = blank_run_ == opt_.pause_frames;
        commit_endpoint(ops);
        if (pause) commit_best(frame, ops);
    }
}

const std::vector<int>& CharBeamSearch::pending_labels() {
    const Hyp* shown = &beams_[0];
    if (opt_.hypothesis_hold >= 0.0 && !shown_.empty()) {
        const double floor = shown->total - opt_.hypothesis_hold;
        const std::size_t n = shown_.size();
        for (const Hyp& h : beams_) {
            if (h.total < floor) break;
            if (h.key.size() >= n && std::equal(shown_.begin(), shown_.end(), h.key.begin())) {
                shown = &h;
                break;
            }
        }
    }
    shown_ = shown->key;
    return shown_;
}

void CharBeamSearch::flush(std::vector<Op>& ops) {
    if (lm_) {  // rank by the text ending here (</s>)
        std::vector<double> score(beams_.size());
        for (std::size_t i = 0; i < beams_.size(); ++i) {
            const Hyp& h = beams_[i];
            score[i] = h.node ? h.total + opt_.lm_weight * lm_->end_score(h.node->context) : h.total;
        }
        std::vector<std::size_t> order(beams_.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
        Hyp best = std::move(beams_[order[0]]);
        beams_.clear();
        beams_.push_back(std::move(best));
    }
    commit_best(last_frame_, ops);
    blank_run_ = 0;
}

}  // namespace emgrt::decode
