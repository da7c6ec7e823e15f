"""What fitting the margins removes from real recordings: background, or speech?

Every command clip reaches the model with its margins fitted to 160 ms of background
(``speechrnn.audio.fit_margins``): a longer margin is cut. The speech rule that finds where
speech ends (``speechrnn.audio.speech_span``) counts a frame as speech only when it is 10 dB over
the clip's background (its 10th percentile frame), so on a noisy recording a quiet end of a word
(a faint release, a trailing fricative) could fall outside the span, and then be cut if it lies
more than 160 ms after the span. (On a clean clip the rule's threshold is 40 dB under the
loudest frame instead.) This benchmark measures, on the real recordings of the command
benchmarks (the Asterisk one-word prompts, KTuberling's object names, KLettres's letters and
words), per source:

- how many clips the rule finds no speech in (``fit_margins`` leaves them as they are) and how
  many it cuts;
- for the cut parts, the loudest frame removed, in dB under the rule's threshold
  (``speechrnn.audio.speech_threshold``) and over the clip's background (its 10th percentile
  frame; a recording with digital silence between sounds has a background of -120 dB): a frame
  just under the threshold may be a word's faint end, one near the background is background;
- how far a looser rule would reach: the frames past the span's end that stay above the
  threshold lowered by ``--looser`` dB, contiguously (a hysteresis on the speech rule), in ms.

    .venv/bin/python benchmarks/margin_cuts.py [--looser 3 6 10] [--json]
        [--skip-asterisk] [--skip-ktuberling] [--skip-klettres]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import asterisk_prompts
import klettres_sounds
import ktuberling_words
import torch
from real_speech import Clip, TestDataError, to_float

from speechrnn.audio import SAMPLE_RATE, frame_levels, span_of_levels, speech_threshold
from speechrnn.transcribe import MARGIN_SECONDS

HOP = SAMPLE_RATE // 100  # the speech rule's frame step (10 ms)
FRAME = SAMPLE_RATE // 50  # and its frame length (20 ms)


@dataclass(frozen=True)
class ClipCut:
    """What fitting one clip's margins removes, and how far a looser rule would reach."""

    speech: bool  # the rule found speech (else nothing is cut)
    cut_seconds: float  # removed, both sides
    # The loudest frame wholly inside the removed parts, in dB relative to the rule's threshold
    # (negative: under it) and to the clip's background; None when nothing is cut, or only parts
    # shorter than a frame.
    removed_vs_threshold_db: float | None
    removed_vs_background_db: float | None
    reach_ms: dict[float, int]  # dB the threshold is lowered by -> ms past the span's end


def reach(level: torch.Tensor, last: int, threshold: float) -> int:
    """Frames after ``last`` that stay above ``threshold``, up to the first that does not.

    Args:
        level: (frames,) frame levels in dB.
        last: Last frame of the span.
        threshold: Level a frame must exceed.
    """
    after = 0
    while last + after + 1 < len(level) and level[last + after + 1] > threshold:
        after += 1
    return after


