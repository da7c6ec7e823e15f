"""Tests for speechrnn.lexicon: the best CTC path through a vocabulary's word sequences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from speechrnn import tokenizer
from speechrnn.decoding import _min_frames, _viterbi_paths
from speechrnn.lexicon import Lexicon
from speechrnn.tokenizer import BLANK, VOCAB_SIZE

WORDS = ["a", "at", "tab", "ta"]


def random_matrix(frames: int, seed: int, sharpness: float = 3.0) -> np.ndarray:
    """(frames, vocab) log-probs peaked on the letters of WORDS, blank and space."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(frames, VOCAB_SIZE, generator=generator)
    favoured = [BLANK, tokenizer.SPACE, *tokenizer.encode("abt")]
    logits[:, favoured] += sharpness
    return torch.log_softmax(logits, dim=1).numpy()


def path_log_prob(matrix: np.ndarray, tokens: tuple[int, ...]) -> float:
    """Log-probability of the best CTC path of tokens (-inf when there are too few frames)."""
    if not tokens:
        return float(matrix[:, BLANK].sum())
    if matrix.shape[0] < _min_frames(tokens):
        return -math.inf
    path = _viterbi_paths(matrix, [tokens])[0]
    assert path is not None
    return float(matrix[np.arange(matrix.shape[0]), path].sum())


def brute_force(matrix: np.ndarray, words: list[str]) -> float:
    """Best path over every word sequence that fits in the frames, the empty one included."""
    best = path_log_prob(matrix, ())
    for count in itertools.count(1):
        sequences = [
            tuple(tokenizer.encode(" ".join(sequence)))
            for sequence in itertools.product(words, repeat=count)
        ]
        feasible = [s for s in sequences if _min_frames(s) <= matrix.shape[0]]
        if not feasible:
            return best
        best = max(best, *(path_log_prob(matrix, s) for s in feasible))


@pytest.mark.parametrize("seed", range(6))
def test_unpruned_search_finds_the_best_word_sequence(seed: int) -> None:
    matrix = random_matrix(9, seed)
    exhaustive = Lexicon(WORDS, beam=1e6, max_active=10**6)
    assert exhaustive.best_log_prob(matrix) == pytest.approx(brute_force(matrix, WORDS), abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_doubled_letters_need_a_blank_between_them(seed: int) -> None:
    # "aa" and "baa" repeat a letter: CTC merges repeats, so the second "a" is entered only
    # after a blank; "ab" next to "a" shares a prefix.
    words = ["a", "aa", "baa", "ab"]
    matrix = random_matrix(8, seed, sharpness=2.0)
    exhaustive = Lexicon(words, beam=1e6, max_active=10**6)
    assert exhaustive.best_log_prob(matrix) == pytest.approx(brute_force(matrix, words), abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_pruned_search_is_a_lower_bound_and_exact_on_a_clear_word(seed: int) -> None:
    matrix = random_matrix(9, seed)
    exact = brute_force(matrix, WORDS)
    pruned = Lexicon(WORDS, beam=2.0, max_active=2).best_log_prob(matrix)
    assert pruned <= exact + 1e-4
    # A clearly spoken word: the default pruning keeps its path.
    labels = [BLANK, BLANK, token("t"), BLANK, token("a"), token("b"), BLANK]
    clear = np.full((len(labels), VOCAB_SIZE), math.log(0.05 / (VOCAB_SIZE - 1)), np.float32)
    clear[np.arange(len(labels)), labels] = math.log(0.95)
    assert Lexicon(WORDS).best_log_prob(clear) == pytest.approx(
        path_log_prob(clear, tuple(tokenizer.encode("tab"))), abs=1e-4
    )


def token(symbol: str) -> int:
    return tokenizer.VOCAB.index(symbol)


def test_words_are_normalized_split_and_counted_once() -> None:
    lexicon = Lexicon(["Turn ON", "turn", "", "it's"])
    assert len(lexicon) == lexicon.num_words == 3  # turn, on, it's
    # Only whole words end a path: "tu" is a prefix of "turn", not a word.
    labels = [token("t"), BLANK, token("u"), BLANK]
    matrix = np.full((4, VOCAB_SIZE), math.log(0.01 / (VOCAB_SIZE - 1)), np.float32)
    matrix[np.arange(4), labels] = math.log(0.99)
    assert lexicon.best_log_prob(matrix) == pytest.approx(float(matrix[:, BLANK].sum()))


def test_no_frames_and_silence() -> None:
    lexicon = Lexicon(WORDS)
    assert lexicon.best_log_prob(np.zeros((0, VOCAB_SIZE), np.float32)) == -math.inf
    silence = np.full((20, VOCAB_SIZE), math.log(0.001 / (VOCAB_SIZE - 1)), np.float32)
    silence[:, BLANK] = math.log(0.999)
    # All blank: the empty word sequence.
    assert lexicon.best_log_prob(silence) == pytest.approx(20 * math.log(0.999), abs=1e-4)


@pytest.mark.parametrize("settings", [{"beam": 0.0}, {"beam": float("nan")}, {"max_active": 0}])
def test_bad_search_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Lexicon(WORDS, **settings)  # type: ignore[arg-type]


def test_threads_can_share_one_lexicon() -> None:
    # A Recognizer (and its lexicon) may serve several threads; switching threads as often as
    # possible makes any shared per-search state collide.
    import sys
    from concurrent.futures import ThreadPoolExecutor

    lexicon = Lexicon(["a", "at", "tab", "ta", "bat", "tat", "abba"])
    matrices = [random_matrix(30, seed) for seed in range(16)]
    alone = [lexicon.best_log_prob(matrix) for matrix in matrices]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(5):
                assert list(pool.map(lexicon.best_log_prob, matrices)) == alone
    finally:
        sys.setswitchinterval(interval)
