"""emgrt lm build: ARPA files KenLM loads, normalised Kneser-Ney, sensible preferences."""

import itertools
import json
import math

import pytest

kenlm = pytest.importorskip("kenlm")

from emgrt.cli import main  # noqa: E402
from emgrt.errors import ConfigError  # noqa: E402
from emgrt.lm import SPACE_TOKEN, build_lm, char_tokens, key_string, word_tokens  # noqa: E402
from emgrt.lm.kneser_ney import NGramCounts, estimate  # noqa: E402
from emgrt.text import lm_sentences  # noqa: E402

TEXT = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the mat is on the floor",
    "Is the cat on the mat?",
] * 3


def unigrams(path) -> list[str]:
    out, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.rstrip("\n")
        if line.startswith("\\1-grams:"):
            inside = True
        elif line.startswith("\\"):
            inside = False
        elif inside and line:
            out.append(line.split("\t")[1])
    return out


def next_token_mass(model, context: list[str], vocab: list[str]) -> float:
    st = kenlm.State()
    model.BeginSentenceWrite(st)
    for w in context:
        nxt = kenlm.State()
        model.BaseScore(st, w, nxt)
        st = nxt
    return sum(10 ** model.BaseScore(st, w, kenlm.State()) for w in vocab if w != "<s>")


def test_tokens():
    assert char_tokens("Hi yo") == ["H", "i", SPACE_TOKEN, "y", "o"]
    assert key_string("Hi, Bob!") == "⇧Hi, ⇧Bob⇧!"
    assert word_tokens("Hi, Bob!") == ["⇧Hi,", "⇧Bob⇧!"]


@pytest.mark.parametrize("prune", [(), (0, 0, 1)])
def test_kneser_ney_distributions_sum_to_one_in_kenlm(tmp_path, prune):
    counts = NGramCounts(3)
    for s in TEXT:
        counts.add(s.split())
    model = estimate(counts, prune)
    path = model.write_arpa(tmp_path / "w.arpa")
    lm = kenlm.Model(str(path))
    vocab = unigrams(path)
    assert {"<s>", "</s>", "<unk>", "cat", "mat?"} <= set(vocab)
    for ctx in ([], ["the"], ["the", "cat"], ["on", "the"], ["zebra"], ["a", "mat"]):
        assert next_token_mass(lm, ctx, vocab) == pytest.approx(1.0, abs=1e-4)


def test_pruning_keeps_the_model_normalised_and_smaller(tmp_path):
    counts = NGramCounts(3)
    for s in TEXT[:5]:  # every sentence once: count-1 trigrams get pruned
        counts.add(s.split())
    full, pruned = estimate(counts), estimate(counts, (0, 0, 1))
    assert pruned.sizes()[2] < full.sizes()[2] and pruned.sizes()[:2] == full.sizes()[:2]
    with pytest.raises(ConfigError, match="not decrease"):
        estimate(counts, (0, 2, 1))


def test_build_cli_char_lm_prefers_english(tmp_path, capsys):
    out = tmp_path / "c.arpa"
    src = tmp_path / "english.txt"
    src.write_text("\n".join(itertools.islice(lm_sentences(), 0, None, 200)) + "\n")  # 854 sentences
    rc = main(["lm", "build", "--kind", "char", "--order", "4", "--out", str(out), "--source", str(src), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ngrams"][0] >= 95 and report["bytes"] == out.stat().st_size
    lm = kenlm.Model(str(out))
    score = lambda s: lm.score(" ".join(char_tokens(s)), bos=True, eos=False)  # noqa: E731
    assert score("the ") > score("qzx ")
    assert score("and") > score("nad")
    # every printable character is in the vocabulary, even if unseen
    assert "~" in unigrams(out) and SPACE_TOKEN in unigrams(out)


def test_build_word_lm_from_a_text_file(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(TEXT) + "\n\n", encoding="utf-8")
    report = build_lm("word", 2, (line for line in src.read_text().splitlines() if line), tmp_path / "w.arpa")
    lm = kenlm.Model(str(report.path))
    assert lm.order == 2 and report.sentences == len(TEXT)
    assert lm.score("the cat", bos=False, eos=False) > lm.score("cat the", bos=False, eos=False)
    assert "⇧Is" in unigrams(report.path)
    assert math.isfinite(lm.score("unseen words here"))


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(["lm", "build", "--kind", "char", "--order", "3", "--out", str(tmp_path / "x.arpa"),
                 "--source", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read the text" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["lm", "build", "--kind", "char", "--order", "3", "--out", str(tmp_path / "x.arpa"),
                 "--source", str(empty)]) == 2
    assert "no text" in capsys.readouterr().err
    assert main(["lm", "build", "--kind", "char", "--order", "0", "--out", str(tmp_path / "x.arpa")]) == 2
    assert main(["lm", "build", "--kind", "word", "--order", "2", "--out", str(tmp_path / "x.arpa"), "--prune", "-1"]) == 2
    assert "--prune: must be an integer >= 0" in capsys.readouterr().err


def test_gzip_output_loads_and_is_reproducible(tmp_path):
    from emgrt.decode.lmfiles import arpa_unigrams

    a, b = tmp_path / "a.arpa.gz", tmp_path / "b.arpa.gz"
    for p in (a, b):
        build_lm("word", 2, TEXT, p)
    assert a.read_bytes() == b.read_bytes() and a.read_bytes()[:2] == b"\x1f\x8b"
    lm = kenlm.Model(str(a))
    assert lm.order == 2 and lm.score("the cat", bos=False, eos=False) > lm.score("cat the", bos=False, eos=False)
    assert {"cat", "mat⇧?", "⇧Is"} <= arpa_unigrams(str(a)) and "<s>" not in arpa_unigrams(str(a))
