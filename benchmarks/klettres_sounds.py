"""A fourth real voice source for benchmarks: the English letters and words of KDE's KLettres.

KLettres is a children's game for learning the alphabet: the game says a letter, or a short
word, and the child types it. Debian's ``klettres-data`` (GPL-2+) holds the recordings per
language: ``LANG/sounds.xml`` names each sound and its file, in an ``<alphabet>`` part (the 26
letters, said by their names: "bee", "double-u") and a ``<syllables>`` part (short words: "car",
"dog", "sky", ...). Two English recordings ship, ``en`` and ``en_GB``, each by its own speaker
(no file is shared between them). :func:`fetch_sounds` finds or extracts the package
(``apt-get download`` + ``dpkg -x``; nothing is installed) into a cache folder once;
:func:`build_sound_lists` reads both languages into two command lists:

- the alphabet ("a" ... "z"), tried on both speakers' letters, with their words as out-of-list
  speech;
- the words of both speakers, tried on their words, with their letters as out-of-list speech.

Each clip is said on its own on purpose, so unlike words cut from sentences, a word of one or two
letters ("my", "no", "b") counts as a command said. A few "syllables" are letter sounds, not
words ("ch", "th", "aw"): they are left out (:data:`NOT_WORDS`). What is said is read from the
sound's name, lower-cased. Nobody has checked by ear that each recording says its name. The clips
are the files as shipped, decoded, mixed to mono and resampled to 16 kHz.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from real_speech import Clip, TestDataError, default_cache_dir, find_or_extract, read_clip

from speechrnn.tokenizer import normalize_text

PACKAGE = "klettres-data"
DATA_SUBDIR = Path("usr/share/klettres")
LANGUAGES = ("en", "en_GB")  # one speaker each
SOURCE = "klettres"
# "Syllables" that are the sounds of letters, which nobody says as a command.
NOT_WORDS = frozenset({"aw", "ch", "th"})


@dataclass
class SoundLists:
    """What :func:`build_sound_lists` reads: both speakers' letters and words."""

    letters: list[Clip]  # in language order, then sound order
    words: list[Clip]
    notes: list[str] = field(default_factory=list)

    @property
    def letter_commands(self) -> tuple[str, ...]:
        """The letters said, sorted."""
        return tuple(sorted({clip.text for clip in self.letters}))

    @property
    def word_commands(self) -> tuple[str, ...]:
        """The words said, sorted."""
        return tuple(sorted({clip.text for clip in self.words}))


def _looks_like_sounds(root: Path) -> bool:
    data = root / DATA_SUBDIR
    return all((data / language / "sounds.xml").is_file() for language in LANGUAGES)


def fetch_sounds(cache_dir: Path | None = None, root: Path | None = None) -> Path:
    """The folder holding the package's ``usr/share/klettres`` tree: ``root`` when given, else
    the installed package, else the cache (``~/.cache/speechrnn/klettres-data`` unless
    ``cache_dir``), where the package is extracted when needed (see
    :func:`real_speech.find_or_extract`).

    Raises:
        TestDataError: ``root`` lacks the files, or the download failed.
    """
    return find_or_extract(
        (PACKAGE,),
        _looks_like_sounds,
        cache_dir or default_cache_dir(PACKAGE),
        hint="--klettres-data FOLDER",
        expected=f"{DATA_SUBDIR}/{{{','.join(LANGUAGES)}}}/sounds.xml",
        given=root,
    )


def parse_sounds(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Read a ``sounds.xml``.

    Returns:
        (alphabet, syllables): sound name -> file (relative to ``usr/share/klettres``), each in
        the file's order.

    Raises:
        TestDataError: It is not XML.
    """
    try:
        tree = ElementTree.fromstring(text)
    except ElementTree.ParseError as problem:
        raise TestDataError(f"sounds.xml: {problem}") from problem
    alphabet, syllables = (
        {
            sound.get("name", ""): sound.get("file", "")
            for element in tree.iter(part)
            for sound in element.iter("sound")
        }
        for part in ("alphabet", "syllables")
    )
    return alphabet, syllables


def build_sound_lists(root: Path) -> SoundLists:
    """Both speakers' letters and words (see the module docstring).

    Args:
        root: From :func:`fetch_sounds`.

    Returns:
        The clips, ``en`` first.

    Raises:
        TestDataError: A ``sounds.xml`` is not XML, or a recording cannot be decoded.
    """
    data = root / DATA_SUBDIR
    lists = SoundLists([], [])
    for language in LANGUAGES:
        alphabet, syllables = parse_sounds((data / language / "sounds.xml").read_text("utf-8"))
        for kind, sounds, target in (
            ("letter", alphabet, lists.letters),
            ("word", syllables, lists.words),
        ):
            for name, file in sounds.items():
                text = normalize_text(name)
                if kind == "word" and text in NOT_WORDS:
                    continue
                if kind == "letter" and len(text) != 1:
                    lists.notes.append(f"klettres: {language} letter {name!r} left out")
                    continue
                path = data / file
                if not path.is_file():
                    lists.notes.append(f"klettres: {file} is listed but missing")
                    continue
                clip_id = f"{SOURCE}-{language}-{kind}-{text}"
                target.append(read_clip(path, clip_id, text, SOURCE))
    return lists
