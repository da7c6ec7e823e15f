"""Compare the voice-activity detectors of speechrnn.vad as the streaming endpointer uses them.

A long signal is built from utterances separated by 0.8-3 s pauses (espeak-ng speech, plus real
read speech when ``--real-speech`` points at Debian's pocketsphinx-testdata folder), each at its
own level, then mixed with white, pink, brown or mains-hum noise at several signal-to-noise
ratios. Every detector feeds the same :class:`speechrnn.vad.Endpointer` (0.5 s endpoint, 0.15 s
minimum speech), and the detected utterances are scored against the true ones:

- missed: a true utterance less than half covered by detected ones;
- split: a true utterance covered by two or more detected ones;
- merged: a true utterance whose detected one also spans another true one (the endpoint never
  came between them: no final result for the first until the second ends);
- false: a detected utterance touching no true one (noise taken for speech);
- coverage: the share of true speech inside detected utterances (clipped words lower it);
- end lag: detected end of speech - true end, median over cleanly found utterances (it adds
  to the time to a final result);
- cpu: detector seconds per second of audio, one thread.

Usage:
    python benchmarks/vad_compare.py [--real-speech /usr/share/pocketsphinx/test/data]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from speechrnn.audio import load_audio
from speechrnn.vad import (
    Endpointer,
    VoiceActivityDetector,
    WebRtcVad,
    frame_scores,
    make_vad,
)

RATE = 16000
SENTENCES = [
    "turn on the kitchen lights",
    "what is the weather like tomorrow morning",
    "stop",
    "go forward ten meters",
    "please call my sister after lunch",
    "set a timer for five minutes",
    "yes",
    "the quick brown fox jumps over the lazy dog",
    "open the garage door",
    "play some quiet music in the living room",
    "no thank you",
    "how far is the nearest train station",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-us+m3", "en-029", "en-gb-x-rp+f2"]
NOISES = ("white", "pink", "brown", "hum")
SNRS = (20.0, 10.0, 5.0, 0.0)


def active_span(waveform: np.ndarray, floor_db: float = 35.0) -> tuple[int, int]:
    """First and last sample of 10 ms frames within ``floor_db`` of the loudest frame."""
    frames = len(waveform) // 160
    energy = 10 * np.log10((waveform[: frames * 160].reshape(frames, 160) ** 2).mean(1) + 1e-12)
    active = np.flatnonzero(energy > energy.max() - floor_db)
    return int(active[0]) * 160, int(active[-1] + 1) * 160


def espeak_utterances(folder: Path, rng: np.random.Generator) -> list[np.ndarray]:
    """Every sentence in two random voices and speeds, trimmed to its active span."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SystemExit("espeak-ng is needed (apt-get install espeak-ng)")
    clips = []
    for index, sentence in enumerate(SENTENCES * 2):
        voice = VOICES[int(rng.integers(len(VOICES)))]
        speed = int(rng.integers(120, 190))
        path = folder / f"{index}.wav"
        command = [program, "-v", voice, "-s", str(speed), "-w", str(path), sentence]
        subprocess.run(command, check=True, capture_output=True)
        clip = load_audio(path).numpy()
        start, end = active_span(clip)
        clips.append(clip[start:end])
    return clips


def real_utterances(folder: Path) -> list[np.ndarray]:
    """The pocketsphinx-testdata recordings (LibriVox read speech, spoken card names)."""
    clips = []
    for path in sorted(folder.glob("*/*.wav")):
        clip = load_audio(path).numpy()
        start, end = active_span(clip)
        clips.append(clip[start:end])
    return clips


