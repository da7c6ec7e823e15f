"""Recognition metrics: word / character error rates, command accuracy and confusion matrices.

Error rates are corpus-level, as in the literature: the edits summed over all utterances divided by
the reference words (or characters) summed over all utterances, not an average of per-utterance
rates, so long utterances weigh more and an empty reference (a silence clip) still counts its
insertions. Texts are compared after :func:`speechrnn.tokenizer.normalize_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from speechrnn.tokenizer import normalize_text

T = TypeVar("T")


@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations that turn a reference into a hypothesis."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0  # words or characters in the reference

    @property
    def errors(self) -> int:
        """Total edits."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Errors per reference unit; errors themselves when the reference is empty."""
        if self.reference_length == 0:
            return float(self.errors)
        return self.errors / self.reference_length

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_length + other.reference_length,
        )


def align(reference: Sequence[T], hypothesis: Sequence[T]) -> ErrorCounts:
    """Levenshtein alignment of two sequences, counting each kind of edit.

    Among the alignments with the fewest edits, substitutions are preferred over a deletion plus
    an insertion (the usual sclite convention).

    Args:
        reference: The reference symbols (words or characters).
        hypothesis: The hypothesis symbols.

    Returns:
        The edit counts; ``reference_length = len(reference)``.
    """
    rows, cols = len(reference), len(hypothesis)
    # cost[i][j]: edits to turn reference[:i] into hypothesis[:j].
    cost = [list(range(cols + 1))]
    for i in range(1, rows + 1):
        previous, row = cost[-1], [i] * (cols + 1)
        ref = reference[i - 1]
        for j in range(1, cols + 1):
            diagonal = previous[j - 1] + (0 if ref == hypothesis[j - 1] else 1)
            row[j] = min(diagonal, previous[j] + 1, row[j - 1] + 1)
        cost.append(row)
    substitutions = deletions = insertions = 0
    i, j = rows, cols
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            match = reference[i - 1] == hypothesis[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + (0 if match else 1):
                substitutions += 0 if match else 1
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return ErrorCounts(substitutions, deletions, insertions, rows)


def word_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Word-level edits between two texts (normalized first).

    Args:
        reference: The true transcript.
        hypothesis: The recognized text.

    Returns:
        The word edit counts.
    """
    return align(normalize_text(reference).split(), normalize_text(hypothesis).split())


def char_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Character-level edits (spaces included) between two texts (normalized first).

    Args:
        reference: The true transcript.
        hypothesis: The recognized text.

    Returns:
        The character edit counts.
    """
    return align(list(normalize_text(reference)), list(normalize_text(hypothesis)))


def _total(counts: Sequence[ErrorCounts]) -> ErrorCounts:
    total = ErrorCounts()
    for item in counts:
        total = total + item
    return total


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: word edits over all utterances / reference words over all utterances.

    Args:
        references: True transcripts.
        hypotheses: Recognized texts, one per reference.

    Returns:
        The WER (0 is perfect; it can exceed 1 with many insertions).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return _total([word_errors(r, h) for r, h in zip(references, hypotheses, strict=True)]).rate


def char_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus CER, like :func:`word_error_rate` over characters."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return _total([char_errors(r, h) for r, h in zip(references, hypotheses, strict=True)]).rate


def accuracy(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Fraction of exact label matches.

    Args:
        references: True labels.
        predictions: Predicted labels, one per reference.

    Returns:
        The accuracy in [0, 1]; 0 for empty inputs.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        return 0.0
    return sum(r == p for r, p in zip(references, predictions, strict=True)) / len(references)


class ConfusionMatrix:
    """Counts of (true label, predicted label) pairs over a fixed label set.

    Args:
        labels: The labels in display order; predictions outside them raise.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        if len(set(labels)) != len(labels):
            raise ValueError("confusion matrix labels must be unique")
        if not labels:
            raise ValueError("a confusion matrix needs at least one label")
        self.labels: tuple[str, ...] = tuple(labels)
        self._index = {label: i for i, label in enumerate(self.labels)}
        self.counts = [[0] * len(labels) for _ in labels]

    def add(self, reference: str, prediction: str) -> None:
        """Count one example.

        Raises:
            ValueError: A label not in :attr:`labels`.
        """
        for label in (reference, prediction):
            if label not in self._index:
                raise ValueError(f"label {label!r} is not one of {list(self.labels)}")
        self.counts[self._index[reference]][self._index[prediction]] += 1

    @property
    def total(self) -> int:
        """Examples counted."""
        return sum(map(sum, self.counts))

    @property
    def accuracy(self) -> float:
        """Fraction on the diagonal (0 when empty)."""
        total = self.total
        return sum(self.counts[i][i] for i in range(len(self.labels))) / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: labels, counts (rows = true label) and accuracy."""
        return {"labels": list(self.labels), "counts": self.counts, "accuracy": self.accuracy}

    def to_text(self) -> str:
        """A fixed-width table: one row per true label, one column per predicted label."""
        width = max(5, *(len(str(c)) for row in self.counts for c in row))
        name_width = max(len(label) for label in self.labels)
        # Column headers are the labels' first characters when they are long: keep rows short.
        short = [label[:width] for label in self.labels]
        lines = [" " * name_width + " | " + " ".join(s.rjust(width) for s in short) + " | total"]
        lines.append("-" * len(lines[0]))
        for label, row in zip(self.labels, self.counts, strict=True):
            cells = " ".join(str(c).rjust(width) for c in row)
            lines.append(f"{label.rjust(name_width)} | {cells} | {sum(row)}")
        lines.append(f"(rows: true label, columns: predicted; accuracy {self.accuracy:.4f})")
        return "\n".join(lines)

    def save_png(self, path: str | Path, title: str = "") -> None:
        """Draw the matrix (row-normalized colours, counts written in the cells) as a PNG.

        Args:
            path: Destination .png file.
            title: Figure title.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        size = len(self.labels)
        normalized = [[c / max(1, sum(row)) for c in row] for row in self.counts]
        figure, axes = plt.subplots(figsize=(2 + 0.45 * size, 1.5 + 0.45 * size))
        axes.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0)
        axes.set_xticks(range(size), self.labels, rotation=90, fontsize=8)
        axes.set_yticks(range(size), self.labels, fontsize=8)
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        for i, row in enumerate(self.counts):
            for j, count in enumerate(row):
                if count:
                    colour = "white" if normalized[i][j] > 0.5 else "black"
                    axes.text(j, i, str(count), ha="center", va="center", fontsize=6, color=colour)
        axes.set_title(title or f"accuracy {self.accuracy:.3f}")
        figure.tight_layout()
        path = Path(path)
        temporary = path.with_name(f".{path.name}.tmp.png")
        figure.savefig(temporary, dpi=100)
        plt.close(figure)
        temporary.replace(path)
