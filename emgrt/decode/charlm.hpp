// The C++ mirror of emgrt/decode/charlm.py: the character-level CTC prefix beam search with a char
// n-gram LM that knows backspace, and its commit rules.  Method names are the Python ones; read
// charlm.py for what each rule means.  The Python class keeps the API, the events and the inputs'
// checks; this kernel keeps the beams and the LM contexts.  No Python here: the LM is reached
// through CharLM, either NgramCharLM (the ARPA file read by ngram.cpp, with KenLM's scores) or,
// for a file that reader does not take (a KenLM binary), emgrt/native.cpp's implementation over
// the kenlm module; both give the numpy path's scores, so the two paths give the same events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "decode/events.hpp"
#include "decode/ngram.hpp"

namespace emgrt::decode {

// An LM context held for the binding layer (a kenlm.State), opaque to the search.
using LMState = std::shared_ptr<void>;

// The LM after some text: `ngram` (NgramCharLM) or `state` (the binding layer's LM).
struct LMContext {
    NgramContext ngram;
    LMState state;
};

// charlm.py's LMNode (a persistent linked stack: parent = the node before the character), with a
// serial number that keys the extension cache.
struct LMNode {
    LMContext context;
    double score = 0.0;
    std::shared_ptr<LMNode> parent;
    std::int64_t depth = 0;
    std::uint64_t serial = 0;
};
using Node = std::shared_ptr<LMNode>;

// What the search asks of the character LM.
class CharLM {
public:
    virtual ~CharLM() = default;
    // The begin-of-sentence context.
    virtual void begin(LMContext& root) = 0;
    // log10 P(label's token | from); `to` gets the context after it (ENTER: </s>, then <s>).
    virtual double score(const LMContext& from, int label, LMContext& to) = 0;
    // log10 P(</s> | context): ranks the beams when the stream ends.
    virtual double end_score(const LMContext& context) = 0;
};

// CharLM over an NgramLM: each label's word index (its character token) and which labels end the
// sentence (ENTER).
class NgramCharLM : public CharLM {
public:
    NgramCharLM(std::shared_ptr<const NgramLM> lm, std::vector<int> words, std::vector<bool> enter)
        : lm_(std::move(lm)), words_(std::move(words)), enter_(std::move(enter)) {}
    void begin(LMContext& root) override { root.ngram = lm_->begin_sentence(); }
    double score(const LMContext& from, int label, LMContext& to) override;
    double end_score(const LMContext& context) override;

private:
    std::shared_ptr<const NgramLM> lm_;
    std::vector<int> words_;
    std::vector<bool> enter_;
};

struct Hyp {
    std::vector<int> key;               // pending (uncommitted) labels
    std::vector<std::int64_t> frames;   // the frame each of them first appeared
    int last = -1;
    Node node;                          // null without an LM
    double pb, pnb;
    double total;                       // log(e^pb + e^pnb), as charlm.py's property computes it
};

// A hypothesis of the next frame before it is known to survive the pruning: a beam's key, or that
// key and one more label (its key, frames, last label and LM node are built only for the survivors).
struct Candidate {
    std::uint32_t parent;               // index into the beams
    int label;                          // the added label, or -1: the parent's key itself
    double pb, pnb;
    std::uint32_t next;                 // the next candidate of the same hash bucket
};

// The constructor options of CharLMDecoder; an optional rule is off at its "off" value.
struct SearchOptions {
    std::size_t beam_size = 50;
    double lm_weight = 2.0, insertion_bonus = 2.0, beam_threshold = 25.0, commit_margin = 10.0;
    std::int64_t commit_lag = 0;        // off: 0
    double commit_prob = 0.0;           // off: 0
    std::int64_t endpoint_frames = 0;   // off: 0
    double hypothesis_hold = -1.0;      // off: < 0
    std::size_t commit_stable = 0;      // off: 0
    std::size_t commit_depth = 0;       // off: 0
    std::size_t max_pending = 48, max_undo = 64;
    std::int64_t pause_frames = 16;
    std::vector<int> special;           // per label: kNormal, kShift or kBackspace
    enum Special : int { kNormal = 0, kShift = 1, kBackspace = 2 };
};

class CharBeamSearch {
public:
    CharBeamSearch(SearchOptions options, int blank, std::shared_ptr<CharLM> lm);

