"""Texts for the synthetic corpus: command words, numbers, letters, phrases, words, sentences.

Every pool item is a :class:`Prompt`: the transcript (always :func:`normalize_text` output) and
the text handed to the TTS engine. The two differ where the engine needs help to say the
transcript, e.g. the letter "w" is spoken from "W." and "twenty five" is never given to an engine
as "25", whose reading ("two five"?) we could not predict.

Sentences come from the example sentences of WordNet 3.0 (Debian package ``wordnet-base``,
WordNet 3.0 licence: use, copy, modify and distribute for any purpose with the copyright notice),
and the vocabulary of isolated words from the same package's sense-tag counts (``cntlist.rev``).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass
from pathlib import Path

from speechrnn.tokenizer import normalize_text, number_to_words


def _words(text: str, separator: str | None = None) -> tuple[str, ...]:
    """A word table written as one string (compact, and diffs stay readable)."""
    return tuple(word.strip() for word in text.split(separator))


# The 35 words of Google Speech Commands v2.
COMMAND_WORDS = _words(
    """backward bed bird cat dog down eight five follow forward four go happy house learn left
    marvin nine no off on one right seven sheila six stop three tree two up visual wow yes zero"""
)
DIGITS = tuple(number_to_words(d) for d in range(10))
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
# Common spellings rather than ICAO's "alfa"/"juliett": the transcript must be what people type,
# and engines pronounce these spellings the way the code words are said.
NATO_ALPHABET = _words(
    """alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november
    oscar papa quebec romeo sierra tango uniform victor whiskey x-ray yankee zulu"""
)
# A letter said on its own. "A." alone is read as the article "uh" by festival, so engines get an
# unambiguous respelling of the letter's name instead.
LETTER_NAMES = dict(
    zip(
        LETTERS,
        _words(
            "ay,bee,see,dee,ee,eff,gee,aitch,eye,jay,kay,el,em,en,oh,pee,cue,are,ess,tee,you,vee,"
            "double you,ex,why,zee",
            ",",
        ),
        strict=True,
    )
)

WORDNET_DIR = Path("/usr/share/wordnet")
_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_QUOTED = re.compile(r'"([^"]+)"')
# Digits, abbreviations ("Feb."), brackets and symbols are read by engines in ways the transcript
# cannot predict, so sentences containing them are dropped rather than repaired.
_SPEAKABLE = re.compile(r"^[A-Za-z][A-Za-z ,;:'!?-]*[.!?]?$")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")


@dataclass(frozen=True)
class Prompt:
    """One thing to say.

    Attributes:
        category: Pool name ("command", "digit", "number", "letter", "nato", "phrase",
            "sentence", "word").
        text: The transcript, normalized.
        spoken: The text given to TTS engines.
    """

    category: str
    text: str
    spoken: str


def _prompt(category: str, spoken: str) -> Prompt:
    return Prompt(category, normalize_text(spoken), spoken)


def command_prompts() -> list[Prompt]:
    """The 35 Speech Commands words."""
    return [_prompt("command", word) for word in COMMAND_WORDS]


def digit_prompts() -> list[Prompt]:
    """The ten digits, zero to nine."""
    return [_prompt("digit", word) for word in DIGITS]


def letter_prompts() -> list[Prompt]:
    """The 26 letters; transcripts are the letters, engines get the letter's name spelled out."""
    return [Prompt("letter", letter, LETTER_NAMES[letter]) for letter in LETTERS]


def nato_prompts() -> list[Prompt]:
    """The 26 NATO alphabet code words."""
    return [_prompt("nato", word) for word in NATO_ALPHABET]


def nato_sequence_prompts(rng: random.Random, count: int) -> list[Prompt]:
    """``count`` random runs of two to four NATO code words, as when spelling a name."""
    return [
        _prompt("nato", " ".join(rng.sample(NATO_ALPHABET, rng.randint(2, 4))))
        for _ in range(count)
    ]


