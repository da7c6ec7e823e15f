"""Training throughput (audio seconds per wall second) and peak memory on CPU, per recipe.

    python benchmarks/train_speed.py                       # all recipes, 2 threads
    python benchmarks/train_speed.py --recipes synthetic --steps 20 --threads 1 --json

For each recipe a small corpus is synthesized in that recipe's on-disk layout (Speech Commands
word folders, LibriSpeech speaker/chapter folders, or JSONL manifests) with the recipe's typical
utterance lengths and characters per second, and ``speechrnn.training.train`` runs the recipe's
config.toml unchanged (default model, batch size, augmentation) except: one cached copy per
utterance (the cache build is timed separately), a dev set of two clips, and ``--steps`` steps.
Throughput is measured over the steps after the first ``--warmup``, from real data loading through
the optimizer step. Each recipe runs in its own process so that its peak resident memory (RSS) is
its own. The audio is tones and noise, not speech: compute does not depend on what is said.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parent.parent
RATE = 16000
RECIPES = ("speech_commands", "synthetic", "manifest", "librispeech")
# Utterance lengths (seconds) and transcript density per recipe.
SHAPES = {
    "speech_commands": {"seconds": (1.0, 1.0), "chars_per_second": 5.0},
    "synthetic": {"seconds": (1.0, 4.0), "chars_per_second": 14.0},
    "manifest": {"seconds": (2.0, 6.0), "chars_per_second": 14.0},
    "librispeech": {"seconds": (10.0, 16.0), "chars_per_second": 15.0},
}
# Training audio of one epoch of the real datasets, for the per-epoch estimates.
EPOCH_SECONDS = {
    "speech_commands": 84843 * 1.0 * 1.1,  # v2 training clips (<= 1 s) + 10 % silence clips
    "librispeech": 100.6 * 3600,  # train-clean-100
    "synthetic": 3600.0,  # per hour of corpus
    "manifest": 3600.0,  # per hour of corpus
}


def _clip(path: Path, seconds: float, rng: np.random.Generator) -> None:
    time_axis = np.arange(int(seconds * RATE)) / RATE
    signal = 0.2 * np.sin(2 * math.pi * rng.uniform(150, 1500) * time_axis)
    signal += 0.02 * rng.standard_normal(len(time_axis))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), signal.astype(np.float32), RATE, subtype="PCM_16")


def _text(rng: np.random.Generator, characters: int) -> str:
    words, length = [], 0
    while length < characters:
        word = "".join(chr(ord("a") + int(c)) for c in rng.integers(0, 26, int(rng.integers(2, 8))))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def make_corpus(recipe: str, root: Path, count: int) -> None:
    """Write the recipe's layout under ``root``: ``count`` training clips + a dev split of two."""
    rng = np.random.default_rng(0)
    shape = SHAPES[recipe]
    low, high = shape["seconds"]
    durations = rng.uniform(low, high, count + 3)
    if recipe == "speech_commands":
        base = root / "SpeechCommands" / "speech_commands_v0.02"
        words = ["yes", "no", "up", "down", "left", "right", "stop", "go"]
        listed = []
        for n, seconds in enumerate(durations):
            relative = f"{words[n % len(words)]}/{n:08x}_nohash_0.wav"
            _clip(base / relative, seconds, rng)
            listed.append(relative)
        (base / "validation_list.txt").write_text("\n".join(listed[:2]) + "\n")
        (base / "testing_list.txt").write_text(listed[2] + "\n")
        noise = base / "_background_noise_"
        noise.mkdir()
        soundfile.write(str(noise / "white_noise.wav"), rng.standard_normal(20 * RATE) * 0.1, RATE)
    elif recipe == "librispeech":
        for subset, items in (("train-clean-100", durations[2:]), ("dev-clean", durations[:2])):
            folder = root / "LibriSpeech" / subset / "19" / "198"
            lines = []
            for n, seconds in enumerate(items):
                name = f"19-198-{n:04d}"
                _clip(folder / f"{name}.flac", seconds, rng)
                text = _text(rng, int(seconds * shape["chars_per_second"])).upper()
                lines.append(f"{name} {text}")
            (folder / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    else:
        for split, items in (("train", durations[2:]), ("dev", durations[:2])):
            lines = []
            for n, seconds in enumerate(items):
                relative = f"clips/{split}_{n:05d}.flac"
                _clip(root / relative, seconds, rng)
                text = _text(rng, int(seconds * shape["chars_per_second"]))
                lines.append(json.dumps({"audio": relative, "text": text, "duration": seconds}))
            (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


def measure(recipe: str, steps: int, warmup: int, threads: int) -> dict[str, object]:
    """Train ``steps`` steps of ``recipe`` in this process and return the measurements."""
    import torch

    from speechrnn.model import AcousticModel
    from speechrnn.training import TrainState, load_config, train

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "data"
        recipe_config = load_config(REPO / "recipes" / recipe / "config.toml")
        # Enough utterances that every measured step falls in the first epoch: no dev
        # evaluation or epoch-end checkpoint lands between them.
        mean_seconds = sum(SHAPES[recipe]["seconds"]) / 2
        per_batch = min(
            recipe_config.data.max_batch_size, recipe_config.data.batch_seconds / mean_seconds
        )
        make_corpus(recipe, root, int((steps + 2) * per_batch * 1.2))
        config = load_config(
            REPO / "recipes" / recipe / "config.toml",
            [f'data.root="{root}"', "data.copies=1", "data.num_workers=0",
             f"train.max_steps={steps}", f"train.threads={threads}", "train.sample_every=0",
             "train.log_every=1000", "train.checkpoint_every=100000", "train.device=\"cpu\"",
             "data.min_duration=0.1"],
        )  # fmt: skip
        marks: list[tuple[float, float]] = []

        def on_step(state: TrainState) -> None:
            marks.append((time.perf_counter(), state.audio_seconds))

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        train(config, Path(folder) / "run", on_step=on_step)
        total = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        (first_time, first_audio), (last_time, last_audio) = marks[warmup - 1], marks[-1]
        measured = len(marks) - warmup
        speed = (last_audio - first_audio) / (last_time - first_time)
        parameters = AcousticModel(config.model, config.features).num_parameters()
    return {
        "recipe": recipe,
        "parameters": parameters,
        "threads": threads,
        "batch_seconds": config.data.batch_seconds,
        "max_batch_size": config.data.max_batch_size,
        "measured_steps": measured,
        "seconds_per_step": round((last_time - first_time) / measured, 3),
        "audio_seconds_per_step": round((last_audio - first_audio) / measured, 1),
        "audio_seconds_per_second": round(speed, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "rss_before_training_mib": round(rss_before / 1024, 1),
        "setup_seconds": round(total - (last_time - first_time), 1),
        "epoch_hours_estimate": round(EPOCH_SECONDS[recipe] / speed / 3600, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument(
        "--steps", type=int, default=0, help="steps per recipe (default: by recipe)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="steps not measured")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="one JSON object per recipe")
    parser.add_argument("--child", choices=RECIPES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    default_steps = {"speech_commands": 12, "synthetic": 14, "manifest": 10, "librispeech": 5}
    if args.child:
        steps = args.steps or default_steps[args.child]
        print(json.dumps(measure(args.child, steps, args.warmup, args.threads)))
        return 0
    results = []
    for recipe in args.recipes:
        command = [sys.executable, __file__, "--child", recipe, "--warmup", str(args.warmup),
                   "--threads", str(args.threads), "--steps", str(args.steps)]  # fmt: skip
        environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
        if done.returncode != 0:
            print(f"{recipe}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{recipe}: {result['audio_seconds_per_second']} audio s/s", file=sys.stderr)
    if args.json:
        for result in results:
            print(json.dumps(result))
        return 0
    print("| recipe | parameters | threads | s / step | audio s / step | audio s / s | "
          "peak RSS (MiB) | epoch estimate (h) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['recipe']} | {r['parameters']:,} | {r['threads']} | {r['seconds_per_step']} | "
              f"{r['audio_seconds_per_step']} | {r['audio_seconds_per_second']} | "
              f"{r['peak_rss_mib']} | {r['epoch_hours_estimate']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
