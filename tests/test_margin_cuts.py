"""benchmarks/margin_cuts.py on made-up clips whose cut parts are known.

A tone stands for the speech, faint white noise for the background, and a quieter tone right
after the speech for a word's faint end, so what fitting the margins removes, and how far a
looser rule reaches, are known in advance. Nothing is downloaded.
"""

from __future__ import annotations

import math

import margin_cuts
import pytest
import torch
from margin_cuts import ClipCut, measure_clip, summarize

RATE = 16000


def _tone(seconds: float, amplitude: float) -> torch.Tensor:
    t = torch.arange(round(seconds * RATE)) / RATE
    return amplitude * torch.sin(2 * math.pi * 440.0 * t)


def _clip(tail_amplitude: float) -> torch.Tensor:
    """1 s of background, 0.5 s of speech at -10 dBFS, 0.1 s of tail, 0.9 s of background."""
    generator = torch.Generator().manual_seed(0)
    clip = torch.cat(
        [
            torch.zeros(RATE),
            _tone(0.5, 0.45),
            _tone(0.1, tail_amplitude),
            torch.zeros(round(0.9 * RATE)),
        ]
    )
    return clip + 1e-3 * torch.randn(len(clip), generator=generator)  # -60 dBFS background


def test_a_clip_with_long_margins_loses_background_only() -> None:
    cut = measure_clip(_clip(0.0), [3.0])
    assert cut.speech
    # Everything but 160 ms on each side of the 0.5 s of speech: 0.84 s + 0.84 s, to a frame.
    assert cut.cut_seconds == pytest.approx(1.68, abs=0.03)
    assert cut.removed_vs_background_db is not None and cut.removed_vs_threshold_db is not None
    assert abs(cut.removed_vs_background_db) < 3.0  # background, by its own level
    assert cut.removed_vs_threshold_db < -5.0  # under the speech rule's threshold
    assert cut.reach_ms[3.0] <= 20  # nothing past the speech but background


def test_a_faint_end_under_the_threshold_is_found_by_the_looser_rule() -> None:
    # The rule's threshold is 10 dB over the -60 dB background (-50 dB); a tail at -53 dB is
    # under it, so the span ends with the loud tone and the looser rules decide.
    tail = math.sqrt(2) * 10 ** (-53 / 20)
    cut = measure_clip(_clip(tail), [6.0, 1.0])
    assert 90 <= cut.reach_ms[6.0] <= 120  # the 100 ms tail, to the frames' overlap
    assert cut.reach_ms[1.0] <= 20  # too strict to take the tail in
    # The tail lies within the 160 ms kept after the span: what is removed is background.
    assert cut.removed_vs_background_db is not None and cut.removed_vs_background_db < 3.0


def test_no_speech_and_nothing_to_cut() -> None:
    silent = measure_clip(torch.zeros(RATE), [3.0])
    assert not silent.speech and silent.cut_seconds == 0.0
    tight = torch.cat([torch.zeros(2560), _tone(0.5, 0.45), torch.zeros(2560)])
    fitted = measure_clip(tight, [3.0])
    assert fitted.speech and fitted.cut_seconds == 0.0
    assert fitted.removed_vs_threshold_db is None


def test_summarize_counts_and_medians() -> None:
    cuts = [
        ClipCut(False, 0.0, None, None, {}),
        ClipCut(True, 0.0, None, None, {3.0: 10}),
        ClipCut(True, 1.0, -9.0, 1.0, {3.0: 20}),
        ClipCut(True, 0.5, -2.0, 8.0, {3.0: 40}),
    ]
    row = summarize(cuts, [3.0])
    assert row["clips"] == 4 and row["no_speech_found"] == 1 and row["cut"] == 2
    assert row["cut_seconds_median"] == 0.75
    assert row["removed_vs_threshold_db_median"] == -5.5
    assert row["removed_vs_threshold_db_max"] == -2.0
    assert row["removed_within_3db_of_threshold"] == 1
    assert row["reach_3db_ms"] == {"median": 20, "max": 40}
    assert "| 4 | 1 | 2 | 0.75 | -5.5 / -2.0 | 1 |" in margin_cuts.render({"x": row}, [3.0])