def number_prompts(rng: random.Random, count: int) -> list[Prompt]:
    """Spoken numbers: every cardinal to 100, then random larger ones, ordinals, codes, decimals.

    Args:
        rng: Source of randomness (the pool is deterministic for a given seed).
        count: How many prompts beyond the 101 cardinals 0..100.

    Returns:
        The prompts, spoken forms already in words.
    """
    spoken = [number_to_words(n) for n in range(101)]
    makers = (
        lambda: number_to_words(rng.randint(101, 999)),
        lambda: number_to_words(rng.choice((1000, 2000, 5000, 10000)) + rng.randint(0, 999)),
        lambda: number_to_words(rng.randint(1, 100)) + " percent",
        lambda: normalize_text(f"{rng.randint(1, 31)}th"),
        lambda: " ".join(DIGITS[rng.randint(0, 9)] for _ in range(rng.randint(3, 6))),
        lambda: f"{number_to_words(rng.randint(0, 99))} point {DIGITS[rng.randint(0, 9)]}",
    )
    for _ in range(count):
        spoken.append(rng.choice(makers)())
    return [_prompt("number", text) for text in spoken]


def number_word_prompts() -> list[Prompt]:
    """Every number word said alone: the cardinals zero..one hundred and ordinals first..hundredth.

    The full profile says each digit 900 times alone and "sixteen" or "sixth" a few times, so a
    model trained on it hears any isolated word that starts like a digit as that digit, and a
    command list of digits accepts "sixteen" as "six". A pool that says each of them equally
    often teaches the endings ("-teen", "-ty", "-th") that tell them apart.

    Returns:
        201 prompts (category "number"): 101 cardinals, then 100 ordinals.
    """
    cardinals = [number_to_words(n) for n in range(101)]
    ordinals = [normalize_text(f"{n}th") for n in range(1, 101)]
    return [_prompt("number", text) for text in cardinals + ordinals]