def colored_noise(kind: str, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise: white, pink (1/f), brown (1/f^2), or 50 Hz hum with harmonics + pink."""
    if kind == "hum":
        t = np.arange(samples) / RATE
        hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3, 5))
        noise = hum / np.std(hum) + 0.3 * colored_noise("pink", samples, rng)
        return noise / np.std(noise)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.maximum(np.fft.rfftfreq(samples, 1 / RATE), 20.0)
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
    noise = np.fft.irfft(spectrum / frequencies**exponent, samples)
    return noise / np.std(noise)


def build_session(
    clips: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]], float]:
    """Clips at random levels with random pauses; returns signal, true spans, speech power."""
    pieces, spans, position, power = [np.zeros(2 * RATE)], [], 2 * RATE, []
    for clip in clips:
        level_db = rng.uniform(-32, -14)
        scaled = clip / (np.sqrt(np.mean(clip**2)) + 1e-9) * 10 ** (level_db / 20)
        power.append(np.mean(scaled**2))
        gap = int(rng.uniform(0.8, 3.0) * RATE)
        pieces += [scaled, np.zeros(gap)]
        spans.append((position, position + len(scaled)))
        position += len(scaled) + gap
    return np.concatenate(pieces).astype(np.float32), spans, float(np.mean(power))


DETECTORS = {
    "silero": lambda: make_vad("silero"),
    "webrtc-2": lambda: make_vad("webrtc"),
    "webrtc-3": lambda: WebRtcVad(mode=3),
    "energy": lambda: make_vad("energy"),
}
# What the streaming recognizer adds around detected speech before decoding.
PRE_ROLL, POST_ROLL = int(0.3 * RATE), int(0.2 * RATE)


def detect(
    detector: VoiceActivityDetector, waveform: np.ndarray, endpoint: float
) -> tuple[list[tuple[int, int]], float]:
    """Utterances found by a detector + endpointer (with the recognizer's padding); CPU seconds."""
    started = time.process_time()
    scores = frame_scores(detector, torch.from_numpy(waveform))
    cpu = time.process_time() - started
    endpointer = Endpointer(detector.threshold, endpoint_seconds=endpoint)
    found, start = [], 0
    for score in scores:
        event = endpointer.push(float(score), detector.frame_length)
        if event is not None and event.kind == "start":
            start = max(0, event.sample - PRE_ROLL)
        elif event is not None and event.kind == "end":
            found.append((start, event.sample + POST_ROLL))
    if endpointer.in_utterance:
        found.append((start, endpointer.last_speech_end + POST_ROLL))
    return found, cpu


def score(truth: list[tuple[int, int]], found: list[tuple[int, int]]) -> dict[str, float]:
    """Utterance-level errors of ``found`` against ``truth`` (see the module docstring)."""
    tolerance = int(0.1 * RATE)
    missed = split = 0
    covered = total = 0
    lags = []
    for start, end in truth:
        overlapping = [(s, e) for s, e in found if s < end and e > start]
        inside = sum(min(e, end) - max(s, start) for s, e in overlapping)
        covered += inside
        total += end - start
        if inside < 0.5 * (end - start):
            missed += 1
        elif len(overlapping) > 1:
            split += 1
        elif not any(s < e2 and e > s2 for s, e in overlapping for s2, e2 in truth if s2 != start):
            lags.append((overlapping[0][1] - POST_ROLL - end) / RATE)
    merged = false = 0
    touched_by = [
        [i for i, (s, e) in enumerate(truth) if start < e + tolerance and end > s - tolerance]
        for start, end in found
    ]
    merged = len({i for touched in touched_by if len(touched) > 1 for i in touched})
    false = sum(not touched for touched in touched_by)
    return {
        "missed": missed,
        "split": split,
        "merged": merged,
        "false": false,
        "errors": missed + split + merged + false,
        "coverage": covered / total,
        "end_lag": float(np.median(lags)) if lags else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-speech", type=Path, help="pocketsphinx-testdata data folder")
    parser.add_argument("--endpoint", type=float, default=0.5, help="endpoint silence, seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        clips = espeak_utterances(Path(folder), rng)
    if args.real_speech:
        clips += real_utterances(args.real_speech)
    order = rng.permutation(len(clips))
    session, truth, speech_power = build_session([clips[i] for i in order], rng)
    seconds = len(session) / RATE
    print(f"{len(truth)} utterances, {seconds:.0f} s per condition")
    conditions: list[tuple[str, float | None]] = [("clean", None)]
    conditions += [(kind, snr) for kind in NOISES for snr in SNRS]
    totals = {name: {"errors": 0.0, "coverage": 0.0, "cpu": 0.0, "lag": []} for name in DETECTORS}
    header = f"{'condition':<12}" + "".join(f"{n:>36}" for n in DETECTORS)
    print(header)
    print(f"{'':<12}" + "   miss split merge false  cov   lag" * len(DETECTORS))
    for kind, snr in conditions:
        if snr is None:
            mixed = session + 1e-4 * rng.standard_normal(len(session)).astype(np.float32)
            label = "clean"
        else:
            noise = colored_noise(kind, len(session), rng) * np.sqrt(
                speech_power / 10 ** (snr / 10)
            )
            mixed = (session + noise).astype(np.float32)
            label = f"{kind} {snr:.0f}dB"
        row = f"{label:<12}"
        for name in DETECTORS:
            found, cpu = detect(DETECTORS[name](), mixed, args.endpoint)
            result = score(truth, found)
            totals[name]["errors"] += result["errors"]
            totals[name]["coverage"] += result["coverage"]
            totals[name]["cpu"] += cpu
            totals[name]["lag"].append(result["end_lag"])  # type: ignore[union-attr]
            row += (
                f"  {result['missed']:>5} {result['split']:>5} {result['merged']:>5}"
                f" {result['false']:>5} {result['coverage']:.2f} {result['end_lag']:+5.2f}"
            )
        print(row, flush=True)
    count = len(conditions)
    print(f"\nover {count} conditions x {len(truth)} utterances:")
    for name in DETECTORS:
        t = totals[name]
        print(
            f"  {name:<8} utterance errors {int(t['errors']):>4} "
            f"({t['errors'] / (count * len(truth)):.1%})  mean coverage {t['coverage'] / count:.3f}"
            f"  median end lag {np.nanmedian(t['lag']):+.2f} s"
            f"  cpu {t['cpu'] / (count * seconds):.2%} of one core"
        )


if __name__ == "__main__":
    main()
