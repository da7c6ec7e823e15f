"""Prepare your own data for speechrnn: check JSONL manifests, or build them from a folder.

    python recipes/manifest/prepare.py --data-root DATA                  # check DATA/*.jsonl
    python recipes/manifest/prepare.py --data-root DATA --from-folder CLIPS [--dev-fraction 0.05]

A manifest has one JSON object per line: {"audio": "clips/0001.wav", "text": "turn on the
light"}, audio paths relative to the manifest's folder; "duration" (seconds), "offset" and "id"
are optional. With --from-folder, every audio file in CLIPS that has a same-named .txt transcript
beside it (0001.wav + 0001.txt) becomes an utterance, and DATA/train.jsonl and DATA/dev.jsonl are
written (idempotent: a .completed marker records what was done).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from speechrnn.data import DataError, manifest_path, prepare_manifest_folder, read_manifest
from speechrnn.tokenizer import normalize_text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, metavar="DIR", help="where manifests live")
    parser.add_argument("--from-folder", metavar="DIR", help="audio files + .txt transcripts")
    parser.add_argument("--dev-fraction", type=float, default=0.05, help="share held out for dev")
    parser.add_argument(
        "--splits", nargs="+", default=["train", "dev"], metavar="NAME", help="manifests to check"
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        if args.from_folder:
            prepare_manifest_folder(args.from_folder, args.data_root, args.dev_fraction, log=log)
        for split in args.splits:
            path = manifest_path(Path(args.data_root), split)
            utterances = read_manifest(path)
            silent = sum(1 for u in utterances if not normalize_text(u.text))
            hours = sum(u.duration for u in utterances) / 3600
            log(f"{path}: {len(utterances)} utterances, {hours:.2f} h"
                + (f", {silent} with nothing speakable" if silent else ""))  # fmt: skip
    except DataError as problem:
        print(f"prepare: error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
