"""Real-time factor and peak memory of ``transcribe`` on one CPU thread.

Each case runs in a fresh process (so its peak RSS is its own): short clips (the bundled sample,
a few times over), and one long file made of the sample repeated with pauses (60 minutes by
default) to show that memory stays bounded on long recordings.

    .venv/bin/python benchmarks/transcribe_speed.py [--model PATH] [--long-minutes 60] [--json]

Run it alone on the machine: a timing taken beside another job is worthless.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "sample.wav"


def measure(model: str | None, path: str, repeats: int, beam_size: int | None) -> dict[str, float]:
    """Transcribe ``path`` ``repeats`` times in this process; return timings (child mode)."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    import speechrnn

    import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    recognizer = speechrnn.load_model(model)
    load_seconds = time.perf_counter() - started
    recognizer.transcribe(path, beam_size=beam_size)  # warm-up: first calls allocate
    audio_seconds = processing = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        result = recognizer.transcribe(path, beam_size=beam_size)
        processing += time.perf_counter() - started
        audio_seconds += result.duration
    return {
        "load_seconds": round(load_seconds, 3),
        "audio_seconds": round(audio_seconds, 1),
        "processing_seconds": round(processing, 3),
        "rtf": round(processing / audio_seconds, 5),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # torch (the CUDA-enabled PyPI build) maps ~680 MB just by being imported
        "import_rss_mb": round(import_rss, 1),
    }


def make_long_file(path: Path, minutes: float) -> None:
    """The bundled sample and 2 s of low noise, repeated for ``minutes`` (16 kHz PCM)."""
    import numpy as np
    import soundfile

    sample, rate = soundfile.read(str(SAMPLE), dtype="int16")
    pause = (np.random.default_rng(0).standard_normal(2 * rate) * 30).astype(np.int16)
    unit = np.concatenate([sample, pause])
    repeats = int(minutes * 60 * rate / len(unit)) + 1
    with soundfile.SoundFile(str(path), "w", rate, 1, "PCM_16") as file:
        for _ in range(repeats):
            file.write(unit)


def run_case(
    model: str | None, path: Path, repeats: int, beam_size: int | None
) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(path), "--repeats", str(repeats)]
    command += ["--beam-size", str(beam_size)] if beam_size is not None else []
    command += ["--model", model] if model else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark case failed: {done.stderr.strip().splitlines()[-1]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument(
        "--beam-size",
        type=int,
        help="1 = greedy (default: the model's own decoding: beam + LM if it has an LM)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.child, args.repeats, args.beam_size)))
        return 0

    results = {"short clip (sample, 2.8 s, x20)": run_case(args.model, SAMPLE, 20, args.beam_size)}
    with tempfile.TemporaryDirectory() as folder:
        long_path = Path(folder) / "long.wav"
        make_long_file(long_path, args.long_minutes)
        name = f"long file ({args.long_minutes:g} min)"
        results[name] = run_case(args.model, long_path, 1, args.beam_size)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    header = f"{'case':42} {'RTF':>7} {'audio s':>8} {'peak RSS MB':>12} {'of it import':>13}"
    print(header + f" {'load s':>7}")
    for name, row in results.items():
        print(
            f"{name:42} {row['rtf']:7.4f} {row['audio_seconds']:8.1f} "
            f"{row['peak_rss_mb']:12.1f} {row['import_rss_mb']:13.1f} {row['load_seconds']:7.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
