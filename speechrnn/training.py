"""Training and evaluation: configuration, the training loop, dev-set evaluation.

The loop, top to bottom: resolve and save the config; prepare the recipe's manifests; build (or
reuse) the feature cache; set the model's global feature normalization from the training data;
then steps of AdamW with warm-up and a cosine (or one-cycle) learning rate, gradient clipping, AMP
on CUDA, a dev evaluation now and then, and atomic checkpoints.

Exact resume: every piece of randomness is a pure function of (seed, step) or (seed, epoch,
utterance): the model's dropout is reseeded at each step, an example's augmented copy and
SpecAugment masks are drawn from a generator seeded by (seed, epoch, index), and batches from
(seed, epoch). A checkpoint therefore only needs the weights, the optimizer moments, the step and
the position in the epoch; a run killed at any moment and resumed from ``last.pt`` retraces the
steps an uninterrupted run takes. The RNG state is stored too, for completeness.

Several processes (``torchrun --nproc_per_node=N speechrnn train ...``) train with
DistributedDataParallel: each takes every N-th batch of the shared epoch plan; only rank 0 writes
files.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import sys
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Protocol, Union, get_args, get_origin, get_type_hints

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from speechrnn.augmentation import (
    AudioSegment,
    AugmentConfig,
    SpecAugmentConfig,
    WaveformAugmenter,
    derive_seed,
    noise_segments_from_paths,
)
from speechrnn.checkpoint import (
    CheckpointError,
    load_acoustic_model,
    read_checkpoint,
    resolve_model_path,
    save_model,
)
from speechrnn.data import (
    SILENCE,
    BucketBatchSampler,
    CacheSpec,
    DataError,
    FeatureCache,
    SpeechDataset,
    Utterance,
    bucket_batches,
    collate,
    manifest_segments,
    prepare_recipe,
    read_manifest,
    speech_commands_class12,
)
from speechrnn.decoding import CommandDecoder, CommandMatch, greedy_decode
from speechrnn.features import FeatureConfig
from speechrnn.lm import LMWeights, WordLM
from speechrnn.metrics import ConfusionMatrix, ErrorCounts, char_errors, word_errors
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.tokenizer import normalize_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
LOG_FILE = "train.log"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
REJECTED = "_rejected_"
PLOT_INTERVAL_SECONDS = 60.0
_METRIC_COLUMNS = (
    "step",
    "epoch",
    "lr",
    "train_loss",
    "grad_norm",
    "dev_loss",
    "dev_wer",
    "dev_cer",
    "audio_seconds_per_second",
    "skipped_batches",
    "elapsed_seconds",
)
# Settings that may change when a run is resumed: they do not change what is computed.
RESUMABLE_CHANGES = frozenset({
    "data.root", "data.download", "data.num_workers", "data.cache_dir", "train.epochs",
    "train.max_steps", "train.device", "train.amp", "train.log_every", "train.sample_every",
    "train.eval_every", "train.checkpoint_every", "train.threads",
})  # fmt: skip


class ConfigError(ValueError):
    """A bad configuration (file, key, value or override); one line, fit for a user."""


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is batched."""

    recipe: Literal["manifest", "speech_commands", "librispeech"] = "manifest"
    root: str = ""  # data root (or --data-root)
    train: tuple[str, ...] = ("train",)  # splits / subsets / manifest names, concatenated
    dev: str = "dev"
    download: bool = False  # let recipes download missing public datasets
    silence_fraction: float = 0.1  # Speech Commands: silence clips per word clip
    min_duration: float = 0.1  # seconds; shorter utterances are dropped
    max_duration: float = 20.0  # seconds; longer utterances are dropped
    batch_seconds: float = 120.0  # padded audio seconds per batch (count x longest)
    max_batch_size: int = 64
    cache: bool = True  # compute features (and augmented copies) once, store them on disk
    cache_dir: str = ""  # default: RUN_DIR/cache; share it between runs on the same data
    copies: int = 1  # cached versions of each utterance, one picked per epoch
    clean_copy: bool = True  # copy 0 is unaugmented
    num_workers: int = 0  # data loader / cache builder processes
    sortagrad: bool = True  # first epoch shortest-first (DeepSpeech 2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(self.train))
        if self.copies < 1 or self.max_batch_size < 1 or self.num_workers < 0:
            raise ValueError("data.copies and data.max_batch_size must be >= 1, num_workers >= 0")
        if self.batch_seconds <= 0 or self.max_duration <= 0:
            raise ValueError("data.batch_seconds and data.max_duration must be positive")
        if not self.train:
            raise ValueError("data.train must name at least one split")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.01  # not applied to biases and norms
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_steps: int = 500  # linear warm-up (cosine, constant)
    min_lr_ratio: float = 0.02  # final lr = lr x this
    pct_start: float = 0.3  # onecycle: share of steps spent rising
    grad_clip: float = 5.0  # max global gradient norm (0: off)

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.lr <= 0 or self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("optim.lr must be > 0, warmup_steps >= 0, min_lr_ratio in [0, 1]")
        if not 0 < self.pct_start < 1:
            raise ValueError("optim.pct_start must be in (0, 1)")


