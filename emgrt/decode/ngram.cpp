// See ngram.hpp.
#include "decode/ngram.hpp"

#include <cstdlib>
#include <stdexcept>

namespace emgrt::decode {

namespace {

constexpr int kWordBits = 10;

std::string_view next_line(std::string_view text, std::size_t& pos) {
    const std::size_t end = text.find('\n', pos);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end;
    std::string_view line = text.substr(pos, stop - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    return line;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

[[noreturn]] void bad(std::size_t line, const std::string& what) {
    throw std::invalid_argument("ARPA line " + std::to_string(line) + ": " + what);
}

float number(std::string_view s, std::size_t line) {
    const std::string text(s);
    char* end = nullptr;
    const float v = std::strtof(text.c_str(), &end);  // correctly rounded, as KenLM's reader
    if (end != text.c_str() + text.size()) bad(line, "'" + text + "' is not a number");
    return v;
}

}  // namespace

std::uint64_t NgramLM::key_of(int order, const int* words) {
    std::uint64_t key = static_cast<std::uint64_t>(order) << 60;
    for (int i = 0; i < order; ++i) key |= static_cast<std::uint64_t>(words[i]) << (kWordBits * i);
    return key;
}

void NgramLM::insert(std::uint64_t key, float prob, float backoff) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (table_[i].key != 0 && table_[i].key != key) i = (i + 1) & mask;
    if (table_[i].key == 0) ++entries_;
    table_[i] = Entry{key, prob, backoff};
}

const NgramLM::Entry* NgramLM::find(std::uint64_t key) const {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (table_[i].key != 0) {
        if (table_[i].key == key) return &table_[i];
        i = (i + 1) & mask;
    }
    return nullptr;
}

NgramLM::NgramLM(std::string_view arpa) {
    std::size_t pos = 0, line_no = 0;
    std::vector<std::uint64_t> counts;
    // \data\ and its counts
    bool data = false;
    while (pos < arpa.size()) {
        std::string_view line = next_line(arpa, pos);
        ++line_no;
        if (line.empty()) {
            if (data && !counts.empty()) break;
            continue;
        }
        if (line == "\\data\\") {
            data = true;
            continue;
        }
        if (!data) continue;  // text before \data\ is a comment
        if (line.substr(0, 6) != "ngram ") {
            if (line[0] == '\\') break;
            bad(line_no, "expected 'ngram N=count' in \\data\\");
        }
        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) bad(line_no, "expected 'ngram N=count'");
        const int n = std::atoi(std::string(line.substr(6, eq - 6)).c_str());
        if (n != static_cast<int>(counts.size()) + 1) bad(line_no, "n-gram orders must count up from 1");
        counts.push_back(std::strtoull(std::string(line.substr(eq + 1)).c_str(), nullptr, 10));
    }
    if (counts.empty()) throw std::invalid_argument("no \\data\\ section: not an ARPA file");
    order_ = static_cast<int>(counts.size());
    if (order_ > kMaxNgramOrder) bad(line_no, "order " + std::to_string(order_) + " is above " + std::to_string(kMaxNgramOrder));
    if (counts[0] > static_cast<std::uint64_t>(kMaxNgramVocab))
        bad(line_no, std::to_string(counts[0]) + " words: more than " + std::to_string(kMaxNgramVocab));
    std::uint64_t higher = 0;
    for (std::size_t i = 1; i < counts.size(); ++i) higher += counts[i];
    std::size_t slots = 1024;
    while (slots < 2 * higher + 2) slots *= 2;
    table_.assign(slots, Entry{});

    int words[kMaxNgramOrder];
    for (int n = 1; n <= order_; ++n) {
        const std::string header = "\\" + std::to_string(n) + "-grams:";
        std::string_view line;
        do {
            if (pos >= arpa.size()) bad(line_no, "missing " + header);
            line = next_line(arpa, pos);
            ++line_no;
        } while (line.empty());
        if (line != header) bad(line_no, "expected " + header);
        for (std::uint64_t k = 0; k < counts[n - 1]; ++k) {
            do {
                if (pos >= arpa.size()) bad(line_no, header + " ends early");
                line = next_line(arpa, pos);
                ++line_no;
            } while (line.empty());
            const std::vector<std::string_view> f = fields(line);
            if (f.size() != static_cast<std::size_t>(n) + 1 && f.size() != static_cast<std::size_t>(n) + 2)
                bad(line_no, "expected a probability, " + std::to_string(n) + " words and an optional back-off");
            const float prob = number(f[0], line_no);
            const float backoff = f.size() == static_cast<std::size_t>(n) + 2 ? number(f[n + 1], line_no) : 0.0f;
            if (n == 1) {
                const int id = static_cast<int>(uni_prob_.size());
                if (!vocab_.emplace(std::string(f[1]), id).second) bad(line_no, "'" + std::string(f[1]) + "' twice");
                uni_prob_.push_back(prob);
                uni_backoff_.push_back(backoff);
                continue;
            }
            for (int i = 0; i < n; ++i) {  // nearest word (the last one) first
                auto it = vocab_.find(std::string(f[n - i]));
                if (it == vocab_.end()) bad(line_no, "'" + std::string(f[n - i]) + "' is not in the 1-grams");
                words[i] = it->second;
            }
            insert(key_of(n, words), prob, backoff);
        }
    }
    auto special = [&](const char* w) {
        auto it = vocab_.find(w);
        if (it == vocab_.end()) throw std::invalid_argument(std::string("the 1-grams have no ") + w);
        return it->second;
    };
    unk_ = special("<unk>");
    bos_ = special("<s>");
    eos_ = special("</s>");
}

int NgramLM::index(std::string_view word) const {
    auto it = vocab_.find(std::string(word));
    return it == vocab_.end() ? unk_ : it->second;
}

NgramContext NgramLM::begin_sentence() const {
    NgramContext c;
    c.length = 1;
    c.words[0] = static_cast<std::uint16_t>(bos_);
    c.backoff[0] = uni_backoff_[bos_];
    return c;
}

float NgramLM::score(const NgramContext& in, int word, NgramContext& out) const {
    float prob = uni_prob_[word];
    out.backoff[0] = uni_backoff_[word];
    const int have = in.length;
    auto add_backoffs = [&](int from) {  // the back-off weights of the contexts longer than the match
        for (int i = from; i < have; ++i) prob += in.backoff[i];
    };
    if (word == unk_) {  // nothing follows <unk>: every back-off, an empty context
        out.length = 0;
        add_backoffs(0);
        return prob;
    }
    out.words[0] = static_cast<std::uint16_t>(word);
    int key_words[kMaxNgramOrder];
    key_words[0] = word;
    auto copy_context = [&](int n) {  // the context after: the word, then n words of the old one
        for (int i = 0; i < n; ++i) out.words[i + 1] = in.words[i];
        out.length = static_cast<std::uint8_t>(n + 1);
    };
    for (int j = 0;; ++j) {  // j context words matched so far
        if (j == have) {  // the whole context matched: no back-off
            copy_context(have);
            return prob;
        }
        key_words[j + 1] = in.words[j];
        const Entry* e = find(key_of(j + 2, key_words));
        if (j + 2 == order_) {  // the longest order: no back-off weight to keep
            if (e) prob = e->prob;
            else add_backoffs(j);
            copy_context(j);
            return prob;
        }
        if (!e) {
            copy_context(j);
            add_backoffs(j);
            return prob;
        }
        prob = e->prob;
        out.backoff[j + 1] = e->backoff;
    }
}

}  // namespace emgrt::decode
