"""Acoustic features: log-mel (default) or MFCC.

Frames are not centred (no padding at the clip edges), so frame ``t`` always covers samples
``[t * hop_length, t * hop_length + n_fft)`` (the ``win_length`` window sits in the middle): a
clip's frames do not depend on what came before or after it. Normalization is a global
mean/variance (CMVN) stored in the model, not per utterance, so a clip's features do not depend
on how much of it is speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torchaudio.transforms
from torch import nn

from speechrnn.audio import SAMPLE_RATE

LOG_FLOOR = 1e-5  # keeps log() finite; ~ the mel power of noise at -80 dBFS, so digital silence
# and a quiet room look alike to the model


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes feature frames. Stored in every checkpoint."""

    kind: Literal["logmel", "mfcc"] = "logmel"
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512  # FFT size; >= win_length
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms at 16 kHz: 100 frames per second
    n_mels: int = 80
    n_mfcc: int = 40  # only for kind="mfcc"
    f_min: float = 20.0
    f_max: float = 7600.0  # below Nyquist; also what an 8 kHz -> 16 kHz round trip leaves intact

    def __post_init__(self) -> None:
        if self.kind not in ("logmel", "mfcc"):
            raise ValueError(f"feature kind must be 'logmel' or 'mfcc', got {self.kind!r}")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) must be <= n_mels ({self.n_mels})")

    @property
    def num_features(self) -> int:
        """Values per frame."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def frame_seconds(self) -> float:
        """Seconds between consecutive frames."""
        return self.hop_length / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames produced from ``num_samples`` samples (0 when shorter than one FFT frame)."""
        if num_samples < self.n_fft:
            return 0
        return 1 + (num_samples - self.n_fft) // self.hop_length


class FeatureExtractor(nn.Module):
    """Waveform -> (frames, features) log-mel or MFCC, without padding at the clip edges."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            win_length=config.win_length,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            center=False,
            power=2.0,
        )
        # The DCT that turns log-mel into MFCC, as torchaudio.transforms.MFCC builds it.
        self.dct: torch.Tensor
        dct = torchaudio.functional.create_dct(config.n_mfcc, config.n_mels, norm="ortho")
        self.register_buffer("dct", dct, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Compute features.

        Args:
            waveform: (samples,) or (batch, samples) float32 at ``config.sample_rate``.

        Returns:
            (frames, num_features) or (batch, frames, num_features) float32;
            frames = config.num_frames(samples).
        """
        frames = self.config.num_frames(waveform.shape[-1])
        if frames == 0:
            return waveform.new_zeros((*waveform.shape[:-1], 0, self.config.num_features))
        # (..., n_mels, frames) -> (..., frames, n_mels)
        log_mel = torch.log(self.mel(waveform) + LOG_FLOOR).transpose(-1, -2)
        if self.config.kind == "mfcc":
            return log_mel @ self.dct
        return log_mel