@dataclass(frozen=True)
class LoopConfig:
    """The [train] section: length, device and reporting of the run."""

    seed: int = 0
    epochs: int = 30
    max_steps: int = 0  # optimizer steps; when > 0 it ends the run and sets the schedule length
    device: Literal["cpu", "cuda"] = "cpu"
    amp: bool = True  # mixed precision (CUDA only)
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    log_every: int = 50  # steps between progress lines and metrics rows
    sample_every: int = 200  # steps between greedy transcripts of a few training clips (0: off)
    sample_utterances: int = 3
    eval_every: int = 0  # steps between dev evaluations; 0: at the end of each epoch only
    checkpoint_every: int = 200  # steps between last.pt saves (also saved each epoch)
    # Start a new run from this checkpoint's weights and feature normalization (fine-tuning on
    # new data), or a bundled model's by name ("default"); its model and feature configs must
    # equal the run's, except model.dropout, which holds no weights (a fine-tune may regularize
    # harder). Optimizer and schedule start afresh.
    # Ignored when resuming (last.pt already holds the weights).
    init: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.max_steps < 0:
            raise ValueError("train.epochs must be >= 1 and train.max_steps >= 0")
        if min(self.log_every, self.checkpoint_every) < 1 or self.eval_every < 0:
            raise ValueError("train.log_every and checkpoint_every must be >= 1")


