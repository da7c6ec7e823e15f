"""Non-speech clips that teach the model to say nothing: generated noise, empty transcripts.

Usage::

    python recipes/synthetic/noise_clips.py --out /work/data/synthetic_noise \\
        [--train 3000] [--dev 300] [--seed 0]

Every clip of the TTS corpus has speech in it (noise is only ever added under a voice), so
nothing teaches the model that noise alone is no speech. The stage-7 model spells vowels into
plain noise ("ee", "aa", "oo" for the white, pink and brown noise clips of
benchmarks/compare_pocketsphinx.py), and in command mode such noise then scores like a real word
the model is unsure of, which keeps the acceptance threshold from being any lower. These clips
carry the text "" (CTC's all-blank target) and are meant to be mixed into a training manifest
(``mix.py --take OUT/train.jsonl:N``); the training augmentation (reverberation, equalization,
telephone band, gain, more noise) then varies them further.

Each clip is coloured noise (spectral exponent drawn in [0, 2]: white to brown), in a third of
the clips with mains hum (50 or 60 Hz and its harmonics) and in a fifth with clicks, at -55 to -15
dBFS RMS, 0.5 to 4 s long. Writes ``OUT/audio/<split>/noise/<uid>.flac`` (16 kHz mono 16-bit) and
``OUT/<split>.jsonl`` (category "noise"), each file atomically; a rerun keeps the clips already
written (a clip depends only on the seed, the split and its index).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

_RECIPE_DIR = Path(__file__).resolve().parent
try:
    import speechrnn  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_RECIPE_DIR.parents[1]))

import soundfile  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from speechrnn.audio import SAMPLE_RATE, save_audio  # noqa: E402
from speechrnn.augmentation import colored_noise, generator_for  # noqa: E402
from speechrnn.data import Utterance, write_manifest  # noqa: E402

MIN_SECONDS, MAX_SECONDS = 0.5, 4.0
MIN_DBFS, MAX_DBFS = -55.0, -15.0  # RMS level of a clip
HUM_SHARE, CLICK_SHARE = 1 / 3, 1 / 5


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def noise_clip(seed: int, split: str, index: int) -> torch.Tensor:
    """One clip's samples, the same for the same (seed, split, index).

    Returns:
        (samples,) float32 at 16 kHz, RMS in [MIN_DBFS, MAX_DBFS] dBFS, peak below full scale.
    """
    generator = generator_for("noise-clip", seed, split, index)
    samples = round(_uniform(generator, MIN_SECONDS, MAX_SECONDS) * SAMPLE_RATE)
    clip = colored_noise(samples, _uniform(generator, 0.0, 2.0), generator)
    clip = clip / clip.pow(2).mean().sqrt().clamp(min=1e-8)
    if _uniform(generator, 0.0, 1.0) < HUM_SHARE:
        mains = 50.0 if _uniform(generator, 0.0, 1.0) < 0.5 else 60.0
        time = torch.arange(samples, dtype=torch.float64) / SAMPLE_RATE
        hum = sum(
            _uniform(generator, 0.0, 1.0)
            / harmonic
            * torch.sin(2 * math.pi * mains * harmonic * time + _uniform(generator, 0, 2 * math.pi))
            for harmonic in range(1, 6)
        )
        clip = clip + _uniform(generator, 0.5, 4.0) * torch.as_tensor(hum, dtype=torch.float32)
    if _uniform(generator, 0.0, 1.0) < CLICK_SHARE:
        count = int(_uniform(generator, 1, 6))
        for _ in range(count):
            at = int(_uniform(generator, 0, samples - 40))
            clip[at : at + 40] += _uniform(generator, 5.0, 15.0) * torch.hann_window(40)
    level = 10 ** (_uniform(generator, MIN_DBFS, MAX_DBFS) / 20)
    clip = clip * (level / clip.pow(2).mean().sqrt().clamp(min=1e-8))
    # Clicks can poke out: keep the peak below full scale rather than clip it.
    peak = float(clip.abs().max())
    return (clip * min(1.0, 0.99 / peak) if peak > 0 else clip).to(torch.float32)


def write_split(out: Path, split: str, count: int, seed: int) -> list[Utterance]:
    """Write ``count`` clips of a split (keeping those already there) and its manifest."""
    utterances = []
    for index in tqdm(range(count), desc=split, unit="clip", disable=None):
        relative = Path("audio") / split / "noise" / f"{seed}-{index:06d}.flac"
        path = out / relative
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            save_audio(path, noise_clip(seed, split, index))
        duration = soundfile.info(str(path)).frames / SAMPLE_RATE
        utterances.append(
            Utterance(
                id=relative.as_posix(),
                audio=str(path.resolve()),
                text="",
                duration=round(duration, 4),
                extra={"category": "noise", "engine": "noise", "voice": "noise"},
            )
        )
    write_manifest(out / f"{split}.jsonl", utterances)
    return utterances


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--train", type=int, default=3000, help="training clips")
    parser.add_argument("--dev", type=int, default=300, help="dev clips")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.train < 0 or args.dev < 0:
        print("error: --train and --dev must be >= 0", file=sys.stderr)
        return 2
    for split, count in (("train", args.train), ("dev", args.dev)):
        utterances = write_split(args.out, split, count, args.seed)
        seconds = sum(u.duration for u in utterances)
        print(
            f"{split}: {len(utterances)} clips, {seconds / 3600:.2f} h -> {args.out / split}.jsonl"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
