"""benchmarks/command_threshold.py: which clips are in-list and out-of-list trials, and the rates.

A fake recognizer stands in for the model: each clip has its own length, which tells the fake
which text was said, and its scores say the list word the text starts with.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import command_threshold
import numpy as np
import pytest
import soundfile
import torch

RATE = 16000


@dataclass
class _Match:
    scores: dict[str, float]


class _FakeDecoder:
    def __init__(self, words: list[str], said: dict[int, str]) -> None:
        self.words, self.said = words, said

    def decode(self, waveform: torch.Tensor) -> _Match:
        text = self.said.get(len(waveform), "")
        # The said word scores 0; a longer word that starts with a list word ("sixteen") makes
        # that word score -0.5, as a model that hears "six" in it would; the rest score -5.
        scores = {
            word: 0.0 if word == text else -0.5 if text.startswith(word) and text else -5.0
            for word in self.words
        }
        return _Match(scores)


class _FakeRecognizer:
    def __init__(self, said: dict[int, str]) -> None:
        self.said = said
        self.command_threshold = -1.0

    def command_decoder(self, words: list[str], threshold: float) -> _FakeDecoder:
        assert threshold == -math.inf
        return _FakeDecoder(list(words), self.said)

    def clip_log_probs(self, waveform: torch.Tensor) -> tuple[torch.Tensor, None]:
        return waveform, None


def _manifest(folder: Path, rows: list[tuple[str, str]], said: dict[int, str]) -> Path:
    folder.mkdir(parents=True)
    lines = []
    for index, (category, text) in enumerate(rows):
        length = 1000 + 10 * len(said)  # unique per clip, across manifests
        said[length] = text
        soundfile.write(folder / f"{index}.wav", np.full(length, 0.1, np.float32), RATE)
        lines.append(json.dumps({"audio": f"{index}.wav", "text": text, "category": category}))
    path = folder / "dev.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trials_split_by_text_and_report_false_accepts_per_source(tmp_path: Path) -> None:
    said: dict[int, str] = {}
    full = _manifest(
        tmp_path / "full",
        [
            ("digit", "six"),
            ("command", "stop"),
            ("number", "six"),  # a digit said as a number: in the list, so an in-list trial
            ("sentence", "turn it up"),
        ],
        said,
    )
    numbers = _manifest(tmp_path / "numbers", [("number", "sixteen"), ("number", "stop")], said)
    in_list, out_of_list = command_threshold.collect(
        _FakeRecognizer(said),  # type: ignore[arg-type]
        full,
        trials=[numbers],
    )
    assert sorted(word for word, _ in in_list) == ["six", "six", "stop", "stop"]
    sources = [source for source, _ in out_of_list]
    # Each in-list clip is also decoded against the list without its word; the generated
    # silence and noise come last.
    assert sources.count("word removed") == 4
    assert sources.count("other speech") == 1
    assert sources.count("numbers/dev.jsonl") == 1
    assert sources.count("generated") == len(command_threshold._generated_non_speech())
    rates = command_threshold.false_accepts_by_source(out_of_list, threshold=-1.0)
    # "sixteen" scores -0.5 for "six": accepted at -1.0, rejected at -0.4.
    assert rates["numbers/dev.jsonl"] == 1.0
    assert command_threshold.false_accepts_by_source(out_of_list, -0.4)["numbers/dev.jsonl"] == 0
    assert rates["other speech"] == 0.0 and rates["word removed"] == 0.0
    rows = command_threshold.sweep(in_list, out_of_list, [-1.0, 0.5])
    assert rows[0]["accuracy"] == 1.0 and rows[1]["accuracy"] == 0.0
    assert rows[0]["false_accept"] == pytest.approx(1 / len(out_of_list))