@dataclass(frozen=True)
class TrainConfig:
    """A complete, resolved training configuration (TOML sections = fields)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)


_SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(TrainConfig)}  # type: ignore[misc]


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin is tuple:
        return "a list"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check a TOML value against a dataclass field type (converting ints to floats, lists to
    tuples, one string to a one-element tuple)."""
    origin, args = get_origin(hint), get_args(hint)
    problem = ConfigError(f"{where}: expected {_describe(hint)}, got {value!r}")
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise problem
    if hint is type(None):
        if value is None:
            return None
        raise problem
    if origin is Literal:
        if value in args:
            return value
        raise problem
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise problem
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0], where) for item in value)
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(item, a, where) for item, a in zip(value, args, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise problem
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise problem
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise problem
    if hint is str:
        if isinstance(value, str):
            return value
        raise problem
    return value


def _section_from_dict(cls: type, values: dict[str, Any], section: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of settings")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {section}.{unknown[0]}; valid keys in [{section}]: "
                          + ", ".join(known))  # fmt: skip
    converted = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    try:
        return cls(**converted)
    except (ValueError, TypeError) as problem:
        raise ConfigError(f"[{section}]: {problem}") from None


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig from nested dicts (TOML tables), rejecting unknown sections and keys.

    Raises:
        ConfigError: Unknown section or key, or a value of the wrong type or range.
    """
    unknown = sorted(set(values) - set(_SECTIONS))
    if unknown:
        name = unknown[0]
        if isinstance(values[name], dict):
            raise ConfigError(f"unknown section [{name}]; valid sections: " + ", ".join(_SECTIONS))
        # A key above every [section] is an easy slip: `recipe = "x"` at the top of the file.
        homes = [section for section, cls in _SECTIONS.items()
                 if name in {f.name for f in fields(cls)}]  # fmt: skip
        where = f"put it under [{homes[0]}]" if homes else "valid sections: " + ", ".join(_SECTIONS)
        raise ConfigError(f"{name} stands outside any [section]; {where}")
    sections = {name: _section_from_dict(cls, values.get(name, {}), name)
                for name, cls in _SECTIONS.items()}  # fmt: skip
    if sections["spec_augment"].warps and sections["features"].kind != "logmel":
        raise ConfigError(
            "spec_augment.warp_prob needs log-mel features (features.kind = 'logmel')"
        )
    return TrainConfig(**sections)


def config_to_dict(config: TrainConfig) -> dict[str, dict[str, Any]]:
    """Nested dicts of builtins (tuples as lists), e.g. for checkpoints."""
    return {
        f.name: {k: list(v) if isinstance(v, tuple) else v
                 for k, v in asdict(getattr(config, f.name)).items()}
        for f in fields(config)
    }  # fmt: skip


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``section.key=value`` (value in TOML syntax; a bare word is a string).

    Raises:
        ConfigError: Not of that form.
    """
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(f"--set expects section.key=value (e.g. optim.lr=0.001), got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key.strip(), value


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML config and apply ``--set`` overrides.

    Args:
        path: A TOML file, or None for the defaults.
        overrides: ``section.key=value`` strings.

    Returns:
        The resolved config.

    Raises:
        ConfigError: Missing or malformed file, unknown keys, bad values.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as problem:
            raise ConfigError(f"{path}: not valid TOML ({problem})") from None
    for text in overrides:
        section, key, value = parse_override(text)
        if section not in _SECTIONS:
            raise ConfigError(f"--set {text}: unknown section {section!r}; valid sections: "
                              + ", ".join(_SECTIONS))  # fmt: skip
        values.setdefault(section, {})[key] = value
    return config_from_dict(values)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def config_to_toml(config: TrainConfig) -> str:
    """The config as TOML text that :func:`load_config` reads back to an equal config."""
    lines = []
    for section, values in config_to_dict(config).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def config_differences(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Keys (``section.key``) whose values differ between two configs."""
    old_values, new_values = config_to_dict(old), config_to_dict(new)
    return [
        f"{section}.{key}"
        for section, values in old_values.items()
        for key, value in values.items()
        if new_values[section][key] != value
    ]


def learning_rate(step: int, total_steps: int, optim: OptimConfig) -> float:
    """The learning rate at ``step`` (0-based) of ``total_steps``.

    cosine: linear warm-up over ``warmup_steps``, then a half cosine down to ``lr x
    min_lr_ratio``. onecycle: a half cosine up from lr / 25 over ``pct_start`` of the steps, then
    down. constant: warm-up, then flat.
    """
    peak, floor = optim.lr, optim.lr * optim.min_lr_ratio
    total_steps = max(1, total_steps)
    if optim.schedule == "onecycle":
        rise = max(1, int(optim.pct_start * total_steps))
        start = peak / 25
        if step < rise:
            return start + (peak - start) * (1 - math.cos(math.pi * step / rise)) / 2
        progress = min(1.0, (step - rise) / max(1, total_steps - rise))
        return floor + (peak - floor) * (1 + math.cos(math.pi * progress)) / 2
    if step < optim.warmup_steps:
        return peak * (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return peak
    progress = min(1.0, (step - optim.warmup_steps) / max(1, total_steps - optim.warmup_steps))
    return floor + (peak - floor) * (1 + math.cos(math.pi * progress)) / 2


# --------------------------------------------------------------------------------------------
# Loss, evaluation


def ctc_loss(model: torch.nn.Module, batch: Any, device: torch.device, amp: bool) -> torch.Tensor:
    """CTC loss of a batch, per target character (silence clips count as one character).

    Args:
        model: The acoustic model (or its DDP wrapper).
        batch: A :class:`speechrnn.data.Batch`.
        device: Where the model is.
        amp: Run the model under float16 autocast (CUDA).

    Returns:
        The scalar loss (possibly non-finite: the caller checks).
    """
    features = batch.features.to(device, non_blocking=True)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
        log_probs, output_lengths = model(features, batch.lengths)
    # (frames, batch, vocab) float32: CTC is numerically delicate in half precision.
    log_probs = log_probs.float().transpose(0, 1)
    losses = torch.nn.functional.ctc_loss(
        log_probs,
        batch.targets.to(device),
        output_lengths.to(device),
        batch.target_lengths.to(device),
        blank=0,
        reduction="none",
        zero_infinity=False,
    )
    return losses.sum() / batch.target_lengths.clamp(min=1).sum().to(device)


@dataclass(frozen=True)
class UtteranceResult:
    """How one utterance was recognized."""

    id: str
    audio: str
    reference: str  # normalized
    hypothesis: str  # greedy (or beam) transcript
    word_errors: ErrorCounts
    char_errors: ErrorCounts
    command: str | None = None  # command mode: accepted phrase, None when rejected
    best_phrase: str | None = None  # command mode: top phrase even when rejected
    command_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the recogs file line)."""
        values: dict[str, Any] = {
            "id": self.id, "audio": self.audio, "ref": self.reference, "hyp": self.hypothesis,
            "word_errors": self.word_errors.errors, "ref_words": self.word_errors.reference_length,
            "char_errors": self.char_errors.errors, "ref_chars": self.char_errors.reference_length,
        }  # fmt: skip
        if self.best_phrase is not None:
            values.update(command=self.command, best_phrase=self.best_phrase,
                          command_score=self.command_score)  # fmt: skip
        return values


@dataclass(frozen=True)
class EvaluationResult:
    """Corpus metrics and per-utterance results."""

    wer: float
    cer: float
    loss: float  # mean CTC loss per character (nan when not computed)
    utterances: list[UtteranceResult]


def _distributed() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def evaluate(
    model: AcousticModel,
    dataset: SpeechDataset,
    device: torch.device | str = "cpu",
    batch_seconds: float = 120.0,
    max_batch_size: int = 64,
    beam_size: int = 1,
    commands: CommandDecoder | None = None,
    num_workers: int = 0,
    progress: Callable[[int], None] | None = None,
    lm: WordLM | None = None,
    lm_weights: LMWeights | None = None,
) -> EvaluationResult:
    """Recognize every utterance of a dataset (no augmentation) and score it.

    In a distributed run each process takes a share of the utterances and the results are
    gathered, so every process returns the full result.

    Args:
        model: The model (unwrapped).
        dataset: A dataset without augmentation.
        device: Where the model is.
        batch_seconds: Padded audio seconds per batch.
        max_batch_size: Most utterances per batch.
        beam_size: 1 for greedy decoding, more for prefix beam search.
        commands: Also decode in command mode with this decoder.
        lm: Word language model for the beam search (None: acoustic model only).
        lm_weights: How to mix it in.
        num_workers: Data loader processes.
        progress: Called with the number of utterances done after each batch.

    Returns:
        WER, CER, loss and per-utterance results in dataset order.
    """
    from speechrnn.decoding import decode

    device = torch.device(device)
    rank, world_size = _distributed()
    was_training = model.training
    model.eval()
    mine = list(range(rank, len(dataset), world_size))
    durations = [dataset.utterances[i].duration for i in mine]
    plan = bucket_batches(durations, batch_seconds, max_batch_size, 0, 0, shuffle=False)
    batches = [[(0, mine[i]) for i in batch] for batch in plan]
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers)
    results: list[tuple[int, UtteranceResult]] = []
    loss_sum, characters = 0.0, 0
    for batch in loader:
        features = batch.features.to(device)
        log_probs, output_lengths = model(features, batch.lengths)
        log_probs = log_probs.float()
        losses = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), batch.targets.to(device), output_lengths.to(device),
            batch.target_lengths.to(device), blank=0, reduction="none", zero_infinity=True,
        )  # fmt: skip
        loss_sum += float(losses.sum())
        characters += int(batch.target_lengths.clamp(min=1).sum())
        log_probs = log_probs.cpu()
        for row, index in enumerate(batch.indices):
            utterance = dataset.utterances[index]
            frames = log_probs[row, : int(output_lengths[row])]
            hypothesis = (
                greedy_decode(frames)
                if beam_size == 1
                else decode(frames, beam_size, lm=lm, lm_weights=lm_weights)
            )
            reference = normalize_text(utterance.text)
            match: CommandMatch | None = commands.decode(frames) if commands is not None else None
            results.append(
                (
                    index,
                    UtteranceResult(
                        id=utterance.id, audio=utterance.audio, reference=reference,
                        hypothesis=hypothesis.text,
                        word_errors=word_errors(reference, hypothesis.text),
                        char_errors=char_errors(reference, hypothesis.text),
                        command=match.command if match else None,
                        best_phrase=match.best_phrase if match else None,
                        command_score=round(match.score, 4) if match else None,
                    ),
                )
            )  # fmt: skip
        if progress is not None:
            progress(len(batch.indices))
    if world_size > 1:
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, (results, loss_sum, characters))
        results = [item for part in gathered for item in part[0]]
        loss_sum = sum(part[1] for part in gathered)
        characters = sum(part[2] for part in gathered)
    results.sort(key=lambda item: item[0])
    utterances = [result for _, result in results]
    words = sum((u.word_errors for u in utterances), ErrorCounts())
    chars = sum((u.char_errors for u in utterances), ErrorCounts())
    model.train(was_training)
    return EvaluationResult(
        wer=words.rate, cer=chars.rate,
        loss=loss_sum / characters if characters else float("nan"), utterances=utterances,
    )  # fmt: skip