# Command phrases: template -> {slot: "choice|choice|..."}. Slots hold words, never digits, so the
# engines say exactly the transcript.
_SMALL = "|".join(number_to_words(n) for n in (*range(1, 11), 12, 15, 20))
_PERCENT = "|".join(number_to_words(n) for n in (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 100))
_HOURS = "|".join(number_to_words(n) for n in range(1, 13))
_DIGIT = "|".join(DIGITS)
_DEVICES = (
    "light|lights|lamp|fan|television|radio|heater|air conditioner|music|computer|oven|"
    "coffee machine|alarm|camera|microphone|speaker"
)
_ROOMS = "kitchen|bedroom|living room|bathroom|office|garage|hallway"
_CONTACTS = (
    "mom|dad|home|work|the office|grandma|my sister|my brother|john|sarah|the doctor|sheila|marvin"
)
_DIRECTIONS = "forward|backward|left|right|up|down"
_UNITS = "meters|steps|feet|centimeters|inches"
_MEDIA = (
    "music|the radio|some jazz|the news|my playlist|the next song|a podcast|the video|rock music|"
    "classical music"
)
_POLITE = (
    "yes please|no thanks|cancel|cancel that|never mind|repeat that|say that again|help|stop|"
    "go back|start over|that's right|that's wrong|okay|thank you|i don't know|wait a second|"
    "hold on|go ahead|sounds good|not now|try again|of course|exit"
)
_PHRASE_TEMPLATES: dict[str, dict[str, str]] = {
    "turn {state} the {device}": {"state": "on|off", "device": _DEVICES},
    "turn the {device} {state}": {"state": "on|off", "device": _DEVICES},
    "switch {state} the {room} {device}": {
        "state": "on|off",
        "room": _ROOMS,
        "device": "light|lights|lamp|fan",
    },
    "go {direction}": {"direction": _DIRECTIONS},
    "go {direction} {n} {unit}": {"direction": _DIRECTIONS, "n": _SMALL, "unit": _UNITS},
    "move {direction} {n} {unit}": {"direction": _DIRECTIONS, "n": _SMALL, "unit": _UNITS},
    "turn {side}": {"side": "left|right|around"},
    "turn {side} {n} degrees": {"side": "left|right", "n": "ten|thirty|forty five|ninety"},
    "{verb} the {thing}": {
        "verb": "open|close|lock|unlock",
        "thing": "door|front door|back door|window|garage door|blinds|curtains",
    },
    "call {contact}": {"contact": _CONTACTS},
    "text {contact}": {"contact": _CONTACTS},
    "play {media}": {"media": _MEDIA},
    "{verb} the music": {"verb": "stop|pause|resume|play|mute"},
    "volume {direction}": {"direction": "up|down"},
    "turn the volume {direction}": {"direction": "up|down"},
    "set the volume to {n}": {"n": f"{_SMALL}|{_PERCENT}"},
    "set the volume to {n} percent": {"n": _PERCENT},
    "{which} track": {"which": "next|previous|last|first"},
    "{which} song": {"which": "next|previous|skip this"},
    "set a timer for {n} {unit}": {"n": _SMALL, "unit": "seconds|minutes|hours"},
    "wake me up in {n} {unit}": {"n": _SMALL, "unit": "minutes|hours"},
    "set an alarm for {n} {when}": {"n": _HOURS, "when": "in the morning|in the evening|o'clock"},
    "set the temperature to {n} degrees": {
        "n": "|".join(number_to_words(n) for n in range(16, 31))
    },
    "make it {adjective}": {"adjective": "warmer|cooler|brighter|darker|louder|quieter"},
    "{verb} the {device}": {
        "verb": "dim|brighten|restart|mute|unmute",
        "device": "lights|screen|television|speaker|microphone",
    },
    "what {question}": {
        "question": "time is it|is the weather like|is the temperature|day is it|"
        "is on my calendar|song is this|is the date today"
    },
    "{polite}": {"polite": _POLITE},
    "{action} a {thing}": {
        "action": "take|send|read|show me",
        "thing": "picture|photo|message|note|video",
    },
    "{verb} {direction}": {
        "verb": "look|scroll|zoom|page|swipe",
        "direction": "up|down|left|right|in|out",
    },
    "follow me": {},
    "stop {what}": {"what": "moving|recording|listening|the timer|the alarm|everything|here|now"},
    "{verb} {how}": {"verb": "go|stop|turn|move", "how": "forward|backward|now|slowly|faster"},
    "add {item} to the shopping list": {
        "item": "milk|eggs|bread|apples|coffee|rice|cheese|bananas"
    },
    "remind me to {task}": {
        "task": "call mom|buy milk|water the plants|take out the trash|feed the dog|pay the bills"
    },
    "navigate to {place}": {
        "place": "home|work|the station|the airport|the nearest gas station|the hospital"
    },
    "how far is {place}": {"place": "home|work|the station|the airport"},
    "the code is {a} {b} {c} {d}": {"a": _DIGIT, "b": _DIGIT, "c": _DIGIT, "d": _DIGIT},
    "dial {a} {b} {c}": {"a": _DIGIT, "b": _DIGIT, "c": _DIGIT},
    "{first} {second}": {"first": "|".join(COMMAND_WORDS), "second": "|".join(COMMAND_WORDS)},
}


def phrase_prompts(rng: random.Random, max_per_template: int) -> list[Prompt]:
    """Command phrases from templates, at most ``max_per_template`` random fillings of each.

    Args:
        rng: Source of randomness.
        max_per_template: Cap on distinct phrases per template, so templates with huge slot
            products (codes, word pairs) do not crowd out the rest.

    Returns:
        Distinct prompts in a deterministic order.
    """
    phrases: list[str] = []
    for template, slots in _PHRASE_TEMPLATES.items():
        names = sorted(slots)
        choices = [_words(slots[name], "|") for name in names]
        fillings = list(itertools.product(*choices))
        rng.shuffle(fillings)
        for filling in fillings[:max_per_template]:
            phrases.append(template.format(**dict(zip(names, filling, strict=True))))
    unique = dict.fromkeys(normalize_text(phrase) for phrase in phrases)
    return [_prompt("phrase", phrase) for phrase in unique]


def _clean_sentence(raw: str) -> str | None:
    """Make a WordNet example speakable, or return None when it is not safe to use."""
    sentence = " ".join(raw.replace("--", ", ").split())
    if not _SPEAKABLE.match(sentence) or _ACRONYM.search(sentence):
        return None
    if "." in sentence[:-1]:
        return None
    # A final full stop makes engines close with falling intonation instead of trailing off.
    return sentence if sentence[-1] in ".!?" else sentence + "."


