"""Training data: manifests, dataset recipes, a feature cache, length-bucketed batches, collate.

Everything is reduced to a *manifest*: JSON lines ``{"audio": path, "text": transcript}`` with
optional ``"duration"``, ``"offset"`` (seconds, for a segment of a longer file) and ``"id"``; audio
paths are relative to the manifest's folder. Recipes turn public datasets into manifests
(idempotently, with a ``.completed`` marker): Google Speech Commands v2 and LibriSpeech through
``torchaudio.datasets``, and a user's own JSONL files.

Training reads features from a :class:`FeatureCache`: each utterance's features, and a configurable
number of augmented copies of it, computed once and stored as float16 shards that later runs and
resumed runs memory-map. Each epoch picks one copy per utterance and applies SpecAugment on the fly,
both seeded from (seed, epoch, utterance index), so the data of any step can be recomputed exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from speechrnn.audio import AudioError, fit_margins
from speechrnn.augmentation import (
    AudioSegment,
    AugmentConfig,
    SpecAugmentConfig,
    WaveformAugmenter,
    frequency_warp,
    generator_for,
    read_audio_segment,
    spec_augment,
)
from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.tokenizer import encode, normalize_text

MANIFEST_DIR = "manifests"  # under the data root: manifests written by recipes
COMPLETED = ".completed"
CACHE_FORMAT_VERSION = 1
SHARD_UTTERANCES = 256  # utterances per cache shard

# Google Speech Commands v2: the 35 words, and the 10 of the standard 12-class task.
SPEECH_COMMANDS_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip
SPEECH_COMMANDS_CORE = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
SPEECH_COMMANDS_SPLITS = ("training", "validation", "testing")
_SPLIT_ALIASES = {"train": "training", "dev": "validation", "valid": "validation",
                  "val": "validation", "test": "testing"}  # fmt: skip
# Share of each noise recording used for each split's silence clips, so test silence is unheard.
_NOISE_REGIONS = {"training": (0.0, 0.8), "validation": (0.8, 0.9), "testing": (0.9, 1.0)}
LIBRISPEECH_SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean",
                       "dev-other", "test-clean", "test-other")  # fmt: skip
RECIPES = ("manifest", "speech_commands", "librispeech")


class DataError(ValueError):
    """Unusable data (missing folder, bad manifest, unreadable audio); one line, fit for a user."""


@dataclass(frozen=True)
class Utterance:
    """One training or test example."""

    id: str  # stable across machines: the manifest's relative audio path (+ offset)
    audio: str  # absolute path
    text: str
    duration: float  # seconds
    offset: float = 0.0  # seconds into the file
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def segment(self) -> AudioSegment:
        """Where the audio is."""
        return AudioSegment(self.audio, self.offset, self.duration)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def audio_duration(path: str | Path) -> float:
    """Duration of an audio file in seconds, from its header when possible.

    Raises:
        DataError: Missing or unreadable file.
    """
    try:
        info = soundfile.info(str(path))
        return float(info.frames) / float(info.samplerate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass
    try:
        from speechrnn.audio import load_audio

        return len(load_audio(path)) / 16000.0
    except (AudioError, OSError) as problem:
        raise DataError(str(problem)) from None


def read_manifest(path: str | Path, require_text: bool = True) -> list[Utterance]:
    """Read a JSONL manifest.

    Args:
        path: The manifest; relative audio paths are relative to its folder.
        require_text: Reject lines without a ``"text"`` (noise manifests need none).

    Returns:
        The utterances, in file order (missing durations are read from the audio headers).

    Raises:
        DataError: Missing or empty file, bad JSON, missing fields, missing audio.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such manifest")
    base = path.parent.resolve()
    utterances: list[Utterance] = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as problem:
                raise DataError(f"{where}: not valid JSON ({problem.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("audio"), str):
                raise DataError(f'{where}: each line needs an "audio" path')
            text = record.get("text", "")
            if require_text and "text" not in record:
                raise DataError(f'{where}: missing "text"')
            if not isinstance(text, str):
                raise DataError(f'{where}: "text" must be a string')
            audio = Path(record["audio"])
            full = Path(os.path.normpath(audio if audio.is_absolute() else base / audio))
            if not full.is_file():
                raise DataError(f"{where}: audio file {full} does not exist")
            offset = float(record.get("offset", 0.0))
            duration = record.get("duration")
            duration = audio_duration(full) - offset if duration is None else float(duration)
            if duration < 0 or offset < 0:
                raise DataError(f"{where}: negative offset or duration")
            identifier = str(
                record.get("id") or record["audio"] + (f"@{offset:g}" if offset else "")
            )
            extra = {k: v for k, v in record.items()
                     if k not in ("audio", "text", "duration", "offset", "id")}  # fmt: skip
            utterances.append(Utterance(identifier, str(full), text, duration, offset, extra))
    if not utterances:
        raise DataError(f"{path}: manifest is empty")
    return utterances


def write_manifest(path: str | Path, utterances: Sequence[Utterance]) -> None:
    """Write a JSONL manifest atomically, audio paths relative to its folder.

    Args:
        path: Destination.
        utterances: What to write.
    """
    path = Path(path)
    base = path.parent.resolve()
    lines = []
    for utterance in utterances:
        record: dict[str, Any] = {
            "id": utterance.id,
            "audio": os.path.relpath(utterance.audio, base),
            "text": utterance.text,
            "duration": round(utterance.duration, 4),
        }
        if utterance.offset:
            record["offset"] = round(utterance.offset, 4)
        record.update(utterance.extra)
        lines.append(json.dumps(record, ensure_ascii=False))
    _atomic_write_text(path, "\n".join(lines) + "\n")


def manifest_segments(path: Path) -> list[AudioSegment]:
    """A manifest's entries as audio segments (for noise and babble sources)."""
    return [u.segment for u in read_manifest(path, require_text=False)]


# --------------------------------------------------------------------------------------------
# Recipes


def _read_marker(directory: Path) -> dict[str, Any]:
    marker = directory / COMPLETED
    if not marker.is_file():
        return {}
    try:
        values = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return {}
    return values if isinstance(values, dict) else {}


def _write_marker(directory: Path, values: dict[str, Any]) -> None:
    _atomic_write_text(directory / COMPLETED, json.dumps(values, indent=1, sort_keys=True) + "\n")


def speech_commands_class12(text: str) -> str:
    """The standard 12-class label of a Speech Commands transcript or prediction.

    Args:
        text: A word of the dataset (or a recognized text); "" is silence.

    Returns:
        One of the 10 core words, ``"_silence_"`` or ``"_unknown_"``.
    """
    word = normalize_text(text)
    if not word:
        return SILENCE
    return word if word in SPEECH_COMMANDS_CORE else UNKNOWN


def _speech_commands_path(root: Path) -> Path:
    return root / "SpeechCommands" / "speech_commands_v0.02"


def _canonical_split(recipe: str, split: str) -> str:
    if recipe == "speech_commands":
        split = _SPLIT_ALIASES.get(split, split)
        if split not in SPEECH_COMMANDS_SPLITS:
            raise DataError(
                f"unknown Speech Commands split {split!r}; "
                f"choose from {list(SPEECH_COMMANDS_SPLITS)}"
            )
    elif recipe == "librispeech" and split not in LIBRISPEECH_SUBSETS:
        raise DataError(
            f"unknown LibriSpeech subset {split!r}; choose from {list(LIBRISPEECH_SUBSETS)}"
        )
    return split


def prepare_speech_commands(
    root: str | Path,
    download: bool = False,
    silence_fraction: float | None = 0.1,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write manifests for Google Speech Commands v2 (idempotent).

    Uses ``torchaudio.datasets.SPEECHCOMMANDS`` (downloading the 2.3 GB archive when ``download``)
    and its official ``validation_list.txt`` / ``testing_list.txt`` splits. Every one of the 35
    words is a transcript. ``_background_noise_`` gives silence clips (empty transcript,
    ``silence_fraction`` of each split, each split from its own part of every recording) that teach
    the model to output nothing, and ``noise.jsonl``, the training part of every recording, for
    noise augmentation.

    Args:
        root: The data root holding (or receiving) ``SpeechCommands/speech_commands_v0.02``.
        download: Download the dataset when it is not under ``root``.
        silence_fraction: Silence clips per word clip in each split; None keeps manifests
            prepared before with any setting (0.1 when there are none).
        seed: Seed for the silence clip positions.
        log: Receives progress messages.

    Returns:
        The folder with ``training.jsonl``, ``validation.jsonl``, ``testing.jsonl`` and
        ``noise.jsonl``.

    Raises:
        DataError: The dataset is not there (and not downloaded) or is malformed.
    """
    root = Path(root)
    out = root / MANIFEST_DIR / "speech_commands"
    if silence_fraction is None:
        # Whatever was prepared before (e.g. by training) is what evaluation should use.
        if _read_marker(out):
            return out
        silence_fraction = 0.1
    settings = {"silence_fraction": silence_fraction, "seed": seed, "version": 1}
    if _read_marker(out) == settings:
        return out
    try:
        from torchaudio.datasets import SPEECHCOMMANDS
    except ImportError as problem:  # pragma: no cover - depends on the torchaudio build
        raise DataError(f"torchaudio.datasets is unavailable: {problem}") from None
    dataset_path = _speech_commands_path(root)
    if not download and not dataset_path.is_dir():
        raise DataError(
            f"Speech Commands v2 not found at {dataset_path}; point --data-root at the folder "
            "holding SpeechCommands/, or set data.download = true to download it (2.3 GB)"
        )
    root.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"preparing Speech Commands manifests in {out}")
    datasets = {}
    for split in SPEECH_COMMANDS_SPLITS:
        try:
            # The first call downloads and extracts the archive when asked to and needed.
            datasets[split] = SPEECHCOMMANDS(str(root), download=download, subset=split)
        except (RuntimeError, OSError) as problem:
            message = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
            raise DataError(f"cannot load Speech Commands ({split}): {message}") from None
    noise_dir = dataset_path / "_background_noise_"
    noise_files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    noise_durations = [(p, audio_duration(p)) for p in noise_files]
    for split_number, split in enumerate(SPEECH_COMMANDS_SPLITS):
        dataset = datasets[split]
        utterances = []
        for n in range(len(dataset)):
            try:
                relative, _, label, speaker, _ = dataset.get_metadata(n)
            except ValueError:
                continue  # a blank line in a split list names the folder, not a clip
            path = root / "SpeechCommands" / relative
            utterances.append(
                Utterance(
                    id=Path(relative).relative_to("speech_commands_v0.02").as_posix(),
                    audio=str(path),
                    text=label,
                    duration=audio_duration(path),
                    extra={"speaker": speaker},
                )
            )
        if not utterances:
            raise DataError(f"Speech Commands split {split!r} under {dataset_path} has no clips")
        rng = np.random.default_rng([seed, split_number])
        silences = round(silence_fraction * len(utterances))
        usable = []
        for path, duration in noise_durations:
            low, high = _NOISE_REGIONS[split]
            start, end = low * duration, high * duration - 1.0
            if end >= start:
                usable.append((path, start, end))
        for k in range(silences if usable else 0):
            path, start, end = usable[int(rng.integers(len(usable)))]
            offset = round(float(rng.uniform(start, end)), 3)
            utterances.append(
                Utterance(
                    id=f"{SILENCE}/{path.name}@{offset:g}#{k}", audio=str(path), text="",
                    duration=1.0, offset=offset,
                )
            )  # fmt: skip
        write_manifest(out / f"{split}.jsonl", utterances)
        if log:
            log(f"  {split}: {len(utterances)} clips ({silences if usable else 0} silence)")
    noise = [
        Utterance(id=f"noise/{p.name}", audio=str(p), text="", duration=0.8 * d)
        for p, d in noise_durations
    ]
    if noise:
        write_manifest(out / "noise.jsonl", noise)
    else:
        (out / "noise.jsonl").unlink(missing_ok=True)
        if log:
            log(f"  no {noise_dir}: no silence clips and no recorded noise for augmentation")
    _write_marker(out, settings)
    return out


def prepare_librispeech(
    root: str | Path,
    subsets: Sequence[str],
    download: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write a manifest per LibriSpeech subset (idempotent per subset).

    Uses ``torchaudio.datasets.LIBRISPEECH`` (downloading each subset's archive when
    ``download``): ``LibriSpeech/<subset>/<speaker>/<chapter>/*.flac`` with ``.trans.txt`` files.

    Args:
        root: The data root holding (or receiving) ``LibriSpeech/``.
        subsets: Subset names (see :data:`LIBRISPEECH_SUBSETS`).
        download: Download subsets that are not under ``root``.
        log: Receives progress messages.

    Returns:
        The folder with ``<subset>.jsonl`` files.

    Raises:
        DataError: Unknown subset, or a subset not there (and not downloaded).
    """
    root = Path(root)
    out = root / MANIFEST_DIR / "librispeech"
    done = _read_marker(out)
    for subset in subsets:
        _canonical_split("librispeech", subset)
        if done.get(subset) == 1 and (out / f"{subset}.jsonl").is_file():
            continue
        try:
            from torchaudio.datasets import LIBRISPEECH
        except ImportError as problem:  # pragma: no cover - depends on the torchaudio build
            raise DataError(f"torchaudio.datasets is unavailable: {problem}") from None
        folder = root / "LibriSpeech" / subset
        if not download and not folder.is_dir():
            raise DataError(
                f"LibriSpeech {subset} not found at {folder}; point --data-root at the folder "
                "holding LibriSpeech/, or set data.download = true to download it"
            )
        root.mkdir(parents=True, exist_ok=True)
        if log:
            log(f"preparing LibriSpeech {subset} manifest in {out}")
        try:
            dataset = LIBRISPEECH(str(root), url=subset, download=download)
        except (RuntimeError, OSError) as problem:
            message = (
                str(problem).strip().splitlines()[0] if str(problem).strip() else repr(problem)
            )
            raise DataError(f"cannot load LibriSpeech {subset}: {message}") from None
        utterances = []
        for n in range(len(dataset)):
            relative, _, transcript, speaker, chapter, _ = dataset.get_metadata(n)
            path = root / "LibriSpeech" / relative
            utterances.append(
                Utterance(
                    id=Path(relative).stem, audio=str(path), text=transcript,
                    duration=audio_duration(path), extra={"speaker": speaker, "chapter": chapter},
                )
            )  # fmt: skip
        if not utterances:
            raise DataError(f"LibriSpeech {subset} under {folder} has no .flac files")
        write_manifest(out / f"{subset}.jsonl", utterances)
        done[subset] = 1
        _write_marker(out, done)
        if log:
            hours = sum(u.duration for u in utterances) / 3600
            log(f"  {subset}: {len(utterances)} utterances, {hours:.1f} h")
    return out


def manifest_path(root: str | Path, name: str) -> Path:
    """The manifest a name stands for in the "manifest" recipe: a path, or ROOT/NAME(.jsonl)."""
    path = Path(name)
    candidates = [path] if path.is_absolute() else [Path(root) / path, Path(root) / f"{name}.jsonl"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"manifest {name!r} not found (looked for {', '.join(map(str, candidates))})")


def prepare_manifest_folder(
    folder: str | Path,
    root: str | Path,
    dev_fraction: float = 0.05,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, Path]:
    """Build ``train.jsonl`` and ``dev.jsonl`` from audio files and same-named ``.txt`` files.

    Idempotent: when ``root/.completed`` records the same folder and settings, nothing is redone.

    Args:
        folder: Searched recursively for audio files; ``clip.wav`` needs ``clip.txt`` beside it.
        root: Where the manifests go (the data root).
        dev_fraction: Share of files (randomly chosen, at least one) held out for ``dev.jsonl``.
        seed: Seed of that choice.
        log: Receives progress messages.

    Returns:
        The train and dev manifest paths.

    Raises:
        DataError: No usable files.
    """
    from speechrnn.audio import AUDIO_EXTENSIONS

    folder, root = Path(folder).resolve(), Path(root)
    train_path, dev_path = root / "train.jsonl", root / "dev.jsonl"
    settings = {"folder": str(folder), "dev_fraction": dev_fraction, "seed": seed}
    if _read_marker(root) == settings and train_path.is_file() and dev_path.is_file():
        return train_path, dev_path
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    audio_files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    )
    utterances = []
    for path in audio_files:
        transcript = path.with_suffix(".txt")
        if not transcript.is_file():
            continue
        text = " ".join(transcript.read_text(encoding="utf-8").split())
        utterances.append(
            Utterance(path.relative_to(folder).as_posix(), str(path), text, audio_duration(path))
        )
    if len(utterances) < 2:
        raise DataError(f"{folder}: need at least 2 audio files with .txt transcripts beside them")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(utterances)).tolist()
    dev_count = max(1, round(dev_fraction * len(utterances)))
    dev = sorted(order[:dev_count])
    held_out = set(dev)
    write_manifest(train_path, [u for i, u in enumerate(utterances) if i not in held_out])
    write_manifest(dev_path, [utterances[i] for i in dev])
    _write_marker(root, settings)
    if log:
        log(f"{len(utterances) - dev_count} training and {dev_count} dev utterances in {root}")
    return train_path, dev_path


