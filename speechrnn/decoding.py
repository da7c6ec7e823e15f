"""Turn CTC log-probabilities into text: greedy, prefix beam search and command-list decoding.

Every function here takes the output of the acoustic model for ONE utterance, ``log_probs`` of
shape (frames, vocab): per-frame log-probabilities (a log-softmax) over :data:`tokenizer.VOCAB`,
index 0 being the CTC blank. Decoding is cheap next to the model, so it runs on the CPU in float32.

Command mode (:class:`CommandDecoder`) constrains the output to a list of phrases given at run time
and rejects audio that is none of them, by comparing each phrase's best alignment with the best
path through a background vocabulary (:class:`speechrnn.lexicon.Lexicon`) and with the best
unconstrained path (a "filler" model that can say anything). See :class:`CommandDecoder` for the
statistic.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional

from speechrnn import tokenizer
from speechrnn.lexicon import Lexicon
from speechrnn.lm import SENTENCE_END, SENTENCE_START, LMWeights, WordLM

# Deprecated in torchaudio 2.8, then kept (pytorch/audio#4147) and present in 2.11. When it is
# missing, or raises RuntimeError because torchaudio was built without the alignment extension,
# _viterbi_paths below computes the same alignment in numpy.
_torchaudio_forced_align: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = getattr(
    torchaudio.functional, "forced_align", None
)

NEG_INF = float("-inf")

# Rejection threshold on CommandMatch.score (see CommandDecoder), a log-probability per character,
# so <= 0. At -0.5 a phrase is accepted when its characters are on average at least e^-0.5 ~ 0.6
# times as likely as the likeliest words of the background vocabulary, at least e^-1 ~ 0.37 times
# as likely as the best unconstrained explanation (R, halved in the statistic), and every word was
# heard with a geometric-mean character posterior of at least 0.37 (A, halved). A clearly spoken
# command scores about log(0.9) ~ -0.1. One confidently wrong letter costs about log(1e-3) ~ -7:
# spread over a short word it is rejected, over "turn on the lights" (-7/18 against "turn on the
# light", halved) it is not. Silence and other speech score far lower. A bundled model carries a
# threshold calibrated on held-out voices (benchmarks/command_threshold.py); retune on real data
# with CommandMatch.scores, which holds the statistic of every phrase.
DEFAULT_COMMAND_THRESHOLD = -0.5
# The statistic's version. A checkpoint stores the threshold calibrated for one version
# (recipes/synthetic/export.py writes both); a threshold calibrated for another statistic does not
# apply, and such a checkpoint gets DEFAULT_COMMAND_THRESHOLD instead. Version 1 was min(R, A)
# without the background vocabulary.
COMMAND_STATISTIC_VERSION = 2

# Beam search skips tokens more than this far (natural log) below the frame's best symbol, and
# extensions this far below the best prefix's best extension: e^-10 ~ 5e-5 times as likely, too
# unlikely to reach a beam of size <= ~100.
DEFAULT_PRUNE_MARGIN = 10.0
# The same with a word LM, whose beams hold more competing spellings: benchmarks/lm_weights.py
# measured margin 6 as accurate as 10 (beam 16: 60.4% vs 60.3% WER) in half the time.
DEFAULT_LM_PRUNE_MARGIN = 6.0


@dataclass(frozen=True)
class Hypothesis:
    """One decoded transcript."""

    # Collapsed token ids (CTC repeats merged, blanks removed).
    tokens: tuple[int, ...]
    # Best-path log-probability for greedy decoding, prefix log-probability (summed over all the
    # paths that collapse to ``tokens``) for beam search.
    log_prob: float
    # tokenizer.decode(tokens).
    text: str


@dataclass(frozen=True)
class WordSpan:
    """Where a word sits in the utterance, in frames of ``log_probs``."""

    word: str
    # First frame of the word's first character.
    start_frame: int
    # One past the last frame of the word's last character.
    end_frame: int


@dataclass(frozen=True)
class CommandMatch:
    """The outcome of command-list decoding."""

    # The accepted phrase exactly as the user gave it, or None when the audio was rejected.
    command: str | None
    # The top-scoring phrase as the user gave it, even when rejected.
    best_phrase: str
    # The rejection statistic of best_phrase (<= 0, higher is better); accepted iff >= threshold.
    score: float
    # exp(score), in [0, 1].
    confidence: float
    # The statistic for every phrase (as given), for diagnostics and threshold tuning; upper
    # bounds of it when no phrase could reach the threshold (see CommandDecoder).
    scores: dict[str, float]


def _as_matrix(log_probs: torch.Tensor) -> torch.Tensor:
    """Check the shape of ``log_probs`` and bring it to a detached float32 CPU tensor."""
    if log_probs.dim() != 2:
        raise ValueError(
            f"log_probs must have shape (frames, vocab) for one utterance, "
            f"got shape {tuple(log_probs.shape)}"
        )
    if log_probs.shape[1] < 2:
        raise ValueError(f"log_probs needs a blank and at least one token, got {log_probs.shape}")
    matrix = log_probs.detach().to(device="cpu", dtype=torch.float32)
    if torch.isnan(matrix).any():
        raise ValueError("log_probs contains NaN")
    return matrix


def _check_tokens(tokens: Sequence[int], vocab_size: int) -> tuple[int, ...]:
    """Validate target tokens: no blank, all inside the vocabulary."""
    checked = tuple(int(token) for token in tokens)
    for token in checked:
        if not 0 < token < vocab_size:
            raise ValueError(
                f"tokens must be in 1..{vocab_size - 1} (0 is the CTC blank), got {token}"
            )
    return checked


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without overflow, for Python floats."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def _collapse(frame_tokens: Sequence[int]) -> tuple[int, ...]:
    """Apply the CTC collapse: merge repeats, then drop blanks."""
    collapsed: list[int] = []
    previous = tokenizer.BLANK
    for token in frame_tokens:
        if token != previous and token != tokenizer.BLANK:
            collapsed.append(token)
        previous = token
    return tuple(collapsed)


def _hypothesis(tokens: tuple[int, ...], log_prob: float) -> Hypothesis:
    return Hypothesis(tokens=tokens, log_prob=log_prob, text=tokenizer.decode(tokens))


def greedy_decode(log_probs: torch.Tensor) -> Hypothesis:
    """Best-path decoding: the most likely token per frame, then the CTC collapse.

    Args:
        log_probs: (frames, vocab) CTC log-probabilities of one utterance.

    Returns:
        The collapsed hypothesis; ``log_prob`` is the log-probability of the best path.
    """
    matrix = _as_matrix(log_probs)
    if matrix.shape[0] == 0:
        return _hypothesis((), 0.0)
    best_log_probs, best_tokens = matrix.max(dim=1)
    return _hypothesis(_collapse(best_tokens.tolist()), float(best_log_probs.sum()))


def _frame_candidates(
    matrix: torch.Tensor, max_tokens: int, prune_margin: float | None
) -> tuple[list[list[tuple[int, float]]], list[float | None], list[float]]:
    """The tokens prefix beam search tries at each frame.

    Args:
        matrix: (frames, vocab) log-probabilities.
        max_tokens: Most non-blank tokens tried per frame (the best ones).
        prune_margin: Drop tokens more than this below the frame's best symbol; None keeps all.

    Returns:
        Per frame: the (token, log-probability) pairs to extend prefixes with, best first; the
        blank's log-probability (None when the blank is pruned); and the floor below which
        symbols are pruned (-inf when nothing is).
    """
    blank = tokenizer.BLANK
    non_blank = torch.cat((matrix[:, :blank], matrix[:, blank + 1 :]), dim=1)
    top_log_probs, top_indices = non_blank.topk(min(max_tokens, non_blank.shape[1]), dim=1)
    top_tokens = top_indices + (top_indices >= blank).long()  # back to vocabulary indices
    if prune_margin is None:
        floors = [NEG_INF] * matrix.shape[0]
    else:
        floors = (matrix.max(dim=1).values - prune_margin).tolist()
    candidates = [
        [
            (token, log_prob)
            for token, log_prob in zip(tokens, log_probs, strict=True)
            if log_prob >= floor
        ]
        for tokens, log_probs, floor in zip(
            top_tokens.tolist(), top_log_probs.tolist(), floors, strict=True
        )
    ]
    blanks: list[float | None] = [
        log_prob if log_prob >= floor else None
        for log_prob, floor in zip(matrix[:, blank].tolist(), floors, strict=True)
    ]
    return candidates, blanks, floors


class _WordScores:
    """Language-model scores of the prefixes in a beam search's trie, one entry per node."""

    def __init__(self, lm: WordLM, weights: LMWeights) -> None:
        self.lm, self.weights = lm, weights
        # Per node: the last finished word (context), the word being spelled, the score so far.
        self.context = [SENTENCE_START]
        self.partial = [""]
        self.score = [0.0]

    def _word(self, context: str, word: str) -> float:
        """What finishing ``word`` after ``context`` adds to a prefix's score."""
        return self.weights.weight * self.lm.log_prob(context, word) + self.weights.word_bonus

    def add_child(self, parent: int, token: int) -> None:
        context, partial, score = self.context[parent], self.partial[parent], self.score[parent]
        if token == tokenizer.SPACE:
            if partial:  # a word ends (a space after a space changes nothing)
                score += self._word(context, partial)
                context, partial = partial, ""
        else:
            partial += tokenizer.VOCAB[token]
            if not self.lm.is_prefix(partial):
                score += self.weights.unknown_letter
        self.context.append(context)
        self.partial.append(partial)
        self.score.append(score)

    def final(self, node: int) -> float:
        """The node's score with its last word and the end of the sentence scored."""
        context, partial, score = self.context[node], self.partial[node], self.score[node]
        if partial:
            score += self._word(context, partial)
            context = partial
        return score + self.weights.weight * self.lm.log_prob(context, SENTENCE_END)


