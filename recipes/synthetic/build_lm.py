"""Train the bundled model's word language model on the synthetic corpus's training texts.

Usage::

    python recipes/synthetic/build_lm.py --profile full --out /work/data/lm_full.pt

The texts are those of every training-split utterance in the corpus plan that ``prepare.py``
draws for the same profile and seed (rendered yet or not): the command words, numbers, letters,
NATO words, command phrases and WordNet example sentences. The dev split's sentences are never in
the training split, so the dev set measures the LM on texts it has not seen. The plan depends on
which TTS voices work on the machine (as for ``prepare.py``), so run this where the corpus was
built. Output: a ``speechrnn.lm.WordLM`` state written atomically (``torch.load(...,
weights_only=True)``), which ``export.py --lm`` puts into the bundled checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import prepare

from speechrnn.checkpoint import atomic_save
from speechrnn.lm import WordLM


def training_texts(profile: str, seed: int, engines: list[str]) -> list[str]:
    """Distinct transcripts of the plan's training split."""
    voices = prepare.probe_engines(engines)
    if not voices:
        raise SystemExit("build_lm: error: no TTS engine works, so the plan cannot be drawn")
    plan = prepare.build_plan(prepare.PROFILES[profile], voices, seed)
    return sorted({u.text for u in plan if u.split == "train"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the LM (.pt)")
    parser.add_argument("--profile", choices=sorted(prepare.PROFILES), default="full")
    parser.add_argument("--seed", type=int, default=0, help="seed of the plan (default: 0)")
    parser.add_argument(
        "--engines",
        default=None,
        help="engines of the plan, as given to prepare.py (default: the profile's)",
    )
    args = parser.parse_args(argv)
    if args.engines is None:
        args.engines = ",".join(prepare.profile_engines(prepare.PROFILES[args.profile]))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    started = time.monotonic()
    texts = training_texts(args.profile, args.seed, [e for e in args.engines.split(",") if e])
    lm = WordLM.train(texts)
    atomic_save(lm.to_state(), args.out)
    print(
        f"{args.out}: {len(texts)} distinct training texts, {len(lm) - 2} words, "
        f"{lm.num_bigrams} bigrams, {args.out.stat().st_size / 1e6:.2f} MB, "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
