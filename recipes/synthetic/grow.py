"""Grow a trained acoustic model by recurrent layers on top, initialized near the identity.

    python recipes/synthetic/grow.py SOURCE.pt --extra-layers 1 --out GROWN.pt

A bigger model trained from scratch on these CPUs needs hours to reach what the bundled model
already knows (``../shared/DATA.md``). Growing it instead keeps everything the source learned:
the new bidirectional layer sits between the last recurrent layer and the output layer, and starts
as an approximate copy of its input, so the grown model at step 0 makes nearly the same outputs
as the source and training continues from there with more capacity (progressive stacking).

Each new layer's forward GRU reads the forward half of its input and the backward GRU the
backward half, the last LayerNorm's gain and bias undone, through ``scale`` times an identity on
the candidate state, with the update gate biased shut (``z`` about 0.02) so each step mostly keeps
the new candidate, not the old state. The outputs are then ``tanh(scale * x_hat)`` up to small
random terms (``x_hat`` the normalized activations); ``tanh`` is nearly linear at that scale, and
the new LayerNorm takes the last one's gain and bias, so the layer hands the output layer roughly
what it used to get. The small random terms (weights drawn uniformly from
``+-noise / sqrt(hidden)``) break the symmetry, so the units can specialize.

The output is a training-format checkpoint (float32) for ``train.init``; the run's ``[model]``
section must say the grown ``num_layers``. Exit code 2 with a one-line error on unreadable input.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from speechrnn.checkpoint import CheckpointError, load_acoustic_model, save_model
from speechrnn.model import AcousticModel

# Update-gate bias of a new layer: sigmoid(-4) = 0.018, so h_t is ~98% the new candidate.
UPDATE_GATE_BIAS = -4.0
# Smallest |gain| of the LayerNorm before a new layer that the identity path divides by.
MIN_GAIN = 0.05


def _near_identity_gru(rnn: nn.GRU, input_norm: nn.LayerNorm, scale: float, noise: float) -> None:
    """Set a one-layer bidirectional GRU that reads a LayerNorm's output to pass it through.

    The candidate state reads ``scale * (x - bias) / gain`` of its own direction's half of the
    input ``x = gain * x_hat + bias`` (the LayerNorm's affine undone), so a LayerNorm with the
    same gain and bias after this layer gives ``x`` back up to ``tanh`` and the random weights.

    Args:
        rnn: ``nn.GRU(2 * hidden, hidden, bidirectional=True)`` (one layer), changed in place.
        input_norm: The LayerNorm (2 * hidden wide) whose output this layer reads.
        scale: Gain of the identity path; ``tanh(scale * x_hat)`` should be nearly linear.
        noise: Half-width of the random weights, in units of ``1 / sqrt(hidden)``.
    """
    hidden = rnn.hidden_size
    if rnn.num_layers != 1 or not rnn.bidirectional or rnn.input_size != 2 * hidden:
        raise ValueError("expected a one-layer bidirectional GRU with input 2 * hidden")
    bound = noise / math.sqrt(hidden)
    # A gain near zero would need a huge inverse: such a unit carries almost no signal anyway.
    gain = input_norm.weight.detach().float()
    sign = torch.where(gain < 0, -1.0, 1.0)
    gain = torch.where(gain.abs() < MIN_GAIN, MIN_GAIN * sign, gain)
    shift = input_norm.bias.detach().float()
    with torch.no_grad():
        for suffix, half in (("", 0), ("_reverse", 1)):
            weight_ih = getattr(rnn, f"weight_ih_l0{suffix}")  # (3 * hidden, 2 * hidden): r, z, n
            weight_hh = getattr(rnn, f"weight_hh_l0{suffix}")  # (3 * hidden, hidden)
            bias_ih = getattr(rnn, f"bias_ih_l0{suffix}")
            bias_hh = getattr(rnn, f"bias_hh_l0{suffix}")
            weight_ih.uniform_(-bound, bound)
            weight_hh.uniform_(-bound, bound)
            bias_ih.zero_()
            bias_hh.zero_()
            # The candidate n reads this direction's own half of the input.
            columns = slice(half * hidden, (half + 1) * hidden)
            weight_ih[2 * hidden :, columns] += torch.diag(scale / gain[columns])
            bias_ih[2 * hidden :] = -scale * shift[columns] / gain[columns]
            bias_ih[hidden : 2 * hidden] = UPDATE_GATE_BIAS


def grow(
    source: AcousticModel, extra_layers: int, scale: float = 0.5, noise: float = 0.1, seed: int = 0
) -> AcousticModel:
    """A model with ``extra_layers`` more recurrent layers, the source's weights, near its outputs.

    Args:
        source: A trained GRU model with LayerNorm between its recurrent layers.
        extra_layers: Recurrent layers to add on top (>= 1).
        scale: Gain of each new layer's identity path.
        noise: Size of each new layer's random weights (see :func:`_near_identity_gru`).
        seed: Seed of those random weights.

    Returns:
        The grown model (train mode off), float32.

    Raises:
        ValueError: extra_layers < 1, or a source that is not a GRU model with LayerNorm.
    """
    if extra_layers < 1:
        raise ValueError(f"extra_layers must be >= 1, got {extra_layers}")
    config = source.config
    if config.rnn_type != "gru" or not config.layer_norm:
        raise ValueError("only GRU models with layer_norm = true can be grown")
    torch.manual_seed(seed)
    grown = AcousticModel(
        replace(config, num_layers=config.num_layers + extra_layers), source.feature_config
    )
    state = grown.state_dict()
    state.update({name: value.float() for name, value in source.state_dict().items()})
    grown.load_state_dict(state)
    last_norm = source.rnn_norms[-1]
    assert isinstance(last_norm, nn.LayerNorm)
    for index in range(config.num_layers, config.num_layers + extra_layers):
        rnn = grown.rnns[index]
        assert isinstance(rnn, nn.GRU)
        _near_identity_gru(rnn, last_norm, scale, noise)
        norm = grown.rnn_norms[index]
        assert isinstance(norm, nn.LayerNorm)
        norm.load_state_dict(last_norm.state_dict())
    return grown.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a checkpoint (training or bundled)")
    parser.add_argument("--out", type=Path, required=True, help="the grown checkpoint")
    parser.add_argument("--extra-layers", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.5, help="identity gain (default 0.5)")
    parser.add_argument("--noise", type=float, default=0.1, help="random weight size (0.1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        source = load_acoustic_model(args.source)
        grown = grow(source, args.extra_layers, args.scale, args.noise, args.seed)
    except (CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    save_model(grown, args.out, extra={"grown": {"source": str(args.source),
                                                 "extra_layers": args.extra_layers}})  # fmt: skip
    print(f"wrote {args.out}: {grown.config.num_layers} recurrent layers, "
          f"{grown.num_parameters():,} parameters")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
