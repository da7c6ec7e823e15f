"""A word bigram language model for dictation: Kneser-Ney smoothed, small, stored in checkpoints.

The acoustic model spells what it hears letter by letter; on real voices it often gets a letter
or two wrong ("o forwrard an merisoh"). Beam search with this model (see
:func:`speechrnn.decoding.prefix_beam_search`) prefers prefixes made of known words in likely
orders, the way every CTC dictation system of the DeepSpeech lineage decodes. The model is an
interpolated Kneser-Ney bigram stored in backoff form::

    log P(w | v) = bigram[v, w]                 if the pair was seen,
                   backoff[v] + unigram[w]      otherwise,

with ``unigram`` the continuation probability (in how many contexts a word appears, which is what
predicts a word in a new context) and ``backoff[v]`` the mass the discount frees in context ``v``.
Sentences start after ``<s>`` and end with ``</s>``. Words the model has never seen are scored
as unseen pairs whose unigram is :attr:`WordLM.unknown_log_prob` (as unlikely as the rarest known
word), plus a per-letter cost the decoder adds, so dictation stays open-vocabulary.

Everything is stored as tensors and strings, so a checkpoint carrying a model still loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from speechrnn.tokenizer import normalize_text

SENTENCE_START = "<s>"
SENTENCE_END = "</s>"
FORMAT = "speechrnn-word-bigram"


@dataclass(frozen=True)
class LMWeights:
    """How the decoder mixes the language model with the acoustic model (tune on held-out data).

    A prefix is ranked by ``acoustic log-prob + weight * LM log-prob + word_bonus * words +
    unknown_letter * letters of unknown words``.
    """

    # Multiplies every LM log-probability.
    weight: float = 0.5
    # Added per word: the LM makes every word cost, which alone would favour dropping words.
    word_bonus: float = 1.5
    # Added per letter of a word that no known word starts with (<= 0): keeps the search from
    # gluing words into one long unknown one, which would pay the unknown-word cost only once.
    unknown_letter: float = -1.5

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and math.isfinite(self.word_bonus) and self.unknown_letter <= 0):
            raise ValueError("LM weight must be >= 0, word_bonus finite, unknown_letter <= 0")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LMWeights:
        """Rebuild from :func:`dataclasses.asdict` output."""
        return cls(**{key: float(value) for key, value in values.items()})


class WordLM:
    """An interpolated Kneser-Ney word bigram (see the module docstring)."""

    def __init__(
        self,
        words: Sequence[str],
        unigram: torch.Tensor,
        backoff: torch.Tensor,
        pairs: torch.Tensor,
        pair_log_probs: torch.Tensor,
    ) -> None:
        """Build from stored arrays (use :meth:`train` or :meth:`from_state`).

        Args:
            words: The vocabulary, ``<s>`` and ``</s>`` included.
            unigram: (V,) log continuation probabilities.
            backoff: (V,) log backoff weights of each word as a context.
            pairs: (N,) int bigram keys ``context * V + word`` of the stored bigrams.
            pair_log_probs: (N,) their log-probabilities.
        """
        if not (len(words) == unigram.numel() == backoff.numel()):
            raise ValueError("words, unigram and backoff differ in length")
        if pairs.dim() != 1 or pairs.numel() != pair_log_probs.numel():
            raise ValueError("pairs and pair_log_probs must be (N,) each")
        self.words = tuple(words)
        self.index = {word: i for i, word in enumerate(self.words)}
        if SENTENCE_START not in self.index or SENTENCE_END not in self.index:
            raise ValueError("the vocabulary lacks <s> or </s>")
        self._unigram = unigram.float().tolist()
        self._backoff = backoff.float().tolist()
        # Flat integer keys: a dict of 10^5 ints builds in milliseconds, tuples take a second.
        self._pairs = dict(zip(pairs.long().tolist(), pair_log_probs.float().tolist(), strict=True))
        known = sorted(w for w in self.words if w not in (SENTENCE_START, SENTENCE_END))
        self._sorted_words = known
        self.unknown_log_prob = min(
            (self._unigram[self.index[w]] for w in known), default=math.log(1e-6)
        )
        self._cache: dict[tuple[str, str], float] = {}

    @classmethod
    def train(cls, sentences: Iterable[str], discount: float = 0.75) -> WordLM:
        """Count bigrams in sentences and smooth them.

        Args:
            sentences: Texts; each goes through :func:`normalize_text`. Duplicates count once
                (the corpus repeats command words hundreds of times for the acoustic model;
                the LM should not think "yes" is a hundred times likelier than a sentence).
            discount: Absolute discount ``D`` in (0, 1).

        Returns:
            The model.

        Raises:
            ValueError: No words at all, or a bad discount.
        """
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        texts = {text for text in (normalize_text(s) for s in sentences) if text}
        if not texts:
            raise ValueError("no words to train a language model on")
        counts: Counter[tuple[str, str]] = Counter()
        for text in sorted(texts):
            tokens = [SENTENCE_START, *text.split(), SENTENCE_END]
            counts.update(itertools.pairwise(tokens))
        context_total: Counter[str] = Counter()
        context_types: Counter[str] = Counter()
        continuation: Counter[str] = Counter()
        for (context, word), count in counts.items():
            context_total[context] += count
            context_types[context] += 1
            continuation[word] += 1
        words = sorted({SENTENCE_START, *continuation})
        index = {word: i for i, word in enumerate(words)}
        all_types = sum(continuation.values())
        # <s> is never predicted; it gets a tiny share so its log stays finite.
        unigram = [math.log(max(continuation[w], 1e-3) / all_types) for w in words]
        backoff = [
            math.log(discount * context_types[w] / context_total[w]) if context_total[w] else 0.0
            for w in words
        ]
        size = len(words)
        pairs, log_probs = [], []
        for (context, word), count in sorted(counts.items()):
            total = context_total[context]
            probability = (count - discount) / total + discount * context_types[
                context
            ] / total * math.exp(unigram[index[word]])
            pairs.append(index[context] * size + index[word])
            log_probs.append(math.log(probability))
        return cls(
            words,
            torch.tensor(unigram),
            torch.tensor(backoff),
            torch.tensor(pairs, dtype=torch.int64),
            torch.tensor(log_probs),
        )

    def __len__(self) -> int:
        """Vocabulary size (with ``<s>`` and ``</s>``)."""
        return len(self.words)

    @property
    def num_bigrams(self) -> int:
        """Stored bigrams."""
        return len(self._pairs)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def is_prefix(self, text: str) -> bool:
        """Whether some known word starts with ``text`` (or is it)."""
        # The first word >= text in sorted order starts with text if any word does.
        at = bisect.bisect_left(self._sorted_words, text)
        return at < len(self._sorted_words) and self._sorted_words[at].startswith(text)

    def log_prob(self, previous: str, word: str) -> float:
        """``log P(word | previous)``; an unknown word costs :attr:`unknown_log_prob` after the
        context's backoff weight.

        Args:
            previous: The preceding word, or ``<s>`` at the start.
            word: The word, or ``</s>`` for the end of the sentence.
        """
        key = (previous, word)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        w, v = self.index.get(word), self.index.get(previous)
        backoff = 0.0 if v is None else self._backoff[v]
        if w is None or word == SENTENCE_START:
            # An unknown word is a unigram event after backing off, like any unseen pair.
            value = backoff + self.unknown_log_prob
        else:
            pair = None if v is None else self._pairs.get(v * len(self.words) + w)
            value = pair if pair is not None else backoff + self._unigram[w]
        if len(self._cache) < 1_000_000:
            self._cache[key] = value
        return value

    def sentence_log_prob(self, text: str) -> float:
        """Log-probability of a whole sentence, ``</s>`` included."""
        tokens = [SENTENCE_START, *normalize_text(text).split(), SENTENCE_END]
        return sum(self.log_prob(a, b) for a, b in itertools.pairwise(tokens))

    def to_state(self) -> dict[str, Any]:
        """Tensors and strings for a checkpoint (``weights_only``-loadable), float16 values."""
        pairs = sorted(self._pairs.items())
        return {
            "format": FORMAT,
            "words": "\n".join(self.words),
            "unigram": torch.tensor(self._unigram, dtype=torch.float16),
            "backoff": torch.tensor(self._backoff, dtype=torch.float16),
            "pairs": torch.tensor([p for p, _ in pairs], dtype=torch.int64),
            "pair_log_probs": torch.tensor([lp for _, lp in pairs], dtype=torch.float16),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WordLM:
        """Rebuild from :meth:`to_state` output.

        Raises:
            ValueError: Not a stored word bigram, or inconsistent arrays.
        """
        try:
            if state["format"] != FORMAT:
                raise ValueError(f"unknown language model format {state['format']!r}")
            return cls(
                state["words"].split("\n"),
                state["unigram"],
                state["backoff"],
                state["pairs"],
                state["pair_log_probs"],
            )
        except (KeyError, TypeError, AttributeError) as problem:
            raise ValueError(f"not a stored language model ({problem!r})") from None


__all__ = ["SENTENCE_END", "SENTENCE_START", "LMWeights", "WordLM"]
