"""Character error rate exactly as emg2qwerty defines it.

CER = 100 * (insertions + deletions + substitutions) / reference length, with the
edit operations summed over the whole corpus before dividing (not averaged per
utterance), on key strings (backspace, enter and shift count as characters).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from rapidfuzz.distance import Levenshtein


class AdditiveCounts:
    """A dataclass of corpus counts that add up field by field with ``+`` (summed over items)."""

    def __add__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass
class ErrorCounts(AdditiveCounts):
    """Corpus-level edit-operation counts; add references/hypotheses with ``update``."""

    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    reference_length: int = 0

    def update(self, reference: str, hypothesis: str) -> "ErrorCounts":
        for tag, _, _ in Levenshtein.editops(reference, hypothesis):
            if tag == "insert":
                self.insertions += 1
            elif tag == "delete":
                self.deletions += 1
            else:
                self.substitutions += 1
        self.reference_length += len(reference)
        return self

    @property
    def edits(self) -> int:
        return self.insertions + self.deletions + self.substitutions

    @property
    def cer(self) -> float:
        """Percent; 0 for an empty reference with an empty hypothesis, inf if only the hypothesis has text."""
        if self.reference_length == 0:
            return 0.0 if self.edits == 0 else float("inf")
        return 100.0 * self.edits / self.reference_length

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cer"] = self.cer
        for name in ("insertions", "deletions", "substitutions"):
            d[f"{name[:3]}_rate"] = (
                100.0 * d[name] / self.reference_length if self.reference_length else 0.0
            )
        return d


def cer(references: list[str] | str, hypotheses: list[str] | str) -> float:
    """Corpus CER (percent) over paired references and hypotheses."""
    if isinstance(references, str):
        references, hypotheses = [references], [hypotheses]  # type: ignore[list-item]
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    counts = ErrorCounts()
    for r, h in zip(references, hypotheses):
        counts.update(r, h)
    return counts.cer
