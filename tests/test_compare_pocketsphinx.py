"""benchmarks/compare_pocketsphinx.py and benchmarks/real_speech.py on tiny made-up inputs.

The real data (Debian's pocketsphinx-testdata) is not needed: a fake package folder with the same
layout is built from noise bursts, one burst per "word". The pocketsphinx parts are skipped when
it is not installed.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import compare_pocketsphinx as compare
import numpy as np
import pytest
import real_speech
import soundfile
from conftest import TrainedModel
from real_speech import RATE, Clip
from test_asterisk_prompts import make_prompts
from test_klettres_sounds import make_klettres
from test_ktuberling_words import make_ktuberling

from speechrnn.audio import load_audio
from speechrnn.decoding import DEFAULT_COMMAND_THRESHOLD

CARDS_GRAM = """#JSGF v1.0;
grammar cards;
public <cards> = <card>;
<card> = <rank> [ of ] <suits>;
<suits> = clubs | hearts;
<rank> = ace | two | ten | queen;
"""


def bursts(pattern: str, seed: int = 0) -> np.ndarray:
    """int16 audio: 'w' a 0.3 s noise burst (a word), '_' a 0.3 s near-silent pause."""
    rng = np.random.default_rng(seed)
    pieces = []
    for symbol in pattern:
        length = int(0.3 * RATE)
        if symbol == "w":
            envelope = np.sin(np.linspace(0, np.pi, length)) ** 0.3
            pieces.append(0.3 * envelope * rng.standard_normal(length))
        else:
            pieces.append(1e-4 * rng.standard_normal(length))
    return np.clip(np.concatenate(pieces) * 32768, -32768, 32767).astype(np.int16)


def make_testdata(root: Path) -> Path:
    """A folder laid out like the package's test/data, with bursts for words."""
    (root / "librivox").mkdir(parents=True)
    (root / "cards").mkdir()
    (root / "tidigits").mkdir()
    (root / "librivox" / "transcription").write_text("<s> he was not </s> (book-1)\n")
    soundfile.write(str(root / "librivox" / "book-1.wav"), bursts("_w_w_w_"), RATE)
    (root / "cards" / "cards.transcription").write_text(
        "<s> ten of clubs </s> (001)\n<s> queen </s> (002)\n"
    )
    soundfile.write(str(root / "cards" / "001.wav"), bursts("_w_w_w_", 1), RATE)
    soundfile.write(str(root / "cards" / "002.wav"), bursts("_w_", 2), RATE)
    (root / "cards" / "cards.gram").write_text(CARDS_GRAM)
    bursts("_w_w_w_w_", 3).astype("<i2").tofile(root / "goforward.raw")
    (root / "tidigits" / "tidigits.lsn").write_text("one two (man.ah.12a)\noh (woman.ak.ob)\n")
    bursts("_w_w_", 4).astype("<i2").tofile(root / "tidigits" / "dhd.12.raw")
    bursts("_w_", 5).astype("<i2").tofile(root / "something.raw")
    return root


