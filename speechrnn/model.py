"""The acoustic model: conv subsampling + bidirectional recurrent layers + linear -> CTC log-probs.

Padding never changes an output: padded frames are zeroed after normalization and after every
convolution (so a padded sequence sees the same zeros a lone sequence gets from the conv padding),
and the recurrent layers run on packed sequences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.tokenizer import VOCAB_SIZE

RNN_TYPES = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the acoustic model. Stored in every checkpoint."""

    rnn_type: Literal["gru", "lstm", "rnn"] = "gru"  # recurrent cell; "rnn" is an Elman tanh RNN
    hidden_size: int = 192  # per direction
    num_layers: int = 3
    conv_channels: int = 192
    conv_kernel_size: int = 5
    conv_strides: tuple[int, ...] = (2, 2)  # one conv layer per entry; time stride = product
    dropout: float = 0.1
    layer_norm: bool = True  # LayerNorm between recurrent layers: steadier CTC training
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self) -> None:
        if self.rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}, got {self.rnn_type!r}")
        if self.num_layers < 1 or self.hidden_size < 1:
            raise ValueError("num_layers and hidden_size must be positive")
        if not self.conv_strides or any(s < 1 for s in self.conv_strides):
            raise ValueError(f"conv_strides must be positive integers, got {self.conv_strides}")
        if self.conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd, got {self.conv_kernel_size}")
        # Accept lists (from TOML or a checkpoint) but store a hashable tuple.
        object.__setattr__(self, "conv_strides", tuple(int(s) for s in self.conv_strides))

    @property
    def time_stride(self) -> int:
        """Input frames per output frame."""
        stride = 1
        for s in self.conv_strides:
            stride *= s
        return stride

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a plain dict, rejecting unknown keys."""
        return _dataclass_from_dict(cls, values)


def _dataclass_from_dict(cls: Any, values: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys: {sorted(known)}")
    return cls(**values)


def feature_config_from_dict(values: dict[str, Any]) -> FeatureConfig:
    """Build a FeatureConfig from a plain dict, rejecting unknown keys."""
    result: FeatureConfig = _dataclass_from_dict(FeatureConfig, values)
    return result


def config_to_dict(config: ModelConfig | FeatureConfig) -> dict[str, Any]:
    """A plain dict of builtins (lists, not tuples), safe for ``torch.load(weights_only=True)``."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def _mask(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero every frame at or beyond its sequence's length. values: (batch, frames, ...)."""
    positions = torch.arange(values.shape[1], device=values.device)
    keep = positions[None, :] < lengths[:, None]  # (batch, frames)
    return values * keep.unsqueeze(-1).to(values.dtype)


