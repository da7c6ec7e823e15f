"""benchmarks/ktuberling_words.py on a made-up folder laid out like Debian's ktuberling-data.

The recordings are noise bursts written as WAV at 22.05 kHz (the module decodes any format
speechrnn reads and resamples to 16 kHz), so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import ktuberling_words
import numpy as np
import pytest
import real_speech
import soundfile
from ktuberling_words import DATA_SUBDIR
from real_speech import RATE

FILE_RATE = 22050
# Playground -> the sounds of its objects (a sound may serve several objects and playgrounds).
PLAYGROUNDS = {
    "default_theme": ("bow", "ear", "hat", "hat"),
    "potato-game": ("bow", "umbrella"),  # shares "bow": merged with default_theme
    "egypt": ("egypt_camel", "egypt_palmtree", "egypt_sphynx", "egypt_boy"),
    "moon": ("moon_star", "moon_falling_star", "moon_radar"),
    "train_valley": ("tv_car", "tv_fire_engine"),  # tv_fire_engine has no English recording
    "robot_workshop": ("robot_workshop_arm", "robot_workshop_claw"),  # no English at all
}
SOUNDTHEME_ORDER = (
    "bow", "ear", "hat", "umbrella", "egypt_camel", "egypt_palmtree", "egypt_sphynx",
    "egypt_boy", "moon_star", "moon_falling_star", "moon_radar", "tv_car", "lost_sound",
)  # fmt: skip
MISSING_FILE = "moon_radar"  # listed by the sound theme, not shipped


def make_ktuberling(root: Path) -> Path:
    """A folder like the extracted package: a sound theme, playgrounds, WAV bursts."""
    data = root / DATA_SUBDIR
    (data / "pics").mkdir(parents=True)
    (data / "sounds" / "en").mkdir(parents=True)
    for name, sounds in PLAYGROUNDS.items():
        objects = "".join(
            f'\t<object name="obj{i}" sound="{sound}" />\n' for i, sound in enumerate(sounds)
        )
        (data / "pics" / f"{name}.theme").write_text(f'<playground gameboard="x.svg">\n{objects}')
    lines = [f'    <sound name="{s}" file="en/{s}.wav" />\n' for s in SOUNDTHEME_ORDER]
    (data / "sounds" / "en.soundtheme").write_text(f'<language code="en">\n{"".join(lines)}')
    rng = np.random.default_rng(0)
    for seed, sound in enumerate(SOUNDTHEME_ORDER):
        if sound == MISSING_FILE:
            continue
        length = int((0.5 + 0.1 * (seed % 3)) * FILE_RATE)
        samples = 0.3 * np.sin(np.linspace(0, np.pi, length)) * rng.standard_normal(length)
        soundfile.write(str(data / "sounds" / "en" / f"{sound}.wav"), samples, FILE_RATE)
    return root


def test_theme_files_are_parsed() -> None:
    theme = '<language code="en">\n  <sound name="egypt_camel" file="en/egypt_camel.ogg" />\n'
    assert ktuberling_words.parse_soundtheme(theme) == {"egypt_camel": "en/egypt_camel.ogg"}
    playground = '<object name="a" sound="hat" />\n<object name="b" sound="hat" />\n'
    assert ktuberling_words.parse_playground(playground) == {"hat"}


def test_spoken_names_drop_the_playground_prefix_and_fix_spellings() -> None:
    names = ktuberling_words.spoken_names({"egypt_camel", "egypt_palmtree", "egypt_sphynx"})
    assert names == {
        "egypt_camel": "camel",
        "egypt_palmtree": "palm tree",
        "egypt_sphynx": "sphinx",
    }
    # A shared start that does not end at an underscore is part of the words.
    assert ktuberling_words.spoken_names({"ear", "earring"}) == {"ear": "ear", "earring": "earring"}
    # An underscore after the prefix is a space; a lone sound keeps its whole name.
    names = ktuberling_words.spoken_names({"tv_fire_engine", "tv_car"})
    assert names == {"tv_fire_engine": "fire engine", "tv_car": "car"}
    assert ktuberling_words.spoken_names({"moon_star"}) == {"moon_star": "moon star"}


def test_playgrounds_sharing_a_sound_are_merged() -> None:
    merged = ktuberling_words.merge_playgrounds(
        {"a": {"x", "y"}, "b": {"z"}, "c": {"y", "w"}, "d": {"w", "z"}, "e": {"q"}, "f": set()}
    )
    # a-c share y, c-d share w, d-b share z: one group, whatever the order they are met in.
    assert merged == [("a+b+c+d", {"x", "y", "z", "w"}), ("e", {"q"})]


def test_build_word_lists(tmp_path: Path) -> None:
    root = ktuberling_words.fetch_words(root=make_ktuberling(tmp_path))
    lists = ktuberling_words.build_word_lists(root)
    by_name = {word_list.name: word_list for word_list in lists.lists}
    assert list(by_name) == ["default_theme+potato-game", "egypt", "moon", "train_valley"]
    assert by_name["default_theme+potato-game"].commands == ("bow", "ear", "hat", "umbrella")
    assert by_name["egypt"].commands == ("boy", "camel", "palm tree", "sphinx")
    # moon_radar is listed but missing; what is left is still spoken without the prefix.
    assert by_name["moon"].commands == ("falling star", "star")
    assert by_name["train_valley"].commands == ("car",)
    # Each recording is an in-list word of one list only.
    ids = [clip.id for clip in lists.clips]
    assert len(ids) == len(set(ids)) == 11
    assert "ktuberling-egypt_sphynx" in ids
    assert any("lost_sound" in note for note in lists.notes)
    assert any("moon_radar" in note and "missing" in note for note in lists.notes)
    for clip in lists.clips:
        assert clip.source == "ktuberling" and clip.samples.dtype == np.int16
        assert 0.49 <= clip.duration <= 0.71  # resampled from 22.05 kHz: as long as written
    assert max(int(np.abs(c.samples).max()) for c in lists.clips) > 0.2 * 32768
    assert RATE == 16000


def test_fetch_checks_a_given_folder(tmp_path: Path) -> None:
    with pytest.raises(real_speech.TestDataError, match="expected"):
        ktuberling_words.fetch_words(root=tmp_path)


def test_an_unreadable_recording_is_a_test_data_error(tmp_path: Path) -> None:
    root = make_ktuberling(tmp_path)
    (root / DATA_SUBDIR / "sounds" / "en" / "bow.wav").write_bytes(b"not audio")
    with pytest.raises(real_speech.TestDataError, match=r"bow\.wav"):
        ktuberling_words.build_word_lists(root)
