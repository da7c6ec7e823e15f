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
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from real_speech import RATE, Clip, TestDataError, default_cache_dir, find_or_extract

from speechrnn.tokenizer import normalize_text

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