def prefix_beam_search(
    log_probs: torch.Tensor,
    beam_size: int = 8,
    prune_margin: float | None = DEFAULT_PRUNE_MARGIN,
    lm: WordLM | None = None,
    lm_weights: LMWeights | None = None,
) -> list[Hypothesis]:
    """CTC prefix beam search in log space, optionally with a word language model.

    Each prefix (collapsed token sequence) keeps two log-probabilities: of the paths ending in a
    blank and of those ending in its last token. Only the split tells whether the next frame's
    copy of the last token is a repeat to merge ("a" + "a" -> "a") or, after a blank, a new token
    ("a" + blank + "a" -> "aa"). With ``lm``, prefixes are ranked by their acoustic
    log-probability plus the language-model score of the words they spell (see
    :class:`speechrnn.lm.LMWeights`); a word is scored when the space after it (or the end of the
    utterance) arrives.

    Args:
        log_probs: (frames, vocab) CTC log-probabilities of one utterance.
        beam_size: Prefixes kept after each frame.
        prune_margin: For speed, each frame only tries its ``beam_size`` best tokens, and of
            those only the ones at most this far (natural log) below the frame's best symbol.
            None tries every token at every frame: an exact search when ``beam_size`` is at least
            the number of distinct prefixes.
        lm: Word language model, or None for the acoustic model alone.
        lm_weights: How to mix it in (default :class:`~speechrnn.lm.LMWeights`).

    Returns:
        Up to ``beam_size`` hypotheses, best first; ``log_prob`` is the prefix's acoustic
        log-probability summed over all its paths (the language model only ranks them).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if prune_margin is not None and not prune_margin >= 0:
        raise ValueError(f"prune_margin must be >= 0 or None, got {prune_margin}")
    matrix = _as_matrix(log_probs)
    max_tokens = matrix.shape[1] if prune_margin is None else beam_size
    candidates, blanks, floors = _frame_candidates(matrix, max_tokens, prune_margin)

    # Prefixes live in a trie, as node ids: extending one is a dict lookup, not a tuple copy,
    # and the beams are keyed by small ints rather than hashed token sequences.
    parents = [-1]
    last_tokens = [tokenizer.BLANK]
    children: dict[tuple[int, int], int] = {}
    words = None if lm is None else _WordScores(lm, lm_weights or LMWeights())
    # node -> (log P(paths ending in blank), log P(paths ending in the prefix's last token))
    beams: dict[int, tuple[float, float]] = {0: (0.0, NEG_INF)}
    best_total = 0.0
    for frame_candidates, blank_log_prob, floor in zip(candidates, blanks, floors, strict=True):
        # Extensions this far below the best prefix's best extension cannot enter the beam.
        threshold = best_total + floor
        ends_blank_next: dict[int, float] = {}
        ends_token_next: dict[int, float] = {}
        for node, (ends_blank, ends_token) in beams.items():
            total = _log_add(ends_blank, ends_token)
            if blank_log_prob is not None and total + blank_log_prob >= threshold:
                ends_blank_next[node] = _log_add(
                    ends_blank_next.get(node, NEG_INF), total + blank_log_prob
                )
            last = last_tokens[node]
            for token, token_log_prob in frame_candidates:
                if total + token_log_prob < threshold:
                    break  # candidates come best first, and both uses below are <= this
                if token == last:
                    # Without a blank in between, the repeated token merges into the prefix...
                    ends_token_next[node] = _log_add(
                        ends_token_next.get(node, NEG_INF), ends_token + token_log_prob
                    )
                    # ...and only paths that ended in a blank start a new copy of it.
                    source = ends_blank
                else:
                    source = total
                child = children.get((node, token))
                if child is None:
                    child = children[node, token] = len(parents)
                    parents.append(node)
                    last_tokens.append(token)
                    if words is not None:
                        words.add_child(node, token)
                ends_token_next[child] = _log_add(
                    ends_token_next.get(child, NEG_INF), source + token_log_prob
                )
        scored = []
        for node in ends_blank_next.keys() | ends_token_next.keys():
            pair = (ends_blank_next.get(node, NEG_INF), ends_token_next.get(node, NEG_INF))
            acoustic = _log_add(*pair)
            rank = acoustic if words is None else acoustic + words.score[node]
            scored.append((rank, acoustic, node, pair))
        best = heapq.nlargest(beam_size, scored, key=lambda item: item[0])
        beams = {node: pair for _, _, node, pair in best}
        # Pruning compares acoustic log-probabilities only.
        best_total = max(item[1] for item in best)

    finals = []
    for node, pair in beams.items():
        acoustic = _log_add(*pair)
        finals.append((acoustic if words is None else acoustic + words.final(node), acoustic, node))
    finals.sort(key=lambda item: item[0], reverse=True)
    hypotheses = []
    for _, log_prob, node in finals:
        tokens = []
        while node > 0:
            tokens.append(last_tokens[node])
            node = parents[node]
        hypotheses.append(_hypothesis(tuple(reversed(tokens)), log_prob))
    return hypotheses


def decode(
    log_probs: torch.Tensor,
    beam_size: int = 1,
    lm: WordLM | None = None,
    lm_weights: LMWeights | None = None,
) -> Hypothesis:
    """Decode one utterance freely (no command list).

    Args:
        log_probs: (frames, vocab) CTC log-probabilities of one utterance.
        beam_size: 1 for greedy decoding, more for prefix beam search.
        lm: Word language model for the beam search (ignored by greedy decoding); the search
            then prunes at :data:`DEFAULT_LM_PRUNE_MARGIN`, else at :data:`DEFAULT_PRUNE_MARGIN`.
        lm_weights: How to mix it in.

    Returns:
        The best hypothesis.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if beam_size == 1:
        return greedy_decode(log_probs)
    margin = DEFAULT_PRUNE_MARGIN if lm is None else DEFAULT_LM_PRUNE_MARGIN
    return prefix_beam_search(log_probs, beam_size, margin, lm=lm, lm_weights=lm_weights)[0]


