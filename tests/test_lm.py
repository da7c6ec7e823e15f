"""Tests for speechrnn.lm: the Kneser-Ney word bigram and its storage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from speechrnn.checkpoint import atomic_save
from speechrnn.lm import SENTENCE_END, SENTENCE_START, LMWeights, WordLM

TEXTS = [
    "turn on the light",
    "turn off the light",
    "turn on the radio",
    "Go forward ten meters!",
    "go back ten meters",
    "the light is on",
]


@pytest.fixture(scope="module")
def lm() -> WordLM:
    return WordLM.train(TEXTS)


def total_probability(lm: WordLM, context: str) -> float:
    predictable = [w for w in lm.words if w != SENTENCE_START]
    return sum(math.exp(lm.log_prob(context, w)) for w in predictable)


@pytest.mark.parametrize("context", ["turn", "the", SENTENCE_START, "meters", "zebra"])
def test_every_context_is_a_distribution(lm: WordLM, context: str) -> None:
    # Seen contexts, a word only ever followed by </s>, and an unknown one (pure unigram).
    # <s> keeps a tiny unigram share (it is never predicted), hence the tolerance.
    assert total_probability(lm, context) == pytest.approx(1.0, abs=1e-3)


def test_seen_pairs_beat_unseen_ones_and_texts_are_normalized(lm: WordLM) -> None:
    assert "meters" in lm and "Go" not in lm and "go" in lm
    assert lm.log_prob("turn", "on") > lm.log_prob("turn", "light")
    assert lm.log_prob("ten", "meters") > math.log(0.5)
    assert lm.sentence_log_prob("turn on the light") > lm.sentence_log_prob("light the on turn")
    # Unknown words cost the context's backoff plus the rarest known word's unigram: finite,
    # and never likelier than a known word in the same context.
    assert lm.log_prob("zebra", "okapi") == lm.unknown_log_prob
    assert math.isfinite(lm.log_prob("the", "zebra"))
    for word in lm.words[1:]:
        assert lm.log_prob("the", "zebra") <= lm.log_prob("the", word) + 1e-9, word
    assert lm.log_prob("meters", SENTENCE_END) > math.log(0.6)  # always last when seen


def test_duplicate_texts_count_once() -> None:
    once = WordLM.train(["yes", "no thanks"])
    many = WordLM.train(["yes"] * 50 + ["no thanks"])
    assert once.log_prob(SENTENCE_START, "yes") == many.log_prob(SENTENCE_START, "yes")


def test_prefixes(lm: WordLM) -> None:
    for text in ("t", "tu", "turn", "met", "meters", "radi"):
        assert lm.is_prefix(text), text
    for text in ("turnx", "z", "meterss", "", "<"):
        assert not lm.is_prefix(text) or text == "", text


def test_state_round_trips_through_a_weights_only_file(lm: WordLM, tmp_path: Path) -> None:
    path = tmp_path / "lm.pt"
    atomic_save(lm.to_state(), path)
    loaded = WordLM.from_state(torch.load(path, weights_only=True))
    assert loaded.words == lm.words and loaded.num_bigrams == lm.num_bigrams
    for context in ("turn", "the", SENTENCE_START, "zebra"):
        for word in (*lm.words, "zebra"):
            # float16 storage: log-probs agree to a few thousandths.
            assert loaded.log_prob(context, word) == pytest.approx(
                lm.log_prob(context, word), abs=5e-3
            )


def test_bad_inputs_are_refused(lm: WordLM) -> None:
    with pytest.raises(ValueError, match="no words"):
        WordLM.train(["", "  !! "])
    with pytest.raises(ValueError, match="discount"):
        WordLM.train(TEXTS, discount=1.0)
    with pytest.raises(ValueError, match="not a stored language model"):
        WordLM.from_state({"format": "speechrnn-word-bigram"})
    with pytest.raises(ValueError, match="format"):
        WordLM.from_state({**lm.to_state(), "format": "arpa"})
    state = lm.to_state()
    state["pair_log_probs"] = state["pair_log_probs"][:-1]
    with pytest.raises(ValueError, match="pairs"):
        WordLM.from_state(state)
    with pytest.raises(ValueError, match="weight"):
        LMWeights(weight=-1.0)
    with pytest.raises(ValueError, match="unknown_letter"):
        LMWeights(unknown_letter=0.5)
    assert LMWeights.from_dict({"weight": 1, "word_bonus": 2, "unknown_letter": -1}) == LMWeights(
        1.0, 2.0, -1.0
    )