@dataclass(frozen=True)
class RecipeData:
    """What a recipe provides: a manifest per split, recorded noise, and the command words."""

    manifests: dict[str, Path]
    noise: Path | None = None
    commands: tuple[str, ...] | None = None  # the fixed vocabulary of a command dataset


def prepare_recipe(
    recipe: str,
    root: str | Path,
    splits: Sequence[str],
    download: bool = False,
    silence_fraction: float | None = None,
    log: Callable[[str], None] | None = None,
) -> RecipeData:
    """Make sure the manifests of ``splits`` exist and return where they are.

    Args:
        recipe: One of :data:`RECIPES`.
        root: The data root.
        splits: Split names: Speech Commands "training" / "validation" / "testing" (or train,
            dev, test); LibriSpeech subset names; manifest names or paths for "manifest".
        download: Let the dataset recipes download missing data.
        silence_fraction: Speech Commands silence clips per word clip; None keeps what was
            prepared before (0.1 when nothing was).
        log: Receives progress messages.

    Returns:
        The manifests by split name as given.

    Raises:
        DataError: Unknown recipe or split, missing data.
    """
    root = Path(root)
    if recipe not in RECIPES:
        raise DataError(f"unknown recipe {recipe!r}; choose from {list(RECIPES)}")
    if not download and not root.is_dir():
        raise DataError(f"data root {root} does not exist")
    if recipe == "manifest":
        return RecipeData({split: manifest_path(root, split) for split in splits})
    if recipe == "speech_commands":
        canonical = [_canonical_split(recipe, s) for s in splits]
        folder = prepare_speech_commands(root, download, silence_fraction, log=log)
        noise = folder / "noise.jsonl"
        return RecipeData(
            {s: folder / f"{c}.jsonl" for s, c in zip(splits, canonical, strict=True)},
            noise if noise.is_file() else None,
            SPEECH_COMMANDS_WORDS,
        )
    folder = prepare_librispeech(root, splits, download, log=log)
    return RecipeData({s: folder / f"{s}.jsonl" for s in splits})


