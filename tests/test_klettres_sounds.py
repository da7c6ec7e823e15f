"""benchmarks/klettres_sounds.py on a made-up folder laid out like Debian's klettres-data.

The recordings are noise bursts written as WAV at 44.1 kHz, one of them in stereo (the package
ships both), so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import klettres_sounds
import numpy as np
import pytest
import real_speech
import soundfile
from klettres_sounds import DATA_SUBDIR
from real_speech import RATE

FILE_RATE = 44100
# Language -> (alphabet names, syllable names), as the sounds.xml files list them.
SOUNDS = {
    "en": (("A", "B", "CH"), ("CAR", "CH", "ME")),  # "CH" is no single letter, and no word
    "en_GB": (("a", "b"), ("car", "well", "sky")),  # "sky" is listed but not shipped
}
MISSING = "en_GB/syllab/sky.wav"
STEREO = "en_GB/alpha/b.wav"


def make_klettres(root: Path) -> Path:
    """A folder like the extracted package: a sounds.xml per language, WAV bursts."""
    data = root / DATA_SUBDIR
    rng = np.random.default_rng(0)
    for language, (alphabet, syllables) in SOUNDS.items():
        parts = []
        for part, folder, names in (
            ("alphabet", "alpha", alphabet),
            ("syllables", "syllab", syllables),
        ):
            (data / language / folder).mkdir(parents=True, exist_ok=True)
            lines = []
            for name in names:
                file = f"{language}/{folder}/{name.lower()}.wav"
                lines.append(f'\t<sound name="{name}" file="{file}" />\n')
                if file == MISSING:
                    continue
                length = int(0.6 * FILE_RATE)
                samples = 0.3 * np.sin(np.linspace(0, np.pi, length)) * rng.standard_normal(length)
                if file == STEREO:
                    samples = np.stack([samples, samples], axis=1)
                soundfile.write(str(data / file), samples, FILE_RATE)
            parts.append(f"    <{part}>\n{''.join(lines)}    </{part}>\n")
        (data / language / "sounds.xml").write_text(
            f'<!-- comment -->\n<klettres>\n  <language code="{language}">\n'
            f"{''.join(parts)}  </language>\n</klettres>\n"
        )
    return root


def test_sounds_xml_is_parsed_by_part() -> None:
    text = (
        '<klettres><language code="en"><alphabet><sound name="A" file="en/alpha/A.ogg" />'
        '</alphabet><syllables><sound name="CAR" file="en/syllab/car.ogg" /></syllables>'
        "</language></klettres>"
    )
    assert klettres_sounds.parse_sounds(text) == (
        {"A": "en/alpha/A.ogg"},
        {"CAR": "en/syllab/car.ogg"},
    )
    with pytest.raises(real_speech.TestDataError, match=r"sounds\.xml"):
        klettres_sounds.parse_sounds("<klettres>")


def test_build_sound_lists(tmp_path: Path) -> None:
    root = klettres_sounds.fetch_sounds(root=make_klettres(tmp_path))
    lists = klettres_sounds.build_sound_lists(root)
    assert [clip.id for clip in lists.letters] == [
        "klettres-en-letter-a",
        "klettres-en-letter-b",
        "klettres-en_GB-letter-a",
        "klettres-en_GB-letter-b",
    ]
    # "ch" is a letter sound, not a word; en_GB's "sky" is listed but missing.
    assert [clip.text for clip in lists.words] == ["car", "me", "car", "well"]
    assert lists.letter_commands == ("a", "b")
    assert lists.word_commands == ("car", "me", "well")
    assert any("'CH' left out" in note for note in lists.notes)
    assert any("sky" in note and "missing" in note for note in lists.notes)
    for clip in lists.letters + lists.words:
        assert clip.source == "klettres" and clip.samples.dtype == np.int16
        assert clip.samples.ndim == 1  # the stereo letter is mixed down
        assert clip.duration == pytest.approx(0.6, abs=0.01)  # resampled: as long as written
    assert max(int(np.abs(c.samples).max()) for c in lists.letters) > 0.2 * 32768
    assert RATE == 16000


def test_fetch_checks_a_given_folder(tmp_path: Path) -> None:
    (tmp_path / DATA_SUBDIR / "en").mkdir(parents=True)
    (tmp_path / DATA_SUBDIR / "en" / "sounds.xml").write_text("<klettres />")
    with pytest.raises(real_speech.TestDataError, match="expected"):
        klettres_sounds.fetch_sounds(root=tmp_path)  # en_GB is missing


def test_an_unreadable_recording_is_a_test_data_error(tmp_path: Path) -> None:
    root = make_klettres(tmp_path)
    (root / DATA_SUBDIR / "en" / "syllab" / "car.wav").write_bytes(b"not audio")
    with pytest.raises(real_speech.TestDataError, match=r"car\.wav"):
        klettres_sounds.build_sound_lists(root)
