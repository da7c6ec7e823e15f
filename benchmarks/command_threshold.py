"""Calibrate the command-mode acceptance threshold on held-out voices.

Every single-word clip of a dev manifest (categories "command" and "digit" of
recipes/synthetic) is decoded against the list of all those words, with the model's background
vocabulary (``Recognizer.command_decoder``). In-list trials: the clip's own word is in the list
(correct = right word and score >= threshold). Out-of-list trials: the same clip decoded against
the list without its word, every other clip (sentences, phrases, numbers, letters), generated
silence and noise, and every clip of the --non-speech manifests, e.g. the dev split of
recipes/synthetic/noise_clips.py (false accept = any word's score >= threshold). Clips of the
--trials manifests join them: one whose text is a list word is an in-list trial, any other an
out-of-list one. The numbers profile's dev split makes the hardest of these: "sixteen", "sixty"
and "sixth" against a list with "six".

    .venv/bin/python benchmarks/command_threshold.py DATA_ROOT/dev.jsonl [--model PATH]
        [--non-speech NOISE_ROOT/dev.jsonl] [--trials NUMBERS_ROOT/dev.jsonl]
        [--max-false-accept 0.05] [--plot threshold.png] [--json]

The threshold printed last is the one with the best in-list accuracy among those whose
false-accept rate is at most --max-false-accept; give it to recipes/synthetic/export.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

import speechrnn
from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.data import DataError, Utterance, read_manifest
from speechrnn.decoding import CommandDecoder

WORD_CATEGORIES = {"command", "digit"}


def _generated_non_speech() -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    white = torch.randn(SAMPLE_RATE, generator=generator)
    # Pink-ish and brown-ish noise by leaky integration of white noise.
    brown = torch.cumsum(torch.randn(SAMPLE_RATE, generator=generator), 0)
    brown = brown - brown.mean()
    return [
        ("silence", torch.zeros(SAMPLE_RATE)),
        ("hiss", 3e-4 * white),
        ("white", 0.05 * white),
        ("brown", 0.05 * brown / brown.abs().max()),
    ]


def read_utterances(manifest: Path, require_text: bool = True) -> list[Utterance]:
    """A manifest's utterances, or exit with its one-line error."""
    try:
        return read_manifest(manifest, require_text=require_text)
    except DataError as problem:
        raise SystemExit(str(problem)) from None


def collect(
    model: speechrnn.Recognizer,
    manifest: Path,
    non_speech: Sequence[Path] = (),
    trials: Sequence[Path] = (),
) -> tuple[list, list]:
    """Per-phrase scores of every trial.

    Returns:
        (in_list, out_of_list): in_list holds (word said, scores) pairs, out_of_list (source,
        scores) pairs, where source names the kind of trial ("word removed", "other speech",
        "generated", or a manifest's parent folder and name).
    """
    utterances = read_utterances(manifest)
    words = sorted({u.text for u in utterances if u.extra.get("category") in WORD_CATEGORIES})
    if not words:
        raise SystemExit(f"{manifest}: no single-word clips (categories {sorted(WORD_CATEGORIES)})")
    # Scores for every threshold: nothing is rejected before its statistic is known.
    decoder = model.command_decoder(words, threshold=-math.inf)
    # A word's out-of-list trial uses the list without it: the phrases of the list take part in
    # the statistic (as competitors of each other), so removing the word is not the same as
    # dropping its score.
    without: dict[str, CommandDecoder] = {}
    in_list: list[tuple[str, dict[str, float]]] = []
    out_of_list: list[tuple[str, dict[str, float]]] = []
    speech = [(utterance, "other speech") for utterance in utterances]
    for extra in trials:
        speech += [(utterance, _source(extra)) for utterance in read_utterances(extra)]
    for utterance, source in tqdm(
        speech, desc="scoring", unit="clip", file=sys.stderr, disable=None
    ):
        log_probs, _ = model.clip_log_probs(load_audio(utterance.audio))
        scores = decoder.decode(log_probs).scores
        # By text, not category: the full profile's numbers include the digits ("six" as a
        # number), and those are in-list trials too.
        if utterance.text in words:
            word = utterance.text
            if word not in without:
                others = [w for w in words if w != word]
                without[word] = model.command_decoder(others, threshold=-math.inf)
            in_list.append((word, scores))
            out_of_list.append(("word removed", without[word].decode(log_probs).scores))
        else:
            out_of_list.append((source, scores))
    for _, waveform in _generated_non_speech():
        out_of_list.append(("generated", decoder.decode(model.clip_log_probs(waveform)[0]).scores))
    for other in non_speech:
        clips = read_utterances(other, require_text=False)
        for clip in tqdm(clips, desc=other.name, unit="clip", file=sys.stderr, disable=None):
            log_probs, _ = model.clip_log_probs(load_audio(clip.audio))
            out_of_list.append((_source(other), decoder.decode(log_probs).scores))
    return in_list, out_of_list


