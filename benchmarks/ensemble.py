"""Run a benchmark with several models' outputs averaged, or with test-time frequency warps.

Every benchmark reaches the acoustic model through ``Recognizer.log_probs``. This wrapper
replaces that method, for one run of an unchanged benchmark script, by an average over passes:
the loaded model (the benchmark's ``--model``, with its language model, weights and threshold)
and each ``--members`` checkpoint, each run on the log-mel features as they are and on the
features stretched along frequency by each ``--warps`` factor (the training warp,
``speechrnn.augmentation.warp_spectrum``). Passes are averaged as probabilities per frame, so
the result is again a distribution. The speechrnn package itself ships one model and one pass;
this measures what more passes would buy, at their cost in time (a benchmark's RTF counts them
all).

    .venv/bin/python benchmarks/ensemble.py [--members A.pt,B.pt] [--warps 0.92,1,1.08] -- \\
        benchmarks/compare_pocketsphinx.py --synthetic-dev DATA/dev.jsonl --json

Members must have the loaded model's features and time stride (the same frame count).
"""

from __future__ import annotations

import argparse
import math
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from speechrnn.augmentation import warp_spectrum
from speechrnn.checkpoint import CheckpointError, model_from_checkpoint, read_checkpoint
from speechrnn.model import AcousticModel
from speechrnn.transcribe import Recognizer

MIN_WARP, MAX_WARP = 0.5, 2.0  # outside this a "warp" no longer resembles a voice


class EnsembleError(ValueError):
    """Members or warps that cannot be combined."""


def average_probabilities(passes: Sequence[torch.Tensor]) -> torch.Tensor:
    """Average CTC outputs as probabilities, frame by frame.

    Args:
        passes: Each (frames, vocab_size) log-probabilities, all the same shape.

    Returns:
        (frames, vocab_size) log of the mean probability.
    """
    stack = torch.stack(list(passes))  # (passes, frames, vocab_size)
    return torch.logsumexp(stack, dim=0) - math.log(len(passes))


def parse_warps(text: str) -> tuple[float, ...]:
    """Comma-separated warp factors, each in [MIN_WARP, MAX_WARP].

    Raises:
        EnsembleError: Not numbers, none, or out of range.
    """
    try:
        warps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise EnsembleError(f"--warps {text!r}: not a comma-separated list of numbers") from None
    if not warps:
        raise EnsembleError("--warps: give at least one factor (1 is the features as they are)")
    for warp in warps:
        if not MIN_WARP <= warp <= MAX_WARP:
            raise EnsembleError(f"--warps: {warp} is outside {MIN_WARP}-{MAX_WARP}")
    return warps


def load_members(paths: Sequence[str]) -> list[AcousticModel]:
    """The extra models, in evaluation mode.

    Raises:
        CheckpointError: A missing or unreadable checkpoint.
    """
    return [model_from_checkpoint(read_checkpoint(path)).eval() for path in paths]


def check_compatible(models: Sequence[AcousticModel], warps: Sequence[float]) -> None:
    """Raise EnsembleError unless the models' frames line up and the warps can be applied."""
    first = models[0]
    for model in models[1:]:
        if model.feature_config != first.feature_config:
            raise EnsembleError("members: a model with other features than the loaded one")
        if model.time_stride != first.time_stride:
            raise EnsembleError("members: a model with another time stride than the loaded one")
    if any(warp != 1.0 for warp in warps) and first.feature_config.kind != "logmel":
        raise EnsembleError("--warps needs log-mel features")


@torch.no_grad()
def ensemble_log_probs(
    models: Sequence[AcousticModel], warps: Sequence[float], waveform: torch.Tensor
) -> torch.Tensor:
    """Log-probabilities of one waveform averaged over every model and warp.

    Args:
        models: Models with the same features and time stride (:func:`check_compatible`).
        warps: Frequency stretch factors (1.0: the features as they are).
        waveform: (samples,) float32 mono at the models' sample rate.

    Returns:
        (out_frames, vocab_size); zero frames for audio shorter than one analysis window.
    """
    first = models[0]
    # Raw features, once: the models share their feature settings (each normalizes inside its
    # forward), so each warp of them is computed once too, not once per model.
    features = first.features(waveform)  # (frames, n_mels)
    if features.shape[0] == 0:
        return torch.zeros(0, first.config.vocab_size)
    lengths = torch.tensor([features.shape[0]])
    passes = []
    for warp in warps:
        warped = features if warp == 1.0 else warp_spectrum(features, first.feature_config, warp)
        for model in models:
            log_probs, out_lengths = model(warped.unsqueeze(0), lengths)
            passes.append(log_probs[0, : int(out_lengths[0])])
    return average_probabilities(passes)


def install(members: Sequence[AcousticModel], warps: Sequence[float]) -> Callable[[], None]:
    """Make every Recognizer average its own model with ``members`` over ``warps``.

    Returns:
        A function that puts the original method back.

    Raises:
        EnsembleError: Found on the first call, when the loaded model is known: members that
            do not line up with it.
    """
    original = Recognizer.log_probs

    def log_probs(self: Recognizer, waveform: torch.Tensor) -> torch.Tensor:
        models = [self.model, *members]
        check_compatible(models, warps)
        return ensemble_log_probs(models, warps, waveform)

    Recognizer.log_probs = log_probs  # type: ignore[method-assign]

    def restore() -> None:
        Recognizer.log_probs = original  # type: ignore[method-assign]

    return restore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="", help="comma-separated extra checkpoints")
    parser.add_argument("--warps", default="1", help="comma-separated frequency warps (1: none)")
    parser.add_argument("script", help="the benchmark script, then its own arguments")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    script = Path(args.script)
    try:
        warps = parse_warps(args.warps)
        if not script.is_file():
            raise EnsembleError(f"{script}: no such benchmark script")
        members = load_members([part for part in args.members.split(",") if part.strip()])
    except (EnsembleError, CheckpointError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"ensemble: {1 + len(members)} model(s) x warps {list(warps)}", file=sys.stderr)
    return run_script(script, args.script_args, install(members, warps), EnsembleError)


def run_script(
    script: Path, script_args: list[str], restore: Callable[[], None], *errors: type[Exception]
) -> int:
    """Run a benchmark script in this process, as if started directly; return its exit code.

    Args:
        script: The script.
        script_args: Its arguments.
        restore: Undoes the caller's patch; called when the script ends, however it ends.
        errors: Exceptions the caller's patch may raise inside it: a one-line error, code 2.
    """
    saved_argv, saved_path = sys.argv, list(sys.path)
    # The script runs as if started directly: its own argv, and its folder importable (the
    # benchmarks import their sibling modules).
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except errors as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)  # sys.exit("message"), as Python itself would
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
