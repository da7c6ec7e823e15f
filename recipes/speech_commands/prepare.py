"""Prepare Google Speech Commands v2 for speechrnn: manifests for the official splits.

    python recipes/speech_commands/prepare.py --data-root DATA [--download]

Reads (or, with --download, fetches the 2.3 GB archive into) DATA/SpeechCommands/
speech_commands_v0.02 through torchaudio.datasets.SPEECHCOMMANDS and writes
DATA/manifests/speech_commands/{training,validation,testing,noise}.jsonl. Idempotent: a
.completed marker makes a second run return at once. `speechrnn train` runs this step itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from speechrnn.data import DataError, prepare_speech_commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument("--download", action="store_true", help="download if missing (2.3 GB)")
    parser.add_argument(
        "--silence-fraction", type=float, default=0.1, help="silence clips per word clip"
    )
    args = parser.parse_args(argv)
    try:
        folder = prepare_speech_commands(
            args.data_root, args.download, args.silence_fraction,
            log=lambda message: print(message, file=sys.stderr),
        )  # fmt: skip
    except DataError as problem:
        print(f"prepare: error: {problem}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