@functools.cache
def sentence_prompts(
    wordnet_dir: Path = WORDNET_DIR, min_words: int = 3, max_words: int = 15
) -> tuple[Prompt, ...]:
    """Example sentences from WordNet, cleaned, deduplicated and sorted.

    Args:
        wordnet_dir: Folder with WordNet's ``data.*`` files.
        min_words: Shortest sentence kept, in words.
        max_words: Longest sentence kept, in words (long ones make slow CPU training batches).

    Returns:
        The prompts, sorted by transcript; empty when WordNet is not installed. Cached: the
        files are parsed once per process.
    """
    by_text: dict[str, Prompt] = {}
    for name in _WORDNET_FILES:
        path = wordnet_dir / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            # Copyright header lines start with spaces; entries start with an offset.
            if not line[:1].isdigit():
                continue
            for raw in _QUOTED.findall(line.partition(" | ")[2]):
                sentence = _clean_sentence(raw)
                if sentence is None:
                    continue
                text = normalize_text(sentence)
                if min_words <= len(text.split()) <= max_words:
                    by_text.setdefault(text, Prompt("sentence", text, sentence))
    return tuple(by_text[text] for text in sorted(by_text))


# A lemma made of Roman-numeral letters with a "cardinal" sense is a numeral ("ii", "xlv"):
# engines read it as letters or as a number, never as the transcript.
_ROMAN = re.compile(r"^[ivxlcdm]+$")
_PLURAL_ES = ("s", "x", "z", "ch", "sh")


def _plural(noun: str, irregular: dict[str, str]) -> str:
    """A noun's plural: WordNet's exception list first, then the regular English rules."""
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(_PLURAL_ES):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def _common_nouns(wordnet_dir: Path) -> set[str]:
    """Nouns ``data.noun`` spells in lower case somewhere: names ("Italy") get no plural."""
    path = wordnet_dir / "data.noun"
    if not path.exists():
        return set()
    nouns = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line[:1].isdigit():
            continue
        # "offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] ..." (w_cnt in hex)
        fields = line.split(" ", 4 + 2 * int(line.split(" ", 4)[3], 16))
        nouns.update(word for word in fields[4:-1:2] if word.islower())
    return nouns


@functools.cache
def vocabulary_prompts(wordnet_dir: Path = WORDNET_DIR) -> tuple[Prompt, ...]:
    """Everyday words said on their own: a command list's words are mostly outside the 35.

    The vocabulary is every single-word lemma that SemCor, WordNet's sense-tagged corpus, counts
    at least once (``cntlist.rev``, about 17,000 words), plus the plural of each such noun
    (irregular plurals from ``noun.exc``). No frequency cut-off is applied, so no list of test
    words decides what is in it. Letters and Roman numerals are left out (letters have a pool of
    their own; numerals are not read as their transcript).

    Args:
        wordnet_dir: Folder with WordNet's ``cntlist.rev`` and ``noun.exc``.

    Returns:
        The prompts (category "word"), sorted by transcript; empty when WordNet is not
        installed. Cached: the files are parsed once per process.
    """
    counts = wordnet_dir / "cntlist.rev"
    if not counts.exists():
        return ()
    irregular: dict[str, str] = {}
    exceptions = wordnet_dir / "noun.exc"
    if exceptions.exists():
        for line in exceptions.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            # "plural singular [singular ...]"; the first plural listed for a noun wins.
            for singular in fields[1:]:
                if fields[0].isalpha():
                    irregular.setdefault(singular, fields[0])
    words: set[str] = set()
    nouns: set[str] = set()
    numerals: set[str] = set()
    for line in counts.read_text(encoding="utf-8").splitlines():
        # "lemma%ss_type:lex_filenum:lex_id:head_word:head_id sense_number tag_count"
        lemma, _, sense = line.split(" ", 1)[0].partition("%")
        if not lemma.isalpha() or not lemma.isascii() or len(lemma) < 2:
            continue
        word = lemma.lower()
        words.add(word)
        if sense.startswith("1:"):
            nouns.add(word)
        if ":cardinal:" in sense and _ROMAN.match(word):
            numerals.add(word)
    words -= numerals
    words |= {_plural(noun, irregular) for noun in (nouns & _common_nouns(wordnet_dir)) - numerals}
    return tuple(_prompt("word", word) for word in sorted(words))
