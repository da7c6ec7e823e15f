"""Tests for speechrnn.features: shapes, MFCC, and chunked == whole-clip frames."""

import pytest
import torch

from speechrnn.features import FeatureConfig, FeatureExtractor


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_shapes(kind: str) -> None:
    config = FeatureConfig(kind=kind)  # type: ignore[arg-type]
    extractor = FeatureExtractor(config)
    features = extractor(torch.randn(16000))
    assert features.shape == (config.num_frames(16000), config.num_features)
    assert features.shape[0] == 97  # 1 + (16000 - 512) // 160
    assert torch.isfinite(features).all()
    batch = extractor(torch.randn(3, 8000))
    assert batch.shape == (3, config.num_frames(8000), config.num_features)


def test_too_short_gives_zero_frames() -> None:
    extractor = FeatureExtractor(FeatureConfig())
    assert extractor(torch.zeros(511)).shape == (0, 80)
    assert extractor(torch.zeros(512)).shape == (1, 80)


def test_digital_silence_is_finite() -> None:
    features = FeatureExtractor(FeatureConfig())(torch.zeros(4000))
    assert torch.isfinite(features).all()


@pytest.mark.parametrize(
    "bad",
    [{"kind": "spectrogram"}, {"win_length": 1024, "n_fft": 512}, {"kind": "mfcc", "n_mfcc": 100}],
)
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        FeatureConfig(**bad)
