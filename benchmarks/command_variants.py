"""Run a benchmark with command-mode scoring or the features changed at test time (no training).

Two questions of issue 4, each judged by a rule written before its runs (MODEL_CARD.md, "Test-time
levers"): does a weaker lexical term keep more of the real words the model picks right, and does
shifting each clip's features toward the training clips' mean bring real voices closer? This
wrapper makes one change for one run of an unchanged benchmark script:

- ``vocab:N``: command mode's background vocabulary is the N words the language model finds
  likeliest on their own (ties by spelling), plus the number words, instead of all of its words.
- ``half-lexical``: the lexical term L of the command statistic is halved.
- ``shift:half``: each clip's log-mel features move half-way, per mel bin, from the clip's mean
  toward the training clips' mean.
- ``shift:smooth``: the whole shift, kept to its first four DCT components across the mel bins
  (level, tilt and broad colour, not the detail of the word).
- ``none``: no change, to check that the wrapper alone changes nothing.

    .venv/bin/python benchmarks/command_variants.py --variant vocab:5000 -- \\
        benchmarks/command_threshold.py DATA/dev.jsonl --json
    .venv/bin/python benchmarks/command_variants.py --variant shift:smooth \\
        --target-manifest DATA/mix_s10/train.jsonl --target-cache target.pt -- \\
        benchmarks/compare_pocketsphinx.py --command-threshold=-1.1 --json

The shift's target is the mean over 1,000 training clips (a seeded shuffle of the manifest) of
each clip's mean log-mel frame, through the bundled model's front end, each clip given its 160 ms
margins first as the recognizer does; ``--target-cache`` keeps it for the next run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ensemble import run_script
from tqdm import tqdm

from speechrnn import decoding, transcribe
from speechrnn.audio import AudioError, fit_margins, load_audio
from speechrnn.checkpoint import atomic_save
from speechrnn.lexicon import Lexicon
from speechrnn.lm import SENTENCE_END, SENTENCE_START, WordLM
from speechrnn.transcribe import MARGIN_SECONDS, NUMBER_WORDS, Recognizer, load_model

TARGET_CLIPS = 1000
SMOOTH_COMPONENTS = 4


def likeliest_words(language_model: WordLM, size: int) -> list[str]:
    """The ``size`` words with the highest unigram log-probability (ties by spelling)."""
    words = [w for w in language_model.words if w not in (SENTENCE_START, SENTENCE_END)]
    unigram = language_model._unigram  # per word index; WordLM has no public unigram accessor
    words.sort(key=lambda w: (-unigram[language_model.index[w]], w))
    return words[:size]


def feature_target(manifest: Path, clips: int = TARGET_CLIPS, seed: int = 0) -> torch.Tensor:
    """Mean over ``clips`` training clips of each clip's mean log-mel frame.

    Returns:
        (n_mels,) float32.
    """
    recognizer = load_model()
    lines = manifest.read_text().splitlines()
    random.Random(seed).shuffle(lines)
    means = []
    for line in tqdm(lines[:clips], desc="shift target", unit="clip", file=sys.stderr):
        item = json.loads(line)
        waveform = load_audio(manifest.parent / item["audio"])
        fitted, _ = fit_margins(waveform, recognizer.sample_rate, MARGIN_SECONDS)
        features = recognizer.model.features(fitted)  # (frames, n_mels)
        if features.shape[0]:
            means.append(features.mean(0))
    return torch.stack(means).mean(0)


def dct_rows(size: int, count: int) -> torch.Tensor:
    """(count, size) orthonormal DCT-II basis vectors."""
    index = torch.arange(size, dtype=torch.float64)
    rows = torch.stack([torch.cos(math.pi / size * (index + 0.5) * k) for k in range(count)])
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def shifted_log_probs(
    target: torch.Tensor, smooth: bool
) -> Callable[[Recognizer, torch.Tensor], torch.Tensor]:
    """A ``Recognizer.log_probs`` that shifts each clip's features toward ``target`` first.

    Args:
        target: (n_mels,) the training clips' mean log-mel frame.
        smooth: Keep the shift's first DCT components only (else: half the shift, per bin).
    """
    basis = dct_rows(target.shape[0], SMOOTH_COMPONENTS)  # (components, n_mels)

    @torch.no_grad()
    def log_probs(self: Recognizer, waveform: torch.Tensor) -> torch.Tensor:
        model = self.model
        features = model.features(waveform)  # (frames, n_mels)
        if features.shape[0] == 0:
            return torch.zeros(0, model.config.vocab_size)
        shift = target - features.mean(0)  # (n_mels,)
        features = features + (basis.T @ (basis @ shift) if smooth else 0.5 * shift)
        output, lengths = model(features.unsqueeze(0), torch.tensor([features.shape[0]]))
        return output[0, : int(lengths[0])]

    return log_probs


def install(variant: str, target: torch.Tensor | None) -> Callable[[], None]:
    """Make the variant's change in this process.

    Returns:
        A function that undoes it.
    """
    saved = (transcribe.background_lexicon, decoding._lexical_score, Recognizer.log_probs)
    if variant.startswith("vocab:"):
        size = int(variant.split(":", 1)[1])

        def background_lexicon(language_model: WordLM | None) -> Lexicon | None:
            if language_model is None:
                return None
            return Lexicon([*likeliest_words(language_model, size), *NUMBER_WORDS])

        transcribe.background_lexicon = background_lexicon
    elif variant == "half-lexical":
        original = decoding._lexical_score

        def lexical_score(*args: Any, **kwargs: Any) -> float:
            return original(*args, **kwargs) / 2

        decoding._lexical_score = lexical_score
    elif variant.startswith("shift:"):
        assert target is not None
        Recognizer.log_probs = shifted_log_probs(  # type: ignore[method-assign,assignment]
            target, smooth=variant == "shift:smooth"
        )

    def restore() -> None:
        transcribe.background_lexicon, decoding._lexical_score = saved[0], saved[1]
        Recognizer.log_probs = saved[2]  # type: ignore[method-assign]

    return restore


def parse_variant(text: str) -> str:
    """The variant's name, checked.

    Raises:
        ValueError: Not one of the variants.
    """
    fixed = ("half-lexical", "shift:half", "shift:smooth", "none")
    size = text.removeprefix("vocab:")
    if text in fixed or (text.startswith("vocab:") and size.isdigit() and int(size) > 0):
        return text
    raise ValueError(f"unknown variant {text!r}; valid: vocab:N, " + ", ".join(fixed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", required=True, help="vocab:N, half-lexical, shift:half, "
                        "shift:smooth or none")  # fmt: skip
    parser.add_argument("--target-manifest", type=Path, help="training clips (shift variants)")
    parser.add_argument("--target-cache", type=Path, help="a file that keeps the shift's target")
    parser.add_argument("script", type=Path, help="the benchmark script, then its own arguments")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        variant = parse_variant(args.variant)
        if not args.script.is_file():
            raise ValueError(f"{args.script}: no such benchmark script")
        target = None
        if variant.startswith("shift:"):
            target = _target(args.target_manifest, args.target_cache)
    except (ValueError, AudioError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"command_variants: {variant}", file=sys.stderr)
    return run_script(args.script, args.script_args, install(variant, target))


def _target(manifest: Path | None, cache: Path | None) -> torch.Tensor:
    if cache is not None and cache.exists():
        target: torch.Tensor = torch.load(cache, weights_only=True)["target"]
        return target
    if manifest is None:
        raise ValueError("shift variants need --target-manifest (or an existing --target-cache)")
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no such manifest")
    target = feature_target(manifest)
    if cache is not None:
        atomic_save({"target": target}, cache)
    return target


if __name__ == "__main__":
    raise SystemExit(main())
