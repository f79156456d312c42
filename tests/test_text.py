"""emgrt.text: the shipped English prompts and LM text, and the WordNet split that made them."""

import gzip
import itertools

import pytest

from emgrt.charset import CharSet
from emgrt.cli import main
from emgrt.text import LM_TEXT, PROMPTS, TEXT_DIR, lm_sentences, prompts, read_lines
from emgrt.text.wordnet import PROMPT_WORDS, build_corpus, is_prompt, normalise, sentence_case, split_corpus

# Three synsets in WordNet's data-file layout (header line, then offset ... | gloss).
DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
00217593 04 n 01 kill 1 002 @ 00217014 n 0000 | the destruction of an enemy plane or ship or tank or missile; "the pilot reported two kills during the mission"
00217499 04 n 01 disaster 0 001 @ 00217014 n 0000 | an act that has disastrous consequences; "the flood was a disaster for the whole town"; "a disaster"
00000001 04 n 01 cafe 0 000 | a small restaurant; "the caf\u00e9 on the corner sells coffee"; "The pilot reported two kills during the mission."
"""


def _wordnet(tmp_path):
    for part in ("noun", "verb", "adj", "adv"):
        (tmp_path / f"data.{part}").write_text(DATA_NOUN if part == "noun" else "", encoding="utf-8")
    return tmp_path


def test_reads_examples_and_glosses_and_drops_what_cannot_be_typed(tmp_path):
    corpus = build_corpus(_wordnet(tmp_path))
    every = corpus.prompts + corpus.lm
    assert corpus.examples == 3 and corpus.dropped == 1  # the duplicate pilot sentence counts once; café is dropped
    assert "The destruction of an enemy plane or ship or tank or missile." in corpus.lm
    assert not any("caf" in s for s in every)
    assert all(set(s) <= set(CharSet().chars) for s in every)


def test_prompts_and_lm_text_are_disjoint_by_their_normal_form():
    examples = [f"the number {i} is written here" for i in range(400)] + ["The number 3 is written here."]
    corpus = split_corpus(examples, ["a definition of the number 5 is written here"])
    keys = {normalise(p) for p in corpus.prompts}
    assert 50 < len(corpus.prompts) < 160  # about a quarter go to the prompts
    assert keys.isdisjoint(normalise(s) for s in corpus.lm)
    assert len(corpus.prompts) + len(corpus.lm) == 401  # every distinct sentence lands on one side
    assert is_prompt(normalise("the number 3 is written here")) == ("The number 3 is written here." in corpus.prompts)


def test_sentence_case():
    assert sentence_case("the dog barked") == "The dog barked."
    assert sentence_case("is it over?") == "Is it over?"
    assert sentence_case("the depth of his sighs,") == "The depth of his sighs."
    assert normalise("  The Dog  barked. ") == "the dog barked"


def test_missing_wordnet_is_a_one_line_error(tmp_path, capsys):
    assert main(["lm", "corpus", "--wordnet", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "apt-get install wordnet-base" in err and err.count("\n") == 1


def test_corpus_command_is_reproducible(tmp_path):
    (tmp_path / "wn").mkdir()
    wn = _wordnet(tmp_path / "wn")
    for out in ("a", "b"):
        assert main(["lm", "corpus", "--wordnet", str(wn), "--out", str(tmp_path / out)]) == 0
    for name in (PROMPTS.name, LM_TEXT.name):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert list(read_lines(tmp_path / "a" / LM_TEXT.name))


def test_shipped_prompts_are_typeable_sentences_the_lm_text_never_holds():
    ps = prompts()
    assert len(ps) > 5000
    chars = set(CharSet().chars)
    for p in ps:
        assert set(p) <= chars and not p[0].islower() and p[-1] in ".?!", p
        assert PROMPT_WORDS[0] <= len(p.split()) <= PROMPT_WORDS[1], p
    keys = {normalise(p) for p in ps}
    n = 0
    for line in lm_sentences():
        assert normalise(line) not in keys, line
        n += 1
    assert n > 100_000
    assert (TEXT_DIR / "LICENSE-WordNet").read_text().count("WordNet 3.0 Copyright 2006 by Princeton University") == 1


def test_bad_text_files_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "x.txt.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(Exception, match="not a readable gzip file"):
        list(read_lines(bad))
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(Exception, match="not UTF-8"):
        list(read_lines(latin))
    good = tmp_path / "g.txt.gz"
    good.write_bytes(gzip.compress(b"one  two\n\nthree\n"))
    assert list(read_lines(good)) == ["one two", "three"]


def test_synth_prompts_come_from_the_shipped_list():
    import numpy as np

    from emgrt.synth.text import make_prompt

    rng = np.random.default_rng(0)
    shipped = set(prompts())
    got = [make_prompt(rng) for _ in range(200)]
    assert set(got) <= shipped and len(set(got)) > 150
    short = make_prompt(rng, 1)
    assert len(short.split()) == 1 and any(p.startswith(short + " ") for p in shipped)
    assert all(len(make_prompt(rng, 4).split()) <= 4 for _ in range(50))


def test_lm_sentences_is_lazy():
    assert len(list(itertools.islice(lm_sentences(), 5))) == 5
