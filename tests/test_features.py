"""Tests for speechrnn.features: shapes, MFCC, and chunked == whole-clip frames."""

import pytest
import torch

from speechrnn.features import FeatureConfig, FeatureExtractor, FeatureStream


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


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
@pytest.mark.parametrize("chunk", [1, 160, 333, 4000])
def test_chunked_equals_whole(kind: str, chunk: int) -> None:
    extractor = FeatureExtractor(FeatureConfig(kind=kind))  # type: ignore[arg-type]
    signal = torch.randn(12345, generator=torch.Generator().manual_seed(0)) * 0.1
    whole = extractor(signal)
    stream = FeatureStream(extractor)
    chunks = [stream.process(signal[i : i + chunk]) for i in range(0, len(signal), chunk)]
    streamed = torch.cat(chunks)
    assert streamed.shape == whole.shape
    assert torch.allclose(streamed, whole, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "bad",
    [{"kind": "spectrogram"}, {"win_length": 1024, "n_fft": 512}, {"kind": "mfcc", "n_mfcc": 100}],
)
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        FeatureConfig(**bad)
