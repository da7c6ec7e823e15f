"""Bundle a trained checkpoint as the package's default model.

    python recipes/synthetic/export.py RUN_DIR/best.pt [--name default] \
        [--command-threshold T] [--lm LM.pt --lm-weights WEIGHT,BONUS,UNKNOWN_LETTER]

Writes ``speechrnn/assets/<name>.pt`` (model only, float16 weights: half the size, and the outputs
differ from float32 by far less than the decoding margins) atomically, and records its sha256 in
``speechrnn/assets/models.json``, which ``speechrnn.load_model`` checks on every load. The command
threshold (``benchmarks/command_threshold.py``) and the word language model (``build_lm.py``) with
its weights (``benchmarks/lm_weights.py``) travel inside the same file.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from speechrnn.checkpoint import (
    ASSETS,
    CheckpointError,
    load_acoustic_model,
    read_checkpoint,
    save_model,
    sha256_of,
)
from speechrnn.decoding import COMMAND_STATISTIC_VERSION
from speechrnn.lm import LMWeights, WordLM


def export(
    checkpoint: Path,
    name: str,
    command_threshold: float | None = None,
    lm_path: Path | None = None,
    lm_weights: LMWeights | None = None,
) -> Path:
    """Write the bundled copy of ``checkpoint`` and register it; returns its path.

    Raises:
        CheckpointError: Unreadable checkpoint or language model.
    """
    payload = read_checkpoint(checkpoint)
    model = load_acoustic_model(checkpoint)
    # Keep where the weights came from (step, dev scores), none of the optimizer state.
    training = payload.get("training", {})
    provenance = {
        "source_checkpoint": checkpoint.name,
        **{k: training[k] for k in ("step", "epoch", "best_wer", "best_cer", "best_step",
                                    "audio_seconds", "elapsed_seconds") if k in training},
    }  # fmt: skip
    target = ASSETS / f"{name}.pt"
    extra: dict[str, object] = {"provenance": provenance}
    if command_threshold is not None:
        # Calibrated with benchmarks/command_threshold.py; load_model() makes it the default,
        # as long as the statistic it was calibrated for is still the decoder's.
        extra["command_threshold"] = float(command_threshold)
        extra["command_statistic"] = COMMAND_STATISTIC_VERSION
    if lm_path is not None:
        try:
            lm = WordLM.from_state(torch.load(lm_path, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as problem:
            raise CheckpointError(f"{lm_path}: not a language model ({problem})") from None
        extra["language_model"] = lm.to_state()
        extra["lm_weights"] = asdict(lm_weights or LMWeights())
    save_model(model, target, extra=extra, half_precision=True)
    registry_path = ASSETS / "models.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    registry[name] = {"file": target.name, "sha256": sha256_of(target)}
    temporary = registry_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    temporary.replace(registry_path)
    return target


def _lm_weights(text: str) -> LMWeights:
    try:
        weight, bonus, unknown = (float(part) for part in text.split(","))
        return LMWeights(weight, bonus, unknown)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(f"expected W,B,U numbers ({problem})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bundle a checkpoint as a packaged model.")
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (best.pt, last.pt)")
    parser.add_argument("--name", default="default", help="bundled model name (default: default)")
    parser.add_argument(
        "--command-threshold",
        type=float,
        help="command-mode threshold to store (see benchmarks/command_threshold.py)",
    )
    parser.add_argument("--lm", type=Path, help="word language model from build_lm.py")
    parser.add_argument(
        "--lm-weights",
        type=_lm_weights,
        metavar="W,B,U",
        help="LM weight, word bonus, unknown-letter cost (see benchmarks/lm_weights.py)",
    )
    args = parser.parse_args(argv)
    if args.lm_weights is not None and args.lm is None:
        parser.error("--lm-weights needs --lm")
    try:
        target = export(
            args.checkpoint, args.name, args.command_threshold, args.lm, args.lm_weights
        )
    except CheckpointError as problem:
        print(f"export: error: {problem}", file=sys.stderr)
        return 2
    size_mb = target.stat().st_size / 1e6
    print(f"{target} ({size_mb:.2f} MB) registered as {args.name!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
