"""Tests for speechrnn.tokenizer."""

import pytest

from speechrnn.tokenizer import (
    BLANK,
    VOCAB,
    VOCAB_SIZE,
    decode,
    encode,
    normalize_text,
    number_to_words,
)


def test_vocabulary_layout() -> None:
    assert VOCAB_SIZE == 29
    assert VOCAB[BLANK] == "<blank>" and VOCAB[1] == " " and VOCAB[2] == "'"
    assert "".join(VOCAB[3:]) == "abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Turn ON the light!", "turn on the light"),
        ("go forward 10 meters", "go forward ten meters"),
        ("the 2nd and 21st", "the second and twenty first"),
        ("don't   stop", "don't stop"),
        ("'quoted' words", "quoted words"),
        ("café naïve", "cafe naive"),
        ("it\u2019s 3.5 km", "it's three point five km"),
        ("50% off", "fifty percent off"),
        ("call 0123", "call zero one two three"),
        ("well-known", "well known"),
        ("1,250 cars", "one thousand two hundred fifty cars"),
        ("?!.", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("number", "words"),
    [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"), (100, "one hundred"),
     (1001, "one thousand one"), (2_000_000, "two million")],
)  # fmt: skip
def test_number_to_words(number: int, words: str) -> None:
    assert number_to_words(number) == words


def test_encode_decode_round_trip() -> None:
    tokens = encode("Go forward, 10 meters")
    assert BLANK not in tokens
    assert decode(tokens) == "go forward ten meters"
    assert decode([BLANK, *encode("hi"), BLANK]) == "hi"