    // A fresh stream (the LM's begin-of-sentence context).
    void reset();
    // push of `frames` rows of `labels` log-probs: `cands` holds each row's `k` candidate labels
    // (numpy's argpartition, so both paths try them in the same order) and `blank_best` whether
    // the blank is the row's best class.
    void push(const float* rows, std::size_t frames, std::size_t labels, const std::int64_t* cands, std::size_t k,
              const std::uint8_t* blank_best, std::int64_t first_frame, std::vector<Op>& ops);
    // The labels shown after the committed text (charlm.py's _pending_text, before display).
    const std::vector<int>& pending_labels();
    // End of stream: the beams ranked with </s>, the best committed whole.
    void flush(std::vector<Op>& ops);

    const std::vector<Hyp>& beams() const { return beams_; }
    std::int64_t blank_run() const { return blank_run_; }
    std::int64_t last_frame() const { return last_frame_; }

private:
    // charlm.py's _extend_lm in two parts: the weighted LM change of `label` after `node` (the
    // cache filled on a miss, no node made), and the node after it (made once, for the hypotheses
    // that keep it: most extensions a frame scores are pruned the same frame).
    double extend_score(const Node& node, int label);
    Node extend_node(const Node& node, int label);
    void step(const float* row, const std::int64_t* cands, std::size_t k, std::int64_t frame);
    void commit_labels(std::vector<int> labels, std::vector<std::int64_t> frames, Node node_after,
                       std::vector<Op>& ops);
    void release_history(Node node);
    void commit_common_prefix(std::vector<Op>& ops);
    Node node_after_prefix(std::size_t n);
    void force_commit(std::vector<Op>& ops);
    void commit_stale(std::int64_t frame, std::vector<Op>& ops);
    void commit_probable(std::vector<Op>& ops);
    void commit_stable_prefix(std::vector<Op>& ops);
    void commit_deep(std::vector<Op>& ops);
    void commit_endpoint(std::vector<Op>& ops);
    void commit_best(std::int64_t frame, std::vector<Op>& ops);
    // Keep the beams whose first n labels are `prefix`'s.
    void keep_prefixed(const std::vector<int>& prefix, std::size_t n);

    // The candidate of key (beam `parent`'s key + `label`, none if label < 0), or kNone; add
    // creates it, entry finds or creates the candidate of beam `parent`'s own key.
    std::uint32_t find(std::uint64_t hash, std::uint32_t parent, int label) const;
    std::uint32_t add(std::uint64_t hash, std::uint32_t parent, int label);
    std::uint32_t entry(std::uint32_t parent);
    bool same_key(const Candidate& c, std::uint32_t parent, int label) const;
    static constexpr std::uint32_t kNone = 0xffffffffu;

    // The LM extensions, direct-mapped by (node serial, label): a slot keeps the last extension
    // that hashed there (its weighted score, its context, its node once one is made).  charlm.py
    // keeps a dict it empties when full; what is cached never changes a score (an extension is the
    // same whenever it is computed), only how often the LM is called.  4096 slots hold a full
    // beam's extensions (50 x 10) with few collisions.
    struct CacheSlot {
        std::uint64_t serial = ~0ull;
        int label = -1;
        double score = 0.0;
        LMContext context;
        Node child;
    };
    CacheSlot& cached(const Node& node, int label);
    static constexpr int kCacheBits = 12;
    static constexpr std::size_t kCacheSlots = std::size_t{1} << kCacheBits;

    SearchOptions opt_;
    int blank_;
    std::shared_ptr<CharLM> lm_;
    std::vector<Hyp> beams_;
    Node committed_node_;
    std::vector<CacheSlot> lm_cache_;
    static std::size_t cache_slot(std::uint64_t serial, int label) {
        return static_cast<std::size_t>(((serial * 131 + static_cast<std::uint64_t>(label)) * 0x9e3779b97f4a7c15ull) >>
                                        (64 - kCacheBits));
    }
    std::uint64_t next_serial_ = 0;
    // step's scratch, kept between frames so a frame allocates little: the next frame's candidates,
    // an open-addressing table (hash -> latest candidate of that hash; slots of older frames are
    // stale by their stamp), the beams' key hashes, and the candidates' totals and ranking.
    struct Slot {
        std::uint64_t hash;
        std::uint32_t head;
        std::uint32_t stamp;
    };
    std::vector<Candidate> cands_;
    std::vector<Slot> table_;
    std::uint32_t stamp_ = 0;
    std::vector<std::uint64_t> hashes_;
    std::vector<double> totals_;
    std::vector<std::uint32_t> order_;
    std::size_t slot(std::uint64_t hash) const;  // the table slot of `hash` (free or its own)
    std::vector<int> shown_;
    std::vector<std::vector<int>> best_history_;
    std::int64_t blank_run_ = 0, last_frame_ = -1;
};

}  // namespace emgrt::decode
