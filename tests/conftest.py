"""Shared fixtures: speech clips made with espeak-ng, and a tiny model that has learned them.

Nothing is downloaded: the clips are synthesized on the spot, and the model is trained on them in a
few seconds until greedy decoding spells each one exactly. Tests that need a model that "hears"
(the CLI, streaming, the virtual microphone) use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from speechrnn.audio import SAMPLE_RATE, load_audio, save_audio
from speechrnn.checkpoint import save_model
from speechrnn.decoding import greedy_decode
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.tokenizer import encode

# The benchmark scripts import their sibling modules by name (they run as scripts from their
# folder); the tests of those scripts import them the same way.
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

# Short and acoustically distinct, so a tiny model separates them quickly.
TRAINED_PHRASES = ("yes", "stop", "go forward")
TINY_CONFIG = ModelConfig(hidden_size=64, num_layers=1, conv_channels=64, dropout=0.0)


def require_program(name: str) -> str:
    """Path of a program the tests need; fail under CI (it must be installed), else skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} is not installed")
    return path


def speak(text: str, path: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """Synthesize ``text`` with espeak-ng into a WAV file (22.05 kHz, as espeak writes it)."""
    program = require_program("espeak-ng")
    subprocess.run(
        [program, "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


@dataclass(frozen=True)
class TrainedModel:
    """A tiny checkpoint and the clips it learned: ``clips[i]`` says ``phrases[i]``."""

    path: Path
    phrases: tuple[str, ...]
    clips: tuple[Path, ...]


def _padded(waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random leading/trailing silence, gain and faint noise: what a replay through a sound
    server or a chunked stream changes, so the tiny model does not hinge on exact samples."""
    lead, trail = (int(x) for x in torch.randint(0, 6400, (2,), generator=generator))
    gain = float(torch.empty(1).uniform_(0.5, 1.0, generator=generator))
    padded = torch.cat([torch.zeros(lead), waveform * gain, torch.zeros(trail)])
    noise = float(torch.empty(1).uniform_(0.0, 2e-3, generator=generator))
    return padded + noise * torch.randn(len(padded), generator=generator)


def train_tiny_model(clips: list[Path], phrases: tuple[str, ...], path: Path) -> None:
    """Overfit TINY_CONFIG on the clips until greedy decoding spells every phrase, then save."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = AcousticModel(TINY_CONFIG)
    waveforms = [load_audio(clip) for clip in clips]
    all_features = torch.cat([model.features(w) for w in waveforms])
    model.set_normalization(all_features.mean(0), all_features.std(0))
    targets = [torch.tensor(encode(p)) for p in phrases]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(1500):
        model.train()
        feats = [model.features(_padded(w, generator)) for w in waveforms]
        lengths = torch.tensor([len(f) for f in feats])
        batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
        log_probs, out_lengths = model(batch, lengths)
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1),
            torch.cat(targets),
            out_lengths,
            torch.tensor([len(t) for t in targets]),
            zero_infinity=True,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 24:
            model.eval()
            variants = [*waveforms, *(_padded(w, generator) for w in waveforms)]
            heard = [greedy_decode(model.log_probs(w)).text for w in variants]
            if heard == 2 * list(phrases) and loss.item() < 0.3:
                save_model(model.eval(), path)
                return
    raise RuntimeError(f"tiny model did not learn the clips (last loss {loss.item():.3f})")


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    """Put torch's thread count back after every test: the CLI's --threads and the benchmarks
    set it process-wide."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A tiny model that transcribes the espeak-ng clips of TRAINED_PHRASES exactly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    try:
        folder = tmp_path_factory.mktemp("trained")
        clips = [speak(text, folder / f"{i}.wav") for i, text in enumerate(TRAINED_PHRASES)]
        path = folder / "tiny.pt"
        train_tiny_model(clips, TRAINED_PHRASES, path)
    finally:
        torch.set_num_threads(threads)
    return TrainedModel(path, TRAINED_PHRASES, tuple(clips))


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """One second of a 440 Hz tone at 16 kHz: valid audio that is not speech."""
    time = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    path = tmp_path / "tone.wav"
    save_audio(path, 0.3 * torch.sin(2 * torch.pi * 440 * time))
    return path
