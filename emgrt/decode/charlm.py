"""Streaming character-level CTC prefix beam search with a char n-gram KenLM that knows backspace.

Hand-written because no maintained decoder does character-level CTC beam search
with an LM over the *edited* text: pyctcdecode and torchaudio/flashlight score
words (or tokens) as emitted, so a typed "ab⌫c" would be scored as the string
"ab⌫c".  Here, as in emg2qwerty's decoder, the LM sees what ends up on screen:

- an ordinary key extends the LM context by its character (space is the token
  ``<sp>``, see emgrt.lm.tokens) and adds ``lm_weight * log10 P + insertion_bonus``;
- ⌫ pops the last character: the hypothesis returns to the LM node (state and
  score) it had before that character, undoing its score and bonus;
- ⇧ is a label like any other but scores nothing in the LM (the next character,
  e.g. "H", carries the case);
- ⏎ scores ``</s>`` and starts a new sentence (``<s>`` state).

LM contexts live in persistent linked stacks of :class:`LMNode` (parent = the
node before the character), so the stack of states a hypothesis needs for
backspace costs one pointer.  Extensions are cached in one bounded dict keyed by
(parent serial number, label) instead of in the nodes: nodes never form reference
cycles, so they are freed by reference counting (a trie with parent<->children
cycles left its garbage to Python's cyclic GC, whose full passes stalled frames by
200+ ms).  The key is a serial number, not ``id()``: a node freed once its history
is released could hand its address to a new node and, through the cache, its child.

Streaming: hypotheses keep only their *uncommitted* label suffix.  After each
frame the prefix common to every hypothesis scoring within ``commit_margin``
(log-probability) of the best is committed (CharEvents, frame = where that label
first appeared) and cut off, and the hypotheses that disagree with it dropped; at a pause (``pause_frames`` blank
frames) and at flush the best hypothesis is committed whole.  Per-frame cost is
bounded: ``beam_size`` x ``max_candidates`` extensions, hypotheses further than
``beam_threshold`` below the best dropped, and a pending suffix longer than
``max_pending`` labels forces the best hypothesis' first label to commit.  LM
history older than ``max_undo`` committed characters is released (backspacing
further than that undoes nothing in the LM).

Optional commit rules (all off by default; each a constructor option and a bundle
``decoder.options["char-lm"]`` key), run after the margin rule on every frame:
``commit_prob`` (the best beam's prefix holding that share of the beam's probability
mass), ``commit_stable`` (the prefix the best beam kept for that many frames),
``commit_depth`` (the best beam's labels followed by that many more of its labels),
``commit_lag`` (labels the best beam emitted that many frames ago) and
``endpoint_frames`` (the best beam whole after that many frames of blank as the best
class, short of a pause).  ``hypothesis_hold`` picks what is shown between commits:
the best beam, or the best one within that margin that extends what was shown (fewer
revisions).

The native core (``emgrt/decode/charlm.cpp``, when :data:`emgrt.native.ACTIVE`) runs the same
search and rules, method for method, over the same LM scores (its own ARPA reader,
``emgrt/decode/ngram.cpp``, which gives kenlm's, or kenlm itself through :func:`_kenlm_scorer`
for a file that reader does not take): the events are identical (``tests/test_native.py``);
this module stays the readable reference.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence

import numpy as np

from emgrt import native
from emgrt.charset import BACKSPACE, ENTER, SHIFT, apply_backspaces, display
from emgrt.decode.base import DEFAULT_PAUSE_FRAMES, DecoderBase
from emgrt.decode.events import Event
from emgrt.decode.lmfiles import load_kenlm, load_native_ngram, resolve_lm
from emgrt.errors import ConfigError
from emgrt.lm.tokens import char_token
from emgrt.validate import Float, NonNegativeFloat, PositiveInt, parse

NEG_INF = -math.inf
LM_CACHE_SIZE = 20000  # cached LM extensions (about 200 bytes each)
_SERIALS = itertools.count()  # LMNode serial numbers (the extension cache's keys)


def _sum(values) -> float:
    """Left-to-right float sum (Python 3.12's ``sum`` compensates, which the C++ mirror does not)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def _kenlm_scorer(lm, tokens: list[str], enter: set[int]):
    """``(begin, score, end_score)`` over the KenLM model ``lm``: ``begin()`` is the begin-of-sentence
    state, ``score(state, label)`` the state after ``label`` (not shift or backspace; ENTER ends the
    sentence and begins the next) and its log10 probability, ``end_score(state)`` log10 P(</s> |
    state).  Closures over the model, not methods, so a native kernel that calls them holds no
    reference back to its decoder (no cycle)."""
    import kenlm

    def begin():
        st = kenlm.State()
        lm.BeginSentenceWrite(st)
        return st

    def score(state, label: int):
        st = kenlm.State()
        if label in enter:
            s = lm.BaseScore(state, "</s>", kenlm.State())
            lm.BeginSentenceWrite(st)
        else:
            s = lm.BaseScore(state, tokens[label], st)
        return st, s

    def end_score(state) -> float:
        return lm.BaseScore(state, "</s>", kenlm.State())

    return begin, score, end_score


class LMNode:
    """The LM after some displayed text: KenLM state, the weighted score its last character
    added, the node before that character, and cached extensions."""

    __slots__ = ("state", "score", "parent", "depth", "serial")

    def __init__(self, state, score: float = 0.0, parent: "LMNode | None" = None) -> None:
        self.state = state
        self.score = score
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.serial = next(_SERIALS)


class _Hyp:
    __slots__ = ("key", "frames", "last", "pb", "pnb", "node")

    def __init__(self, key: tuple, frames: tuple, last: int, node: LMNode | None) -> None:
        self.key, self.frames, self.last, self.node = key, frames, last, node
        self.pb = NEG_INF
        self.pnb = NEG_INF

    @property
    def total(self) -> float:
        return _lse(self.pb, self.pnb)


class CharLMDecoder(DecoderBase):
    """emg2qwerty's defaults: beam 50, LM weight 2.0, insertion bonus 2.0, 10 labels per frame.

    Keys are committed when every beam within ``commit_margin`` of the best agrees on them, and
    by whichever optional rules are set (module docstring).  Measured on data/default's held-out
    test sessions (4 sessions, 2619 keys; offline CER 24.82): default, commit p50 1.83 s, stable
    p50/p90 139/555 ms, revisions 0.374 per key; commit_lag 28, 0.99 s, CER 24.86, 0.324;
    commit_depth 4, 0.85 s, CER 24.93; commit_lag 19, 0.73 s, CER 28.5; endpoint_frames 4,
    0.27 s, CER 37.5 (greedy: 0.13 s, CER 41.1).  The rivals the LM settles late are whole
    words (life/oure, wales/calcs): a key's fate waits for the letters after it, so no single
    rule commits within 0.7 s at the offline accuracy.  Together, commit_depth 4 (clears the
    frozen rivals) + commit_prob 0.99 + hypothesis_hold 1.0: commit p50 0.69 s, stable p50/p90
    139/507 ms, CER 24.86, revisions 0.280.  The default keeps today's behaviour."""

    def __init__(
        self,
        labels: Sequence[str],
        blank: int,
        lm: str | None = "default",
        beam_size: int = 50,
        lm_weight: float = 2.0,
        insertion_bonus: float = 2.0,
        max_candidates: int = 10,
        beam_threshold: float = 25.0,
        commit_margin: float = 10.0,
        commit_lag: int | None = None,
        commit_prob: float | None = None,
        endpoint_frames: int | None = None,
        hypothesis_hold: float | None = None,
        commit_stable: int | None = None,
        commit_depth: int | None = None,
        max_pending: int = 48,
        max_undo: int = 64,
        pause_frames: int = DEFAULT_PAUSE_FRAMES,
    ) -> None:
        if beam_size < 1 or max_candidates < 1 or max_pending < 1 or max_undo < 1:
            raise ConfigError("beam_size, max_candidates, max_pending and max_undo must be >= 1")
        lm = resolve_lm(lm, "char", "char-lm")
        self.lm = load_kenlm(lm) if lm else None
        self.lm_path = lm
        self.beam_size = int(beam_size)
        self.lm_weight = float(lm_weight)
        self.insertion_bonus = float(insertion_bonus)
        self.max_candidates = int(max_candidates)
        self.beam_threshold = float(beam_threshold)
        self.commit_margin = float(commit_margin)
        # Commit and hypothesis policies (None: off), checked by the one validation layer.
        self.commit_lag = parse(PositiveInt | None, commit_lag, "commit_lag")  # output frames
        self.commit_prob = parse(Float(gt=0, le=1) | None, commit_prob, "commit_prob")
        self.endpoint_frames = parse(PositiveInt | None, endpoint_frames, "endpoint_frames")  # output frames
        self.hypothesis_hold = parse(NonNegativeFloat | None, hypothesis_hold, "hypothesis_hold")  # log-prob
        self.commit_stable = parse(PositiveInt | None, commit_stable, "commit_stable")  # output frames
        self.commit_depth = parse(PositiveInt | None, commit_depth, "commit_depth")  # labels
        self.max_pending = int(max_pending)
        self.max_undo = int(max_undo)
        self._special = {}
        for i, lab in enumerate(labels):
            if lab in (BACKSPACE, SHIFT, ENTER):
                self._special[i] = lab
        self._tokens = [char_token(lab) if lab else "" for lab in labels]
        enter = {i for i, lab in self._special.items() if lab == ENTER}
        self._lm_begin, self._lm_score, self._end_score = (
            _kenlm_scorer(self.lm, self._tokens, enter) if self.lm else (None, None, None))
        self._kernel = self._native_kernel(labels, blank, pause_frames) if native.ACTIVE else None
        super().__init__(labels, blank, pause_frames)

    def _native_kernel(self, labels: Sequence[str], blank: int, pause_frames: int):
        """The search on the native core, with this decoder's options (an off rule as 0 / -1), scoring
        with the core's own reader of the ARPA file where it takes it, else through kenlm."""
        kinds = {SHIFT: 1, BACKSPACE: 2}
        ngram = load_native_ngram(self.lm_path) if self.lm is not None else None
        return native.kernels.CharBeamSearch(
            beam_size=self.beam_size, lm_weight=self.lm_weight, insertion_bonus=self.insertion_bonus,
            beam_threshold=self.beam_threshold, commit_margin=self.commit_margin, commit_lag=self.commit_lag or 0,
            commit_prob=self.commit_prob or 0.0, endpoint_frames=self.endpoint_frames or 0,
            hypothesis_hold=-1.0 if self.hypothesis_hold is None else self.hypothesis_hold,
            commit_stable=self.commit_stable or 0, commit_depth=self.commit_depth or 0, max_pending=self.max_pending,
            max_undo=self.max_undo, pause_frames=int(pause_frames), special=[kinds.get(lab, 0) for lab in labels],
            blank=int(blank), ngram=ngram, tokens=self._tokens, enter=[int(lab == ENTER) for lab in labels],
            begin=self._lm_begin, score=self._lm_score, end_score=self._end_score,
        )

    # -- state ---------------------------------------------------------------------------------
    def _bos_node(self) -> LMNode | None:
        return None if self.lm is None else LMNode(self._lm_begin())

    def reset(self) -> None:
        super().reset()
        self._lm_cache: dict[tuple[int, int], LMNode] = {}
        if self._kernel is not None:  # the beams live in the kernel
            self._kernel.reset()
            return
        root = _Hyp((), (), -1, self._bos_node())
        root.pb = 0.0
        self._beams: list[_Hyp] = [root]
        self._committed_node = root.node
        self._shown: tuple = ()  # pending labels of the hypothesis shown last
        self._best_history: list[tuple] = []  # the best beam's pending labels, last commit_stable frames

    def beams(self) -> list[tuple[tuple, tuple]]:
        """(pending labels, their frames) of each live hypothesis, best first (for tests and tools)."""
        if self._kernel is not None:
            return self._kernel.beams()
        return [(h.key, h.frames) for h in self._beams]

    # -- LM ------------------------------------------------------------------------------------
    def _extend_lm(self, node: LMNode | None, label: int) -> tuple[LMNode | None, float]:
        """The LM node after typing ``label`` and the weighted score change it brings."""
        if node is None:
            return None, 0.0
        special = self._special.get(label)
        if special == SHIFT:
            return node, 0.0
        if special == BACKSPACE:
            if node.parent is None:
                return node, 0.0  # nothing (left) to erase in the LM
            return node.parent, -node.score
        key = (node.serial, label)
        child = self._lm_cache.get(key)
        if child is None:
            st, s = self._lm_score(node.state, label)
            if len(self._lm_cache) >= LM_CACHE_SIZE:
                self._lm_cache.clear()
            child = self._lm_cache[key] = LMNode(st, self.lm_weight * s + self.insertion_bonus, node)
        return child, child.score

    def lm_text_state(self, keys: str):
        """KenLM state after typing the key string ``keys`` from a fresh stream (for tests and tools)."""
        node = self._bos_node()
        index = {lab: i for i, lab in enumerate(self.labels)}
        for k in keys:
            node, _ = self._extend_lm(node, index[k])
        return None if node is None else node.state

    # -- search --------------------------------------------------------------------------------
    def _step(self, row: np.ndarray, frame: int) -> None:
        k = self.max_candidates
        cand = np.argpartition(-row, k)[:k] if k < row.shape[0] else np.arange(row.shape[0])
        cands = [(int(c), float(row[c])) for c in cand]
        blank = self.blank
        nxt: dict[tuple, _Hyp] = {}

        def entry(key: tuple, frames: tuple, last: int, node) -> _Hyp:
            h = nxt.get(key)
            if h is None:
                h = nxt[key] = _Hyp(key, frames, last, node)
            return h

        for h in self._beams:
            tot = h.total
            for c, p in cands:
                if c == blank:
                    e = entry(h.key, h.frames, h.last, h.node)
                    e.pb = _lse(e.pb, tot + p)
                    continue
                key = h.key + (c,)
                e = nxt.get(key)
                node, s = self._extend_lm(h.node, c)
                if e is None:
                    e = nxt[key] = _Hyp(key, h.frames + (frame,), c, node)
                if c == h.last:
                    same = entry(h.key, h.frames, h.last, h.node)
                    same.pnb = _lse(same.pnb, h.pnb + p)
                    e.pnb = _lse(e.pnb, h.pb + p + s)
                else:
                    e.pnb = _lse(e.pnb, tot + p + s)
        beams = heapq.nlargest(self.beam_size, nxt.values(), key=lambda x: x.total)
        floor = beams[0].total - self.beam_threshold
        self._beams = [b for b in beams if b.total >= floor]

    # -- committing ------------------------------------------------------------------------------
    def _commit_labels(self, labels: tuple, frames: tuple, node_after: LMNode | None) -> list[Event]:
        n = len(labels)
        if n == 0:
            return []
        events: list[Event] = [self._commit(self.labels[c], f) for c, f in zip(labels, frames)]
        self._shown = self._shown[n:] if self._shown[:n] == tuple(labels) else ()
        if self._best_history:
            labels = tuple(labels)
            cut = [k[n:] for k in self._best_history if k[:n] == labels]
            self._best_history = cut if len(cut) == len(self._best_history) else []
        for h in self._beams:
            h.key, h.frames = h.key[n:], h.frames[n:]
        self._committed_node = node_after
        self._release_history(node_after)
        return events

    def _release_history(self, node: LMNode | None) -> None:
        """Cut the LM trie ``max_undo`` characters below ``node`` so old text can be freed."""
        if node is None or node.depth <= 2 * self.max_undo:
            return
        for _ in range(self.max_undo):
            if node.parent is None:
                return
            node = node.parent
        node.parent = None
        # depths below the cut are stale but only compared against 2 * max_undo, which stays safe
        node.depth = 0

    def _commit_common_prefix(self) -> list[Event]:
        floor = self._beams[0].total - self.commit_margin
        keys = [h.key for h in self._beams if h.total >= floor]
        first = keys[0]
        n = len(first)
        for k in keys[1:]:
            n = min(n, len(k))
            i = 0
            while i < n and k[i] == first[i]:
                i += 1
            n = i
            if n == 0:
                return self._force_commit()
        if n:
            prefix = first[:n]
            self._beams = [h for h in self._beams if h.key[:n] == prefix]
        events = self._commit_labels(first[:n], self._beams[0].frames[:n], self._node_after_prefix(n))
        return events + self._force_commit()

    def _node_after_prefix(self, n: int) -> LMNode | None:
        """LM node of the committed text after the first ``n`` pending labels (all beams agree)."""
        node = self._committed_node
        for c in self._beams[0].key[:n]:
            node, _ = self._extend_lm(node, c)
        return node

    def _force_commit(self) -> list[Event]:
        """Commit the best hypothesis' first label while any pending suffix is too long."""
        events: list[Event] = []
        while max(len(h.key) for h in self._beams) > self.max_pending:
            best = self._beams[0]
            if not best.key:
                self._beams = [h for h in self._beams if len(h.key) <= self.max_pending]
                break
            first = best.key[0]
            self._beams = [h for h in self._beams if h.key[:1] == (first,)]
            events += self._commit_labels((first,), best.frames[:1], self._node_after_prefix(1))
        return events

    def _commit_stale(self, frame: int) -> list[Event]:
        """Fixed-lag commit: the best hypothesis' labels decided ``commit_lag`` frames ago or
        earlier are committed (beams that disagree are dropped), so a key reaches the screen at
        most ``commit_lag`` frames after the model emitted it even while the beams still differ
        about it.  Without it the beams may disagree for seconds and every key waits."""
        events: list[Event] = []
        if self.commit_lag is None:
            return events
        while self._beams[0].key and self._beams[0].frames[0] <= frame - self.commit_lag:
            best = self._beams[0]
            first = best.key[0]
            self._beams = [h for h in self._beams if h.key[:1] == (first,)]
            events += self._commit_labels((first,), best.frames[:1], self._node_after_prefix(1))
        return events

    def _commit_probable(self) -> list[Event]:
        """Posterior commit: the longest prefix of the best hypothesis' pending labels that beams
        holding at least ``commit_prob`` of the beam's probability mass (softmax of the hypothesis
        scores) share is committed, and the beams without it dropped.  Unlike the margin rule, a
        few unlikely beams that disagree do not hold every key back."""
        if self.commit_prob is None or not self._beams[0].key:
            return []
        top = self._beams[0].total
        weights = [math.exp(h.total - top) for h in self._beams]
        need = self.commit_prob * _sum(weights)
        first = self._beams[0].key
        alive = list(range(len(self._beams)))
        n = 0
        while n < len(first):
            c = first[n]
            keep = [i for i in alive if len(self._beams[i].key) > n and self._beams[i].key[n] == c]
            if _sum(weights[i] for i in keep) < need:
                break
            alive, n = keep, n + 1
        if n == 0:
            return []
        self._beams = [self._beams[i] for i in alive]
        return self._commit_labels(first[:n], self._beams[0].frames[:n], self._node_after_prefix(n))

    def _commit_stable_prefix(self) -> list[Event]:
        """Stability commit: the prefix the best beam has kept unchanged for the last
        ``commit_stable`` output frames (the best beams of those frames all start with it) is
        committed, and the beams without it dropped: a key reaches the committed text once the
        best reading of it has held that long, while a key the beams keep flipping waits."""
        if self.commit_stable is None:
            return []
        hist = self._best_history
        hist.append(self._beams[0].key)
        if len(hist) > self.commit_stable:
            del hist[0]
        if len(hist) < self.commit_stable:
            return []
        first = hist[-1]
        n = min(len(k) for k in hist)
        for k in hist[:-1]:
            i = 0
            while i < n and k[i] == first[i]:
                i += 1
            n = i
            if n == 0:
                return []
        prefix = first[:n]
        self._beams = [h for h in self._beams if h.key[:n] == prefix]
        return self._commit_labels(prefix, self._beams[0].frames[:n], self._node_after_prefix(n))

    def _commit_deep(self) -> list[Event]:
        """Depth commit: the best hypothesis' labels followed by at least ``commit_depth`` more of
        its labels are committed (beams that disagree dropped).  Once a reading is ``LM order - 1``
        labels deep, rivals that differ only there score the same from then on (same LM context,
        same acoustics), so the best can no longer change (but for backspaces reaching back and
        pruning): ``commit_depth`` = order - 1 loses next to nothing, smaller depths trade accuracy
        for latency.  Such frozen rivals (e.g. 'e,' vs 'd,' 1.3 nats apart) otherwise hold the
        margin and ``commit_prob`` rules back until a pause; with them gone those rules commit
        recent keys early.  Unlike ``commit_lag`` it never
        commits on time alone (a word's last letters wait for the letters after them)."""
        if self.commit_depth is None:
            return []
        best = self._beams[0]
        n = len(best.key) - self.commit_depth
        if n <= 0:
            return []
        prefix = best.key[:n]
        self._beams = [h for h in self._beams if h.key[:n] == prefix]
        return self._commit_labels(prefix, best.frames[:n], self._node_after_prefix(n))

    def _commit_endpoint(self, frame: int) -> list[Event]:
        """Endpoint commit: once the blank has been the best class for ``endpoint_frames`` output
        frames in a row and the best hypothesis ends in blank (its blank-ending score dominates), its pending labels are
        committed whole, as a streaming speech engine commits at an endpoint (no FinalEvent: the
        segment goes on until a pause)."""
        if self.endpoint_frames is None or self._blank_run < self.endpoint_frames:
            return []
        best = self._beams[0]
        if not best.key or best.pb < best.pnb:
            return []
        self._beams = [h for h in self._beams if h.key[: len(best.key)] == best.key]
        return self._commit_labels(best.key, best.frames, best.node)

    def _commit_best(self, frame: int) -> list[Event]:
        best = max(self._beams, key=lambda h: h.total)
        self._beams = [best]
        events = self._commit_labels(best.key, best.frames, best.node)
        return events + self._final(frame)

    # -- streaming API ---------------------------------------------------------------------------
    def push(self, log_probs: np.ndarray, first_frame: int) -> list[Event]:
        lp = self._check(log_probs)
        if self._kernel is not None:
            return self._push_native(lp, first_frame)
        events: list[Event] = []
        for i, row in enumerate(lp):
            frame = first_frame + i
            self._step(row, frame)
            events += self._commit_common_prefix()
            events += self._commit_probable()
            events += self._commit_stable_prefix()
            events += self._commit_deep()
            events += self._commit_stale(frame)
            pause = self._pause_tick(int(row.argmax()) == self.blank, frame)
            events += self._commit_endpoint(frame)
            if pause:
                events += self._commit_best(frame)
        if len(lp):
            events += self._hypothesis_event(self._pending_text(), first_frame + len(lp) - 1)
        return events

    def _candidates(self, lp: np.ndarray) -> np.ndarray:
        """Each row's ``max_candidates`` labels, in the order ``_step`` tries them."""
        k = self.max_candidates
        if k < lp.shape[1]:
            return np.ascontiguousarray(np.argpartition(-lp, k, axis=1)[:, :k], dtype=np.int64)
        return np.ascontiguousarray(np.broadcast_to(np.arange(lp.shape[1], dtype=np.int64), lp.shape))

    def _push_native(self, lp: np.ndarray, first_frame: int) -> list[Event]:
        """push on the native core: the same search, its commits replayed into events here."""
        kernel = self._kernel
        blank_best = np.ascontiguousarray(lp.argmax(axis=1) == self.blank, dtype=np.uint8)
        ops = kernel.push(np.ascontiguousarray(lp), self._candidates(lp), blank_best, int(first_frame))
        events = self._replay(ops)
        self._blank_run, self._last_frame = kernel.blank_run, kernel.last_frame
        if len(lp):
            shown = kernel.pending()
            events += self._hypothesis_event(self._display(shown), first_frame + len(lp) - 1)
        return events

    def _display(self, labels) -> str:
        return display(apply_backspaces("".join(self.labels[c] for c in labels)))

    def _pending_text(self) -> str:
        """The hypothesis shown after the committed text: the best beam's pending labels, or with
        ``hypothesis_hold`` set, the best beam within that margin of the best whose labels extend
        the ones shown last (so the screen only grows while a close rival leads; it is revised
        once the rival leads by more than the margin, or the shown reading drops out)."""
        shown = self._beams[0]
        if self.hypothesis_hold is not None and self._shown:
            floor = shown.total - self.hypothesis_hold
            n = len(self._shown)
            for h in self._beams:  # best first
                if h.total < floor:
                    break
                if h.key[:n] == self._shown:
                    shown = h
                    break
        self._shown = shown.key
        return self._display(shown.key)

    def flush(self) -> list[Event]:
        if self._kernel is not None:
            events = self._replay(self._kernel.flush())
            events += self._hypothesis_event("", self._last_frame)
            self._blank_run = 0
            return events
        if self.lm is not None:  # rank by the text ending here (</s>), as emg2qwerty's finish()

            def final_score(h: _Hyp) -> float:
                if h.node is None:
                    return h.total
                return h.total + self.lm_weight * self._end_score(h.node.state)

            self._beams.sort(key=final_score, reverse=True)
            self._beams = self._beams[:1]
        events = self._commit_best(self._last_frame)
        events += self._hypothesis_event("", self._last_frame)
        self._blank_run = 0
        return events