def as_pcm(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz int16."""
    return (load_audio(path).numpy() * 32767).astype(np.int16)


def island_aligner(samples: np.ndarray, text: str) -> list[tuple[str, float, float]]:
    """Words on the bursts (what a perfect aligner would say for the fake data)."""
    return real_speech.pause_aligner(samples, text)


# --- real_speech --------------------------------------------------------------------------------


def test_parse_transcription_drops_markers() -> None:
    text = "<s> ten of  clubs </s> (001)\none oh (man.ah.1oa)\nno id here\n"
    assert real_speech.parse_transcription(text) == {"001": "ten of clubs", "man.ah.1oa": "one oh"}


@pytest.mark.parametrize(
    ("file_id", "expected"),
    [
        ("dhd.2934z", "two nine three four zero"),
        ("man.ah.111a", "one one one"),
        ("woman.ak.ooa", "oh oh"),
        ("woman.ak.za", "zero"),
        ("something", None),
    ],
)
def test_tidigits_names_spell_digits(file_id: str, expected: str | None) -> None:
    assert real_speech.tidigits_transcript(file_id) == expected


def test_tidigits_convention_is_checked_against_the_lsn() -> None:
    assert real_speech.tidigits_convention_holds({"man.ah.35oa": "three five oh"})
    assert not real_speech.tidigits_convention_holds({"man.ah.35oa": "three five zero"})
    assert not real_speech.tidigits_convention_holds({})


def test_grammar_alternatives() -> None:
    assert real_speech.grammar_alternatives(CARDS_GRAM, "suits") == ("clubs", "hearts")
    with pytest.raises(ValueError, match="no rule <colour>"):
        real_speech.grammar_alternatives(CARDS_GRAM, "colour")


def test_speech_islands_find_bursts_and_ignore_short_dips() -> None:
    islands = real_speech.speech_islands(bursts("_w_w_"))
    assert [(round(s / 30), round(e / 30)) for s, e in islands] == [(1, 2), (3, 4)]
    # A 50 ms dip inside a word (a stop closure) is not a pause.
    samples = bursts("_w_").copy()
    samples[int(0.4 * RATE) : int(0.45 * RATE)] = 0
    assert len(real_speech.speech_islands(samples)) == 1


def test_cut_words_at_pauses_and_at_aligned_boundaries() -> None:
    # Three bursts: the first alone ("pause" cut); the last two words share one stretch of speech.
    samples = bursts("_w_ww_")
    clip = Clip("c", samples, "go forward ten", "test")
    alignment = [("go", 0.3, 0.6), ("forward", 0.9, 1.2), ("ten", 1.2, 1.5)]
    cuts = real_speech.cut_words(clip, alignment)
    assert [(w, m) for w, _, _, m in cuts] == [
        ("go", "pause"),
        ("forward", "aligned"),
        ("ten", "aligned"),
    ]
    go, forward, ten = cuts
    assert go[1] < 0.3 * RATE < 0.6 * RATE < go[2] <= 0.75 * RATE  # some pause, not the next word
    assert forward[2] == ten[1]
    assert abs(forward[2] - 1.2 * RATE) <= 0.05 * RATE  # snapped within 50 ms


def test_pause_aligner_needs_one_island_per_word() -> None:
    assert [w for w, _, _ in real_speech.pause_aligner(bursts("_w_w_"), "five five")] == [
        "five",
        "five",
    ]
    assert real_speech.pause_aligner(bursts("_w_w_"), "ten of clubs") == []


def test_build_sets_from_a_package_layout(tmp_path: Path) -> None:
    data = make_testdata(tmp_path / "data")
    sets = real_speech.build_sets(data, island_aligner)
    texts = {c.id: c.text for c in sets.open_vocabulary}
    assert texts == {
        "book-1": "he was not",
        "cards-001": "ten of clubs",
        "cards-002": "queen",
        "goforward": "go forward ten meters",
        "dhd.12": "one two",
    }
    assert sets.word_commands[:10] == real_speech.DIGITS
    assert set(sets.word_commands[10:]) == {"ace", "ten", "queen", "clubs", "hearts"}
    assert sorted(c.text for c in sets.words_in) == ["clubs", "one", "queen", "ten", "ten", "two"]
    # Out-of-list: words of at least three letters only ("he", "of", "go" are left out).
    assert sorted(c.text for c in sets.words_out) == ["forward", "meters", "not", "was"]
    assert all(c.cut == "pause" and c.samples.dtype == np.int16 for c in sets.words_in)
    assert [c.id for c in sets.phrases_out] == ["book-1"]
    assert "go forward ten meters" in sets.phrase_commands
    assert set(real_speech.DISTRACTOR_PHRASES) <= set(sets.phrase_commands)
    assert any("something.raw" in note for note in sets.notes)
    assert sets.silence and sets.noise and all(not c.text for c in sets.silence + sets.noise)


def test_save_clips_writes_audio_and_manifest(tmp_path: Path) -> None:
    clip = Clip("cards-001#0-ten", bursts("_w_"), "ten", "cards", "pause")
    real_speech.save_clips(tmp_path, [clip], "words")
    record = json.loads((tmp_path / "words.jsonl").read_text())
    assert record == {
        "audio": "words/cards-001#0-ten.wav",
        "text": "ten",
        "source": "cards",
        "cut": "pause",
    }
    assert len(soundfile.read(str(tmp_path / record["audio"]))[0]) == len(clip.samples)


def test_fetch_prefers_a_given_folder_then_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_testdata(tmp_path / "given")
    assert real_speech.fetch_testdata(testdata=data) == data
    with pytest.raises(real_speech.TestDataError, match="not a pocketsphinx test data folder"):
        real_speech.fetch_testdata(testdata=tmp_path)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("a completed cache must not be downloaded again")

    monkeypatch.setattr(real_speech, "INSTALLED_ROOT", tmp_path / "not-installed")
    monkeypatch.setattr(subprocess, "run", no_download)
    cache = tmp_path / "cache"
    make_testdata(cache / real_speech.DATA_SUBDIR)
    (cache / real_speech.COMPLETED).write_text("pocketsphinx-testdata_1_all.deb\n")
    assert real_speech.fetch_testdata(cache) == cache / real_speech.DATA_SUBDIR


def test_find_or_extract_extracts_once_and_checks_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(real_speech, "INSTALLED_ROOT", tmp_path / "not-installed")
    calls = []

    def fake_extract(packages: list[str], cache_dir: Path, hint: str) -> None:
        calls.append(list(packages))
        (cache_dir / "usr" / "share" / "x").mkdir(parents=True, exist_ok=True)
        (cache_dir / real_speech.COMPLETED).write_text("x_1_all.deb\n")

    monkeypatch.setattr(real_speech, "extract_packages", fake_extract)

    def has_x(folder: Path) -> bool:
        return (folder / "usr" / "share" / "x").is_dir()

    cache = tmp_path / "cache"
    assert real_speech.find_or_extract(["x"], has_x, cache, "--x", "usr/share/x") == cache
    assert real_speech.find_or_extract(["x"], has_x, cache, "--x", "usr/share/x") == cache
    assert calls == [["x"]]  # the completed cache is used the second time
    with pytest.raises(real_speech.TestDataError, match="y did not contain usr/share/y"):
        real_speech.find_or_extract(
            ["y"], lambda f: (f / "usr/share/y").is_dir(), tmp_path / "c2", "--y", "usr/share/y"
        )
    installed = tmp_path / "installed"
    (installed / "usr" / "share" / "x").mkdir(parents=True)
    monkeypatch.setattr(real_speech, "INSTALLED_ROOT", installed)
    assert real_speech.find_or_extract(["x"], has_x, tmp_path / "c3", "--x", "x") == installed


# --- scoring ------------------------------------------------------------------------------------

Outcome = compare.CommandOutcome


def test_accuracy_counts_rejections_as_errors() -> None:
    outcomes = [Outcome("ten"), Outcome(None, "two", -3.0), Outcome("two")]
    assert compare.accuracy(outcomes, ["ten", "two", "nine"]) == pytest.approx(1 / 3)
    assert compare.false_accept_rate([Outcome(None), Outcome("ten")]) == 0.5


def test_thresholds_redecide_scored_outcomes() -> None:
    outcomes = [Outcome(None, "ten", -2.0), Outcome("two", "two", -0.5)]
    assert [o.command for o in compare.at_threshold(outcomes, -1.0)] == [None, "two"]
    assert [o.command for o in compare.at_threshold(outcomes, -3.0)] == ["ten", "two"]
    run = compare.CommandRun(
        inside=outcomes,
        inside_refs=["ten", "two"],
        outside={"noise": [Outcome(None, "two", -2.5)]},
    )
    # -2.0 accepts both in-list clips and rejects the noise (-2.5): the best trade-off.
    runs = {t: compare.rescore(run, t) for t in (-3.0, -2.0, -1.0, 0.0)}
    assert compare.pick_threshold(runs) == -2.0
    summary = compare.command_summary(runs[-2.0])
    assert summary["accuracy"] == 1.0
    assert summary["false_accept_noise"] == 0.0
    assert summary["n_noise"] == 1


def test_each_voice_is_decided_at_a_threshold_chosen_on_the_others() -> None:
    def clip(text: str | None, best: str, score: float) -> dict[str, Any]:
        return {"text": text, "best": best, "score": score}

    testdata = {
        "a": clip("one", "one", -1.0),
        "b": clip("two", "two", -2.0),
        "out_of_list:x": clip(None, "one", -1.5),
        "silence:s": clip(None, "one", -0.1),  # left out, as in the pooled tables
    }
    asterisk = {"c": clip("ten", "ten", -0.5), "out_of_list:y": clip(None, "ten", -3.0)}
    forced = {"words": {"scores": testdata}, "asterisk_words": {"scores": asterisk}}
    report = {"commands": {compare.FORCED_ROW: forced}}
    # On the testdata list, -1.0 to -1.4 take "one" and nothing out of the list (1/2 - 0); the
    # strictest wins. On Asterisk's, -0.5 takes "ten" and leaves the out-of-list word.
    assert compare.voice_out_thresholds(report, ["words", "asterisk_words"]) == [
        ("Asterisk", -1.0, (1, 1, 0, 1)),
        ("testdata", -0.5, (0, 2, 0, 1)),
    ]
    assert compare.voice_out_thresholds(report, ["words"]) == []  # one voice: no other to use
    del forced["words"]["scores"]  # a report saved before the statistics were kept
    assert compare.voice_out_thresholds(report, ["words", "asterisk_words"]) == []


def test_spoken_forms_of_abbreviations() -> None:
    assert compare.spoken("And Mr John") == "and mister john"


def test_run_commands_and_open_scores() -> None:
    inside = [Clip("a", bursts("_w_"), "ten", "cards")]
    outside = {"noise": [Clip("n", bursts("w"), "", "noise")]}
    run = compare.run_commands(lambda samples: Outcome("ten", "ten"), inside, outside)
    assert compare.accuracy(run.inside, run.inside_refs) == 1.0
    assert compare.false_accept_rate(run.outside["noise"]) == 1.0
    assert run.audio_seconds == pytest.approx(0.9 + 0.3)
    clips = [Clip("a", bursts("_w_"), "ten of clubs", "cards")]
    scores = compare.open_scores(clips, ["ten of club"], seconds=0.09)
    assert scores["wer"] == pytest.approx(1 / 3)
    assert scores["rtf"] == pytest.approx(0.1)


def test_main_end_to_end_without_pocketsphinx(
    trained_model: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_testdata(tmp_path / "data")
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"audio": str(clip), "text": text}) + "\n"
            for clip, text in zip(trained_model.clips, trained_model.phrases, strict=True)
        )
    )
    argv = [
        "--model",
        str(trained_model.path),
        "--testdata",
        str(data),
        "--skip-pocketsphinx",
        "--asterisk-data",
        str(make_prompts(tmp_path / "asterisk")),
        "--ktuberling-data",
        str(make_ktuberling(tmp_path / "ktuberling")),
        "--klettres-data",
        str(make_klettres(tmp_path / "klettres")),
        "--synthetic-dev",
        str(manifest),
    ]
    assert compare.main([*argv, "--json"]) == 0  # conftest restores the threads it pins
    report = json.loads(capsys.readouterr().out)
    assert report["sets"]["open_vocabulary"] == 5
    assert report["sets"]["synthetic"] == 3
    assert report["sets"]["asterisk_words"] == 6 and report["sets"]["asterisk_open_vocabulary"] == 2
    assert report["open"]["speechrnn"]["asterisk"]["clips"] == 2
    # The Asterisk speaker's words against the card list ("one", "ten" in it; "alpha", "bravo",
    # "niner", "hello" out) and against the NATO alphabet her prompts spell ("alpha", "bravo").
    toys = [
        "ktuberling_default_theme+potato-game",
        "ktuberling_egypt",
        "ktuberling_moon",
        "ktuberling_train_valley",
    ]
    letters = ["klettres_letters", "klettres_words"]
    assert list(report["lists"]) == [
        "words",
        "asterisk_words",
        "asterisk_nato",
        *toys,
        *letters,
        "phrases",
    ]
    assert report["sets"]["ktuberling_words"] == 11 and report["sets"]["ktuberling_lists"] == 4
    assert report["sets"]["klettres_letters"] == 4 and report["sets"]["klettres_words"] == 4
    open_scores = report["open"]["speechrnn"]
    # The tiny model learned these very clips: clean synthetic speech is transcribed exactly.
    assert open_scores["synthetic_clean"]["wer"] == 0.0
    # A run checkpoint carries no calibrated threshold: the decoder's default applies.
    default = f"speechrnn (threshold {DEFAULT_COMMAND_THRESHOLD:g})"
    assert set(report["commands"]) == {
        default,
        "speechrnn (oracle threshold)",
        "speechrnn (no rejection)",
    }
    words = report["commands"][default]["words"]
    assert words["in_list"] == 6 and words["n_noise"] == 6
    asterisk = report["commands"][default]["asterisk_words"]
    assert asterisk["in_list"] == 2 and asterisk["n_out_of_list"] == 4
    nato = report["commands"][default]["asterisk_nato"]
    assert nato["in_list"] == 2 and nato["n_out_of_list"] == 4  # one, ten, niner, hello
    # A playground's names are in its list, the other playgrounds' names of three letters or
    # more are not: of the 11 recordings, egypt has 4 and the others' 7 are all long enough.
    egypt = report["commands"][default]["ktuberling_egypt"]
    assert egypt["in_list"] == 4 and egypt["n_out_of_list"] == 7
    # KLettres: the letters in one list with the words (short ones too) out of it, and the other
    # way round; silence and noise go with both.
    for name, commands in (("klettres_letters", "2 phrases"), ("klettres_words", "3 phrases")):
        row = report["commands"][default][name]
        assert row["in_list"] == 4 and row["n_out_of_list"] == 4 and row["n_noise"] == 6
        assert report["lists"][name]["size"].startswith(commands)
    # With no rejection every clip gets a phrase: nothing in-list is rejected, everything out of
    # the list is accepted, and accuracy is at least the default threshold's.
    forced = report["commands"]["speechrnn (no rejection)"]["words"]
    assert forced["false_reject"] == 0.0 and forced["false_accept_noise"] == 1.0
    assert forced["accuracy"] >= words["accuracy"]
    assert forced["threshold"] == "-inf"  # JSON has no infinity
    # Its per-clip statistics decide every clip again at any threshold: at the default one they
    # give back the default row.
    for name, row in report["commands"]["speechrnn (no rejection)"].items():
        scores, default_row = row["scores"], report["commands"][default][name]
        categories = [key[2:] for key in row if key.startswith("n_") and row[key]]
        assert len(scores) == row["in_list"] + sum(row[f"n_{c}"] for c in categories)
        accepted = {
            key: clip["best"]
            for key, clip in scores.items()
            if clip["score"] is not None and clip["score"] >= DEFAULT_COMMAND_THRESHOLD
        }
        inside = {key: clip["text"] for key, clip in scores.items() if clip["text"] is not None}
        right = sum(accepted.get(key) == text for key, text in inside.items())
        assert right / len(inside) == pytest.approx(default_row["accuracy"])
        false_accepts = sum(key in accepted for key in scores if key not in inside)
        expected = sum(default_row[f"false_accept_{c}"] * default_row[f"n_{c}"] for c in categories)
        assert false_accepts == round(expected)
    # A saved report renders as the same tables a run prints, the forced-choice row included.
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    assert compare.main(["--render", str(saved)]) == 0
    rendered = capsys.readouterr().out
    assert "| speechrnn (no rejection) | " in rendered and "| -inf | " in rendered
    # The pooled single-word tables count every list but the phrases: 6 + 2 + 2 in-list words
    # from testdata and Asterisk, 11 from KTuberling, 4 + 4 from KLettres.
    earlier = rendered.split("**Real single words, testdata and Asterisk**")[1]
    assert "| speechrnn (no rejection) | 10 | " in earlier.split("**")[0]
    toy_table = rendered.split("**Real single words, KTuberling**")[1]
    assert "| speechrnn (no rejection) | 11 | " in toy_table.split("**")[0]
    letter_table = rendered.split("**Real single words, KLettres**")[1]
    assert "| speechrnn (no rejection) | 8 | " in letter_table.split("**")[0]
    pooled = rendered.split("**All real single words**")[1]
    assert "| speechrnn (no rejection) | 29 | " in pooled
    # Each voice at a threshold chosen on the others: 6 testdata, 4 Asterisk, 11 KTuberling,
    # 8 KLettres.
    voices = pooled.split("at a threshold chosen on the other voices' lists**")[1]
    rows = [line.split(" | ") for line in voices.splitlines() if line.startswith("| ")]
    assert [(row[0], row[2]) for row in rows[1:]] == [
        ("| Asterisk", "4"),
        ("| KLettres", "8"),
        ("| KTuberling", "11"),
        ("| testdata", "6"),
        ("| all", "29"),
    ]
    assert compare.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| speechrnn |" in printed
    for line in printed.splitlines():
        if line.startswith("| speechrnn (no rejection)"):
            # Equal apart from the timing column, which differs between the two runs.
            assert line.rsplit("|", 2)[0] in rendered
    saved.write_text("{}")
    assert compare.main(["--render", str(saved)]) == 2
    assert compare.main(["--render", str(tmp_path / "missing.json")]) == 2


def test_speechrnn_command_mode_on_learned_clips(trained_model: TrainedModel) -> None:
    system = compare.SpeechrnnSystem(str(trained_model.path), beam_size=1, threshold=-1.0)
    commands = tuple(trained_model.phrases)
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        pcm = as_pcm(clip)  # espeak-ng writes 22.05 kHz
        outcome = system.command(pcm, commands)
        assert outcome.command == phrase and outcome.best == phrase
    assert system.model_bytes == trained_model.path.stat().st_size


# --- pocketsphinx -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphinx() -> compare.PocketsphinxSystem:
    pytest.importorskip("pocketsphinx")
    return compare.PocketsphinxSystem()


def test_pocketsphinx_rejects_silence_and_aligns_speech(
    sphinx: compare.PocketsphinxSystem, trained_model: TrainedModel
) -> None:
    commands = ("go forward", "stop", "yes")
    silence = np.zeros(RATE, dtype=np.int16)
    assert sphinx.grammar_command(silence, commands).command is None
    assert sphinx.keyword_command(silence, commands, 1e-1).command is None
    pcm = as_pcm(trained_model.clips[trained_model.phrases.index("go forward")])
    words = sphinx.align(pcm, "go forward")
    assert [w for w, _, _ in words] == ["go", "forward"]
    assert 0 <= words[0][1] < words[0][2] <= words[1][1] < words[1][2] <= len(pcm) / RATE + 0.02
    with pytest.raises(ValueError, match="not in pocketsphinx's dictionary"):
        sphinx.check_words(["go qzxv"])
    # The NATO prompts spell "xray"; the dictionary has "x-ray", whose pronunciation it gets.
    sphinx.check_words(["xray"])
    assert sphinx.decoder.lookup_word("xray") == sphinx.decoder.lookup_word("x-ray")
    # KTuberling's "moonwalker" is not in it; its two parts are, and it gets theirs.
    assert not sphinx.decoder.lookup_word("moonwalker")
    sphinx.check_words(["moonwalker"])
    parts = [sphinx.decoder.lookup_word(w) for w in ("moon", "walker")]
    assert sphinx.decoder.lookup_word("moonwalker") == " ".join(parts)
    assert sphinx.model_bytes > sphinx.model_bytes_without_lm > 0


def test_wilson_interval_matches_the_closed_forms() -> None:
    # No successes: the upper end is z^2 / (n + z^2); half: symmetric around one half.
    low, high = compare.wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1.96**2 / (10 + 1.96**2))
    low, high = compare.wilson_interval(5, 10)
    assert low == pytest.approx(1 - high) and low == pytest.approx(0.2366, abs=1e-4)
    # 51 of 59, the pooled real words of the bundled model: the interval excludes 95%.
    low, high = compare.wilson_interval(51, 59)
    assert (round(low, 4), round(high, 4)) == (0.7546, 0.9297)  # the roots of its quadratic
    assert all(math.isnan(v) for v in compare.wilson_interval(0, 0))