def _source(manifest: Path) -> str:
    """A manifest's name in reports: its folder and file ("synthetic_numbers/dev.jsonl")."""
    return f"{manifest.parent.name}/{manifest.name}"


def false_accepts_by_source(out_of_list: list, threshold: float) -> dict[str, float]:
    """The false-accept rate of each kind of out-of-list trial at one threshold."""
    totals: dict[str, list[int]] = {}
    for source, scores in out_of_list:
        counts = totals.setdefault(source, [0, 0])
        counts[0] += _best_score(scores) >= threshold
        counts[1] += 1
    return {source: accepted / count for source, (accepted, count) in totals.items()}


def _best_score(scores: dict[str, float]) -> float:
    """The score that decides an out-of-list trial: its best phrase's (-inf for no phrase)."""
    return max(scores.values(), default=-math.inf)


def sweep(in_list: list, out_of_list: list, thresholds: list[float]) -> list[dict[str, float]]:
    """Accuracy and false-accept rate at each threshold."""
    rows = []
    best_in = [
        (truth, max(scores, key=scores.get), max(scores.values())) for truth, scores in in_list
    ]
    best_out = [_best_score(scores) for _, scores in out_of_list]
    for threshold in thresholds:
        correct = sum(word == truth and score >= threshold for truth, word, score in best_in)
        accepted = sum(score >= threshold for score in best_out)
        rows.append(
            {
                "threshold": round(threshold, 3),
                "accuracy": correct / len(best_in),
                "false_accept": accepted / len(best_out),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="dev manifest (JSONL, paths relative to it)")
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument(
        "--non-speech",
        type=Path,
        action="append",
        default=[],
        help="manifest of clips that must be rejected (repeatable), e.g. noise_clips.py's dev",
    )
    parser.add_argument(
        "--trials",
        type=Path,
        action="append",
        default=[],
        help="manifest of more speech clips (repeatable): list words are in-list trials, other "
        "texts out-of-list ones, e.g. the numbers profile's dev split",
    )
    parser.add_argument("--max-false-accept", type=float, default=0.05)
    parser.add_argument("--plot", type=Path, help="write accuracy / false accepts vs threshold")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = speechrnn.load_model(args.model)
    in_list, out_of_list = collect(model, args.manifest, args.non_speech, args.trials)
    thresholds = [-6.0 + 0.05 * i for i in range(121)]
    rows = sweep(in_list, out_of_list, thresholds)
    allowed = [r for r in rows if r["false_accept"] <= args.max_false_accept] or rows[-1:]
    chosen = max(allowed, key=lambda r: (r["accuracy"], -r["false_accept"]))
    current = sweep(in_list, out_of_list, [model.command_threshold])[0]
    summary = {
        "in_list_trials": len(in_list),
        "out_of_list_trials": len(out_of_list),
        "model_threshold": current,
        "chosen": chosen,
        "false_accept_by_source": {
            label: false_accepts_by_source(out_of_list, row["threshold"])
            for label, row in (("model_threshold", current), ("chosen", chosen))
        },
    }
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(thresholds, [r["accuracy"] for r in rows], label="in-list accuracy")
        axis.plot(thresholds, [r["false_accept"] for r in rows], label="false-accept rate")
        axis.axvline(chosen["threshold"], color="gray", linestyle="--", label="chosen")
        axis.set_xlabel("command threshold")
        axis.legend()
        figure.tight_layout()
        temporary = args.plot.with_name(f".{args.plot.name}.tmp.png")
        figure.savefig(temporary, dpi=100)
        temporary.replace(args.plot)  # atomic: a reader never sees half a PNG
    if args.json:
        print(json.dumps({**summary, "sweep": rows}, indent=2))
        return 0
    print(f"{len(in_list)} in-list trials, {len(out_of_list)} out-of-list trials", file=sys.stderr)
    print("| threshold | in-list accuracy | false-accept rate |\n|---|---|---|")
    for label, row in (("model's", current), ("chosen", chosen)):
        print(
            f"| {row['threshold']} ({label}) | {row['accuracy']:.1%} | {row['false_accept']:.1%} |"
        )
    print("\nfalse accepts by kind of out-of-list trial, at the model's / the chosen threshold:")
    rates = summary["false_accept_by_source"]
    for source, rate in rates["model_threshold"].items():
        print(f"- {source}: {rate:.1%} / {rates['chosen'][source]:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
