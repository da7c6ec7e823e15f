"""Tests for speechrnn.checkpoint: round trips, safe loading, bundled-model registry."""

import json
from pathlib import Path

import pytest
import torch

from speechrnn import checkpoint
from speechrnn.checkpoint import (
    CheckpointError,
    load_acoustic_model,
    read_checkpoint,
    resolve_model_path,
    save_model,
    sha256_of,
)
from speechrnn.features import FeatureConfig
from speechrnn.model import AcousticModel, ModelConfig


def _model(rnn_type: str = "gru") -> AcousticModel:
    torch.manual_seed(0)
    model = AcousticModel(
        ModelConfig(rnn_type=rnn_type, hidden_size=24, num_layers=2, conv_channels=16),  # type: ignore[arg-type]
        FeatureConfig(kind="mfcc", n_mfcc=20, n_mels=40),
    )
    model.set_normalization(torch.rand(20), torch.rand(20) + 0.5)
    return model.eval()


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "rnn"])
def test_save_load_gives_identical_outputs(tmp_path: Path, rnn_type: str) -> None:
    model = _model(rnn_type)
    path = tmp_path / "model.pt"
    save_model(model, path, extra={"step": 12})
    loaded = load_acoustic_model(path)
    assert loaded.config == model.config and loaded.feature_config == model.feature_config
    waveform = torch.randn(8000)
    assert torch.equal(model.log_probs(waveform), loaded.log_probs(waveform))
    assert read_checkpoint(path)["step"] == 12
    # The file is plain data: it loads with weights_only=True and nothing else.
    assert torch.load(path, weights_only=True)["model_config"]["rnn_type"] == rnn_type
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_half_precision_is_smaller_and_close(tmp_path: Path) -> None:
    model = _model()
    save_model(model, tmp_path / "full.pt")
    save_model(model, tmp_path / "half.pt", half_precision=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.7 * (tmp_path / "full.pt").stat().st_size
    waveform = torch.randn(8000)
    half = load_acoustic_model(tmp_path / "half.pt")
    assert torch.allclose(model.log_probs(waveform), half.log_probs(waveform), atol=0.05)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"not a readable checkpoint \(not a PyTorch file\)"):
        read_checkpoint(tmp_path / "junk.pt")
    # A torch file cut short is a zip archive torch cannot read: torch's own reason is kept.
    torch.save({"weights": torch.zeros(1000)}, tmp_path / "whole.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as caught:
        read_checkpoint(tmp_path / "cut.pt")
    assert "damaged or incomplete PyTorch file" in str(caught.value)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_mismatched_state_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_model(_model(), path)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["hidden_size"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_acoustic_model(path)


def test_registry_checks_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(_model(), tmp_path / "tiny.pt")
    registry = {"tiny": {"file": "tiny.pt", "sha256": sha256_of(tmp_path / "tiny.pt")}}
    (tmp_path / "models.json").write_text(json.dumps(registry))
    monkeypatch.setattr(checkpoint, "ASSETS", tmp_path)
    monkeypatch.setattr(checkpoint, "_REGISTRY", tmp_path / "models.json")
    assert checkpoint.available_models() == ["tiny"]
    assert resolve_model_path("tiny") == tmp_path / "tiny.pt"
    with pytest.raises(
        CheckpointError, match="not a checkpoint file nor a bundled model \\(tiny\\)"
    ):
        resolve_model_path("huge")
    (tmp_path / "tiny.pt").write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="sha256"):
        resolve_model_path("tiny")
