// A back-off n-gram model read from ARPA text, scoring as KenLM does, for the native char-LM search.
//
// Hand-written because the search needs its LM scores without a Python call each (through the
// kenlm module they were most of its time), and KenLM, the maintained library, ships no C++
// library or headers in its PyPI package to link against.  Only what the char-LM search asks is
// here: BaseScore of one word after a context, begin-of-sentence.  The Python side keeps using
// kenlm (emgrt/decode/lmfiles.py), and tests/test_native.py checks that every score equals
// kenlm's.  Scores follow the ARPA back-off rule exactly as KenLM computes them in float: the
// longest n-gram of the word and its context found, plus the back-off weights of the longer
// contexts, added in increasing order; a context keeps the words a longer n-gram can still use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace emgrt::decode {

constexpr int kMaxNgramOrder = 6;  // words packed 10 bits each into a 64-bit key
constexpr int kMaxNgramVocab = 1 << 10;

// What KenLM's State holds: the context words, nearest first, and their back-off weights.
struct NgramContext {
    std::uint8_t length = 0;
    std::uint16_t words[kMaxNgramOrder - 1] = {};
    float backoff[kMaxNgramOrder - 1] = {};
};

class NgramLM {
public:
    // Parses an ARPA file's text; std::invalid_argument (with the line) if it is malformed, its
    // order is above kMaxNgramOrder or its vocabulary above kMaxNgramVocab words.
    explicit NgramLM(std::string_view arpa);

    int order() const { return order_; }
    std::size_t size() const { return entries_; }
    // The word's index; <unk>'s for a word the model does not know.
    int index(std::string_view word) const;
    int end_sentence() const { return eos_; }
    NgramContext begin_sentence() const;
    // log10 P(word | context) and, in `out`, the context after it (KenLM's BaseScore).
    float score(const NgramContext& context, int word, NgramContext& out) const;

private:
    struct Entry {
        std::uint64_t key = 0;  // 0: empty slot
        float prob = 0.0f, backoff = 0.0f;
    };
    static std::uint64_t key_of(int order, const int* words_nearest_first);
    void insert(std::uint64_t key, float prob, float backoff);
    const Entry* find(std::uint64_t key) const;

    int order_ = 0;
    std::size_t entries_ = 0;
    std::vector<Entry> table_;
    std::unordered_map<std::string, int> vocab_;
    std::vector<float> uni_prob_, uni_backoff_;
    int unk_ = -1, bos_ = -1, eos_ = -1;
};

}  // namespace emgrt::decode