@dataclass(frozen=True)
class CommandSummary:
    """Command-recognition scores of an evaluation."""

    accuracy: float  # accepted phrase == reference; rejection correct for non-commands
    confusion: ConfusionMatrix  # labels: the commands + "_rejected_"
    extra: dict[str, float] = field(default_factory=dict)  # e.g. Speech Commands accuracies
    extra_confusions: dict[str, ConfusionMatrix] = field(default_factory=dict)


def summarize_commands(
    utterances: Sequence[UtteranceResult], commands: Sequence[str], speech_commands: bool = False
) -> CommandSummary:
    """Accuracy and confusion of command-mode results.

    An utterance whose reference is one of the commands is right when that command is accepted;
    any other utterance (another word, silence) is right when rejected.

    With ``speech_commands``, also the standard Speech Commands scores: ``accuracy_35`` (over the
    word clips, the top phrase among the 35 words, no rejection) and ``accuracy_12`` (all clips,
    10 words + silence + unknown: a prediction is silence when the greedy transcript is empty,
    else the top phrase mapped to the 12 classes), with their confusion matrices.

    Args:
        utterances: Results from :func:`evaluate` with a command decoder.
        commands: The command phrases.
        speech_commands: Add the Speech Commands scores.

    Returns:
        The summary.
    """
    normalized = {normalize_text(c): c for c in commands}
    labels = [*commands, REJECTED]
    confusion = ConfusionMatrix(labels)
    for result in utterances:
        truth = normalized.get(result.reference, REJECTED)
        predicted = result.command if result.command is not None else REJECTED
        confusion.add(truth, predicted)
    summary = CommandSummary(confusion.accuracy, confusion)
    if not speech_commands:
        return summary
    classes12 = [*(w for w in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop",
                              "go")), SILENCE, "_unknown_"]  # fmt: skip
    confusion12 = ConfusionMatrix(classes12)
    words35 = sorted({normalize_text(c) for c in commands})
    confusion35 = ConfusionMatrix([*words35, SILENCE])
    correct35 = total35 = 0
    for result in utterances:
        top = normalize_text(result.best_phrase or "")
        predicted = "" if not result.hypothesis else top
        confusion12.add(
            speech_commands_class12(result.reference), speech_commands_class12(predicted)
        )
        truth35 = result.reference if result.reference in words35 else SILENCE
        if result.reference and result.reference not in words35:
            continue  # a word outside the list: not part of the 35-word task
        confusion35.add(truth35, predicted if predicted in words35 else SILENCE)
        if result.reference:
            total35 += 1
            correct35 += top == result.reference
    extra = {
        "accuracy_35": correct35 / total35 if total35 else 0.0,
        "accuracy_12": confusion12.accuracy,
    }
    return replace(summary, extra=extra,
                   extra_confusions={"12-class": confusion12, "35-word": confusion35})  # fmt: skip


# --------------------------------------------------------------------------------------------
# The training loop


class ProgressBar(Protocol):
    """What the loop needs of a progress bar (tqdm fits)."""

    def update(self, n: int = 1) -> Any: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...
    def close(self) -> Any: ...


@dataclass
class TrainState:
    """Where a run is; stored in checkpoints."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of this epoch consumed (trained or skipped)
    best_wer: float = float("inf")
    best_cer: float = float("inf")
    best_step: int = -1
    skipped_batches: int = 0
    audio_seconds: float = 0.0  # training audio seen
    elapsed_seconds: float = 0.0  # wall time spent training, over all sessions


@dataclass(frozen=True)
class TrainResult:
    """How a call to :func:`train` ended."""

    state: TrainState
    run_dir: Path
    finished: bool  # reached the end of training (not stopped early)
    last_dev: EvaluationResult | None


def _unwrap(model: torch.nn.Module) -> AcousticModel:
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    assert isinstance(inner, AcousticModel)
    return inner


class _RunLog:
    """Messages to the caller's log function and to RUN_DIR/train.log."""

    def __init__(self, path: Path | None, sink: Callable[[str], None] | None) -> None:
        self.path = path
        self.sink = sink

    def __call__(self, message: str) -> None:
        if self.sink is not None:
            self.sink(message)
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")


