"""A second real speaker for benchmarks: Allison Smith's recordings of Asterisk's English prompts.

Debian's ``asterisk-core-sounds-en`` (the prompt texts, ``core-sounds-en.txt.gz``) and
``asterisk-core-sounds-en-g722`` (the recordings, 16 kHz G.722) hold some 570 prompts read by one
professional US-English speaker (CC BY-SA 3.0). :func:`fetch_prompts` finds or extracts them
(``apt-get download`` + ``dpkg -x``; nothing is installed) into a cache folder once;
:func:`build_prompt_sets` reads them (ffmpeg decodes G.722) into two sets:

- single words: every prompt whose text is one word (digits "zero" .. "ninety", ordinals, days,
  months, the NATO alphabet, "hello", "goodbye", ...). Spelled-out letters (``letters/``) are left
  out: a letter's name has no one spelling;
- open vocabulary: every prompt of two or more words whose text is plain words (no digits or
  symbols, which are said in ways the text does not fix, no bracketed sound descriptions, and no
  abbreviations such as "PBX" or "A.M.", which are spelled out).

The clips are the files as shipped: trimmed close to the speech (a few tens of milliseconds of
near-silence at each end), unlike the word cuts of ``real_speech.py``, which get 150 ms of room
tone on each side.

Run as a script, it writes both sets as a training manifest instead (MODEL_CARD.md, stage 13:
one real speaker in training, after which her prompts are no test for that model)::

    .venv/bin/python benchmarks/asterisk_prompts.py OUT_DIR [--repeat 8] [--asterisk-data DIR] \
        [--only words|sentences] [--sample N]

Each clip gets the synthetic corpus's 160 ms margins (``speechrnn.audio.pad_margins``) and is
written once as FLAC; ``OUT_DIR/train.jsonl`` lists it ``--repeat`` times under ids of their own,
so each listing gets its own augmented copies in training.
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from real_speech import RATE, Clip, TestDataError, default_cache_dir, find_or_extract, to_float

from speechrnn.audio import pad_margins, save_audio
from speechrnn.data import Utterance, write_manifest
from speechrnn.tokenizer import normalize_text
from speechrnn.transcribe import MARGIN_SECONDS

PACKAGES = ("asterisk-core-sounds-en", "asterisk-core-sounds-en-g722")
SOUNDS_SUBDIR = Path("usr/share/asterisk/sounds/en_US_f_Allison")
TEXTS_SUBPATH = Path("usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SOURCE = "asterisk"
NATO_PREFIX = "phonetic/"  # phonetic/a_p .. phonetic/z_p: alpha .. zulu (phonetic/9_p: niner)
# Prompt texts that the recording does not say word for word.
_NOT_WORDS = re.compile(r"[0-9\[\]#*@$&/+=%<>{}|~^_\\]")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b|\b(?:[A-Za-z]\.){2,}")  # "PBX", "A.M."


@dataclass
class PromptSets:
    """What :func:`build_prompt_sets` reads."""

    words: list[Clip]  # one-word prompts, text normalized
    open_vocabulary: list[Clip]  # prompts of plain words
    nato: tuple[str, ...]  # the 26 code words alpha .. zulu, as the prompts spell them
    notes: list[str] = field(default_factory=list)


def _looks_like_prompts(root: Path) -> bool:
    return (root / TEXTS_SUBPATH).is_file() and (root / SOUNDS_SUBDIR / "digits").is_dir()


def fetch_prompts(cache_dir: Path | None = None, root: Path | None = None) -> Path:
    """The folder holding the two packages' ``usr/share/...`` trees, extracted when needed.

    Looked for in order: ``root`` (a folder both packages were extracted into), the installed
    packages (``/``), the cache (complete when its marker exists); otherwise both packages are
    downloaded and extracted into the cache.

    Args:
        cache_dir: Where to extract (default ``~/.cache/speechrnn/asterisk-core-sounds-en``).
        root: An extraction folder.

    Returns:
        The folder (``SOUNDS_SUBDIR`` and ``TEXTS_SUBPATH`` are below it).

    Raises:
        TestDataError: ``root`` lacks the files, or the download failed.
    """
    return find_or_extract(
        PACKAGES,
        _looks_like_prompts,
        cache_dir or default_cache_dir(PACKAGES[0]),
        hint="--asterisk-data FOLDER",
        expected=f"{TEXTS_SUBPATH} and {SOUNDS_SUBDIR}/digits",
        given=root,
    )


def parse_prompt_texts(text: str) -> dict[str, str]:
    """Read ``core-sounds-en.txt``: ``name: what is said`` per line, ``;`` starts a comment.

    Returns:
        Prompt name (its path below the sounds folder, without extension) -> text as written.
    """
    prompts = {}
    for line in text.splitlines():
        name, colon, said = line.partition(":")
        if colon and not line.startswith(";") and name.strip() and " " not in name.strip():
            prompts[name.strip()] = said.strip()
    return prompts


def said_as_written(text: str) -> str | None:
    """A prompt's words, normalized, or None when the text does not fix what is said."""
    if _NOT_WORDS.search(text) or _ACRONYM.search(text):
        return None
    return normalize_text(text) or None


