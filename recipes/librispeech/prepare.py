"""Prepare LibriSpeech for speechrnn: one manifest per subset.

    python recipes/librispeech/prepare.py --data-root DATA [--subsets train-clean-100 dev-clean]
        [--download]

Reads (or, with --download, fetches from openslr.org into) DATA/LibriSpeech/<subset> through
torchaudio.datasets.LIBRISPEECH and writes DATA/manifests/librispeech/<subset>.jsonl.
Idempotent per subset (.completed marker). `speechrnn train` runs this step itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from speechrnn.data import LIBRISPEECH_SUBSETS, DataError, prepare_librispeech

DEFAULT_SUBSETS = ("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument(
        "--subsets", nargs="+", default=list(DEFAULT_SUBSETS), choices=LIBRISPEECH_SUBSETS,
        metavar="SUBSET", help=f"subsets to prepare (default: {' '.join(DEFAULT_SUBSETS)})",
    )  # fmt: skip
    parser.add_argument("--download", action="store_true", help="download missing subsets")
    args = parser.parse_args(argv)
    try:
        folder = prepare_librispeech(
            args.data_root, args.subsets, args.download,
            log=lambda message: print(message, file=sys.stderr),
        )  # fmt: skip
    except DataError as problem:
        print(f"prepare: error: {problem}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