class _MetricsFile:
    """The metrics CSV; on resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: Path | None, keep_through_step: int | None) -> None:
        self.path = path
        if path is None:
            return
        rows: list[dict[str, str]] = []
        if keep_through_step is not None and path.is_file():
            with open(path, newline="") as file:
                rows = [r for r in csv.DictReader(file) if int(r["step"]) <= keep_through_step]
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, _METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, **values: Any) -> None:
        if self.path is None:
            return
        row = {k: ("" if values.get(k) is None else values[k]) for k in _METRIC_COLUMNS}
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = f"{value:.6g}"
        with open(self.path, "a", newline="") as file:
            csv.DictWriter(file, _METRIC_COLUMNS).writerow(row)


def plot_curves(metrics_path: Path, output: Path) -> None:
    """Draw training / dev loss and dev WER / CER against the step, from the metrics CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_path, newline="") as file:
        rows = list(csv.DictReader(file))

    def series(column: str) -> tuple[list[int], list[float]]:
        points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
        return [p[0] for p in points], [p[1] for p in points]

    figure, (loss_axes, error_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for column, label in (("train_loss", "train"), ("dev_loss", "dev")):
        steps, values = series(column)
        if steps:
            loss_axes.plot(steps, values, label=label, marker="o" if column == "dev_loss" else None)
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("CTC loss per character")
    loss_axes.set_yscale("log")
    if loss_axes.get_lines():
        loss_axes.legend()
    loss_axes.grid(alpha=0.3)
    for column, label in (("dev_wer", "dev WER"), ("dev_cer", "dev CER")):
        steps, values = series(column)
        if steps:
            error_axes.plot(steps, values, label=label, marker="o")
    error_axes.set_xlabel("step")
    error_axes.set_ylabel("error rate")
    if error_axes.get_lines():
        error_axes.legend()
    error_axes.grid(alpha=0.3)
    # Fixed margins: tight_layout costs more than the rest of the drawing.
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.95, wspace=0.25)
    temporary = output.with_name(f".{output.name}.tmp.png")
    figure.savefig(temporary, dpi=90)
    plt.close(figure)
    temporary.replace(output)


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: decaying biases and norm gains only hurts."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim >= 2 and "norm" not in name else no_decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _feasible(
    utterances: Sequence[Utterance], model: AcousticModel, shortest_speed: float
) -> tuple[list[int], int]:
    """Indices of utterances with enough output frames for CTC to spell their transcripts.

    CTC needs one frame per character plus a blank between repeated characters; an utterance
    without them has an infinite loss.
    """
    config = model.feature_config
    samples = [int(u.duration / shortest_speed * config.sample_rate) for u in utterances]
    frames = torch.tensor([config.num_frames(s) for s in samples], dtype=torch.int64)
    outputs = model.output_lengths(frames).tolist()
    keep = []
    for index, (utterance, available) in enumerate(zip(utterances, outputs, strict=True)):
        text = normalize_text(utterance.text)
        needed = len(text) + sum(a == b for a, b in itertools.pairwise(text))
        if available >= max(1, needed):
            keep.append(index)
    return keep, len(utterances) - len(keep)


@dataclass
class _Data:
    train: SpeechDataset
    dev: SpeechDataset
    samples: list[int]  # training utterances whose greedy output is logged


def _load_split_manifests(paths: dict[str, Path]) -> list[Utterance]:
    utterances: list[Utterance] = []
    for path in paths.values():
        utterances.extend(read_manifest(path))
    return utterances