# --------------------------------------------------------------------------------------------
# Feature cache


def _shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


@dataclass(frozen=True)
class CacheSpec:
    """What the cached features depend on; its hash names the cache folder."""

    feature_config: FeatureConfig
    augment: AugmentConfig | None  # None: every copy is the clean utterance
    copies: int  # features stored per utterance
    clean_copy: bool  # copy 0 is the unaugmented utterance
    seed: int
    noise: tuple[AudioSegment, ...] = ()
    babble: bool = True  # babble is built from the utterances themselves

    def key(self, utterances: Sequence[Utterance]) -> str:
        """A short hash of everything that changes the cached values."""
        from dataclasses import asdict

        description = {
            "version": CACHE_FORMAT_VERSION,
            "features": asdict(self.feature_config),
            "augment": self.augment.to_dict() if self.augment is not None else None,
            "copies": self.copies,
            "clean_copy": self.clean_copy,
            "seed": self.seed,
            "noise": [(s.path, s.offset, s.duration) for s in self.noise],
            "utterances": [(u.id, u.offset, round(u.duration, 4)) for u in utterances],
        }
        blob = json.dumps(description, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class _ShardBuilder(Dataset[int]):
    """Computes and writes one cache shard per item, so DataLoader workers can build in parallel."""

    def __init__(
        self, directory: Path, utterances: Sequence[Utterance], spec: CacheSpec, shards: list[int]
    ) -> None:
        self.directory = directory
        self.utterances = utterances
        self.spec = spec
        self.shards = shards
        self._extractor: FeatureExtractor | None = None
        self._augmenter: WaveformAugmenter | None = None

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, item: int) -> int:
        shard = self.shards[item]
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.spec.feature_config)
            if self.spec.augment is not None:
                babble = [u.segment for u in self.utterances if u.text] if self.spec.babble else []
                self._augmenter = WaveformAugmenter(self.spec.augment, self.spec.noise, babble)
        start = shard * SHARD_UTTERANCES
        chunk = self.utterances[start : start + SHARD_UTTERANCES]
        arrays, offsets, lengths = [], [], []
        position = 0
        with torch.no_grad():
            for utterance in chunk:
                try:
                    waveform = read_audio_segment(
                        utterance.audio, utterance.offset, utterance.duration
                    )
                except (AudioError, OSError, RuntimeError) as problem:
                    raise DataError(f"{utterance.audio}: {problem}") from None
                for copy in range(self.spec.copies):
                    audio = waveform
                    if self._augmenter is not None and not (copy == 0 and self.spec.clean_copy):
                        generator = generator_for(self.spec.seed, "augment", utterance.id, copy)
                        audio = self._augmenter(waveform, generator)
                    features = self._extractor(audio).to(torch.float16).numpy()
                    arrays.append(features)
                    offsets.append(position)
                    lengths.append(len(features))
                    position += len(features)
        num_features = self.spec.feature_config.num_features
        data = np.concatenate(arrays) if position else np.zeros((0, num_features), np.float16)
        wide = data.astype(np.float64)
        index = {
            "offsets": offsets,
            "lengths": lengths,
            "sum": wide.sum(axis=0).tolist(),
            "sum_squares": (wide**2).sum(axis=0).tolist(),
            "frames": position,
        }
        name = _shard_name(shard)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.directory)
        with os.fdopen(handle, "wb") as file:
            np.save(file, data)
        os.replace(temporary, self.directory / f"{name}.npy")
        # The index is written last: its presence means the shard is complete.
        _atomic_write_text(self.directory / f"{name}.json", json.dumps(index))
        return shard


