"""Write prompts.txt: 200 WordNet example sentences for recipes/personal/record.py --read.

    python recipes/personal/make_prompts.py [--count 200] [--seed 0] [--out prompts.txt]

The sentences are those of the synthetic corpus's text source (``recipes/synthetic/tts_texts.py``,
Debian's ``wordnet-base``, WordNet 3.0 licence), 5-12 words long, drawn with a fixed seed, so the
committed file is reproduced byte for byte. Reading them takes about ten minutes.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synthetic"))
from tts_texts import sentence_prompts

HEADER = (
    "# Sentences to read aloud for recipes/personal/record.py --read, one per line.\n"
    "# WordNet 3.0 example sentences (Princeton University, WordNet 3.0 licence), drawn by\n"
    "# recipes/personal/make_prompts.py --count {count} --seed {seed}.\n"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("prompts.txt"))
    args = parser.parse_args(argv)
    pool = list(sentence_prompts(min_words=5, max_words=12))
    if len(pool) < args.count:
        print("make_prompts: error: WordNet not found (apt-get install wordnet-base)",
              file=sys.stderr)  # fmt: skip
        return 1
    chosen = random.Random(args.seed).sample(pool, args.count)
    text = HEADER.format(count=args.count, seed=args.seed)
    text += "".join(prompt.spoken + "\n" for prompt in chosen)
    temporary = args.out.with_name(f".{args.out.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(args.out)
    print(f"{args.out}: {args.count} sentences", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