def _min_frames(tokens: Sequence[int]) -> int:
    """Frames CTC needs for ``tokens``: one per token plus a blank between each repeated pair."""
    repeats = sum(1 for a, b in itertools.pairwise(tokens) if a == b)
    return len(tokens) + repeats


# The batched Viterbi's Python loop over frames beats one forced_align call per phrase on short
# utterances (20 phrases: 1.1 against 3.4 ms at 25 frames, 1 s of audio) but loses on long ones
# (9.6 against 6.0 ms at 250 frames); phrases go in chunks so memory stays small for long lists.
_BATCHED_VITERBI_MAX_FRAMES = 128
_BATCHED_VITERBI_PHRASES = 64


def _viterbi_paths(
    matrix: np.ndarray, token_lists: Sequence[tuple[int, ...]]
) -> list[list[int] | None]:
    """Best CTC paths of several phrases through one utterance, all phrases at once.

    The recursion forced_align runs, over every phrase's states side by side in numpy: a command
    list is scored with one pass over the frames instead of one aligner call per phrase, whose
    fixed cost dominated on short clips. With one phrase it is also the fallback for a torchaudio
    without forced_align.

    Args:
        matrix: (frames, vocab) float32 log-probabilities, frames >= 1.
        token_lists: Non-empty target tokens, one tuple per phrase.

    Returns:
        Per phrase, the token (or blank) emitted at each frame, or None when there are too few
        frames for it.
    """
    blank = tokenizer.BLANK
    frames = matrix.shape[0]
    count = len(token_lists)
    width = 2 * max(len(tokens) for tokens in token_lists) + 1
    # (phrases, width) states blank, token, blank, ..., token, blank; padding repeats the blank.
    states = np.full((count, width), blank, dtype=np.int64)
    can_skip = np.zeros((count, width), dtype=bool)
    valid = np.zeros((count, width), dtype=bool)
    for row, tokens in enumerate(token_lists):
        states[row, 1 : 2 * len(tokens) : 2] = tokens
        valid[row, : 2 * len(tokens) + 1] = True
        token_states = np.arange(3, 2 * len(tokens), 2)
        can_skip[row, token_states] = states[row, token_states] != states[row, token_states - 2]
    neg_inf = np.float32(NEG_INF)
    # (frames, phrases, width); padding states can never be entered.
    emissions = np.where(valid, matrix[:, states], neg_inf)
    score = np.full((count, width), neg_inf, dtype=np.float32)
    score[:, :2] = emissions[0, :, :2]
    steps = np.zeros((frames, count, width), dtype=np.int8)  # 0, 1 or 2 states back
    candidates = np.empty((3, count, width), dtype=np.float32)
    # Skips are barred by adding -inf: one addition per frame instead of a masked assignment.
    skip_cost = np.where(can_skip, np.float32(0.0), neg_inf)[:, 2:]
    candidates[1, :, 0] = neg_inf
    candidates[2, :, :2] = neg_inf
    for frame in range(1, frames):
        candidates[0] = score
        candidates[1, :, 1:] = score[:, :-1]
        np.add(score[:, :-2], skip_cost, out=candidates[2, :, 2:])
        steps[frame] = candidates.argmax(axis=0)  # the first of equals, as torch.max
        # The maximum is the value at the argmax, exactly.
        score = candidates.max(axis=0) + emissions[frame]
    rows = np.arange(count)
    last = np.array([2 * len(tokens) for tokens in token_lists])
    # A path ends in the last token or the blank after it.
    state = np.where(score[rows, last] >= score[rows, last - 1], last, last - 1)
    trail = np.empty((frames, count), dtype=np.int64)
    trail[-1] = state
    for frame in range(frames - 1, 0, -1):
        state = state - steps[frame, rows, state]
        trail[frame - 1] = state
    labels = states[rows, trail].T.tolist()  # (phrases, frames)
    return [
        labels[row] if frames >= _min_frames(tokens) else None
        for row, tokens in enumerate(token_lists)
    ]


