"""Make a checkpoint fine-tuned on your voice a complete model file.

    python recipes/personal/finish.py runs/me/last.pt --out me.pt [--base default]

A training checkpoint holds the acoustic model alone. This writes it (float16 weights, atomically)
with what the base model carries besides: its word language model and LM weights (dictation),
and its calibrated command threshold (command mode), so that ``speechrnn transcribe --model
me.pt`` and ``speechrnn listen --model me.pt`` decode as with the bundled model. The file is
yours: nothing is written into the package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from speechrnn.checkpoint import (
    CheckpointError,
    model_from_checkpoint,
    read_checkpoint,
    resolve_model_path,
    save_model,
)

# What a model file carries besides its weights and configs.
CARRIED = ("language_model", "lm_weights", "command_threshold", "command_statistic")


def finish(checkpoint: Path, out: Path, base: str | None = None) -> Path:
    """Write ``checkpoint``'s model with ``base``'s language model and command threshold.

    Args:
        checkpoint: A training checkpoint (``last.pt``, ``best.pt``) fine-tuned from ``base``.
        out: The model file to write.
        base: A bundled model name or checkpoint path (None: the bundled default).

    Returns:
        ``out``.

    Raises:
        CheckpointError: An unreadable checkpoint, or one whose model does not fit the base's
            (other features or alphabet: the base's threshold and LM would not apply).
    """
    base_path = resolve_model_path(base)
    base_payload = read_checkpoint(base_path)
    payload = read_checkpoint(checkpoint)
    for key in ("feature_config", "vocab"):
        if payload.get(key) != base_payload.get(key):
            raise CheckpointError(
                f"{checkpoint}: its {key.replace('_', ' ')} differs from {base_path.name}'s; "
                "fine-tune from the base (train.init) to keep them"
            )
    model = model_from_checkpoint(payload)
    training = payload.get("training", {})
    extra: dict[str, Any] = {k: base_payload[k] for k in CARRIED if k in base_payload}
    extra["provenance"] = {
        "source_checkpoint": checkpoint.name,
        "base": base_path.name,
        **{k: training[k] for k in ("step", "audio_seconds", "elapsed_seconds") if k in training},
    }
    save_model(model, out, extra=extra, half_precision=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="the fine-tuned checkpoint (last.pt)")
    parser.add_argument("--out", type=Path, required=True, help="model file to write")
    parser.add_argument("--base", help="the model it was fine-tuned from (default: bundled)")
    args = parser.parse_args(argv)
    try:
        target = finish(args.checkpoint, args.out, args.base)
    except CheckpointError as problem:
        print(f"finish: error: {problem}", file=sys.stderr)
        return 2
    print(f"{target} ({target.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
