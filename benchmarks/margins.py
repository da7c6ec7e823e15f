"""How much silence around speech costs, with and without the margins fitted (held-out voices).

Every training clip of the synthetic corpus has about 150 ms of background around its speech. A
real recording often has far more: a second of room before the word, the pre-roll of a
voice-activity detector. This benchmark takes held-out synthetic clips of a dev manifest, gives
each ``--extra`` seconds more of silence on both sides and faint white noise over all of it
(``--hiss-db`` dBFS RMS, so that the added silence is a recording's, not digital zeros), and
decodes them two ways:

- ``padded``: margins only padded up to 160 ms, never cut (``speechrnn.audio.pad_margins``, what
  ``Recognizer`` did before ``fit_margins``);
- ``fitted``: margins padded or cut to 160 ms (``Recognizer.clip_log_probs``, what it does now).

Single words (categories "command" and "digit") are decided against the list of all of them, and
letters against the alphabet, with the model's background vocabulary: accuracy as a forced choice
and at the model's threshold. Sentences and phrases are dictated with the model's default
decoding (beam + LM): WER, at the largest ``--extra`` only. A manifest of letters alone (the
letters profile's dev split) measures letters alone.

    .venv/bin/python benchmarks/margins.py DATA_ROOT/dev.jsonl [--model PATH]
        [--extra 0 0.1 0.2 0.4 0.8 1.6] [--hiss-db -60] [--words 400] [--sentences 150]
        [--plot margins.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from command_threshold import WORD_CATEGORIES, read_utterances  # the calibration's words and reader
from tqdm import tqdm

import speechrnn
from speechrnn.audio import SAMPLE_RATE, load_audio, pad_margins
from speechrnn.data import Utterance
from speechrnn.decoding import CommandDecoder
from speechrnn.metrics import word_error_rate

SENTENCE_CATEGORIES = {"sentence", "phrase"}
WAYS = ("padded", "fitted")


def with_extra(
    waveform: torch.Tensor, extra: float, hiss_db: float, generator: torch.Generator
) -> torch.Tensor:
    """The clip with ``extra`` seconds of silence on each side and hiss over all of it."""
    silence = torch.zeros(round(extra * SAMPLE_RATE))
    roomy = torch.cat([silence, waveform, silence])
    return roomy + 10 ** (hiss_db / 20) * torch.randn(len(roomy), generator=generator)


def log_probs_by(model: speechrnn.Recognizer, way: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function that turns a clip into log-probs the given way ("padded" or "fitted")."""
    if way == "fitted":
        return lambda waveform: model.clip_log_probs(waveform)[0]
    return lambda waveform: model.log_probs(
        pad_margins(waveform, SAMPLE_RATE, model.margin_seconds)[0]
    )


def pick(
    utterances: Sequence[Utterance], categories: set[str], count: int, seed: int
) -> list[Utterance]:
    """Up to ``count`` clips of the categories, drawn at random (all of them for count < 0)."""
    chosen = [u for u in utterances if u.extra.get("category") in categories]
    if 0 <= count < len(chosen):
        chosen = random.Random(seed).sample(chosen, count)
    return chosen


def word_accuracy(
    model: speechrnn.Recognizer,
    clips: Sequence[tuple[Utterance, torch.Tensor, CommandDecoder]],
    way: str,
) -> dict[str, float]:
    """Forced-choice accuracy and accuracy at the model's threshold over (utterance, waveform,
    decoder) trials."""
    to_log_probs = log_probs_by(model, way)
    forced = accepted = 0
    for utterance, waveform, decoder in clips:
        match = decoder.decode(to_log_probs(waveform))
        right = match.best_phrase == utterance.text
        forced += right
        accepted += right and match.score >= model.command_threshold
    return {"forced_choice": forced / len(clips), "at_threshold": accepted / len(clips)}


