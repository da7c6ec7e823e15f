"""Measure the live recognizer: time to a final result, partial refresh, idle CPU, memory.

1. latency: espeak-ng utterances (1-12 s) separated by pauses, with faint noise, are fed in blocks
   of the microphone's size (100 ms), paced by the wall clock as a microphone delivers them. For
   each final result: the delay from the moment the endpoint silence elapsed (the VAD's end of
   speech + ``endpoint_seconds``, on the wall clock) to the moment ``process()`` returned the
   final. Also the wall time between consecutive partial results of an utterance.
2. idle CPU: 60 s of room noise (-60 dBFS) fed in real time; CPU seconds / wall seconds of the
   recognizer alone, and with ``--mic`` of a whole ``speechrnn listen`` process recording a
   silent PulseAudio virtual microphone through PortAudio (needs pulseaudio installed).
3. memory: ``--memory-minutes`` of speech and pauses fed as fast as possible; resident memory
   sampled every minute of audio.

Everything runs on one thread (``torch.set_num_threads(1)``). Without ``--model`` the model is the
default architecture (ModelConfig()) with random weights: the same computation as a trained model
of that size.

Usage:
    python benchmarks/streaming_latency.py [--model PATH] [--mic] [--memory-minutes 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.checkpoint import save_model
from speechrnn.microphone import BLOCK_SECONDS
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.streaming import Final, Partial, StreamingConfig, StreamingRecognizer
from speechrnn.transcribe import Recognizer, load_model

BLOCK = round(BLOCK_SECONDS * SAMPLE_RATE)  # as the microphone source delivers
SENTENCES = [
    "yes",
    "stop the music",
    "turn on the kitchen lights",
    "what is the weather like tomorrow morning in the city",
    "please call my sister after lunch and tell her that I will be late for dinner",
    "go forward ten meters then turn left at the second door and wait for me there",
]


def speak(text: str, path: Path, voice: str, speed: int) -> torch.Tensor:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return load_audio(path)


def utterances(count: int, folder: Path) -> list[torch.Tensor]:
    """``count`` utterances from 1 s to about 12 s (long ones are two sentences)."""
    rng = np.random.default_rng(0)
    voices = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland"]
    clips = []
    for index in range(count):
        text = SENTENCES[index % len(SENTENCES)]
        if index % 7 == 6:
            text = f"{SENTENCES[-1]} and {SENTENCES[-2]}"
        voice = voices[int(rng.integers(len(voices)))]
        clips.append(speak(text, folder / f"{index}.wav", voice, int(rng.integers(130, 170))))
    return clips


def session(clips: list[torch.Tensor], pause: float = 1.5) -> torch.Tensor:
    gap = torch.zeros(int(pause * SAMPLE_RATE))
    waveform = torch.cat([gap] + [piece for clip in clips for piece in (clip, gap)])
    noise = torch.randn(len(waveform), generator=torch.Generator().manual_seed(0))
    return waveform + 10 ** (-50 / 20) * noise


def paced(
    streamer: StreamingRecognizer, waveform: torch.Tensor
) -> tuple[list[tuple[float, Partial | Final]], float, float]:
    """Feed in real time; return (wall time, event) pairs, the start time and CPU seconds."""
    events: list[tuple[float, Partial | Final]] = []
    cpu_start = time.process_time()
    start = time.perf_counter()
    for offset in range(0, len(waveform), BLOCK):
        block = waveform[offset : offset + BLOCK]
        due = start + (offset + len(block)) / SAMPLE_RATE  # when the last sample was "heard"
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for event in streamer.process(block):
            events.append((time.perf_counter(), event))
    return events, start, time.process_time() - cpu_start


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def measure_latency(recognizer: Recognizer, count: int, folder: Path) -> None:
    config = StreamingConfig()
    clips = utterances(count, folder)
    waveform = session(clips)
    streamer = StreamingRecognizer(recognizer, config)
    events, start, cpu = paced(streamer, waveform)
    latencies, lengths, intervals = [], [], []
    last_partial: dict[float, float] = {}
    for wall, event in events:
        if isinstance(event, Final):
            speech_end = event.end - config.post_roll_seconds
            elapsed_at = start + speech_end + config.endpoint_seconds
            latencies.append(wall - elapsed_at)
            lengths.append(event.end - event.start)
        else:
            if event.start in last_partial:
                intervals.append(wall - last_partial[event.start])
            last_partial[event.start] = wall
    seconds = len(waveform) / SAMPLE_RATE
    print(
        f"latency: {len(clips)} utterances, {seconds:.0f} s fed in real time, "
        f"{BLOCK_SECONDS * 1000:.0f} ms blocks"
    )
    print(f"  finals: {len(latencies)} (utterance lengths {min(lengths):.1f}-{max(lengths):.1f} s)")
    print(
        f"  final after endpoint silence: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    long = [lat for lat, length in zip(latencies, lengths, strict=True) if length > 8]
    if long:
        print(f"  ... for utterances over 8 s: max {max(long) * 1000:.0f} ms")
    print(
        f"  partial refresh: median {statistics.median(intervals) * 1000:.0f} ms, "
        f"p95 {percentile(intervals, 95) * 1000:.0f} ms, max {max(intervals) * 1000:.0f} ms"
    )
    print(f"  CPU over the whole run: {cpu / seconds:.1%} of one core")


def measure_idle(recognizer: Recognizer, seconds: float) -> None:
    noise = 10 ** (-60 / 20) * torch.randn(int(seconds * SAMPLE_RATE))
    streamer = StreamingRecognizer(recognizer)
    events, start, cpu = paced(streamer, noise)
    wall = time.perf_counter() - start
    print(f"idle: {seconds:.0f} s of -60 dBFS noise in real time: {len(events)} events")
    print(f"  recognizer CPU while silent: {cpu / wall:.2%} of one core")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_idle_mic(model_path: Path, seconds: float) -> None:
    """CPU of a whole ``speechrnn listen`` process on a silent PulseAudio virtual microphone."""
    if shutil.which("pulseaudio") is None:
        print("idle (mic): skipped, pulseaudio is not installed")
        return
    runtime = Path(tempfile.mkdtemp(prefix="pa-"))
    runtime.chmod(0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--load=module-native-protocol-unix",
         "--load=module-null-sink sink_name=vmic"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        subprocess.run(["pactl", "set-default-source", "vmic.monitor"], env=env, check=True)
        command = [sys.executable, "-m", "speechrnn", "listen", "--model", str(model_path),
                   "--device", "pulse", "--duration", str(seconds + 10)]  # fmt: skip
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        process.stderr.readline()  # "listening on ..."
        time.sleep(3)  # past start-up
        before, started = cpu_seconds(process.pid), time.perf_counter()
        time.sleep(seconds)
        used, wall = cpu_seconds(process.pid) - before, time.perf_counter() - started
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        print(f"idle (mic): speechrnn listen on a silent PulseAudio source for {wall:.0f} s")
        print(
            f"  process CPU while silent: {used / wall:.2%} of one core (exit {process.returncode})"
        )
    finally:
        pid_file = runtime / "pulse" / "pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        time.sleep(0.5)
        shutil.rmtree(runtime, ignore_errors=True)


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_memory(recognizer: Recognizer, minutes: float, folder: Path) -> None:
    """Speech and pauses for ``minutes`` of audio, as fast as possible; RSS every minute."""
    clips = utterances(12, folder)
    rng = np.random.default_rng(1)
    streamer = StreamingRecognizer(recognizer)
    chunk = SAMPLE_RATE // 2  # big chunks: fewer partial decodes, the same state to keep
    total = int(minutes * 60 * SAMPLE_RATE)
    fed, next_sample, samples = 0, 0, []
    finals = 0
    largest_buffer = 0.0
    started = time.perf_counter()
    while fed < total:
        # One utterance, or a long silence now and then, with room noise throughout.
        if rng.random() < 0.8:
            piece = torch.cat([clips[int(rng.integers(len(clips)))], torch.zeros(SAMPLE_RATE)])
        else:
            piece = torch.zeros(int(rng.uniform(5, 60) * SAMPLE_RATE))
        piece = piece + 10 ** (-55 / 20) * torch.randn(len(piece))
        for offset in range(0, len(piece), chunk):
            events = streamer.process(piece[offset : offset + chunk])
            finals += sum(isinstance(e, Final) for e in events)
            largest_buffer = max(largest_buffer, streamer.buffered_seconds)
        fed += len(piece)
        if fed >= next_sample:
            samples.append((fed / SAMPLE_RATE / 60, rss_mb()))
            next_sample += 60 * SAMPLE_RATE
    wall = time.perf_counter() - started
    rss = [r for _, r in samples]
    first_after_warmup = rss[min(2, len(rss) - 1)]
    print(f"memory: {fed / SAMPLE_RATE / 60:.1f} min of audio ({finals} finals) in {wall:.0f} s")
    print(
        f"  RSS: {rss[0]:.0f} MB after 1 min, {first_after_warmup:.0f} MB after 3 min, "
        f"{rss[-1]:.0f} MB at the end; max {max(rss):.0f} MB; growth after minute 3: "
        f"{rss[-1] - first_after_warmup:+.1f} MB"
    )
    trace = ", ".join(f"{minute:.0f} min {r:.0f}" for minute, r in samples[::5])
    print(f"  RSS every 5 min of audio (MB): {trace}")
    print(f"  largest audio buffer held: {largest_buffer:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS (ru_maxrss): {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: random default-size)")
    parser.add_argument("--utterances", type=int, default=21)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--memory-minutes", type=float, default=30.0)
    parser.add_argument("--mic", action="store_true", help="also measure a whole listen process")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        model_path = args.model
        if model_path is None:
            torch.manual_seed(0)
            model_path = Path(folder) / "default-size.pt"
            save_model(AcousticModel(ModelConfig()).eval(), model_path)
        recognizer = load_model(model_path)
        name = args.model or "default architecture, random weights"
        millions = recognizer.model.num_parameters() / 1e6
        print(f"model: {name} ({millions:.1f} M parameters), 1 thread")
        measure_latency(recognizer, args.utterances, Path(folder))
        if args.idle_seconds > 0:
            measure_idle(recognizer, args.idle_seconds)
        if args.mic and args.idle_seconds > 0:
            measure_idle_mic(model_path, min(args.idle_seconds, 30.0))
        if args.memory_minutes > 0:
            measure_memory(recognizer, args.memory_minutes, Path(folder))


if __name__ == "__main__":
    main()
