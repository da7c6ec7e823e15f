"""Tiny datasets on disk in the exact layouts of the public corpora, and helpers for training tests.

The audio is synthetic (a tone per word with an envelope and a little noise), which is all that
loaders, caches and a few training steps need; nothing here is downloaded.
"""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path

import numpy as np
import soundfile

RATE = 16000
WORD_TONES = {"yes": 300.0, "no": 450.0, "up": 600.0, "marvin": 800.0, "go": 1000.0}
# Overrides that make any recipe config train in seconds.
TINY_OVERRIDES = (
    "model.hidden_size=16",
    "model.num_layers=1",
    "model.conv_channels=16",
    "features.n_mels=20",
    "data.batch_seconds=4.0",
    "data.max_batch_size=4",
    "data.copies=2",
    "data.num_workers=0",
    "optim.warmup_steps=2",
    "train.threads=1",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=2",
)


def write_clip(path: Path, frequency: float, seconds: float, seed: int) -> Path:
    """A tone with a smooth envelope and faint noise, written as WAV or FLAC (by suffix)."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * RATE)) / RATE
    envelope = np.sin(np.pi * time / max(seconds, 1e-3)) ** 2
    signal = 0.3 * envelope * np.sin(2 * math.pi * frequency * time + rng.uniform(0, 6))
    signal += 0.003 * rng.standard_normal(len(time))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), signal.astype(np.float32), RATE, subtype="PCM_16")
    return path


def make_speech_commands(
    root: Path, words: tuple[str, ...] = ("yes", "no", "up", "marvin"), per_word: int = 6
) -> Path:
    """``root/SpeechCommands/speech_commands_v0.02`` with clips, official lists and noise.

    Each word has ``per_word`` clips from as many speakers; speaker 0 is in the validation list
    and speaker 1 in the testing list, as the real lists hold whole speakers.

    Returns:
        The dataset folder.
    """
    base = root / "SpeechCommands" / "speech_commands_v0.02"
    validation, testing = [], []
    for w, word in enumerate(words):
        for n in range(per_word):
            speaker = f"{n:02x}{w:02x}beef"
            relative = f"{word}/{speaker}_nohash_0.wav"
            write_clip(
                base / relative, WORD_TONES.get(word, 700.0), 1.0 if n % 3 else 0.8, 10 * w + n
            )
            if n == 0:
                validation.append(relative)
            elif n == 1:
                testing.append(relative)
    (base / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (base / "testing_list.txt").write_text("\n".join(testing) + "\n")
    rng = np.random.default_rng(0)
    noise = base / "_background_noise_"
    noise.mkdir(parents=True, exist_ok=True)
    for name, scale in (("white_noise.wav", 0.1), ("running_tap.wav", 0.05)):
        samples = (scale * rng.standard_normal(12 * RATE)).astype(np.float32)
        soundfile.write(str(noise / name), samples, RATE, subtype="PCM_16")
    return base


def make_librispeech(
    root: Path, subset: str = "dev-clean", speakers: int = 2, per_chapter: int = 3
) -> Path:
    """``root/LibriSpeech/<subset>/<speaker>/<chapter>/*.flac`` and ``.trans.txt`` files.

    Returns:
        The subset folder.
    """
    base = root / "LibriSpeech" / subset
    sentences = ["YES GO", "NO UP", "GO YES NO", "UP UP GO", "MARVIN SAYS YES", "NO"]
    for s in range(speakers):
        speaker, chapter = 100 + s, 2000 + s
        folder = base / str(speaker) / str(chapter)
        lines = []
        for u in range(per_chapter):
            utterance = f"{speaker}-{chapter}-{u:04d}"
            text = sentences[(s * per_chapter + u) % len(sentences)]
            seconds = 0.6 + 0.35 * len(text.split())
            write_clip(folder / f"{utterance}.flac", 250.0 + 90 * u + 40 * s, seconds, s * 10 + u)
            lines.append(f"{utterance} {text}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return base


def make_manifest_corpus(root: Path, train: int = 12, dev: int = 4) -> Path:
    """``root/train.jsonl`` and ``root/dev.jsonl`` over tone clips in ``root/clips``.

    Returns:
        ``root``.
    """
    phrases = ["yes", "no", "go up", "marvin", "yes go", "no no"]
    for name, count, offset in (("train", train, 0), ("dev", dev, 1000)):
        lines = []
        for i in range(count):
            text = phrases[i % len(phrases)]
            seconds = 0.5 + 0.3 * len(text)
            frequency = WORD_TONES.get(text.split()[0], 700.0)
            relative = f"clips/{name}_{i:03d}.flac"
            write_clip(root / relative, frequency, seconds / 2, offset + i)
            lines.append(json.dumps({"audio": relative, "text": text, "duration": seconds / 2}))
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def tar_folder(source: Path, archive: Path, arcname: str = ".") -> Path:
    """Pack ``source`` into a .tar.gz (a stand-in for a dataset's published archive)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return archive