def _best_path(matrix: torch.Tensor, tokens: tuple[int, ...]) -> list[int] | None:
    """Best CTC path of ``tokens``, or None when there are too few frames for them.

    Args:
        matrix: (frames, vocab) log-probabilities.
        tokens: Target tokens without blanks.

    Returns:
        The token (or blank) emitted at each frame along the best path, or None.
    """
    if not tokens or matrix.shape[0] < _min_frames(tokens):
        return None
    if _torchaudio_forced_align is not None:
        try:
            path, _ = _torchaudio_forced_align(
                matrix.unsqueeze(0),
                torch.tensor([tokens], dtype=torch.int32),
                blank=tokenizer.BLANK,
            )
            return [int(token) for token in path[0].tolist()]
        except RuntimeError:  # pragma: no cover - torchaudio built without alignment support
            pass
    return _viterbi_paths(matrix.numpy(), [tokens])[0]


def _token_spans(path: Sequence[int]) -> list[tuple[int, int]]:
    """Frames (start, end) of each token along a CTC path, in order.

    A run of identical non-blank labels is one token: CTC puts a blank between repeated tokens.
    """
    spans: list[tuple[int, int]] = []
    previous = tokenizer.BLANK
    for frame, label in enumerate(path):
        if label != tokenizer.BLANK:
            if label == previous:
                spans[-1] = (spans[-1][0], frame + 1)
            else:
                spans.append((frame, frame + 1))
        previous = label
    return spans


