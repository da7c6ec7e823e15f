"""Tune the dictation decoder's language-model weights on held-out voices.

Decodes sentence-like clips of a dev manifest (categories "sentence", "phrase", "number" and
"nato" of recipes/synthetic: held-out voices, and sentences never in the LM's training texts) with
greedy decoding and with beam search plus the word LM over a grid of
:class:`speechrnn.lm.LMWeights`, then times the best weights at a few beam sizes and pruning
margins. Acoustic log-probs are computed once per clip.

    .venv/bin/python benchmarks/lm_weights.py DATA_ROOT/dev.jsonl --model RUN/best.pt \\
        --lm LM.pt [--limit 400] [--plot lm_weights.png] [--json]

The weights printed last (lowest WER, ties broken by CER) are the ones to give to
``recipes/synthetic/export.py --lm-weights``. Decoding times are seconds per audio second on one
thread: run it alone on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import speechrnn
from speechrnn.audio import load_audio
from speechrnn.decoding import greedy_decode, prefix_beam_search
from speechrnn.lm import LMWeights, WordLM
from speechrnn.metrics import char_error_rate, word_error_rate

CATEGORIES = {"sentence", "phrase", "number", "nato"}
GRID = {
    "weight": (0.3, 0.6, 1.0, 1.5),
    "word_bonus": (1.0, 2.0, 3.0, 4.5),
    "unknown_letter": (-1.0, -2.0, -3.5),
}
TUNING_BEAM, TUNING_MARGIN = 8, 6.0
SPEED_SETTINGS = ((4, 6.0), (8, 4.0), (8, 6.0), (16, 6.0), (16, 10.0))


def clips(manifest: Path, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` records of the tuning categories, spread evenly over the manifest."""
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    chosen = [r for r in records if r.get("category") in CATEGORIES]
    if not chosen:
        raise SystemExit(f"{manifest}: no clips of categories {sorted(CATEGORIES)}")
    step = max(1, len(chosen) // limit)
    return chosen[::step][:limit]


def scores(
    log_probs: list[torch.Tensor],
    references: list[str],
    lm: WordLM | None,
    weights: LMWeights,
    beam: int,
    margin: float,
) -> dict[str, float]:
    """WER, CER and decoding seconds per audio second of one decoder setting."""
    started = time.perf_counter()
    if lm is None and beam == 1:
        hypotheses = [greedy_decode(lp).text for lp in log_probs]
    else:
        hypotheses = [
            prefix_beam_search(lp, beam, margin, lm=lm, lm_weights=weights)[0].text
            for lp in log_probs
        ]
    seconds = time.perf_counter() - started
    return {
        "wer": word_error_rate(references, hypotheses),
        "cer": char_error_rate(references, hypotheses),
        "decode_seconds_per_audio_second": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="dev manifest (JSONL, paths relative to it)")
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--lm", type=Path, help="LM file (default: the model's own LM)")
    parser.add_argument("--limit", type=int, default=400, help="clips used (default 400)")
    parser.add_argument("--plot", type=Path, help="write WER per weight setting (PNG)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = speechrnn.load_model(args.model)
    if args.lm is not None:
        lm = WordLM.from_state(torch.load(args.lm, map_location="cpu", weights_only=True))
    elif model.language_model is not None:
        lm = model.language_model
    else:
        raise SystemExit("lm_weights: the model has no language model; give --lm")
    records = clips(args.manifest, args.limit)
    references = [r["text"] for r in records]
    waveforms = [load_audio(args.manifest.parent / r["audio"]) for r in records]
    log_probs = [model.clip_log_probs(waveform)[0] for waveform in waveforms]
    audio_seconds = sum(len(waveform) for waveform in waveforms) / model.sample_rate
    print(f"{len(records)} clips, {audio_seconds / 60:.1f} min", file=sys.stderr)

    def per_audio_second(row: dict[str, float]) -> dict[str, float]:
        row["decode_seconds_per_audio_second"] /= audio_seconds
        return row

    greedy = per_audio_second(scores(log_probs, references, None, LMWeights(), 1, 0.0))
    plain_beam = per_audio_second(
        scores(log_probs, references, None, LMWeights(), TUNING_BEAM, TUNING_MARGIN)
    )
    grid = []
    for weight, bonus, unknown in itertools.product(*GRID.values()):
        weights = LMWeights(weight, bonus, unknown)
        row = scores(log_probs, references, lm, weights, TUNING_BEAM, TUNING_MARGIN)
        grid.append({**asdict(weights), **per_audio_second(row)})
        print(f"{weights}: WER {row['wer']:.3f} CER {row['cer']:.3f}", file=sys.stderr)
    best = min(grid, key=lambda row: (row["wer"], row["cer"]))
    best_weights = LMWeights(best["weight"], best["word_bonus"], best["unknown_letter"])
    speed = [
        {"beam": beam, "prune_margin": margin}
        | per_audio_second(scores(log_probs, references, lm, best_weights, beam, margin))
        for beam, margin in SPEED_SETTINGS
    ]
    report = {
        "clips": len(records),
        "audio_minutes": round(audio_seconds / 60, 2),
        "greedy": greedy,
        f"beam {TUNING_BEAM} without LM": plain_beam,
        "grid": grid,
        "best": best,
        "speed": speed,
    }
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(9, 4))
        labels = [f"{r['weight']:g}/{r['word_bonus']:g}/{r['unknown_letter']:g}" for r in grid]
        axis.plot(range(len(grid)), [100 * r["wer"] for r in grid], "o-", label="LM beam WER")
        axis.axhline(100 * greedy["wer"], color="gray", linestyle="--", label="greedy WER")
        axis.set_xticks(range(len(grid)), labels, rotation=90, fontsize=6)
        axis.set_xlabel("weight / word bonus / unknown letter")
        axis.set_ylabel("WER (%)")
        axis.set_title(f"LM weights, {len(records)} held-out synthetic clips, beam {TUNING_BEAM}")
        axis.legend()
        figure.tight_layout()
        temporary = args.plot.with_name(f".{args.plot.name}.tmp.png")
        figure.savefig(temporary, dpi=120)
        temporary.replace(args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"greedy: WER {greedy['wer']:.3f} CER {greedy['cer']:.3f}")
        print(f"beam {TUNING_BEAM}, no LM: WER {plain_beam['wer']:.3f} CER {plain_beam['cer']:.3f}")
        for row in speed:
            print(
                f"beam {row['beam']} margin {row['prune_margin']:g}: WER {row['wer']:.3f} "
                f"CER {row['cer']:.3f}, {row['decode_seconds_per_audio_second']:.4f} s per s"
            )
        flag = f"{best['weight']:g},{best['word_bonus']:g},{best['unknown_letter']:g}"
        print(f"best: --lm-weights {flag} (WER {best['wer']:.3f}, CER {best['cer']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
