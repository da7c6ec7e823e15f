"""benchmarks/asterisk_prompts.py on a made-up folder laid out like the two Debian packages.

The recordings are noise bursts encoded to G.722 with ffmpeg (which the module decodes them with),
so nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import asterisk_prompts
import numpy as np
import pytest
import real_speech
import soundfile
from real_speech import RATE

PROMPT_TEXTS = """; Core Asterisk Sounds in English

digits/1: one
digits/10: ten
digits/a-m: A.M.
phonetic/a_p: alpha
phonetic/b_p: bravo
phonetic/9_p: niner
letters/a: a
hello: Hello.
beep: [this is a simple beep tone]
agent-loggedoff: Agent Logged off.
conf-menu: Please press 1 to mute or unmute yourself.
demo-moreinfo: Asterisk is an Open Source full-featured PBX.
call-fwd-on-busy: Call-Forward on Busy.
pls-try-call-later: Please try your call later.
"""
RECORDED = (
    "digits/1", "digits/10", "digits/a-m", "phonetic/a_p", "phonetic/b_p", "phonetic/9_p",
    "letters/a", "hello", "beep", "agent-loggedoff", "conf-menu", "demo-moreinfo",
    "call-fwd-on-busy",
)  # fmt: skip


def burst(seconds: float, seed: int) -> np.ndarray:
    """int16 noise burst with a smooth envelope."""
    rng = np.random.default_rng(seed)
    length = int(seconds * RATE)
    envelope = np.sin(np.linspace(0, np.pi, length)) ** 0.5
    return np.asarray(0.3 * envelope * rng.standard_normal(length) * 32767, dtype=np.int16)


def make_prompts(root: Path) -> Path:
    """A folder like the extracted packages: the texts, and a G.722 file for most prompts."""
    texts = root / asterisk_prompts.TEXTS_SUBPATH
    texts.parent.mkdir(parents=True)
    with gzip.open(texts, "wt", encoding="utf-8") as file:
        file.write(PROMPT_TEXTS)
    sounds = root / asterisk_prompts.SOUNDS_SUBDIR
    for seed, name in enumerate(RECORDED):
        path = sounds / f"{name}.g722"
        path.parent.mkdir(parents=True, exist_ok=True)
        encode = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE)]
        encode += ["-ac", "1", "-i", "-", "-f", "g722", str(path)]
        pcm = burst(0.4 + 0.1 * (seed % 3), seed).astype("<i2").tobytes()
        subprocess.run(encode, input=pcm, check=True)
    return root


def test_prompt_texts_are_parsed_and_checked() -> None:
    prompts = asterisk_prompts.parse_prompt_texts(PROMPT_TEXTS)
    assert prompts["digits/1"] == "one" and prompts["hello"] == "Hello."
    assert len(prompts) == 14  # the comment and the blank line are not prompts
    said = {name: asterisk_prompts.said_as_written(text) for name, text in prompts.items()}
    assert said["call-fwd-on-busy"] == "call forward on busy"
    assert said["agent-loggedoff"] == "agent logged off"
    # Digits, bracketed sounds and acronyms do not fix what the speaker says.
    assert said["conf-menu"] is None and said["beep"] is None and said["demo-moreinfo"] is None
    assert said["digits/a-m"] is None


def test_build_prompt_sets(tmp_path: Path) -> None:
    root = asterisk_prompts.fetch_prompts(root=make_prompts(tmp_path))
    sets = asterisk_prompts.build_prompt_sets(root)
    words = {clip.text for clip in sets.words}
    # "A.M." is an abbreviation and "a" a spelled letter: neither is a one-word prompt.
    assert words == {"one", "ten", "alpha", "bravo", "niner", "hello"}
    assert [c.text for c in sets.open_vocabulary] == ["agent logged off", "call forward on busy"]
    assert sets.nato == ("alpha", "bravo")  # niner is not a letter's code word
    assert all(c.source == "asterisk" and c.samples.dtype == np.int16 for c in sets.words)
    # G.722 round trip: the decoded clip is as long as what was encoded (0.4-0.6 s).
    assert all(0.39 <= c.duration <= 0.61 for c in sets.words + sets.open_vocabulary)
    assert any("pls-try-call-later" in note for note in sets.notes)


def test_fetch_checks_a_given_folder(tmp_path: Path) -> None:
    with pytest.raises(real_speech.TestDataError, match="expected"):
        asterisk_prompts.fetch_prompts(root=tmp_path)


def test_training_manifest_lists_each_padded_clip_repeat_times(tmp_path: Path) -> None:
    sets = asterisk_prompts.build_prompt_sets(make_prompts(tmp_path / "data"))
    clips = sets.words + sets.open_vocabulary
    out = tmp_path / "train"
    assert (
        asterisk_prompts.main(
            [str(out), "--repeat", "3", "--asterisk-data", str(tmp_path / "data")]
        )
        == 0
    )
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(records) == 3 * len(clips)
    assert len({r["id"] for r in records}) == len(records)  # mix.py refuses repeated ids
    first = records[: len(clips)]
    assert [r["text"] for r in first] == [c.text for c in clips]
    assert [r["id"] for r in records[len(clips) : 2 * len(clips)]] == [
        r["id"][:-1] + "1" for r in first
    ]
    assert {r["category"] for r in first} == {"word", "sentence"}
    for record, clip in zip(first, clips, strict=True):
        audio, rate = soundfile.read(str(out / record["audio"]))
        assert rate == RATE and record["duration"] == round(len(audio) / RATE, 3)
        # The bursts start at once: padding gives them the corpus's margins on both sides.
        assert len(audio) >= len(clip.samples) + 2 * 0.15 * RATE
    assert asterisk_prompts.main([str(out), "--repeat", "0"]) == 2
    assert asterisk_prompts.main([str(out), "--asterisk-data", str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize(("only", "category"), [("words", "word"), ("sentences", "sentence")])
def test_training_manifest_of_one_set(tmp_path: Path, only: str, category: str) -> None:
    sets = asterisk_prompts.build_prompt_sets(make_prompts(tmp_path / "data"))
    expected = sets.words if only == "words" else sets.open_vocabulary
    out = tmp_path / only
    argv = [str(out), "--only", only, "--asterisk-data", str(tmp_path / "data")]
    assert asterisk_prompts.main(argv) == 0
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == [c.text for c in expected]
    assert {r["category"] for r in records} == {category}


def test_training_manifest_of_a_sample(tmp_path: Path) -> None:
    sets = asterisk_prompts.build_prompt_sets(make_prompts(tmp_path / "data"))
    everything = [c.text for c in sets.words + sets.open_vocabulary]
    data = ["--asterisk-data", str(tmp_path / "data")]
    texts = []
    for run in ("a", "b"):
        assert asterisk_prompts.main([str(tmp_path / run), "--sample", "2", *data]) == 0
        lines = (tmp_path / run / "train.jsonl").read_text().splitlines()
        texts.append([json.loads(line)["text"] for line in lines])
    assert texts[0] == texts[1] and len(texts[0]) == 2  # the same draw each time
    assert texts[0] == [t for t in everything if t in texts[0]]  # in the original order
    too_many = str(len(everything) + 1)
    assert asterisk_prompts.main([str(tmp_path / "c"), "--sample", too_many, *data]) == 2