class FeatureCache:
    """Features of every (utterance, copy), float16, memory-mapped from shards on disk.

    Build with :meth:`build`; a killed build resumes at the first incomplete shard.
    """

    def __init__(self, directory: Path, num_utterances: int, copies: int) -> None:
        self.directory = directory
        self.num_utterances = num_utterances
        self.copies = copies
        shards = (num_utterances + SHARD_UTTERANCES - 1) // SHARD_UTTERANCES
        offsets, lengths = [], []
        total = None
        squares = None
        frames = 0
        for shard in range(shards):
            index = json.loads((directory / f"{_shard_name(shard)}.json").read_text())
            offsets.extend(index["offsets"])
            lengths.extend(index["lengths"])
            shard_sum = np.asarray(index["sum"], dtype=np.float64)
            shard_squares = np.asarray(index["sum_squares"], dtype=np.float64)
            total = shard_sum if total is None else total + shard_sum
            squares = shard_squares if squares is None else squares + shard_squares
            frames += int(index["frames"])
        self._offsets = np.asarray(offsets, dtype=np.int64).reshape(num_utterances, copies)
        self._lengths = np.asarray(lengths, dtype=np.int64).reshape(num_utterances, copies)
        self._sum, self._squares, self._frames = total, squares, frames
        self._arrays: dict[int, np.ndarray] = {}

    @staticmethod
    def build(
        root: str | Path,
        utterances: Sequence[Utterance],
        spec: CacheSpec,
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> FeatureCache:
        """Compute the missing shards and open the cache.

        With several processes (``world_size`` > 1), each builds the shards ``s`` with
        ``s % world_size == rank`` and then waits for the others' shards to appear on disk.

        Args:
            root: Folder for caches; this one goes to ``root / spec.key(utterances)``.
            utterances: The utterances, in dataset order.
            spec: What to compute.
            num_workers: Worker processes computing shards (0: in this process).
            rank: This process's rank.
            world_size: Processes sharing the work.
            progress: Called with (shards done, shards to do) after each shard.

        Returns:
            The cache.
        """
        directory = Path(root) / spec.key(utterances)
        directory.mkdir(parents=True, exist_ok=True)
        shards = (len(utterances) + SHARD_UTTERANCES - 1) // SHARD_UTTERANCES
        missing = [s for s in range(shards) if not (directory / f"{_shard_name(s)}.json").is_file()]
        mine = [s for s in missing if s % world_size == rank]
        if mine:
            builder = _ShardBuilder(directory, utterances, spec, mine)
            if num_workers > 0:
                loader: Any = DataLoader(
                    builder, batch_size=None, num_workers=min(num_workers, len(mine))
                )
            else:
                loader = (builder[i] for i in range(len(mine)))
            for done, _ in enumerate(loader, 1):
                if progress is not None:
                    progress(done, len(mine))
        while world_size > 1 and not all(
            (directory / f"{_shard_name(s)}.json").is_file() for s in missing
        ):
            time.sleep(1.0)
        description = {"utterances": len(utterances), "copies": spec.copies}
        _atomic_write_text(directory / "cache.json", json.dumps(description) + "\n")
        return FeatureCache(directory, len(utterances), spec.copies)

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps are reopened in each DataLoader worker rather than pickled.
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def _array(self, shard: int) -> np.ndarray:
        if shard not in self._arrays:
            path = self.directory / f"{_shard_name(shard)}.npy"
            self._arrays[shard] = np.load(path, mmap_mode="r")
        return self._arrays[shard]

    def length(self, index: int, copy: int = 0) -> int:
        """Frames of one cached entry."""
        return int(self._lengths[index, copy])

    def features(self, index: int, copy: int = 0) -> torch.Tensor:
        """The cached features of utterance ``index``, copy ``copy``.

        Returns:
            (frames, num_features) float32.
        """
        start = int(self._offsets[index, copy])
        stop = start + int(self._lengths[index, copy])
        array = self._array(index // SHARD_UTTERANCES)
        return torch.from_numpy(np.array(array[start:stop], dtype=np.float32))

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature mean and standard deviation over every cached frame.

        Returns:
            mean, std: (num_features,) float32.
        """
        if self._frames == 0 or self._sum is None or self._squares is None:
            raise DataError("the feature cache holds no frames (all audio too short?)")
        mean = self._sum / self._frames
        variance = np.maximum(self._squares / self._frames - mean**2, 0.0)
        return torch.tensor(mean, dtype=torch.float32), torch.tensor(
            np.sqrt(variance), dtype=torch.float32
        )


# --------------------------------------------------------------------------------------------
# Batching


def bucket_batches(
    lengths: Sequence[float] | np.ndarray,
    max_batch_frames: float,
    max_batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    sortagrad: bool = False,
    jitter: float = 0.1,
) -> list[list[int]]:
    """Group utterances of similar length into batches bounded by padded size.

    Utterances are sorted by length (randomly perturbed by up to ``jitter``, so batches differ
    between epochs) and cut into batches whose padded size (count x longest) stays within
    ``max_batch_frames``; the batch order is then shuffled. With ``sortagrad`` (DeepSpeech 2's
    first epoch) lengths are not perturbed and batches go shortest first, which eases the start
    of CTC training.

    Args:
        lengths: Length of each utterance (any unit, e.g. seconds or frames).
        max_batch_frames: Budget for count x longest, in the same unit.
        max_batch_size: Most utterances per batch.
        seed: Base seed.
        epoch: Epoch number; batches are a pure function of (lengths, seed, epoch).
        shuffle: Shuffle batch order (and perturb lengths).
        sortagrad: Shortest batches first, no perturbation.
        jitter: Relative length perturbation.

    Returns:
        Lists of utterance indices.
    """
    values = np.asarray(lengths, dtype=np.float64)
    rng = np.random.default_rng([seed, epoch])
    keys = values
    if shuffle and not sortagrad and jitter > 0:
        keys = values * rng.uniform(1 - jitter, 1 + jitter, len(values))
    order = np.argsort(keys, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for index in order.tolist():
        length = float(values[index])
        wider = max(longest, length)
        if current and (
            wider * (len(current) + 1) > max_batch_frames or len(current) >= max_batch_size
        ):
            batches.append(current)
            current, wider = [], length
        current.append(index)
        longest = wider
    if current:
        batches.append(current)
    if shuffle and not sortagrad:
        permutation = rng.permutation(len(batches))
        batches = [batches[i] for i in permutation]
    return batches


class BucketBatchSampler(Sampler[list[tuple[int, int]]]):
    """Length-bucketed batches for one process of a (possibly distributed) run, resumable.

    Every process computes the same epoch plan from (seed, epoch) and takes every
    ``world_size``-th batch, so buckets survive distribution; all processes get the same number
    of batches. Items are ``(epoch, index)`` pairs, so datasets can seed per-epoch randomness.

    Args:
        lengths: Length of each utterance.
        max_batch_frames: Padded-size budget per batch (see :func:`bucket_batches`).
        max_batch_size: Most utterances per batch.
        seed: Base seed.
        shuffle: Shuffle between epochs.
        sortagrad: Shortest-first batches in epoch 0.
        rank: This process's rank.
        world_size: Number of processes.
    """

    def __init__(
        self,
        lengths: Sequence[float] | np.ndarray,
        max_batch_frames: float,
        max_batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        sortagrad: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.max_batch_frames = max_batch_frames
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.sortagrad = sortagrad
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0
        self._plan: tuple[int, list[list[int]]] | None = None

    def batches(self, epoch: int) -> list[list[int]]:
        """This process's batches (utterance indices) in ``epoch``."""
        if self._plan is None or self._plan[0] != epoch:
            everything = bucket_batches(
                self.lengths, self.max_batch_frames, self.max_batch_size, self.seed, epoch,
                self.shuffle, self.sortagrad and epoch == 0,
            )  # fmt: skip
            usable = len(everything) // self.world_size * self.world_size
            self._plan = (epoch, everything[self.rank : usable : self.world_size])
        return self._plan[1]

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and the batch to start from (to resume mid-epoch)."""
        self.epoch = epoch
        self.start = start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in self.batches(self.epoch)[self.start :]:
            yield [(self.epoch, index) for index in batch]

    def __len__(self) -> int:
        return max(0, len(self.batches(self.epoch)) - self.start)


# --------------------------------------------------------------------------------------------
# Datasets


@dataclass
class Example:
    """One utterance ready for the model."""

    features: torch.Tensor  # (frames, num_features) raw features
    tokens: torch.Tensor  # (tokens,) int64 targets
    index: int  # position in the dataset


@dataclass
class Batch:
    """Padded examples."""

    features: torch.Tensor  # (batch, frames, num_features)
    lengths: torch.Tensor  # (batch,) int64 valid frames
    targets: torch.Tensor  # (sum of target_lengths,) int64, concatenated
    target_lengths: torch.Tensor  # (batch,) int64
    indices: list[int]

    def to(self, device: torch.device) -> Batch:
        """The batch with its tensors on ``device``."""
        return Batch(
            self.features.to(device, non_blocking=True),
            self.lengths,
            self.targets,
            self.target_lengths,
            self.indices,
        )


def collate(examples: Sequence[Example]) -> Batch:
    """Pad examples into a batch.

    Args:
        examples: Examples of any lengths.

    Returns:
        The batch; features are zero-padded to the longest.
    """
    lengths = torch.tensor([len(e.features) for e in examples], dtype=torch.int64)
    num_features = examples[0].features.shape[1]
    features = torch.zeros(len(examples), int(lengths.max()), num_features)
    for row, example in enumerate(examples):
        features[row, : len(example.features)] = example.features
    targets = torch.cat([e.tokens for e in examples]) if examples else torch.zeros(0)
    return Batch(
        features=features,
        lengths=lengths,
        targets=targets.to(torch.int64),
        target_lengths=torch.tensor([len(e.tokens) for e in examples], dtype=torch.int64),
        indices=[e.index for e in examples],
    )


class SpeechDataset(Dataset[Example]):
    """Utterances as training examples, indexed by ``(epoch, index)`` pairs.

    With a cache, an example is one of the cached copies (chosen per epoch); without, the audio is
    read, augmented and turned into features on the fly. The frequency warp (VTLP) and SpecAugment,
    when configured, are applied last. All randomness comes from (seed, epoch, index).

    Args:
        utterances: The utterances.
        feature_config: Feature settings (used without a cache).
        cache: Cached features, or None to compute on the fly.
        augmenter: Waveform augmentation on the fly (only without a cache).
        spec_config: SpecAugment settings, or None.
        seed: Base seed.
        margin_seconds: Background each utterance gets before and after its speech, padded or
            cut to it (:func:`~speechrnn.audio.fit_margins`), before any augmentation, so that an
            evaluation hears clips as ``Recognizer.transcribe`` does; 0 (training) reads them as
            they are. Only without a cache.

    Raises:
        ValueError: A cache together with an augmenter or margins.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        feature_config: FeatureConfig,
        cache: FeatureCache | None = None,
        augmenter: WaveformAugmenter | None = None,
        spec_config: SpecAugmentConfig | None = None,
        seed: int = 0,
        margin_seconds: float = 0.0,
    ) -> None:
        # A cache holds finished features: what it was built with is what the model sees, so
        # margins or a waveform augmenter given beside it would be silently ignored.
        if cache is not None and (augmenter is not None or margin_seconds > 0):
            raise ValueError(
                "a feature cache holds finished features: margins and waveform augmentation "
                "need the audio, so use them without a cache (a cache can hold augmented copies)"
            )
        self.utterances = list(utterances)
        self.margin_seconds = margin_seconds
        self.feature_config = feature_config
        self.cache = cache
        self.augmenter = augmenter
        self.spec_config = spec_config
        self.seed = seed
        self.fill: torch.Tensor | None = None  # SpecAugment's mask value per feature
        self.tokens = [torch.tensor(encode(u.text), dtype=torch.int64) for u in self.utterances]
        self._extractor: FeatureExtractor | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    def raw_features(self, index: int, copy: int = 0) -> torch.Tensor:
        """Unaugmented features of one utterance (cached copy ``copy`` when cached).

        Returns:
            (frames, num_features) float32.
        """
        if self.cache is not None:
            return self.cache.features(index, copy)
        return self._compute(index, None)

    def _compute(self, index: int, generator: torch.Generator | None) -> torch.Tensor:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.feature_config)
        utterance = self.utterances[index]
        try:
            waveform = read_audio_segment(utterance.audio, utterance.offset, utterance.duration)
        except (AudioError, OSError, RuntimeError) as problem:
            raise DataError(f"{utterance.audio}: {problem}") from None
        if self.margin_seconds > 0:
            rate = self.feature_config.sample_rate
            waveform, _ = fit_margins(waveform, rate, self.margin_seconds)
        if self.augmenter is not None and generator is not None:
            waveform = self.augmenter(waveform, generator)
        with torch.no_grad():
            features: torch.Tensor = self._extractor(waveform)
        return features

    def __getitem__(self, key: tuple[int, int] | int) -> Example:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        generator = generator_for(self.seed, "example", epoch, index)
        if self.cache is not None:
            copy = int(torch.randint(self.cache.copies, (), generator=generator))
            features = self.cache.features(index, copy)
        else:
            features = self._compute(index, generator)
        if self.spec_config is not None and self.spec_config.warps:
            features = frequency_warp(features, self.spec_config, self.feature_config, generator)
        if self.spec_config is not None and self.spec_config.enabled:
            features = spec_augment(features, self.spec_config, generator, self.fill)
        return Example(features, self.tokens[index], index)
