"""Tests for speechrnn.data: manifests, recipes (with download paths), feature cache, batching."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio.datasets.librispeech
import torchaudio.datasets.speechcommands
from fake_corpora import (
    make_librispeech,
    make_manifest_corpus,
    make_speech_commands,
    tar_folder,
    write_clip,
)

from speechrnn.audio import load_audio, pad_margins
from speechrnn.augmentation import AugmentConfig, SpecAugmentConfig, WaveformAugmenter
from speechrnn.data import (
    BucketBatchSampler,
    CacheSpec,
    DataError,
    Example,
    FeatureCache,
    SpeechDataset,
    Utterance,
    bucket_batches,
    collate,
    prepare_librispeech,
    prepare_manifest_folder,
    prepare_recipe,
    prepare_speech_commands,
    read_manifest,
    speech_commands_class12,
    write_manifest,
)
from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.tokenizer import encode


@pytest.fixture(autouse=True)
def one_thread() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- manifests


def test_manifest_round_trip_with_relative_paths(tmp_path: Path) -> None:
    root = make_manifest_corpus(tmp_path / "data", train=3, dev=1)
    utterances = read_manifest(root / "train.jsonl")
    assert [u.text for u in utterances] == ["yes", "no", "go up"]
    assert all(Path(u.audio).is_absolute() and Path(u.audio).is_file() for u in utterances)
    assert utterances[0].id == "clips/train_000.flac"
    copy = tmp_path / "elsewhere" / "copy.jsonl"
    write_manifest(copy, utterances)
    again = read_manifest(copy)
    assert [(u.id, u.audio, u.text) for u in again] == [(u.id, u.audio, u.text) for u in utterances]
    assert not json.loads(copy.read_text().splitlines()[0])["audio"].startswith("/")


def test_manifest_fills_missing_durations_and_keeps_extra_fields(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.wav", 300.0, 1.5, 0)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"audio": "a.wav", "text": "hi", "voice": "x", "offset": 0.5}) + "\n"
    )
    (utterance,) = read_manifest(tmp_path / "m.jsonl")
    assert utterance.duration == pytest.approx(1.0)
    assert utterance.offset == 0.5 and utterance.extra == {"voice": "x"}
    assert utterance.id == "a.wav@0.5"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "manifest is empty", id="empty"),
        pytest.param("{not json\n", ":1: not valid JSON", id="bad-json"),
        pytest.param('{"text": "x"}\n', '"audio"', id="no-audio"),
        pytest.param('{"audio": "missing.wav", "text": "x"}\n', "does not exist", id="missing"),
    ],
)
def test_bad_manifests_raise_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        read_manifest(path)
    assert "\n" not in str(caught.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such manifest"):
        read_manifest(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------- recipes


def test_speech_commands_recipe_uses_the_official_lists(tmp_path: Path) -> None:
    make_speech_commands(tmp_path, per_word=5)
    folder = prepare_speech_commands(tmp_path, silence_fraction=0.5)
    splits = {name: read_manifest(folder / f"{name}.jsonl") for name in
              ("training", "validation", "testing")}  # fmt: skip
    words = {name: Counter(u.text for u in items if u.text) for name, items in splits.items()}
    assert words["validation"] == {"yes": 1, "no": 1, "up": 1, "marvin": 1}
    assert words["testing"] == words["validation"]
    assert words["training"] == {"yes": 3, "no": 3, "up": 3, "marvin": 3}
    validation_list = (folder.parent.parent / "SpeechCommands/speech_commands_v0.02/"
                       "validation_list.txt").read_text().split()  # fmt: skip
    assert sorted(u.id for u in splits["validation"] if u.text) == sorted(validation_list)
    # Silence: half as many clips as words, from the split's own part of the noise recordings.
    for name, items in splits.items():
        silence = [u for u in items if not u.text]
        assert len(silence) == round(0.5 * sum(words[name].values()))
        assert all(u.duration == 1.0 and "_background_noise_" in u.audio for u in silence)
    assert all(u.offset < 0.8 * 12 - 1 for u in splits["training"] if not u.text)
    assert all(u.offset >= 0.9 * 12 for u in splits["testing"] if not u.text)
    noise = read_manifest(folder / "noise.jsonl", require_text=False)
    assert len(noise) == 2 and all(u.duration == pytest.approx(0.8 * 12) for u in noise)
    assert speech_commands_class12("yes") == "yes"
    assert speech_commands_class12("marvin") == "_unknown_"
    assert speech_commands_class12("") == "_silence_"


def test_speech_commands_recipe_is_idempotent(tmp_path: Path) -> None:
    make_speech_commands(tmp_path, per_word=3)
    folder = prepare_speech_commands(tmp_path)
    stamp = (folder / "training.jsonl").stat().st_mtime_ns
    assert (folder / ".completed").is_file()
    prepare_speech_commands(tmp_path)
    assert (folder / "training.jsonl").stat().st_mtime_ns == stamp


def test_speech_commands_missing_data_explains_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.download = true"):
        prepare_speech_commands(tmp_path)


def test_speech_commands_download_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The published archive holds the word folders and lists at its top level.
    source = make_speech_commands(tmp_path / "source", per_word=3)
    archive = tar_folder(source, tmp_path / "speech_commands_v0.02.tar.gz")
    requested: list[tuple[str, str | None]] = []

    def fake_download(
        url: str, destination: str, hash_prefix: str | None = None, **_: object
    ) -> None:
        requested.append((url, hash_prefix))
        shutil.copy(archive, destination)

    monkeypatch.setattr(torchaudio.datasets.speechcommands, "download_url_to_file", fake_download)
    root = tmp_path / "data"
    recipe = prepare_recipe("speech_commands", root, ["train", "dev", "test"], download=True)
    assert len(requested) == 1
    assert requested[0][0].endswith("speech_commands_v0.02.tar.gz") and requested[0][1]
    assert (root / "SpeechCommands/speech_commands_v0.02/yes").is_dir()
    assert len([u for u in read_manifest(recipe.manifests["dev"]) if u.text]) == 4
    assert recipe.noise is not None and recipe.commands is not None and len(recipe.commands) == 35


def test_librispeech_recipe(tmp_path: Path) -> None:
    make_librispeech(tmp_path, "dev-clean", speakers=2, per_chapter=3)
    folder = prepare_librispeech(tmp_path, ["dev-clean"])
    utterances = read_manifest(folder / "dev-clean.jsonl")
    assert len(utterances) == 6
    first = utterances[0]
    assert first.id == "100-2000-0000" and first.text == "YES GO"
    assert first.extra == {"speaker": 100, "chapter": 2000}
    assert first.duration == pytest.approx(0.6 + 0.35 * 2, abs=1e-3)
    with pytest.raises(DataError, match="not found"):
        prepare_librispeech(tmp_path, ["test-clean"])
    with pytest.raises(DataError, match="unknown LibriSpeech subset"):
        prepare_librispeech(tmp_path, ["dev-cleanest"])


def test_librispeech_download_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_librispeech(tmp_path / "source", "test-other", speakers=1, per_chapter=2)
    archive = tar_folder(tmp_path / "source" / "LibriSpeech", tmp_path / "a.tar.gz", "LibriSpeech")
    urls: list[str] = []

    def fake_download(
        url: str, destination: str, hash_prefix: str | None = None, **_: object
    ) -> None:
        urls.append(url)
        shutil.copy(archive, destination)

    monkeypatch.setattr(torchaudio.datasets.librispeech, "download_url_to_file", fake_download)
    recipe = prepare_recipe("librispeech", tmp_path / "data", ["test-other"], download=True)
    assert urls == ["http://www.openslr.org/resources/12/test-other.tar.gz"]
    assert len(read_manifest(recipe.manifests["test-other"])) == 2
    # Prepared once: a second call neither downloads nor rewrites.
    prepare_recipe("librispeech", tmp_path / "data", ["test-other"], download=True)
    assert len(urls) == 1


def test_manifest_folder_recipe(tmp_path: Path) -> None:
    for i in range(10):
        write_clip(tmp_path / "clips" / f"{i}.wav", 300.0, 0.5, i)
        (tmp_path / "clips" / f"{i}.txt").write_text(f"phrase number {i}\n")
    write_clip(tmp_path / "clips" / "untranscribed.wav", 300.0, 0.5, 99)
    train, dev = prepare_manifest_folder(tmp_path / "clips", tmp_path / "data", dev_fraction=0.2)
    train_items, dev_items = read_manifest(train), read_manifest(dev)
    assert len(train_items) == 8 and len(dev_items) == 2
    assert not {u.id for u in train_items} & {u.id for u in dev_items}
    stamp = train.stat().st_mtime_ns
    prepare_manifest_folder(tmp_path / "clips", tmp_path / "data", dev_fraction=0.2)
    assert train.stat().st_mtime_ns == stamp


def test_unknown_recipe_and_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="choose from"):
        prepare_recipe("timit", tmp_path, ["train"])
    make_speech_commands(tmp_path, per_word=2)
    with pytest.raises(DataError, match="unknown Speech Commands split"):
        prepare_recipe("speech_commands", tmp_path, ["everything"])
    with pytest.raises(DataError, match="does not exist"):
        prepare_recipe("manifest", tmp_path / "missing", ["train"])


# ----------------------------------------------------------------------------- batching


def test_bucket_batches_cover_everything_within_budget() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.uniform(0.5, 10.0, 200)
    batches = bucket_batches(lengths, 40.0, 16, seed=0, epoch=3)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(200))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) == 1 or max(lengths[batch]) * len(batch) <= 40.0
    assert batches == bucket_batches(lengths, 40.0, 16, seed=0, epoch=3)
    assert batches != bucket_batches(lengths, 40.0, 16, seed=0, epoch=4)


def test_sortagrad_goes_shortest_first() -> None:
    lengths = np.random.default_rng(1).uniform(0.5, 10.0, 100)
    batches = bucket_batches(lengths, 30.0, 8, seed=0, epoch=0, sortagrad=True)
    longest = [max(lengths[b]) for b in batches]
    assert longest == sorted(longest)


def test_distributed_sampler_shards_buckets_and_resumes() -> None:
    lengths = np.random.default_rng(2).uniform(0.5, 5.0, 101)
    samplers = [BucketBatchSampler(lengths, 20.0, 8, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for sampler in samplers:
        sampler.set_epoch(1)
    batches = [list(s) for s in samplers]
    assert len(batches[0]) == len(batches[1]) > 0
    seen = [i for part in batches for batch in part for _, i in batch]
    assert len(seen) == len(set(seen))
    assert all(epoch == 1 for part in batches for batch in part for epoch, _ in batch)
    samplers[0].set_epoch(1, start=2)
    assert list(samplers[0]) == batches[0][2:]
    assert len(samplers[0]) == len(batches[0]) - 2


# ----------------------------------------------------------------------------- cache, datasets


def utterances_for(root: Path, count: int) -> list[Utterance]:
    make_manifest_corpus(root, train=count, dev=1)
    return read_manifest(root / "train.jsonl")


def test_feature_cache_clean_copy_matches_the_extractor(tmp_path: Path) -> None:
    utterances = utterances_for(tmp_path / "data", 5)
    config = FeatureConfig(n_mels=20)
    augment = AugmentConfig(noise_prob=1.0, speed_prob=0.5)
    spec = CacheSpec(config, augment, copies=3, clean_copy=True, seed=0)
    cache = FeatureCache.build(tmp_path / "cache", utterances, spec)
    extractor = FeatureExtractor(config)
    for index, utterance in enumerate(utterances):
        expected = extractor(load_audio(utterance.audio))
        assert torch.allclose(cache.features(index, 0), expected, atol=0.02, rtol=0.002)
        one, two = cache.features(index, 1), cache.features(index, 2)
        assert one.shape != two.shape or not torch.allclose(one, two)
    all_frames = torch.cat([cache.features(i, c) for i in range(5) for c in range(3)]).double()
    mean, std = cache.statistics()
    assert torch.allclose(mean.double(), all_frames.mean(0), atol=1e-3)
    assert torch.allclose(std.double(), all_frames.std(0, unbiased=False), atol=1e-3)


def test_feature_cache_rebuild_is_identical_and_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("speechrnn.data.SHARD_UTTERANCES", 4)
    utterances = utterances_for(tmp_path / "data", 7)
    spec = CacheSpec(FeatureConfig(n_mels=20), AugmentConfig(noise_prob=1.0, reverb_prob=0.5),
                     copies=2, clean_copy=False, seed=4)  # fmt: skip
    cache = FeatureCache.build(tmp_path / "cache", utterances, spec)
    reference = cache.features(5, 1)
    # A build killed before shard 1 was complete: only that shard is recomputed, identically.
    (cache.directory / "shard-00001.json").unlink()
    built: list[int] = []
    again = FeatureCache.build(tmp_path / "cache", utterances, spec,
                               progress=lambda done, total: built.append(total))  # fmt: skip
    assert built == [1]
    assert torch.equal(again.features(5, 1), reference)
    other_seed = FeatureCache.build(tmp_path / "cache", utterances, CacheSpec(
        spec.feature_config, spec.augment, 2, False, seed=5))  # fmt: skip
    assert other_seed.directory != cache.directory


def test_dataset_margins_hear_clips_as_transcribe_does(tmp_path: Path) -> None:
    # The tone clips are loud from end to end: a clip cut close to its speech.
    utterances = utterances_for(tmp_path / "data", 2)
    config = FeatureConfig(n_mels=20)
    waveform = load_audio(utterances[0].audio)
    padded, lead = pad_margins(waveform, config.sample_rate, 0.16)
    assert lead > 0
    margins = SpeechDataset(utterances, config, margin_seconds=0.16).raw_features(0)
    assert torch.allclose(margins, FeatureExtractor(config)(padded))
    plain = SpeechDataset(utterances, config).raw_features(0)
    assert torch.allclose(plain, FeatureExtractor(config)(waveform))
    assert margins.shape[0] > plain.shape[0]


def test_dataset_examples_are_functions_of_epoch_and_index(tmp_path: Path) -> None:
    utterances = utterances_for(tmp_path / "data", 4)
    config = FeatureConfig(n_mels=20)
    cache = FeatureCache.build(
        tmp_path / "cache", utterances, CacheSpec(config, AugmentConfig(noise_prob=1.0), 4, True, 0)
    )
    spec = SpecAugmentConfig(freq_masks=1, time_masks=1)
    dataset = SpeechDataset(utterances, config, cache, spec_config=spec, seed=0)
    first = dataset[(0, 2)]
    assert torch.equal(first.features, dataset[(0, 2)].features)
    assert not all(torch.equal(first.features, dataset[(e, 2)].features) for e in range(1, 5))
    assert first.tokens.tolist() == encode(utterances[2].text)
    on_the_fly = SpeechDataset(utterances, config, augmenter=None)
    assert torch.allclose(on_the_fly[(0, 1)].features, cache.features(1, 0), atol=0.02, rtol=0.002)
    # The frequency warp is drawn per (epoch, index) too, on top of the cached copy.
    warp = SpecAugmentConfig(warp_prob=1.0, warp_max=0.15)
    warping = SpeechDataset(utterances, config, cache, spec_config=warp, seed=0)
    plain = SpeechDataset(utterances, config, cache, seed=0)
    assert torch.equal(warping[(0, 2)].features, warping[(0, 2)].features)
    assert not torch.equal(warping[(0, 2)].features, plain[(0, 2)].features)
    assert warping[(0, 2)].features.shape == plain[(0, 2)].features.shape


def test_dataset_refuses_margins_or_augmenter_beside_a_cache(tmp_path: Path) -> None:
    utterances = utterances_for(tmp_path / "data", 2)
    config = FeatureConfig(n_mels=20)
    cache = FeatureCache.build(tmp_path / "cache", utterances, CacheSpec(config, None, 1, True, 0))
    with pytest.raises(ValueError, match="finished features"):
        SpeechDataset(utterances, config, cache, margin_seconds=0.16)
    augmenter = WaveformAugmenter(AugmentConfig(noise_prob=1.0))
    with pytest.raises(ValueError, match="finished features"):
        SpeechDataset(utterances, config, cache, augmenter)
    assert len(SpeechDataset(utterances, config, cache)) == 2


def test_collate_pads_and_concatenates() -> None:
    examples = [
        Example(torch.ones(3, 4), torch.tensor([5, 6]), 0),
        Example(torch.ones(5, 4), torch.tensor([7]), 1),
    ]
    batch = collate(examples)
    assert batch.features.shape == (2, 5, 4)
    assert batch.features[0, 3:].abs().sum() == 0
    assert batch.lengths.tolist() == [3, 5]
    assert batch.targets.tolist() == [5, 6, 7]
    assert batch.target_lengths.tolist() == [2, 1]
    assert batch.indices == [0, 1]
