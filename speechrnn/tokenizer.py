"""Character vocabulary and text normalization.

The acoustic model predicts one of 29 symbols per frame: the CTC blank (index 0), a space, an
apostrophe and the 26 lower-case letters. Everything a user writes (transcripts, command lists) goes
through :func:`normalize_text` first, so "Turn ON the light!" and "turn on the light" are the same
phrase, and "go forward 10 meters" is spelled the way it is spoken.
"""

from __future__ import annotations

import re
import unicodedata

BLANK = 0
BLANK_SYMBOL = "<blank>"
SPACE = 1
# Index order is part of every checkpoint: never reorder, only append.
VOCAB: tuple[str, ...] = (BLANK_SYMBOL, " ", "'", *"abcdefghijklmnopqrstuvwxyz")
VOCAB_SIZE = len(VOCAB)
_INDEX = {symbol: index for index, symbol in enumerate(VOCAB)}

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_SYMBOL_WORDS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at ", "°": " degrees "}
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)(st|nd|rd|th)?", re.IGNORECASE)
_DISALLOWED = re.compile(r"[^a-z' ]+")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`\u00b4]")


def number_to_words(number: int) -> str:
    """Spell a non-negative integer in English words.

    Args:
        number: The integer, 0 <= number < 10**12.

    Returns:
        The words, e.g. ``"one hundred twenty three"`` for 123.
    """
    if number < 0:
        raise ValueError(f"number must be non-negative, got {number}")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for scale, name in _SCALES:
        if number >= scale:
            if scale == 10**9 and number >= 1000 * scale:
                raise ValueError(f"number too large to spell: {number}")
            head, rest = divmod(number, scale)
            words = f"{number_to_words(head)} {name}"
            return words if rest == 0 else f"{words} {number_to_words(rest)}"
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    """Turn a spelled cardinal into its ordinal ("twenty one" -> "twenty first")."""
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return f"{head} {last}" if head else last


def _spell_number(match: re.Match[str]) -> str:
    digits, suffix = match.group(1), match.group(2)
    if "." in digits and "," not in digits:
        whole, _, fraction = digits.partition(".")
        spoken_fraction = " ".join(_ONES[int(d)] for d in fraction)
        return f" {number_to_words(int(whole))} point {spoken_fraction} "
    digits = digits.replace(",", "").replace(".", "")
    # Long digit strings (phone numbers, codes) are read digit by digit.
    if len(digits) > 12 or (len(digits) > 1 and digits.startswith("0")):
        return " " + " ".join(_ONES[int(d)] for d in digits) + " "
    words = number_to_words(int(digits))
    if suffix and suffix.lower() in _ORDINAL_SUFFIXES:
        words = _ordinal(words)
    return f" {words} "


def normalize_text(text: str) -> str:
    """Bring text to the form the model spells: lower-case a-z, apostrophes and single spaces.

    Numbers become words ("10" -> "ten", "2nd" -> "second"), accents are stripped, hyphens and
    other punctuation become spaces.

    Args:
        text: Any text.

    Returns:
        The normalized text; empty when nothing speakable is left.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("'", text)
    for symbol, words in _SYMBOL_WORDS.items():
        text = text.replace(symbol, words)
    text = _NUMBER.sub(_spell_number, text)
    text = _DISALLOWED.sub(" ", text.lower())
    # Quotes used as quotation marks ('hello') are not part of a word.
    stripped = [word.strip("'") for word in text.split()]
    return " ".join(word for word in stripped if word)


def encode(text: str) -> list[int]:
    """Normalize text and map it to token indices (never containing BLANK).

    Args:
        text: Any text.

    Returns:
        Token indices into :data:`VOCAB`.
    """
    return [_INDEX[c] for c in normalize_text(text)]


def decode(tokens: list[int] | tuple[int, ...]) -> str:
    """Map token indices back to text, dropping blanks (no CTC collapsing is done here).

    Args:
        tokens: Token indices into :data:`VOCAB`.

    Returns:
        The text.
    """
    return "".join(VOCAB[t] for t in tokens if t != BLANK)