def _prepare_data(
    config: TrainConfig,
    model: AcousticModel,
    run_dir: Path,
    log: Callable[[str], None],
    rank: int,
    world_size: int,
    progress_factory: Callable[..., ProgressBar] | None,
) -> _Data:
    data = config.data
    if not data.root:
        raise ConfigError("no data root: pass --data-root DIR (or set data.root)")
    root = Path(data.root).expanduser()
    splits = [*data.train, data.dev]
    # Rank 0 prepares (and downloads) first; the others then find the .completed markers.
    if rank == 0:
        recipe = prepare_recipe(
            data.recipe, root, splits, data.download, data.silence_fraction, log
        )
    if world_size > 1:
        dist.barrier()
    if rank != 0:
        recipe = prepare_recipe(data.recipe, root, splits, False, data.silence_fraction)
    train_utterances = _load_split_manifests({s: recipe.manifests[s] for s in data.train})
    dev_utterances = read_manifest(recipe.manifests[data.dev])

    augment = config.augment
    speeds = augment.speed_factors if augment.speed_prob > 0 else (1.0,)
    shortest_speed = max(max(speeds), 1.0)
    kept = [u for u in train_utterances if data.min_duration <= u.duration <= data.max_duration]
    if len(kept) < len(train_utterances):
        log(f"dropped {len(train_utterances) - len(kept)} training utterances outside "
            f"[{data.min_duration}, {data.max_duration}] s")  # fmt: skip
    feasible, dropped = _feasible(kept, model, shortest_speed)
    if dropped:
        log(f"dropped {dropped} training utterances too short for their transcripts")
    train_utterances = [kept[i] for i in feasible]
    if not train_utterances:
        raise DataError("no usable training utterances left after filtering")
    hours = sum(u.duration for u in train_utterances) / 3600
    log(f"training on {len(train_utterances)} utterances ({hours:.2f} h), "
        f"dev {len(dev_utterances)} utterances")  # fmt: skip

    noise: list[AudioSegment] = []
    if recipe.noise is not None:
        noise.extend(manifest_segments(recipe.noise))
    try:
        noise.extend(noise_segments_from_paths(augment.noise_files, manifest_segments))
    except FileNotFoundError as problem:
        raise DataError(str(problem)) from None
    use_augment = augment.enabled and (data.copies > 1 or not data.clean_copy or not data.cache)
    augment_or_none = augment if use_augment else None

    train_cache = dev_cache = None
    if data.cache:
        cache_root = Path(data.cache_dir).expanduser() if data.cache_dir else run_dir / "cache"
        for name, utterances, spec in (
            ("train", train_utterances,
             CacheSpec(config.features, augment_or_none, data.copies, data.clean_copy,
                       config.train.seed, tuple(noise))),
            ("dev", dev_utterances, CacheSpec(config.features, None, 1, True, config.train.seed)),
        ):  # fmt: skip
            bar: ProgressBar | None = None

            def report(done: int, total: int, name: str = name) -> None:
                nonlocal bar
                if progress_factory is not None and rank == 0:
                    if bar is None:
                        bar = progress_factory(total=total, desc=f"caching {name} features",
                                               unit="shard")  # fmt: skip
                    bar.update(1)

            started = time.perf_counter()
            cache = FeatureCache.build(
                cache_root, utterances, spec, data.num_workers, rank, world_size, report
            )
            if bar is not None:
                bar.close()
                log(f"cached {name} features ({spec.copies} per utterance) in "
                    f"{time.perf_counter() - started:.0f} s: {cache.directory}")  # fmt: skip
            if name == "train":
                train_cache = cache
            else:
                dev_cache = cache
    augmenter = None
    if not data.cache and augment_or_none is not None:
        babble = [u.segment for u in train_utterances if u.text]
        augmenter = WaveformAugmenter(augment, noise, babble)
    train_dataset = SpeechDataset(
        train_utterances, config.features, train_cache, augmenter, config.spec_augment,
        config.train.seed,
    )  # fmt: skip
    dev_dataset = SpeechDataset(dev_utterances, config.features, dev_cache)
    with_text = [i for i, u in enumerate(train_utterances) if u.text]
    count = min(config.train.sample_utterances, len(with_text))
    samples = [with_text[(k * len(with_text)) // max(1, count)] for k in range(count)]
    return _Data(train_dataset, dev_dataset, samples)


def _normalization(dataset: SpeechDataset, limit: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Global feature mean / std: from the cache's totals, or from up to ``limit`` utterances."""
    if dataset.cache is not None:
        return dataset.cache.statistics()
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(dataset))[:limit].tolist()
    frames = torch.cat([dataset.raw_features(i) for i in chosen]).double()
    if len(frames) == 0:
        raise DataError("no feature frames in the training data (all audio too short?)")
    return frames.mean(0).float(), frames.std(0, unbiased=False).float()


@dataclass
class _Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    created_group: bool = False  # this call joined the group, so it leaves it too

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> _Distributed:
    """Join the process group torchrun describes in the environment (if any)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    created = not dist.is_initialized()
    if created:
        backend = "nccl" if device_name == "cuda" else "gloo"
        if device_name == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return _Distributed(rank, local_rank, world_size, created)


def _checkpoint_extra(
    config: TrainConfig, state: TrainState, optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> dict[str, Any]:  # fmt: skip
    training = {
        "config": config_to_dict(config),
        **asdict(state),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "rng": {"torch": torch.get_rng_state()},
    }
    return {"training": training}


def _total_steps(config: TrainConfig, sampler: BucketBatchSampler) -> int:
    if config.train.max_steps > 0:
        return config.train.max_steps
    # Epochs differ slightly in batch count (length jitter); epoch 1 is typical.
    per_epoch = len(sampler.batches(1 if config.train.epochs > 1 else 0))
    return config.train.epochs * per_epoch


def _initialize_from(model: AcousticModel, config: TrainConfig, path: str) -> None:
    """Load a checkpoint's (or a bundled model's, by name) weights into a fresh model whose
    configs must match it.

    Dropout may differ: it has no weights, and the run's own value is the one trained with.

    Raises:
        ConfigError: Unreadable checkpoint, or one whose model/feature config differs.
    """
    try:
        source = load_acoustic_model(resolve_model_path(path))
    except CheckpointError as problem:
        raise ConfigError(f"train.init: cannot start from {path} ({problem})") from None
    source_config = replace(source.config, dropout=config.model.dropout)
    if source_config != config.model or source.feature_config != config.features:
        raise ConfigError(
            f"train.init: {path} holds a model with another [model] or [features] config; "
            "copy those sections from its run's config.toml"
        )
    model.load_state_dict(source.state_dict())


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
    progress_factory: Callable[..., ProgressBar] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train (or resume training) a model; see the module docstring for what happens.

    Files in ``run_dir`` (rank 0 only): ``config.toml`` (resolved), ``train.log``,
    ``metrics.csv``, ``curves.png``, ``last.pt`` (every ``checkpoint_every`` steps, each epoch,
    at the end, and when stopped), ``best.pt`` (lowest dev WER), ``dev_recogs.jsonl`` (the best
    evaluation's per-utterance results) and ``cache/`` (unless ``data.cache_dir`` is set).

    Args:
        config: The resolved configuration.
        run_dir: Folder for the run's files.
        resume: Continue from ``run_dir/last.pt`` when it exists (else start afresh).
        log: Receives progress messages.
        progress_factory: Makes progress bars (called like ``tqdm(total=..., desc=...)``).
        should_stop: Polled after each step; True saves ``last.pt`` and returns early.
        on_step: Called with the state after each optimizer step (do not modify it).

    Returns:
        The final state.

    Raises:
        ConfigError: Bad configuration, or a config that differs from the resumed run's.
        DataError: Missing or unusable data.
    """
    run_dir = Path(run_dir)
    context = _setup_distributed(config.train.device)
    main = context.main
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    say = _RunLog(run_dir / LOG_FILE if main else None, log if main else None)
    last_path, best_path = run_dir / LAST_CHECKPOINT, run_dir / BEST_CHECKPOINT

    payload: dict[str, Any] | None = None
    if last_path.is_file():
        if not resume:
            raise ConfigError(f"{run_dir} already holds a run (last.pt); pass --resume to "
                              "continue it, or choose another --run-dir")  # fmt: skip
        try:
            payload = read_checkpoint(last_path)
            stored = config_from_dict(payload["training"]["config"])
        except (KeyError, TypeError, ValueError) as problem:
            raise ConfigError(f"{last_path}: cannot resume from it ({problem})") from None
        changed = [k for k in config_differences(stored, config) if k not in RESUMABLE_CHANGES]
        if changed:
            raise ConfigError(
                f"the config differs from the run being resumed in {', '.join(changed)}; "
                f"use the run's own {run_dir / CONFIG_FILE} or another --run-dir"
            )
    elif resume:
        say(f"no checkpoint in {run_dir}: starting a new run")

    if config.train.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but CUDA is not available; use --device cpu")
    if config.train.threads > 0:
        torch.set_num_threads(config.train.threads)
    device = (
        torch.device("cuda", context.local_rank) if config.train.device == "cuda"
        else torch.device("cpu")
    )  # fmt: skip
    use_amp = config.train.amp and device.type == "cuda"
    seed = config.train.seed
    torch.manual_seed(seed)
    if main:
        (run_dir / CONFIG_FILE).write_text(config_to_toml(config), encoding="utf-8")

    model = AcousticModel(config.model, config.features)
    if payload is None and config.train.init:
        # Before the data: a wrong file should fail now, not after minutes of feature caching.
        _initialize_from(model, config, config.train.init)
    data = _prepare_data(
        config, model, run_dir, say, context.rank, context.world_size, progress_factory
    )
    state = TrainState()
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        training = payload["training"]
        state = TrainState(**{f.name: training[f.name] for f in fields(TrainState)})
        torch.set_rng_state(training["rng"]["torch"])
        say(f"resuming from {last_path} at step {state.step} (epoch {state.epoch}, "
            f"batch {state.batch_in_epoch})")  # fmt: skip
    elif config.train.init:
        say(f"model: {model.num_parameters():,} parameters; weights and feature normalization "
            f"from {config.train.init}")  # fmt: skip
    else:
        mean, std = _normalization(data.train)
        model.set_normalization(mean, std)
        say(f"model: {model.num_parameters():,} parameters; feature normalization set from "
            "the training data")  # fmt: skip
    data.train.fill = model.feature_mean.detach().clone()

    model.to(device)
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config.optim.weight_decay), lr=config.optim.lr,
        betas=config.optim.betas, eps=config.optim.eps,
    )  # fmt: skip
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    if payload is not None:
        optimizer.load_state_dict(payload["training"]["optimizer"])
        if use_amp and payload["training"]["scaler"]:
            scaler.load_state_dict(payload["training"]["scaler"])
    network: torch.nn.Module = model
    if context.world_size > 1:
        network = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    sampler = BucketBatchSampler(
        [u.duration for u in data.train.utterances], config.data.batch_seconds,
        config.data.max_batch_size, seed, shuffle=True, sortagrad=config.data.sortagrad,
        rank=context.rank, world_size=context.world_size,
    )  # fmt: skip
    if not sampler.batches(state.epoch):
        raise DataError(f"too little training data for {context.world_size} processes")
    loader = DataLoader(
        data.train, batch_sampler=sampler, collate_fn=collate,
        num_workers=config.data.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False,
    )  # fmt: skip
    total_steps = _total_steps(config, sampler)
    metrics = _MetricsFile(run_dir / METRICS_FILE if main else None,
                           state.step if payload is not None else None)  # fmt: skip
    last_dev: EvaluationResult | None = None
    last_eval_step = -1
    last_plot = -math.inf
    frame_seconds = config.features.frame_seconds

    def save(path: Path) -> None:
        if main:
            save_model(model, path, extra=_checkpoint_extra(config, state, optimizer, scaler))

    def run_dev_evaluation() -> EvaluationResult:
        nonlocal last_dev, last_eval_step
        last_eval_step = state.step
        result = evaluate(model, data.dev, device, config.data.batch_seconds,
                          config.data.max_batch_size)  # fmt: skip
        last_dev = result
        # Ties on WER (common early on, when everything is wrong) go to the lower CER.
        improved = (result.wer, result.cer) < (state.best_wer, state.best_cer)
        if improved:
            state.best_wer, state.best_cer = result.wer, result.cer
            state.best_step = state.step
        say(f"step {state.step}: dev WER {result.wer:.4f} CER {result.cer:.4f} loss "
            f"{result.loss:.4f}" + (" (best)" if improved else f" (best {state.best_wer:.4f} at "
                                    f"step {state.best_step})"))  # fmt: skip
        metrics.append(step=state.step, epoch=state.epoch, dev_loss=result.loss,
                       dev_wer=result.wer, dev_cer=result.cer,
                       skipped_batches=state.skipped_batches,
                       elapsed_seconds=round(state.elapsed_seconds, 1))  # fmt: skip
        if improved and main:
            save(best_path)
            import json

            lines = [json.dumps(u.to_dict(), ensure_ascii=False) for u in result.utterances]
            (run_dir / "dev_recogs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        nonlocal last_plot
        # Drawing takes ~0.3 s: at most once a minute, and always when the run ends.
        if main and time.monotonic() - last_plot > PLOT_INTERVAL_SECONDS:
            plot_curves(run_dir / METRICS_FILE, run_dir / CURVES_FILE)
            last_plot = time.monotonic()
        return result

    def log_samples() -> None:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for index in data.samples:
                features = data.train.raw_features(index).unsqueeze(0).to(device)
                log_probs, lengths = model(features, torch.tensor([features.shape[1]]))
                text = greedy_decode(log_probs[0, : int(lengths[0])].float().cpu()).text
                reference = normalize_text(data.train.utterances[index].text)
                say(
                    f"  sample {data.train.utterances[index].id}: ref {reference!r} -> hyp {text!r}"
                )
        model.train(was_training)

    finished = True
    bar = None
    if progress_factory is not None and main:
        bar = progress_factory(total=total_steps, initial=state.step, desc="training", unit="step")
    window_loss, window_norm, window_batches, window_audio = 0.0, 0.0, 0, 0.0
    window_start = time.perf_counter()
    session_start = time.perf_counter()
    elapsed_at_start = state.elapsed_seconds
    model.train()
    stop = False

    def done_training() -> bool:
        if config.train.max_steps > 0:
            return state.step >= config.train.max_steps
        return state.epoch >= config.train.epochs

    while not done_training() and not stop:
        sampler.set_epoch(state.epoch, state.batch_in_epoch)
        for batch in loader:
            torch.manual_seed(derive_seed(seed, "step", state.step))
            lr = learning_rate(state.step, total_steps, config.optim)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = ctc_loss(network, batch, device, use_amp)
            finite = torch.isfinite(loss.detach()).to(torch.float32)
            if context.world_size > 1:
                dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            state.batch_in_epoch += 1
            skip_reason = "" if bool(finite) else f"non-finite loss ({float(loss.detach()):.4g})"
            grad_norm = float("nan")
            if not skip_reason:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                parameters = [p for p in model.parameters() if p.grad is not None]
                norm = torch.nn.utils.clip_grad_norm_(
                    parameters,
                    config.optim.grad_clip if config.optim.grad_clip > 0 else float("inf"),
                )
                grad_norm = float(norm)
                if not math.isfinite(grad_norm) and not use_amp:
                    # With AMP the scaler skips such steps itself and lowers its scale.
                    skip_reason = f"non-finite gradient norm ({grad_norm})"
            if skip_reason:
                state.skipped_batches += 1
                optimizer.zero_grad(set_to_none=True)
                ids = ", ".join(data.train.utterances[i].id for i in batch.indices[:5])
                say(f"step {state.step}: {skip_reason}; batch skipped ({ids}"
                    f"{', ...' if len(batch.indices) > 5 else ''})")  # fmt: skip
            else:
                scaler.step(optimizer)
                scaler.update()
                state.step += 1
                seconds = float(batch.lengths.sum()) * frame_seconds * context.world_size
                state.audio_seconds += seconds
                window_audio += seconds
                window_loss += float(loss.detach())
                window_norm += grad_norm if math.isfinite(grad_norm) else 0.0
                window_batches += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(
                        f"loss {float(loss.detach()):.3f} lr {lr:.2e}", refresh=False
                    )
            state.elapsed_seconds = elapsed_at_start + time.perf_counter() - session_start
            stepped = not skip_reason
            if stepped and state.step % config.train.log_every == 0 and window_batches:
                now = time.perf_counter()
                speed = window_audio / max(now - window_start, 1e-9)
                mean_loss = window_loss / window_batches
                say(f"step {state.step}/{total_steps} epoch {state.epoch} loss {mean_loss:.4f} "
                    f"lr {lr:.2e} grad {window_norm / window_batches:.2f} "
                    f"{speed:.1f} audio s/s")  # fmt: skip
                metrics.append(step=state.step, epoch=state.epoch, lr=lr, train_loss=mean_loss,
                               grad_norm=window_norm / window_batches,
                               audio_seconds_per_second=speed,
                               skipped_batches=state.skipped_batches,
                               elapsed_seconds=round(state.elapsed_seconds, 1))  # fmt: skip
                window_loss, window_norm, window_batches, window_audio = 0.0, 0.0, 0, 0.0
                window_start = now
            if (
                main
                and stepped
                and config.train.sample_every
                and state.step % config.train.sample_every == 0
            ):
                log_samples()
            if stepped and config.train.eval_every and state.step % config.train.eval_every == 0:
                run_dev_evaluation()
            if stepped and state.step % config.train.checkpoint_every == 0:
                save(last_path)
            if stepped and on_step is not None:
                on_step(state)
            if done_training():
                break
            if should_stop is not None and should_stop():
                stop, finished = True, False
                break
        else:
            # The epoch ran to its end.
            state.epoch += 1
            state.batch_in_epoch = 0
            if not config.train.eval_every:
                run_dev_evaluation()
            save(last_path)
    if bar is not None:
        bar.close()
    if finished and last_eval_step != state.step:
        run_dev_evaluation()
    save(last_path)
    if main and (run_dir / METRICS_FILE).is_file():
        plot_curves(run_dir / METRICS_FILE, run_dir / CURVES_FILE)
    if not finished:
        say(f"stopped at step {state.step}; continue with --resume")
    if context.created_group:
        dist.destroy_process_group()
    return TrainResult(state, run_dir, finished, last_dev)