def measure_clip(waveform: torch.Tensor, looser: Sequence[float]) -> ClipCut:
    """:class:`ClipCut` of one clip.

    Args:
        waveform: (samples,) float32 at 16 kHz.
        looser: dB to lower the rule's threshold by for the looser rules.
    """
    if len(waveform) < FRAME:  # shorter than one of the rule's frames: no speech
        return ClipCut(False, 0.0, None, None, {})
    # The levels once, for the span, the threshold and the background alike.
    level = frame_levels(waveform, SAMPLE_RATE)
    span = span_of_levels(level, len(waveform), SAMPLE_RATE)
    threshold = speech_threshold(level)
    if span is None or threshold is None:
        return ClipCut(False, 0.0, None, None, {})
    background = float(torch.quantile(level, 0.1))
    margin = round(MARGIN_SECONDS * SAMPLE_RATE)
    start, end = span
    loudest = None
    cut = 0
    # The samples fit_margins drops: all but `margin` before the speech and after it.
    for low, high in ((0, start - margin), (end + margin, len(waveform))):
        if high <= low:
            continue
        cut += high - low
        # The frames wholly inside the removed part (none when it is shorter than a frame).
        frames = level[-(-low // HOP) : (high - FRAME) // HOP + 1]
        if len(frames):
            loudest = float(frames.max()) if loudest is None else max(loudest, float(frames.max()))
    last = (end - FRAME) // HOP
    return ClipCut(
        True,
        cut / SAMPLE_RATE,
        None if loudest is None else loudest - threshold,
        None if loudest is None else loudest - background,
        {db: 10 * reach(level, last, threshold - db) for db in looser},
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(cuts: Sequence[ClipCut], looser: Sequence[float]) -> dict[str, object]:
    """One source's row: counts, and medians / maxima over its clips."""
    found = [c for c in cuts if c.speech]
    cut = [c for c in found if c.cut_seconds > 0]
    vs_threshold = [c.removed_vs_threshold_db for c in cut if c.removed_vs_threshold_db is not None]
    vs_background = [
        c.removed_vs_background_db for c in cut if c.removed_vs_background_db is not None
    ]
    row: dict[str, object] = {
        "clips": len(cuts),
        "no_speech_found": len(cuts) - len(found),
        "cut": len(cut),
        "cut_seconds_median": _median([c.cut_seconds for c in cut]),
        "removed_vs_threshold_db_median": _median(vs_threshold),
        "removed_vs_threshold_db_max": max(vs_threshold, default=None),
        "removed_within_3db_of_threshold": sum(db > -3.0 for db in vs_threshold),
        "removed_vs_background_db_median": _median(vs_background),
    }
    for db in looser:
        reaches = [c.reach_ms[db] for c in found]
        row[f"reach_{db:g}db_ms"] = {"median": _median(reaches), "max": max(reaches, default=0)}
    return row


def load_sources(args: argparse.Namespace) -> dict[str, list[Clip]]:
    """The real command clips, per source (TestDataError when a package cannot be had)."""
    sources: dict[str, list[Clip]] = {}
    if not args.skip_asterisk:
        prompts = asterisk_prompts.build_prompt_sets(asterisk_prompts.fetch_prompts())
        sources["Asterisk one-word prompts"] = prompts.words
    if not args.skip_ktuberling:
        toys = ktuberling_words.build_word_lists(ktuberling_words.fetch_words())
        sources["KTuberling object names"] = toys.clips
    if not args.skip_klettres:
        letters = klettres_sounds.build_sound_lists(klettres_sounds.fetch_sounds())
        sources["KLettres letters and words"] = letters.letters + letters.words
    return sources


def _db(value: object) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: dict[str, dict[str, object]], looser: Sequence[float]) -> str:
    """The rows as a Markdown table."""
    head = [
        "source",
        "clips",
        "no speech found",
        "cut",
        "cut, median s",
        "loudest removed frame vs the threshold, median / max dB",
        "cut clips with a removed frame within 3 dB of it",
        "loudest removed frame over the background, median dB",
    ] + [f"threshold - {db:g} dB reaches past the end, median / max ms" for db in looser]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [
            name,
            str(row["clips"]),
            str(row["no_speech_found"]),
            str(row["cut"]),
            "-" if row["cut_seconds_median"] is None else f"{row['cut_seconds_median']:.2f}",
            f"{_db(row['removed_vs_threshold_db_median'])} / "
            f"{_db(row['removed_vs_threshold_db_max'])}",
            str(row["removed_within_3db_of_threshold"]),
            _db(row["removed_vs_background_db_median"]),
        ]
        for db in looser:
            reached = row[f"reach_{db:g}db_ms"]
            assert isinstance(reached, dict)
            cells.append(f"{_db(reached['median'])} / {reached['max']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--looser",
        type=float,
        nargs="+",
        default=[3.0, 6.0, 10.0],
        help="dB to lower the speech rule's threshold by, for the looser rules",
    )
    for source in ("asterisk", "ktuberling", "klettres"):
        parser.add_argument(f"--skip-{source}", action="store_true", help=f"leave out {source}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    try:
        sources = load_sources(args)
    except TestDataError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    rows = {
        name: summarize(
            [measure_clip(to_float(c.samples), args.looser) for c in clips], args.looser
        )
        for name, clips in sources.items()
    }
    print(json.dumps(rows, indent=1) if args.json else render(rows, args.looser))
    return 0


if __name__ == "__main__":
    sys.exit(main())