class AcousticModel(nn.Module):
    """Features -> CTC log-probabilities over the character vocabulary.

    The model owns its feature extractor and a global feature normalization (mean/std buffers set
    from training data), so a checkpoint alone turns a waveform into log-probs.
    """

    def __init__(self, config: ModelConfig, feature_config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config
        self.feature_config = feature_config or FeatureConfig()
        self.feature_extractor = FeatureExtractor(self.feature_config)
        num_features = self.feature_config.num_features
        self.feature_mean: torch.Tensor
        self.feature_std: torch.Tensor
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))

        convs: list[nn.Module] = []
        channels = num_features
        for stride in config.conv_strides:
            convs.append(
                nn.Conv1d(
                    channels,
                    config.conv_channels,
                    config.conv_kernel_size,
                    stride=stride,
                    padding=config.conv_kernel_size // 2,
                )
            )
            channels = config.conv_channels
        self.convs = nn.ModuleList(convs)
        self.conv_norm = nn.LayerNorm(config.conv_channels)

        rnn_class = RNN_TYPES[config.rnn_type]
        self.rnns = nn.ModuleList(
            rnn_class(
                config.conv_channels if i == 0 else 2 * config.hidden_size,
                config.hidden_size,
                batch_first=True,
                bidirectional=True,
            )
            for i in range(config.num_layers)
        )
        self.rnn_norms = nn.ModuleList(
            nn.LayerNorm(2 * config.hidden_size) if config.layer_norm else nn.Identity()
            for _ in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, config.vocab_size)

    @property
    def time_stride(self) -> int:
        """Feature frames per output frame."""
        return self.config.time_stride

    @property
    def output_frame_seconds(self) -> float:
        """Seconds between consecutive output (log-prob) frames."""
        return self.feature_config.frame_seconds * self.time_stride

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for inputs of ``lengths`` feature frames.

        Args:
            lengths: (batch,) int64 feature frame counts.

        Returns:
            (batch,) int64 output frame counts, read off the conv layers' own parameters.
        """
        for conv in self.convs:
            lengths = self.output_lengths_single(conv, lengths)
        return lengths

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the global feature normalization.

        Args:
            mean: (num_features,) feature means over training data.
            std: (num_features,) feature standard deviations; clamped away from zero.
        """
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp(min=1e-3))

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw (unnormalized) features of one waveform.

        Args:
            waveform: (samples,) float32 at the feature config's sample rate.

        Returns:
            (frames, num_features).
        """
        features: torch.Tensor = self.feature_extractor(waveform)
        return features

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute CTC log-probabilities.

        Args:
            features: (batch, frames, num_features) raw features (normalized here).
            lengths: (batch,) int64 valid frames per sequence.

        Returns:
            log_probs: (batch, out_frames, vocab_size) log-softmax outputs; frames past a
                sequence's output length are padding.
            output_lengths: (batch,) int64.
        """
        lengths = lengths.to(torch.int64).cpu()
        x = (features - self.feature_mean) / self.feature_std
        x = _mask(x, lengths.to(x.device))
        x = x.transpose(1, 2)  # (batch, num_features, frames)
        for conv in self.convs:
            x = torch.nn.functional.gelu(conv(x))
            lengths = self.output_lengths_single(conv, lengths)
            x = _mask(x.transpose(1, 2), lengths.to(x.device)).transpose(1, 2)
        x = self.conv_norm(x.transpose(1, 2))  # (batch, out_frames, conv_channels)
        out_frames = x.shape[1]
        # pack_padded_sequence rejects zero lengths; such sequences get all-padding output.
        safe_lengths = lengths.clamp(min=1)
        # Packing only matters when there is padding (the backward direction must start at each
        # sequence's own end). Without it (one utterance, as in inference) the plain GRU computes
        # the same and skips packing's sort and copies: 4% of the model time of short real clips
        # by the median of an interleaved A/B (15% by the fastest round).
        padded = bool((lengths != out_frames).any())
        for rnn, norm in zip(self.rnns, self.rnn_norms, strict=True):
            if padded:
                packed = pack_padded_sequence(
                    x, safe_lengths, batch_first=True, enforce_sorted=False
                )
                output, _ = rnn(packed)
                x, _ = pad_packed_sequence(output, batch_first=True, total_length=out_frames)
            else:
                x, _ = rnn(x)
            x = self.dropout(norm(x))  # (batch, out_frames, 2 * hidden_size)
        log_probs = torch.log_softmax(self.head(x), dim=-1)
        return log_probs, lengths

    @staticmethod
    def output_lengths_single(conv: nn.Module, lengths: torch.Tensor) -> torch.Tensor:
        """Output lengths of one conv layer (see :meth:`output_lengths`)."""
        assert isinstance(conv, nn.Conv1d)
        padding, kernel, stride = conv.padding[0], conv.kernel_size[0], conv.stride[0]
        assert isinstance(padding, int)
        lengths = torch.div(lengths + 2 * padding - kernel, stride, rounding_mode="floor") + 1
        return lengths.clamp(min=0)

    @torch.no_grad()
    def log_probs(self, waveform: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of one waveform (inference convenience).

        Args:
            waveform: (samples,) float32 at the feature config's sample rate.

        Returns:
            (out_frames, vocab_size); zero frames for audio shorter than one analysis window.
        """
        features = self.features(waveform)
        if features.shape[0] == 0:
            return torch.zeros(0, self.config.vocab_size)
        lengths = torch.tensor([features.shape[0]])
        log_probs, output_lengths = self(features.unsqueeze(0), lengths)
        return log_probs[0, : int(output_lengths[0])]

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
