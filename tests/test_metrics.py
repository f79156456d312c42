import pytest

from emgrt.metrics import ErrorCounts, cer


@pytest.mark.parametrize(
    "ref,hyp,ins,dele,sub",
    [("abc", "abc", 0, 0, 0), ("abc", "abxc", 1, 0, 0), ("abc", "ac", 0, 1, 0), ("abc", "abd", 0, 0, 1),
     ("kitten", "sitting", 1, 0, 2), ("", "ab", 2, 0, 0), ("ab", "", 0, 2, 0)],
)
def test_edit_operation_counts(ref, hyp, ins, dele, sub):
    c = ErrorCounts().update(ref, hyp)
    assert (c.insertions, c.deletions, c.substitutions) == (ins, dele, sub)
    assert c.reference_length == len(ref)


def test_cer_is_corpus_summed_not_averaged():
    # 1 edit over 10 chars and 1 edit over 2 chars: corpus CER = 2/12, not mean(10%, 50%).
    refs, hyps = ["abcdefghij", "xy"], ["abcdefghiX", "x"]
    assert cer(refs, hyps) == pytest.approx(100 * 2 / 12)


def test_special_keys_count_as_characters():
    assert cer("a\u232bb", "ab") == pytest.approx(100 / 3)


def test_empty_reference():
    assert ErrorCounts().cer == 0.0
    assert ErrorCounts().update("", "a").cer == float("inf")


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        cer(["a", "b"], ["a"])
