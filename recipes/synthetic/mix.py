"""Write one training manifest drawn from several: a seeded random share of each.

Usage::

    python recipes/synthetic/mix.py --out /work/data/mix_s6/train.jsonl \\
        --take /work/data/synthetic_full/train.jsonl:24000 \\
        --take /work/data/synthetic_kokoro/train.jsonl

A fine-tuning stage on a new, small corpus (the kokoro profile) trains on it beside a sample of
the big one: the new voices keep a useful share of the steps, the old ones keep the model from
forgetting, and the feature cache is built for the sample only (minutes instead of the full
corpus's 18). Ids and audio files stay those of the source manifests, so nothing is copied.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

_RECIPE_DIR = Path(__file__).resolve().parent
try:
    import speechrnn  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_RECIPE_DIR.parents[1]))

from speechrnn.data import DataError, Utterance, read_manifest, write_manifest  # noqa: E402


def parse_take(text: str) -> tuple[Path, int | None]:
    """Split ``PATH[:COUNT]`` into the manifest and how many of its lines to draw (None: all).

    Raises:
        ValueError: COUNT is not a positive integer.
    """
    path, separator, count = text.rpartition(":")
    if not separator or not count.lstrip("-").isdigit():
        return Path(text), None
    if int(count) < 1:
        raise ValueError(f"{text}: the count after ':' must be positive")
    return Path(path), int(count)


def mix(takes: Sequence[tuple[Path, int | None]], seed: int) -> list[Utterance]:
    """Draw the utterances of each take, in take order.

    Args:
        takes: (manifest, count) pairs; count None takes every line, a count larger than the
            manifest is an error (a silent shortfall would change the mix unnoticed).
        seed: Seed of the draws; each manifest gets its own stream, so one take's count does not
            change another's sample.

    Returns:
        The drawn utterances, each draw in its manifest's order.

    Raises:
        DataError: A manifest is unreadable, too short, or an id appears twice.
    """
    chosen: list[Utterance] = []
    for path, count in takes:
        utterances = read_manifest(path)
        if count is not None:
            if count > len(utterances):
                raise DataError(f"{path}: asked for {count} lines, it has {len(utterances)}")
            rng = random.Random(f"{seed}:{path.name}:{path.parent.name}")
            keep = sorted(rng.sample(range(len(utterances)), count))
            utterances = [utterances[i] for i in keep]
        chosen.extend(utterances)
    seen: set[str] = set()
    for utterance in chosen:
        if utterance.id in seen:
            raise DataError(f"id {utterance.id!r} is in two takes; mix distinct corpora")
        seen.add(utterance.id)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Write the mixed manifest; see ``--help``.

    Returns:
        0 on success, 2 on bad input (reported in one line).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="manifest to write (.jsonl)")
    parser.add_argument(
        "--take",
        action="append",
        required=True,
        metavar="MANIFEST[:COUNT]",
        help="a source manifest and how many of its lines to draw (default: all); repeatable",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    args = parser.parse_args(argv)
    try:
        takes = [parse_take(text) for text in args.take]
        chosen = mix(takes, args.seed)
    except (ValueError, DataError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    write_manifest(args.out, chosen)
    hours = sum(u.duration for u in chosen) / 3600
    print(f"{args.out}: {len(chosen)} utterances, {hours:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