def _token_log_posteriors(
    matrix: torch.Tensor | np.ndarray, tokens: tuple[int, ...], path: Sequence[int]
) -> list[float]:
    """Per token, its best frame log-posterior among the frames the path gives it.

    The best frame, not the mean: a CTC model fires a token on one or two frames, and the path may
    stretch the token over neighbouring frames where it is less sure.
    """
    spans = _token_spans(path)
    assert len(spans) == len(tokens), "the path does not collapse to the tokens"
    return [
        float(matrix[start:end, token].max())
        for token, (start, end) in zip(tokens, spans, strict=True)
    ]


def _words(tokens: Sequence[int]) -> list[tuple[int, int]]:
    """Token index ranges [start, end) of the words, split at the space token."""
    words: list[tuple[int, int]] = []
    start = 0
    for index, token in enumerate((*tokens, tokenizer.SPACE)):
        if token == tokenizer.SPACE:
            if index > start:
                words.append((start, index))
            start = index + 1
    return words


def align_words(log_probs: torch.Tensor, tokens: Sequence[int]) -> list[WordSpan]:
    """Place each word of a transcript in time by CTC forced alignment.

    Args:
        log_probs: (frames, vocab) CTC log-probabilities of one utterance.
        tokens: The transcript as token ids (no blanks), e.g. ``Hypothesis.tokens``; words are
            separated by the space token.

    Returns:
        One span per word, in order. A word spans from its first character's first frame to one
        past its last character's last frame. With too few frames for a CTC alignment the words
        are spread evenly over the frames instead (zero-width when there are no frames at all).
    """
    matrix = _as_matrix(log_probs)
    targets = _check_tokens(tokens, matrix.shape[1])
    if not targets:
        return []
    path = _best_path(matrix, targets)
    if path is None:
        num_frames, num_tokens = matrix.shape[0], len(targets)
        spans = [
            (index * num_frames // num_tokens, (index + 1) * num_frames // num_tokens)
            for index in range(num_tokens)
        ]
    else:
        spans = _token_spans(path)
        assert len(spans) == len(targets), "the path does not collapse to the tokens"
    word_spans = []
    for first, last in _words(targets):
        start = spans[first][0]
        # Even spreading can give a token no frame; keep every word at least a frame wide.
        end = max(spans[last - 1][1], min(start + 1, matrix.shape[0]))
        word_spans.append(WordSpan(tokenizer.decode(targets[first:last]), start, end))
    return word_spans


def hypothesis_confidence(log_probs: torch.Tensor, hypothesis: Hypothesis) -> float:
    """How sure the model is of a hypothesis, in [0, 1].

    For a non-empty hypothesis: the geometric mean, over its tokens, of each token's best
    posterior along the forced alignment (0 if it cannot be aligned). For an empty one: the
    geometric mean over frames of the blank posterior, i.e. how sure the model is that nothing was
    said (near 1 on silence, 1/vocab on uniform noise). 0 for zero frames: there is no evidence.

    Args:
        log_probs: (frames, vocab) CTC log-probabilities of one utterance.
        hypothesis: A hypothesis decoded from ``log_probs``.

    Returns:
        The confidence.
    """
    matrix = _as_matrix(log_probs)
    if matrix.shape[0] == 0:
        return 0.0
    tokens = _check_tokens(hypothesis.tokens, matrix.shape[1])
    if not tokens:
        mean_log_prob = float(matrix[:, tokenizer.BLANK].mean())
    else:
        path = _best_path(matrix, tokens)
        if path is None:
            return 0.0
        posteriors = _token_log_posteriors(matrix, tokens, path)
        mean_log_prob = sum(posteriors) / len(posteriors)
    return min(1.0, max(0.0, math.exp(mean_log_prob)))


class CommandDecoder:
    """Recognize one of a list of phrases given at run time, or reject the audio.

    Each phrase is scored by its best CTC path (Viterbi, via forced alignment) rather than by its
    full CTC likelihood (``ctc_loss``, a sum over all paths): the competitors it is compared with
    are best paths too, and comparing a max with a max makes each log-ratio <= 0 by construction
    (the phrase's best path is among the competitor's paths) and 0 exactly when the competitor's
    best path spells the phrase. A sum over paths would grow with the number of alignments a
    phrase admits, i.e. with utterance and phrase length. On utterances of up to 128 frames (5 s)
    all phrases are aligned together, in one Viterbi pass over the frames (:func:`_viterbi_paths`);
    longer ones use one ``forced_align`` call per phrase, which is faster there.

    The statistic of a phrase is ``min(L, R / 2, A / 2)``, all three log-probabilities <= 0:

    * L, the per-character log-likelihood ratio against the background vocabulary:
      ``(log P(best path of phrase) - log P(best path of any word sequence)) / len(phrase)``,
      the word sequences being those of ``lexicon`` and the phrases (the empty one, silence,
      included). It asks whether the phrase is the likeliest thing in the vocabulary that was
      said: a right word the model spells a letter wrong still wins it ("clucs" is no word, so
      "clubs" is the best), while an out-of-list word loses to itself. Frames where both paths
      agree (the silence around a command) cancel, so padding does not matter.
    * R, the same ratio against the best unconstrained path (any spelling), divided by
      ``max(len(phrase), len(greedy text))``: low for speech that is no word of the vocabulary,
      and for extra words (the phrase must force blanks where the model spells them); dividing
      by characters, not frames, keeps a wrong word costly in a long recording.
    * A, the worst word: per word of the phrase, the mean over its characters of each
      character's best log-posterior along the phrase's path; A is the lowest. The ratios
      cannot reject audio the model is unsure about (uniform posteriors make every path equally
      likely, ratio 0), and a per-word minimum keeps one wrong word from hiding in a long phrase.

    R and A are halved: with L deciding between words, they only need to catch what L cannot
    see, and at full weight they rejected right words that real voices make the model spell
    unsurely (benchmarks/command_threshold.py calibrates the threshold on held-out voices).
    ``confidence = exp(score)``. The phrase with the highest statistic wins and is accepted when
    its statistic is >= the threshold.

    L needs the background search, the costliest step. When ``min(R / 2, A / 2)`` of every phrase
    is already below the threshold, the audio is rejected whatever L is (L only lowers a score),
    so the search is skipped and the scores are ``min(R / 2, A / 2)``, upper bounds of the
    statistic. Out-of-list speech, silence and noise, most of what a live stream hears, mostly
    end there. With ``threshold=-inf`` (threshold tuning) every score is the full statistic.

    Args:
        commands: The phrases, in any spelling :func:`tokenizer.normalize_text` understands.
        threshold: Acceptance threshold on the statistic (<= 0; higher is stricter).
        lexicon: The background vocabulary, e.g. :attr:`Recognizer.lexicon
            <speechrnn.transcribe.Recognizer.lexicon>` (the words of the model's language model
            and the number words); None uses the words of the commands alone, so L then only
            compares phrases with each other and with silence.

    Attributes:
        commands: The phrases as given.
        normalized: Their normalized text, in the same order.
        threshold: The acceptance threshold.
        lexicon: The background vocabulary.

    Raises:
        ValueError: No phrases, a phrase with nothing speakable, two phrases that normalize
            alike, or a threshold that is NaN or above 0 (it could accept nothing).
    """

    def __init__(
        self,
        commands: Sequence[str],
        threshold: float = DEFAULT_COMMAND_THRESHOLD,
        lexicon: Lexicon | None = None,
    ) -> None:
        if isinstance(commands, str):
            raise ValueError("commands must be a sequence of phrases, not a single string")
        if len(commands) == 0:
            raise ValueError("commands must contain at least one phrase")
        if math.isnan(threshold):
            raise ValueError("threshold must be a number, got NaN")
        if threshold > 0:
            # The statistic is a log-probability, <= 0, so such a threshold would reject every
            # clip without a word; the likely mistake is a confidence (exp of the statistic).
            hint = f"; for a confidence of {threshold:g} use {math.log(threshold):.2f}"
            raise ValueError(
                f"threshold must be <= 0 (a log-probability per character), got {threshold:g}"
                + (hint if threshold < 1 else "")
            )
        normalized_to_phrase: dict[str, str] = {}
        targets = []
        for phrase in commands:
            if not isinstance(phrase, str):
                raise TypeError(f"commands must be strings, got {type(phrase).__name__} {phrase!r}")
            normalized = tokenizer.normalize_text(phrase)
            if not normalized:
                raise ValueError(f"command {phrase!r} has nothing speakable after normalization")
            if normalized in normalized_to_phrase:
                raise ValueError(
                    f"commands {normalized_to_phrase[normalized]!r} and {phrase!r} are the same "
                    f"phrase once normalized ({normalized!r})"
                )
            normalized_to_phrase[normalized] = phrase
            targets.append(tuple(tokenizer.encode(normalized)))
        self.commands: tuple[str, ...] = tuple(commands)
        self.normalized: tuple[str, ...] = tuple(normalized_to_phrase)
        self.threshold = threshold
        self.lexicon = Lexicon(self.normalized) if lexicon is None else lexicon
        self._targets: tuple[tuple[int, ...], ...] = tuple(targets)

    def tokens_of(self, command: str) -> tuple[int, ...]:
        """The token ids of a phrase, e.g. to align the words of an accepted command.

        Args:
            command: One of :attr:`commands`, exactly as given.

        Returns:
            The tokens of its normalized text.
        """
        try:
            return self._targets[self.commands.index(command)]
        except ValueError:
            raise ValueError(
                f"unknown command {command!r}; choose from {list(self.commands)}"
            ) from None

    def decode(self, log_probs: torch.Tensor) -> CommandMatch:
        """Pick the phrase the audio most likely is, or reject it.

        Args:
            log_probs: (frames, vocab) CTC log-probabilities of one utterance.

        Returns:
            The match; ``command`` is None when rejected (including zero frames, and phrases
            needing more frames than there are, which score -inf).
        """
        matrix = _as_matrix(log_probs)
        largest_token = max(max(targets) for targets in self._targets)
        if matrix.shape[1] <= largest_token:
            raise ValueError(
                f"log_probs has {matrix.shape[1]} symbols but the commands use token "
                f"{largest_token}; expected the {tokenizer.VOCAB_SIZE} symbols of tokenizer.VOCAB"
            )
        if matrix.shape[0] == 0:
            scores = dict.fromkeys(self.commands, NEG_INF)
        else:
            best_log_probs, best_tokens = matrix.max(dim=1)
            filler = _Filler(
                log_prob=float(best_log_probs.sum()), length=len(_collapse(best_tokens.tolist()))
            )
            # numpy from here on: per-phrase work on a few dozen frames is all fixed overhead,
            # which numpy's small-array operations keep far below torch's.
            array = matrix.numpy()
            paths: list[list[int] | None] = []
            if matrix.shape[0] <= _BATCHED_VITERBI_MAX_FRAMES:
                for start in range(0, len(self._targets), _BATCHED_VITERBI_PHRASES):
                    chunk = self._targets[start : start + _BATCHED_VITERBI_PHRASES]
                    paths.extend(_viterbi_paths(array, chunk))
            else:
                paths = [_best_path(matrix, targets) for targets in self._targets]
            log_probs_of = [
                NEG_INF if path is None else float(array[np.arange(len(path)), path].sum())
                for path in paths
            ]
            acoustic = [
                _acoustic_score(array, targets, filler, path, log_prob)
                for targets, path, log_prob in zip(self._targets, paths, log_probs_of, strict=True)
            ]
            if max(acoustic) < self.threshold:
                # No phrase can be accepted whatever L is (it only lowers a score): skip the
                # background search, the costliest step, on what is most of a live stream.
                scores = dict(zip(self.commands, acoustic, strict=True))
            else:
                # The phrases compete too: the lexicon may lack their words, and its pruned
                # search may miss a path that the exact alignment of a phrase finds.
                background = max(self.lexicon.best_log_prob(array), *log_probs_of)
                scores = {
                    phrase: min(bound, _lexical_score(targets, background, log_prob))
                    for phrase, targets, bound, log_prob in zip(
                        self.commands, self._targets, acoustic, log_probs_of, strict=True
                    )
                }
        # max keeps the first phrase on ties, so an all -inf result names the first phrase.
        best_phrase = max(self.commands, key=lambda phrase: scores[phrase])
        score = scores[best_phrase]
        accepted = score > NEG_INF and score >= self.threshold
        return CommandMatch(
            command=best_phrase if accepted else None,
            best_phrase=best_phrase,
            score=score,
            confidence=math.exp(score),
            scores=scores,
        )


@dataclass(frozen=True)
class _Filler:
    """The unconstrained best path that command phrases are compared with."""

    # Its log-probability: the sum over frames of the best token's log-probability.
    log_prob: float
    # Tokens in its collapsed transcript.
    length: int


def _acoustic_score(
    matrix: np.ndarray,
    targets: tuple[int, ...],
    filler: _Filler,
    path: list[int] | None,
    log_prob: float,
) -> float:
    """min(R / 2, A / 2) of one phrase (see CommandDecoder); -inf if infeasible.

    Args:
        matrix: (frames, vocab) float32 log-probabilities, frames >= 1.
        targets: The phrase's tokens.
        filler: The best unconstrained path of ``matrix``.
        path: The phrase's best path (:func:`_viterbi_paths`), None when infeasible.
        log_prob: The log-probability of ``path``.

    Returns:
        The bound, <= 0: the statistic is the lower of it and L.
    """
    if path is None:
        return NEG_INF
    # Clamped: float32 sums in a different order can leave a harmless positive epsilon.
    ratio = min(0.0, (log_prob - filler.log_prob) / max(len(targets), filler.length))
    posteriors = _token_log_posteriors(matrix, targets, path)
    worst_word = min(
        sum(posteriors[first:last]) / (last - first) for first, last in _words(targets)
    )
    return min(ratio / 2, worst_word / 2, 0.0)


def _lexical_score(targets: tuple[int, ...], background: float, log_prob: float) -> float:
    """L of one phrase (see CommandDecoder): its path against the background's, per character.

    Args:
        targets: The phrase's tokens.
        background: Log-probability of the best path through the background vocabulary.
        log_prob: The log-probability of the phrase's best path (-inf when infeasible).

    Returns:
        L, <= 0 (-inf for an infeasible phrase).
    """
    return min(0.0, (log_prob - background) / len(targets))
