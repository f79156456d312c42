"""Streaming beam search with pyctcdecode 0.5.0, optionally fused with a word KenLM ("beam-lm").

pyctcdecode has no incremental API (every ``decode_beams`` call starts from frame
0), but it accepts an LM start state.  So this decoder keeps an *open window*
of output frames that begins at the start of the first word not yet committed,
re-decodes only that window every ``update_every`` frames (at frame indices that
do not depend on how the stream was chunked), and moves the window forward:

- words on which every beam within ``commit_margin`` of the best agrees, up to
  the last space they share, are committed (CharEvents) and the window restarts
  at the frame where the best beam's next word starts, with the LM state after
  the committed words;
- at a pause (``pause_frames`` blank frames) and at flush the best beam's whole
  text is committed and a FinalEvent sent; the window empties;
- a window reaching ``max_window`` frames commits the best beam's whole text
  (rare: it needs ``max_window`` frames without an agreed word boundary).

Cost bound: each update decodes at most ``max_window`` frames, so per-frame work
is at most ``max_window / update_every`` frames of pyctcdecode's beam search,
whatever the session length (re-decoding the growing buffer would be O(T^2)).

Labels go to pyctcdecode as the charset characters with "" for the blank.  The
key glyphs ⌫ ⏎ ⇧ are single non-whitespace characters that pyctcdecode passes
through unchanged (its alphabet rules only rewrite "|" and "_" when space or
blank are missing, which never happens here), so no remapping is needed; a test
round-trips them.  pyctcdecode joins words with single spaces and strips the
ends, so a trailing space before a pause (and a leading one after it) is
restored from the window's greedy path; doubled spaces inside a window are lost.
Key frames are approximate: pyctcdecode reports word spans, and a word's keys
get frames spread evenly over its span.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from emgrt.charset import SPACE
from emgrt.decode.base import DEFAULT_PAUSE_FRAMES, DecoderBase
from emgrt.decode.events import Event
from emgrt.decode.greedy import greedy_labels
from emgrt.decode.lmfiles import arpa_unigrams, load_kenlm, resolve_lm
from emgrt.errors import ConfigError


@lru_cache(maxsize=8)
def _pyctc_decoder(labels: tuple[str, ...], lm_path: str | None, alpha: float, beta: float, unk_offset: float):
    """One pyctcdecode decoder per configuration, shared by all streams (decode_beams is stateless)."""
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    from pyctcdecode.language_model import LanguageModel

    lm = None
    if lm_path is not None:
        lm = LanguageModel(
            load_kenlm(lm_path),
            arpa_unigrams(lm_path),
            alpha=alpha,
            beta=beta,
            unk_score_offset=unk_offset,
            score_boundary=True,
        )
    return BeamSearchDecoderCTC(Alphabet.build_alphabet(list(labels)), lm)


class BeamDecoder(DecoderBase):
    """pyctcdecode beam search; ``use_lm`` adds the word KenLM ``lm`` (alpha = ``lm_weight``,
    beta = ``insertion_bonus`` per word).  Defaults 0.1 / 0.5 instead of pyctcdecode's 0.5 / 1.5:
    on 64 validation windows of data/default (runs/student-scratch, step 1000; greedy CER 36.0)
    a word LM built like the shipped one gave 41.4 with pyctcdecode's defaults, 37.2 with
    0.2 / 1.5 and 35.8 with 0.1 / 0.5 (the shipped word3.arpa.gz: 36.1) -- re-tune with
    ``emgrt eval --decoder beam-lm --lm-weight A --insertion-bonus B`` for a trained model."""

    def __init__(
        self,
        labels: Sequence[str],
        blank: int,
        use_lm: bool = False,
        lm: str | None = "default",
        beam_size: int = 32,
        lm_weight: float = 0.1,
        insertion_bonus: float = 0.5,
        unk_score_offset: float = -10.0,
        token_min_logp: float = -5.0,
        beam_prune_logp: float = -10.0,
        commit_margin: float = 10.0,
        update_every: int = 4,
        max_window: int = 64,
        pause_frames: int = DEFAULT_PAUSE_FRAMES,
    ) -> None:
        if beam_size < 1 or update_every < 1 or max_window < update_every:
            raise ConfigError("beam_size and update_every must be >= 1 and max_window >= update_every")
        lm_path = resolve_lm(lm, "word", "beam-lm") if use_lm else None
        if use_lm and lm_path is None:
            raise ConfigError("beam-lm needs a word LM file (--lm); use --decoder beam for no LM")
        self.lm_path = lm_path
        pyc_labels = tuple("" if i == blank else lab for i, lab in enumerate(labels))
        if SPACE not in pyc_labels:
            raise ConfigError("the beam decoders need a space label in the charset")
        self._decoder = _pyctc_decoder(pyc_labels, lm_path, float(lm_weight), float(insertion_bonus), float(unk_score_offset))
        self.beam_size = int(beam_size)
        self.token_min_logp = float(token_min_logp)
        self.beam_prune_logp = float(beam_prune_logp)
        self.commit_margin = float(commit_margin)
        self.update_every = int(update_every)
        self.max_window = int(max_window)
        self._window = np.zeros((self.max_window, len(labels)), dtype=np.float32)
        super().__init__(labels, blank, pause_frames)

    def reset(self) -> None:
        super().reset()
        self._n = 0  # frames in the window
        self._start = 0  # stream frame index of window row 0
        self._lm_state = self._start_state()
        self._ends_with_space = True  # committed text so far ends at a word boundary
        self._skip_label = -1  # label whose run continues from a window committed to its end

    def _start_state(self):
        lm = self._decoder._language_model
        return None if lm is None else lm.get_start_state()

    # -- decoding the window ---------------------------------------------------------------------
    def _beams(self) -> list:
        lp = self._window[: self._n]
        return self._decoder.decode_beams(
            lp,
            beam_width=self.beam_size,
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
            lm_start_state=self._lm_state,
        )

    def _advance_lm(self, words: list[str]) -> None:
        lm = self._decoder._language_model
        if lm is None:
            return
        for w in words:
            _, self._lm_state = lm.score(self._lm_state, w)

    def _emit(self, text: str, word_frames: list, tail_frame: int) -> list[Event]:
        """CharEvents for ``text`` (window text), key frames spread over pyctcdecode's word spans."""
        frames: list[int] = []
        spans = iter(word_frames)
        i = 0
        while i < len(text):
            if text[i] == SPACE:
                frames.append(frames[-1] if frames else self._start)
                i += 1
                continue
            j = text.find(SPACE, i)
            j = len(text) if j < 0 else j
            span = next(spans, None)
            s, e = (span[1] if span else (tail_frame - self._start, tail_frame - self._start + 1))
            n = j - i
            frames += [self._start + s + (k * max(e - s - 1, 0)) // max(n, 1) for k in range(n)]
            i = j
        events = [self._commit(c, f) for c, f in zip(text, frames)]
        if text:
            self._ends_with_space = text.endswith(SPACE)
        return events

    def _leading_space(self) -> bool:
        """Whether the window starts with a space pyctcdecode will strip: only possible when the
        committed text does not already end with one (after a pause or a forced commit)."""
        if self._ends_with_space:
            return False
        path = greedy_labels(self._window[: self._n], self.blank)
        return bool(path) and self.labels[path[0]] == SPACE

    def _update(self, frame: int) -> list[Event]:
        """Re-decode the window; commit agreed whole words and restart the window after them."""
        beams = self._beams()
        lead = SPACE if self._leading_space() else ""
        best_text, _, best_words, _, best_score = beams[0]
        best_text = lead + best_text
        agree = [lead + b[0] for b in beams if b[4] >= best_score - self.commit_margin]
        common = agree[0]
        for t in agree[1:]:
            n = 0
            while n < min(len(common), len(t)) and common[n] == t[n]:
                n += 1
            common = common[:n]
        cut = common.rfind(SPACE) + 1  # whole words + the space after them
        if self._n >= self.max_window:
            cut = len(best_text)  # window full: commit everything, restart after it
        events: list[Event] = []
        if cut:
            committed = best_text[:cut]
            n_words = len(committed.split())
            events = self._emit(committed, best_words[:n_words], frame)
            if committed == best_text:
                restart = self._n
                # the last key may still be running: its next frames must not start a new key
                self._skip_label = self.labels.index(committed[-1])
            else:
                restart = best_words[n_words][1][0] if n_words < len(best_words) else self._n
            self._advance_lm(committed.split())
            self._shift(restart)
            best_text = best_text[cut:]
        if self._n >= self.max_window:  # nothing decoded in a full window
            self._shift(self._n)
        return events + self._hypothesis_event(best_text, frame)

    def _shift(self, rows: int) -> None:
        rows = min(max(rows, 0), self._n)
        self._window[: self._n - rows] = self._window[rows : self._n]
        self._n -= rows
        self._start += rows

    def _finalize(self, frame: int) -> list[Event]:
        events: list[Event] = []
        if self._n:
            text, _, words, _, _ = self._beams()[0]
            if self._leading_space():
                text = SPACE + text
            path = greedy_labels(self._window[: self._n], self.blank)
            if path and self.labels[path[-1]] == SPACE and text and not text.endswith(SPACE):
                text += SPACE
            events = self._emit(text, words, frame)
            self._advance_lm(text.split())
            self._shift(self._n)
        return events + self._final(frame) + self._hypothesis_event("", frame)

    # -- streaming API ---------------------------------------------------------------------------
    def push(self, log_probs: np.ndarray, first_frame: int) -> list[Event]:
        lp = self._check(log_probs)
        events: list[Event] = []
        for i, row in enumerate(lp):
            frame = first_frame + i
            best = int(row.argmax())
            if self._n == 0:
                if best == self._skip_label:
                    self._pause_tick(False, frame)
                    continue
                self._skip_label = -1
                self._start = frame
            self._window[self._n] = row
            self._n += 1
            if self._pause_tick(best == self.blank, frame):
                events += self._finalize(frame)
            elif (frame + 1) % self.update_every == 0 or self._n >= self.max_window:
                events += self._update(frame)
        return events

    def flush(self) -> list[Event]:
        events = self._finalize(self._last_frame)
        self._blank_run = 0
        return events