def dictation_wer(
    model: speechrnn.Recognizer, clips: Sequence[tuple[Utterance, torch.Tensor]], way: str
) -> float:
    """WER of the model's default dictation over (utterance, waveform) pairs."""
    to_log_probs = log_probs_by(model, way)
    hypotheses = [model.decode_log_probs(to_log_probs(waveform)).text for _, waveform in clips]
    return word_error_rate([u.text for u, _ in clips], hypotheses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="dev manifest (JSONL, paths relative to it)")
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument(
        "--extra",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.2, 0.4, 0.8, 1.6],
        help="seconds of silence added on each side (one row each)",
    )
    parser.add_argument("--hiss-db", type=float, default=-60.0, help="white noise, dBFS RMS")
    parser.add_argument("--words", type=int, default=400, help="single-word clips (-1: all)")
    parser.add_argument("--sentences", type=int, default=150, help="sentences (-1: all, 0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, help="write accuracy vs added silence (PNG)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if any(extra < 0 or not math.isfinite(extra) for extra in args.extra):
        parser.error("--extra takes seconds >= 0")
    torch.set_num_threads(1)
    model = speechrnn.load_model(args.model)
    utterances = read_utterances(args.manifest)
    words = pick(utterances, WORD_CATEGORIES, args.words, args.seed)
    letters = pick(utterances, {"letter"}, -1, args.seed)
    sentences = pick(utterances, SENTENCE_CATEGORIES, args.sentences, args.seed)
    if not words and not letters:
        raise SystemExit(
            f"{args.manifest}: no single-word or letter clips (categories "
            f"{sorted(WORD_CATEGORIES | {'letter'})})"
        )
    decoders = {}
    if words:  # a manifest of letters alone (the letters profile) has none
        word_list = sorted(
            {u.text for u in utterances if u.extra.get("category") in WORD_CATEGORIES}
        )
        decoders["word"] = model.command_decoder(word_list, threshold=-math.inf)
    if letters:
        alphabet = sorted({u.text for u in letters})
        decoders["letter"] = model.command_decoder(alphabet, threshold=-math.inf)
    audio = {
        id(u): load_audio(u.audio)
        for u in tqdm(words + letters + sentences, desc="reading", file=sys.stderr, disable=None)
    }
    rows = []
    for extra in tqdm(args.extra, desc="added silence", file=sys.stderr, disable=None):
        # The same hiss for both ways: they differ only in what they make of it.
        generator = torch.Generator().manual_seed(args.seed)
        trials = [
            (u, with_extra(audio[id(u)], extra, args.hiss_db, generator), decoders[kind])
            for kind, group in (("word", words), ("letter", letters))
            for u in group
        ]
        for way in WAYS:
            rows.append({"extra_seconds": extra, "way": way, **word_accuracy(model, trials, way)})
    wer: dict[str, float] = {}
    if sentences:
        longest = max(args.extra)
        generator = torch.Generator().manual_seed(args.seed)
        dictated = [
            (u, with_extra(audio[id(u)], longest, args.hiss_db, generator)) for u in sentences
        ]
        generator = torch.Generator().manual_seed(args.seed)
        as_rendered = [
            (u, with_extra(audio[id(u)], 0.0, args.hiss_db, generator)) for u in sentences
        ]
        wer = {"as_rendered": dictation_wer(model, as_rendered, "fitted")}
        for way in WAYS:
            wer[f"{way}_{longest:g}s"] = dictation_wer(model, dictated, way)
    summary = {
        "words": len(words),
        "letters": len(letters),
        "sentences": len(sentences),
        "hiss_db": args.hiss_db,
        "threshold": model.command_threshold,
        "rows": rows,
        "dictation_wer": wer,
    }
    if args.plot:
        _plot(args.plot, rows, args.hiss_db)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{len(words)} words and {len(letters)} letters; hiss {args.hiss_db:g} dBFS; "
        f"threshold {model.command_threshold:g}",
        file=sys.stderr,
    )
    print("| added each side | padded: forced / at threshold | fitted: forced / at threshold |")
    print("|---|---|---|")
    for extra in args.extra:
        cells = [
            f"{r['forced_choice']:.1%} / {r['at_threshold']:.1%}"
            for way in WAYS
            for r in rows
            if r["extra_seconds"] == extra and r["way"] == way
        ]
        print(f"| {extra:g} s | {cells[0]} | {cells[1]} |")
    if wer:
        print(f"\ndictation WER over {len(sentences)} sentences and phrases:")
        for label, value in wer.items():
            print(f"- {label}: {value:.1%}")
    return 0


def _plot(path: Path, rows: list[dict], hiss_db: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for way in WAYS:
        mine = [r for r in rows if r["way"] == way]
        extras = [r["extra_seconds"] for r in mine]
        axis.plot(extras, [r["forced_choice"] for r in mine], marker="o", label=f"{way}, forced")
        axis.plot(
            extras,
            [r["at_threshold"] for r in mine],
            marker="o",
            linestyle="--",
            label=f"{way}, at threshold",
        )
    axis.set_xlabel(f"silence added on each side (s), hiss at {hiss_db:g} dBFS")
    axis.set_ylabel("command accuracy, held-out voices")
    axis.legend()
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=100)
    temporary.replace(path)  # atomic: a reader never sees half a PNG


if __name__ == "__main__":
    raise SystemExit(main())