def decode_g722(path: Path) -> np.ndarray:
    """A G.722 file as (samples,) int16 at 16 kHz (ffmpeg decodes it).

    Raises:
        TestDataError: ffmpeg is missing or fails.
    """
    if shutil.which("ffmpeg") is None:
        raise TestDataError("ffmpeg not found: it decodes the G.722 prompts (apt install ffmpeg)")
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "g722"]
    command += ["-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        raise TestDataError(f"{path}: ffmpeg failed: {done.stderr.decode(errors='replace')[-200:]}")
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.int16)


def build_prompt_sets(root: Path) -> PromptSets:
    """The single-word and open-vocabulary sets (see the module docstring).

    Args:
        root: From :func:`fetch_prompts`.

    Returns:
        The sets, in prompt-name order.
    """
    with gzip.open(root / TEXTS_SUBPATH, "rt", encoding="utf-8") as file:
        prompts = parse_prompt_texts(file.read())
    sounds = root / SOUNDS_SUBDIR
    words: list[Clip] = []
    sentences: list[Clip] = []
    nato: list[str] = []
    missing, unclear = [], 0
    for name, written in sorted(prompts.items()):
        said = said_as_written(written)
        if said is None or name.startswith("letters/"):
            unclear += 1
            continue
        path = sounds / f"{name}.g722"
        if not path.is_file():
            missing.append(name)
            continue
        clip = Clip(f"{SOURCE}-{name}", decode_g722(path), said, SOURCE)
        (words if len(said.split()) == 1 else sentences).append(clip)
        if re.fullmatch(rf"{NATO_PREFIX}[a-z]_p", name):
            nato.append(said)
    notes = [f"asterisk: {unclear} prompts left out (letters, digits or symbols in the text)"]
    if missing:
        notes.append(f"asterisk: no recording for {', '.join(missing)}")
    return PromptSets(words, sentences, tuple(nato), notes)


def write_training_manifest(clips: list[Clip], out_dir: Path, repeat: int) -> Path:
    """Write clips as FLAC with the corpus's margins, and a manifest listing each ``repeat`` times.

    Args:
        clips: From :func:`build_prompt_sets` (words and sentences).
        out_dir: Gets ``audio/*.flac`` and ``train.jsonl`` (paths relative to it).
        repeat: Listings per clip (>= 1), ids ``asterisk/audio/FILE#K`` (K from 0).

    Returns:
        The manifest's path.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    written = []
    for clip in clips:
        # The margins recognition gives every clip, which the synthetic corpus has too.
        waveform, _ = pad_margins(to_float(clip.samples), RATE, MARGIN_SECONDS)
        name = f"audio/{clip.id.replace('/', '_')}.flac"
        save_audio(out_dir / name, waveform, RATE)
        category = "word" if len(clip.text.split()) == 1 else "sentence"
        extra = {"engine": SOURCE, "voice": "allison", "category": category}
        audio = str((out_dir / name).resolve())
        duration = round(len(waveform) / RATE, 3)
        written.append(Utterance(f"{SOURCE}/{name}", audio, clip.text, duration, extra=extra))
    manifest = out_dir / "train.jsonl"
    # Written last and atomically: a manifest means every file it lists is complete.
    listed = [replace(u, id=f"{u.id}#{copy}") for copy in range(repeat) for u in written]
    write_manifest(manifest, listed)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Asterisk prompts as training data.")
    parser.add_argument("out_dir", type=Path, help="folder for audio/ and train.jsonl")
    parser.add_argument("--repeat", type=int, default=1, help="listings per clip (default 1)")
    parser.add_argument(
        "--only",
        choices=("words", "sentences"),
        help="write one set only: sentences leave her one-word prompts, which the Asterisk "
        "lists of compare_pocketsphinx.py test, unheard (recipes/personal/README.md)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="only N of the prompts, drawn at random (seed 0), in their original order",
    )
    parser.add_argument(
        "--asterisk-data", type=Path, help="folder the two packages were extracted into"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        print(f"error: --repeat must be >= 1, got {args.repeat}", file=sys.stderr)
        return 2
    try:
        sets = build_prompt_sets(fetch_prompts(root=args.asterisk_data))
    except TestDataError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    clips = {"words": sets.words, "sentences": sets.open_vocabulary}.get(
        args.only or "", sets.words + sets.open_vocabulary
    )
    if args.sample is not None:
        if not 1 <= args.sample <= len(clips):
            print(f"error: --sample must be 1-{len(clips)}, got {args.sample}", file=sys.stderr)
            return 2
        kept = set(random.Random(0).sample(range(len(clips)), args.sample))
        clips = [clip for index, clip in enumerate(clips) if index in kept]
    manifest = write_training_manifest(clips, args.out_dir, args.repeat)
    seconds = sum(clip.duration for clip in clips)
    print(f"{manifest}: {len(clips)} prompts ({seconds:.0f} s before margins) x {args.repeat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
