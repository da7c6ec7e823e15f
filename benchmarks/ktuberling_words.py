"""A third real voice for benchmarks: the English object names of KDE's KTuberling.

KTuberling is a children's game: objects are dragged onto a picture ("playground"), and the game
says each object's name, recorded by a person. Debian's ``ktuberling-data`` (GPL-2+) holds the
recordings per language (``sounds/en/*.ogg``, listed by ``sounds/en.soundtheme``) and the
playgrounds (``pics/*.theme``, each naming the sounds of its objects). :func:`fetch_words` finds
or extracts the package (``apt-get download`` + ``dpkg -x``; nothing is installed) into a cache
folder once; :func:`build_word_lists` reads it into command lists:

- one list per playground, of the spoken names of its objects that have an English recording.
  Playgrounds that share a recording are merged into one list ("potato-game" is a part of the
  default playground plus the umbrella), so each recording is an in-list word of one list only;
- every recording of another list is an out-of-list word of a list (unless its name is in the
  list too).

What is said is read from the sound's name, less its playground's prefix ("egypt_camel" ->
"camel"), with the few names that are not spelt as said corrected (:data:`SPOKEN`). Nobody has
checked by ear that each recording says its name. The clips are the files as shipped, decoded
and resampled to 16 kHz mono.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from real_speech import Clip, default_cache_dir, find_or_extract, read_clip

from speechrnn.tokenizer import normalize_text

PACKAGE = "ktuberling-data"
DATA_SUBDIR = Path("usr/share/ktuberling")
LANGUAGE = "en"
SOURCE = "ktuberling"
# Sound names (less the playground prefix) that are not spelt the way they are said.
SPOKEN = {
    "palmtree": "palm tree",
    "fallingstar": "falling star",
    "sphynx": "sphinx",
    "brocolli": "broccoli",
    "broccolli": "broccoli",
}
_SOUND = re.compile(r"<sound\s+name=\"([^\"]+)\"\s+file=\"([^\"]+)\"")
_OBJECT_SOUND = re.compile(r"\bsound=\"([^\"]+)\"")


@dataclass
class WordList:
    """One command list and the recordings whose name it holds."""

    name: str  # the playground(s), e.g. "egypt" or "default_theme+potato-game"
    commands: tuple[str, ...]  # sorted spoken names
    clips: list[Clip]  # one per recording, in sound-name order


@dataclass
class WordLists:
    """What :func:`build_word_lists` reads."""

    lists: list[WordList]
    notes: list[str] = field(default_factory=list)

    @property
    def clips(self) -> list[Clip]:
        """Every recording, once."""
        return [clip for word_list in self.lists for clip in word_list.clips]


def _looks_like_words(root: Path) -> bool:
    data = root / DATA_SUBDIR
    return (data / "sounds" / f"{LANGUAGE}.soundtheme").is_file() and (data / "pics").is_dir()


def fetch_words(cache_dir: Path | None = None, root: Path | None = None) -> Path:
    """The folder holding the package's ``usr/share/ktuberling`` tree, extracted when needed.

    Looked for in order: ``root`` (a folder the package was extracted into), the installed
    package (``/``), the cache (complete when its marker exists); otherwise the package is
    downloaded and extracted into the cache.

    Args:
        cache_dir: Where to extract (default ``~/.cache/speechrnn/ktuberling-data``).
        root: An extraction folder.

    Returns:
        The folder (``DATA_SUBDIR`` is below it).

    Raises:
        TestDataError: ``root`` lacks the files, or the download failed.
    """
    return find_or_extract(
        (PACKAGE,),
        _looks_like_words,
        cache_dir or default_cache_dir(PACKAGE),
        hint="--ktuberling-data FOLDER",
        expected=f"{DATA_SUBDIR}/sounds/{LANGUAGE}.soundtheme",
        given=root,
    )


def parse_soundtheme(text: str) -> dict[str, str]:
    """Read a ``LANG.soundtheme``: sound name -> file (relative to the sounds folder)."""
    return dict(_SOUND.findall(text))


def parse_playground(text: str) -> set[str]:
    """Read a ``pics/*.theme``: the sound names of its objects."""
    return set(_OBJECT_SOUND.findall(text))


def spoken_names(sounds: set[str]) -> dict[str, str]:
    """What is said for each of one playground's sounds.

    The prefix that every sound of the playground shares, up to an underscore ("egypt_"), is
    not said; an underscore inside a name is a space.

    Returns:
        Sound name -> normalized text.
    """
    ordered = sorted(sounds)
    # The first and last names in sorted order share what every name shares.
    shared = 0
    if len(ordered) > 1:
        first, last = ordered[0], ordered[-1]
        while shared < min(len(first), len(last)) and first[shared] == last[shared]:
            shared += 1
    prefix = ordered[0][:shared] if ordered else ""
    prefix = prefix[: prefix.rfind("_") + 1]
    names = {}
    for sound in sounds:
        rest = sound[len(prefix) :]
        names[sound] = normalize_text(SPOKEN.get(rest, rest.replace("_", " ")))
    return names


def merge_playgrounds(playgrounds: dict[str, set[str]]) -> list[tuple[str, set[str]]]:
    """Join playgrounds that share a sound, transitively (connected components).

    Args:
        playgrounds: Playground name -> the recorded sounds of its objects.

    Returns:
        (names joined by "+", sounds) per group, in name order; empty playgrounds dropped.
    """
    groups: list[tuple[list[str], set[str]]] = []
    for name in sorted(playgrounds):
        sounds = set(playgrounds[name])
        if not sounds:
            continue
        names = [name]
        for other in [g for g in groups if g[1] & sounds]:
            groups.remove(other)
            names += other[0]
            sounds |= other[1]
        groups.append((names, sounds))
    return sorted(("+".join(sorted(names)), sounds) for names, sounds in groups)


def build_word_lists(root: Path) -> WordLists:
    """The command lists and their recordings (see the module docstring).

    Args:
        root: From :func:`fetch_words`.

    Returns:
        The lists, in name order.

    Raises:
        TestDataError: A recording cannot be decoded.
    """
    data = root / DATA_SUBDIR
    sounds_dir = data / "sounds"
    files = parse_soundtheme((sounds_dir / f"{LANGUAGE}.soundtheme").read_text(encoding="utf-8"))
    playgrounds: dict[str, set[str]] = {}
    spoken: dict[str, str] = {}
    for theme in sorted((data / "pics").glob("*.theme")):
        used = parse_playground(theme.read_text(encoding="utf-8"))
        playgrounds[theme.stem] = {s for s in used if s in files}
        spoken.update(spoken_names(used))
    notes = []
    unused = sorted(set(files) - set().union(*playgrounds.values()))
    if unused:
        notes.append(f"ktuberling: recordings on no playground, left out: {', '.join(unused)}")
    lists = []
    for name, sounds in merge_playgrounds(playgrounds):
        clips = []
        for sound in sorted(sounds):
            path = sounds_dir / files[sound]
            if not path.is_file():
                notes.append(f"ktuberling: {files[sound]} is listed but missing")
                continue
            clips.append(read_clip(path, f"{SOURCE}-{sound}", spoken[sound], SOURCE))
        if clips:
            lists.append(WordList(name, tuple(sorted({c.text for c in clips})), clips))
    return WordLists(lists, notes)
