"""Tests for speechrnn.metrics: edit counts, WER / CER, accuracy, confusion matrices."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechrnn.metrics import (
    ConfusionMatrix,
    ErrorCounts,
    accuracy,
    align,
    char_error_rate,
    char_errors,
    word_error_rate,
    word_errors,
)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        pytest.param("a b c", "a b c", (0, 0, 0), id="identical"),
        pytest.param("a b c", "a x c", (1, 0, 0), id="substitution"),
        pytest.param("a b c", "a c", (0, 1, 0), id="deletion"),
        pytest.param("a b c", "a b y c", (0, 0, 1), id="insertion"),
        pytest.param("", "a b", (0, 0, 2), id="empty-reference"),
        pytest.param("a b", "", (0, 2, 0), id="empty-hypothesis"),
        pytest.param("a b c d", "x b d", (1, 1, 0), id="substitution-and-deletion"),
        pytest.param("a b c", "x b c d", (1, 0, 1), id="substitution-and-insertion"),
    ],
)
def test_align_counts_each_kind_of_edit(
    reference: str, hypothesis: str, expected: tuple[int, int, int]
) -> None:
    counts = align(reference.split(), hypothesis.split())
    assert (counts.substitutions, counts.deletions, counts.insertions) == expected
    assert counts.reference_length == len(reference.split())


def test_align_prefers_substitution_over_deletion_plus_insertion() -> None:
    counts = align(list("abc"), list("abd"))
    assert counts == ErrorCounts(1, 0, 0, 3)


def test_texts_are_normalized_before_scoring() -> None:
    assert word_errors("Turn ON the light!", "turn on the light").errors == 0
    assert word_errors("go 10 meters", "go ten meters").errors == 0


def test_corpus_rates_pool_edits_over_utterances() -> None:
    references = ["one two three four", "five"]
    hypotheses = ["one two three four", "six"]
    # 1 error over 5 reference words, not the mean of per-utterance rates (0.5).
    assert word_error_rate(references, hypotheses) == pytest.approx(0.2)
    assert char_error_rate(["ab"], ["abc"]) == pytest.approx(0.5)
    assert char_errors("a b", "ab").deletions == 1  # the space counts


def test_empty_reference_rate_is_the_error_count() -> None:
    assert word_error_rate([""], ["noise words"]) == 2.0
    assert word_error_rate([""], [""]) == 0.0


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="references"):
        word_error_rate(["a"], [])
    with pytest.raises(ValueError, match="references"):
        accuracy(["a"], ["a", "b"])


def test_accuracy() -> None:
    assert accuracy(["a", "b", "c", "d"], ["a", "b", "x", "d"]) == 0.75
    assert accuracy([], []) == 0.0


def test_confusion_matrix_counts_text_and_png(tmp_path: Path) -> None:
    matrix = ConfusionMatrix(["yes", "no", "_rejected_"])
    for truth, predicted in [("yes", "yes"), ("yes", "no"), ("no", "no"), ("no", "_rejected_")]:
        matrix.add(truth, predicted)
    assert matrix.counts == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert matrix.total == 4
    assert matrix.accuracy == 0.5
    text = matrix.to_text()
    assert "yes" in text and "accuracy 0.5000" in text
    assert len(text.splitlines()) == 3 + 2 + 1
    assert matrix.to_dict()["counts"] == matrix.counts
    picture = tmp_path / "confusion.png"
    matrix.save_png(picture, title="test")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_rejects_unknown_labels() -> None:
    matrix = ConfusionMatrix(["a", "b"])
    with pytest.raises(ValueError, match="not one of"):
        matrix.add("a", "c")
    with pytest.raises(ValueError, match="unique"):
        ConfusionMatrix(["a", "a"])
