"""Average the weights of two checkpoints of one architecture: a model and its fine-tune.

    python recipes/synthetic/average.py BASE.pt TUNED.pt --weight 0.5 --out SOUP.pt

A fine-tune on a narrow addition to the data (stage 11's number words) learns that addition and
drifts a little on everything else. Interpolating its weights with the model it started from
(as in WiSE-FT, Wortsman et al. 2022) often keeps most of the new skill and most of the old
ones, at no cost at run time. Both files must have the same model and feature configs; the
output is a training-format checkpoint (float32) that ``export.py`` and ``speechrnn evaluate``
read, written atomically. Exit code 2 with a one-line error on unreadable or mismatched files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from speechrnn.checkpoint import CheckpointError, atomic_save, read_checkpoint


def average(base: dict[str, Any], tuned: dict[str, Any], weight: float) -> dict[str, Any]:
    """``(1 - weight) * base + weight * tuned``, parameter by parameter.

    Args:
        base: The checkpoint the fine-tune started from (as read by ``read_checkpoint``).
        tuned: The fine-tuned checkpoint.
        weight: Share of the fine-tune, 0..1 (1 gives the fine-tune back).

    Returns:
        A checkpoint dict with the fine-tune's configs and float32 weights.

    Raises:
        CheckpointError: The two have different configs or parameter names or shapes.
    """
    for key in ("model_config", "feature_config"):
        if base.get(key) != tuned.get(key):
            raise CheckpointError(f"the checkpoints have different {key.replace('_', ' ')}s")
    base_state, tuned_state = base["state_dict"], tuned["state_dict"]
    if base_state.keys() != tuned_state.keys():
        raise CheckpointError("the checkpoints have different parameters")
    state = {}
    for name, tuned_value in tuned_state.items():
        base_value = base_state[name]
        if base_value.shape != tuned_value.shape:
            raise CheckpointError(f"{name}: shapes {tuple(base_value.shape)} and "
                                  f"{tuple(tuned_value.shape)} differ")  # fmt: skip
        if not tuned_value.is_floating_point():
            state[name] = tuned_value
            continue
        # float32 arithmetic: a bundled model stores float16 weights.
        state[name] = torch.lerp(base_value.float(), tuned_value.float(), weight)
    keep = ("format", "format_version", "model_config", "feature_config", "vocab")
    return {
        **{key: tuned[key] for key in keep},
        "state_dict": state,
        "averaged": {"weight": weight, "step": tuned.get("training", {}).get("step")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the checkpoint the fine-tune started from")
    parser.add_argument("tuned", type=Path, help="the fine-tuned checkpoint")
    parser.add_argument("--weight", type=float, default=0.5, help="share of the fine-tune")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error("--weight must be between 0 and 1")
    try:
        soup = average(read_checkpoint(args.base), read_checkpoint(args.tuned), args.weight)
    except CheckpointError as problem:
        print(f"average: error: {problem}", file=sys.stderr)
        return 2
    atomic_save(soup, args.out)
    print(f"{args.out}: {args.weight:g} x {args.tuned} + {1 - args.weight:g} x {args.base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
