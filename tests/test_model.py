"""Tests for speechrnn.model: cells, output lengths, padding invariance."""

import pytest
import torch

from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.tokenizer import VOCAB_SIZE

SMALL = {"hidden_size": 32, "num_layers": 2, "conv_channels": 32}


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "rnn"])
def test_forward_shapes_and_log_probs(rnn_type: str) -> None:
    model = AcousticModel(ModelConfig(rnn_type=rnn_type, **SMALL)).eval()  # type: ignore[arg-type]
    features = torch.randn(2, 50, 80)
    log_probs, lengths = model(features, torch.tensor([50, 31]))
    assert log_probs.shape == (2, 13, VOCAB_SIZE)
    assert lengths.tolist() == [13, 8]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 13), atol=1e-5)
    cell = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[rnn_type]
    assert all(isinstance(rnn, cell) and rnn.bidirectional for rnn in model.rnns)


@pytest.mark.parametrize("strides", [(2,), (2, 2), (3, 2)])
def test_output_lengths_match_forward(strides: tuple[int, ...]) -> None:
    model = AcousticModel(ModelConfig(conv_strides=strides, **SMALL)).eval()
    for frames in [1, 2, 5, 17, 64]:
        log_probs, lengths = model(torch.randn(1, frames, 80), torch.tensor([frames]))
        assert (
            log_probs.shape[1]
            == int(lengths[0])
            == int(model.output_lengths(torch.tensor([frames]))[0])
        )
    assert model.time_stride == int(torch.tensor(strides).prod())


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "rnn"])
def test_padding_never_changes_an_output(rnn_type: str) -> None:
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(rnn_type=rnn_type, **SMALL)).eval()  # type: ignore[arg-type]
    lengths = [57, 33, 8]
    sequences = [torch.randn(n, 80) for n in lengths]
    batch = torch.full((3, 57, 80), 7.0)  # padding with garbage, not zeros
    for i, sequence in enumerate(sequences):
        batch[i, : len(sequence)] = sequence
    batched, out_lengths = model(batch, torch.tensor(lengths))
    for i, sequence in enumerate(sequences):
        alone, alone_lengths = model(sequence.unsqueeze(0), torch.tensor([len(sequence)]))
        assert int(alone_lengths[0]) == int(out_lengths[i])
        assert torch.allclose(batched[i, : out_lengths[i]], alone[0], atol=1e-5)


def test_normalization_is_applied() -> None:
    model = AcousticModel(ModelConfig(**SMALL)).eval()
    features = torch.randn(1, 20, 80)
    before, _ = model(features, torch.tensor([20]))
    model.set_normalization(torch.full((80,), 3.0), torch.full((80,), 2.0))
    after, _ = model(features * 2 + 3, torch.tensor([20]))
    assert torch.allclose(before, after, atol=1e-5)


def test_log_probs_of_short_waveform() -> None:
    model = AcousticModel(ModelConfig(**SMALL))
    assert model.log_probs(torch.zeros(100)).shape == (0, VOCAB_SIZE)
    assert model.log_probs(torch.zeros(16000)).shape[0] == 25  # 97 feature frames -> 49 -> 25
    assert model.output_frame_seconds == pytest.approx(0.04)


@pytest.mark.parametrize(
    "bad",
    [{"rnn_type": "transformer"}, {"conv_strides": ()}, {"conv_kernel_size": 4}, {"num_layers": 0}],
)
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_config_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"hidden_size": 8, "hiden_size": 9})
    assert ModelConfig.from_dict({"conv_strides": [2, 2]}).conv_strides == (2, 2)
