"""benchmarks/ensemble.py with tiny untrained models: the averaging, the warps, the patching of
Recognizer.log_probs around a benchmark script, and its errors. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import ensemble
import pytest
import torch
from ensemble import (
    EnsembleError,
    average_probabilities,
    ensemble_log_probs,
    parse_warps,
)

from speechrnn.checkpoint import save_model
from speechrnn.features import FeatureConfig
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.transcribe import Recognizer

TINY = ModelConfig(hidden_size=16, num_layers=1, conv_channels=16, dropout=0.0)


def _model(seed: int, **features: object) -> AcousticModel:
    torch.manual_seed(seed)
    feature_config = FeatureConfig(**features) if features else None  # type: ignore[arg-type]
    return AcousticModel(TINY, feature_config).eval()


def _waveform() -> torch.Tensor:
    return torch.randn(8000, generator=torch.Generator().manual_seed(1)) * 0.1


def test_average_of_probabilities() -> None:
    a = torch.log_softmax(torch.randn(5, 4), dim=-1)
    b = torch.log_softmax(torch.randn(5, 4), dim=-1)
    assert torch.allclose(average_probabilities([a, a]), a, atol=1e-6)
    mixed = average_probabilities([a, b])
    assert torch.allclose(mixed.exp(), (a.exp() + b.exp()) / 2, atol=1e-6)
    assert torch.allclose(mixed.exp().sum(-1), torch.ones(5), atol=1e-5)


def test_one_model_without_warps_is_the_model_itself() -> None:
    model, waveform = _model(0), _waveform()
    assert torch.allclose(ensemble_log_probs([model], [1.0], waveform), model.log_probs(waveform))


def test_two_models_and_a_warp_average_every_pass() -> None:
    first, second, waveform = _model(0), _model(1), _waveform()
    combined = ensemble_log_probs([first, second], [1.0, 1.1], waveform)
    alone = [ensemble_log_probs([m], [w], waveform) for m in (first, second) for w in (1.0, 1.1)]
    assert torch.allclose(combined.exp(), torch.stack(alone).exp().mean(0), atol=1e-6)
    # The warp changes what the model hears: a pass at 1.1 is not the plain pass.
    assert not torch.allclose(alone[0], alone[1])


def test_too_short_audio_gives_no_frames() -> None:
    assert ensemble_log_probs([_model(0)], [1.0], torch.zeros(10)).shape == (0, TINY.vocab_size)


@pytest.mark.parametrize(
    ("text", "message"), [("", "at least one"), ("1,abc", "numbers"), ("0.2", "outside")]
)
def test_bad_warps(text: str, message: str) -> None:
    with pytest.raises(EnsembleError, match=message):
        parse_warps(text)
    assert parse_warps("0.92, 1,1.08") == (0.92, 1.0, 1.08)


def _script(tmp_path: Path, model: Path) -> Path:
    """A stand-in benchmark: loads a model by path and saves what Recognizer.log_probs gives."""
    script = tmp_path / "bench.py"
    script.write_text(
        "import sys, torch\n"
        "from speechrnn.transcribe import load_model\n"
        "waveform = torch.randn(8000, generator=torch.Generator().manual_seed(1)) * 0.1\n"
        f"torch.save(load_model({str(model)!r}).log_probs(waveform), sys.argv[1])\n"
    )
    return script


def test_main_runs_the_script_with_the_ensemble_then_restores(tmp_path: Path) -> None:
    first, second = _model(0), _model(1)
    save_model(first, tmp_path / "a.pt")
    save_model(second, tmp_path / "b.pt")
    out = tmp_path / "out.pt"
    original = Recognizer.log_probs
    script = _script(tmp_path, tmp_path / "a.pt")
    code = ensemble.main(["--members", str(tmp_path / "b.pt"), str(script), str(out)])
    assert code == 0
    expected = ensemble_log_probs([first, second], [1.0], _waveform())
    assert torch.allclose(torch.load(out, weights_only=True), expected, atol=1e-6)
    assert Recognizer.log_probs is original
    # Without members or warps the script sees the model alone.
    assert ensemble.main([str(script), str(out)]) == 0
    assert torch.allclose(torch.load(out, weights_only=True), first.log_probs(_waveform()))


def test_main_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_model(_model(0), tmp_path / "a.pt")
    save_model(_model(1, n_mels=40), tmp_path / "other.pt")
    script = _script(tmp_path, tmp_path / "a.pt")
    cases = [
        (["--members", str(tmp_path / "missing.pt"), str(script)], "no such checkpoint"),
        (["--warps", "3", str(script)], "outside"),
        ([str(tmp_path / "nope.py")], "no such benchmark script"),
        (["--members", str(tmp_path / "other.pt"), str(script), "x"], "other features"),
    ]
    for argv, message in cases:
        assert ensemble.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1]
