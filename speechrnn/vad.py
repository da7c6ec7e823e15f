"""Voice-activity detection and endpointing for the streaming recognizer.

Three detectors share one interface (:class:`VoiceActivityDetector`): Silero VAD (a small neural
model shipped inside the ``silero-vad`` wheel, run through TorchScript), WebRTC's GMM VAD
(``webrtcvad-wheels``) and a plain energy detector with an adaptive noise floor. Each scores fixed
frames of 16 kHz audio; :class:`FrameBuffer` cuts chunks of any size into those frames, so the
decisions never depend on how the audio was chunked. :class:`Endpointer` turns frame scores into
utterance boundaries: an utterance starts at the first speech frame and ends once ``endpoint``
seconds of non-speech have followed the last speech frame. benchmarks/README.md has the
measurements behind the default (Silero).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

VAD_SAMPLE_RATE = 16000
VAD_NAMES = ("silero", "webrtc", "energy")
DEFAULT_VAD = "silero"


class VadError(RuntimeError):
    """A detector that cannot be used (for example its package is not installed)."""


class VoiceActivityDetector(Protocol):
    """Scores consecutive fixed-size frames of one 16 kHz signal."""

    frame_length: int  # samples per frame
    threshold: float  # scores >= this are speech

    def score(self, frame: torch.Tensor) -> float:
        """Speech score of the next frame.

        Args:
            frame: (frame_length,) float32 at 16 kHz, the frame after the previous call's.

        Returns:
            A score in [0, 1]; >= ``threshold`` means speech.
        """
        ...

    def reset(self) -> None:
        """Forget the signal's history (start of a new signal)."""
        ...


class SileroVad:
    """Silero VAD v5+ (the TorchScript model from the ``silero-vad`` wheel).

    The model is recurrent and keeps 64 samples of context between calls, so frames must be fed in
    order; :meth:`reset` starts a new signal.
    """

    frame_length = 512  # 32 ms: the only size the 16 kHz model accepts

    def __init__(self, threshold: float = 0.5) -> None:
        threads = torch.get_num_threads()
        try:
            from silero_vad import load_silero_vad
        except ImportError:
            raise VadError(
                "the silero VAD needs the silero-vad package (pip install silero-vad --no-deps)"
            ) from None
        finally:
            # Importing silero_vad calls torch.set_num_threads(1) as a side effect; undo it so the
            # caller's thread setting stays in force.
            torch.set_num_threads(threads)
        self.threshold = threshold
        with warnings.catch_warnings():
            # silero-vad uses importlib.resources.path and torch.jit.load, both deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._model = load_silero_vad()
        self._model.eval()

    @torch.inference_mode()
    def score(self, frame: torch.Tensor) -> float:
        """Speech probability of the next 32 ms frame (see :class:`VoiceActivityDetector`)."""
        return float(self._model(frame.float(), VAD_SAMPLE_RATE))

    def reset(self) -> None:
        """Clear the recurrent state and the context."""
        self._model.reset_states()


class WebRtcVad:
    """WebRTC's VAD (``webrtcvad-wheels``): a binary decision per 30 ms frame."""

    frame_length = 480  # 30 ms; WebRTC accepts 10, 20 or 30 ms

    def __init__(self, mode: int = 2) -> None:
        try:
            import webrtcvad
        except ImportError:
            raise VadError(
                "the webrtc VAD needs the webrtcvad-wheels package (pip install webrtcvad-wheels)"
            ) from None
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"webrtc VAD mode must be 0, 1, 2 or 3, got {mode}")
        self.threshold = 0.5
        self._vad = webrtcvad.Vad(mode)

    def score(self, frame: torch.Tensor) -> float:
        """1.0 for speech, 0.0 otherwise (see :class:`VoiceActivityDetector`)."""
        pcm = (frame.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).numpy().tobytes()
        return 1.0 if self._vad.is_speech(pcm, VAD_SAMPLE_RATE) else 0.0

    def reset(self) -> None:
        """WebRTC's detector adapts slowly and has no public reset; nothing to do."""


class EnergyVad:
    """Frame energy against an adaptive noise floor (a baseline; no model, no dependency).

    The floor follows the quietest recent frames: it drops at once to a quieter frame and rises
    slowly (``floor_rise_db`` per second), so steady background noise is learned within seconds
    while speech, which is bursty, does not lift it much.
    """

    frame_length = 320  # 20 ms

    def __init__(
        self,
        margin_db: float = 10.0,
        floor_rise_db: float = 2.0,
        min_level_db: float = -55.0,
    ) -> None:
        self.threshold = 0.5
        self.margin_db = margin_db
        self._rise = floor_rise_db * self.frame_length / VAD_SAMPLE_RATE
        self.min_level_db = min_level_db
        self._floor: float | None = None

    def score(self, frame: torch.Tensor) -> float:
        """Logistic score of (level - floor - margin) in dB (see :class:`VoiceActivityDetector`)."""
        level = 10.0 * math.log10(float(frame.double().pow(2).mean()) + 1e-10)
        if self._floor is None:
            self._floor = level
        self._floor = min(level, self._floor + self._rise)
        if level < self.min_level_db:
            return 0.0
        excess = level - self._floor - self.margin_db
        return 1.0 / (1.0 + math.exp(-excess / 1.5))

    def reset(self) -> None:
        """Forget the noise floor."""
        self._floor = None


def make_vad(name: str = DEFAULT_VAD, threshold: float | None = None) -> VoiceActivityDetector:
    """Build a detector by name.

    Args:
        name: One of :data:`VAD_NAMES`.
        threshold: Speech threshold on the score (Silero and energy only; None keeps the default).

    Returns:
        The detector.

    Raises:
        ValueError: Unknown name.
        VadError: The detector's package is missing.
    """
    detector: VoiceActivityDetector
    if name == "silero":
        detector = SileroVad()
    elif name == "webrtc":
        detector = WebRtcVad()
    elif name == "energy":
        detector = EnergyVad()
    else:
        raise ValueError(f"unknown VAD {name!r}; choose one of {', '.join(VAD_NAMES)}")
    if threshold is not None:
        detector.threshold = threshold
    return detector


class FrameBuffer:
    """Cut a stream of chunks of any size into consecutive frames of a fixed length."""

    def __init__(self, frame_length: int) -> None:
        self.frame_length = frame_length
        self._pending = torch.zeros(0)

    def push(self, samples: torch.Tensor) -> list[torch.Tensor]:
        """Add samples; return the frames now complete, oldest first.

        Args:
            samples: (samples,) float32.

        Returns:
            Frames of shape (frame_length,).
        """
        self._pending = torch.cat([self._pending, samples.float()])
        count = len(self._pending) // self.frame_length
        if count == 0:
            return []
        frames = list(self._pending[: count * self.frame_length].split(self.frame_length))
        self._pending = self._pending[count * self.frame_length :].clone()
        return frames

    def reset(self) -> None:
        """Drop buffered samples."""
        self._pending = torch.zeros(0)


@dataclass(frozen=True)
class EndpointEvent:
    """An utterance boundary, in samples at 16 kHz from the start of the stream.

    ``kind`` is "start" (speech began at ``sample``), "end" (the utterance's speech ended at
    ``sample`` and the endpoint silence has elapsed since), or "cancel" (the utterance that started
    had too little speech to count; it is dropped).
    """

    kind: Literal["start", "end", "cancel"]
    sample: int


class Endpointer:
    """Frame scores -> utterance start/end events, with hysteresis and a trailing-silence endpoint.

    A frame is speech when its score reaches the detector's threshold; once in an utterance, frames
    stay speech down to ``threshold - hysteresis`` so a soft syllable does not end it. The
    utterance ends when ``endpoint_seconds`` of non-speech follow its last speech frame; it is
    cancelled instead when it held less than ``min_speech_seconds`` of speech (a click, a cough).
    """

    def __init__(
        self,
        threshold: float,
        endpoint_seconds: float = 0.5,
        min_speech_seconds: float = 0.15,
        hysteresis: float = 0.15,
        sample_rate: int = VAD_SAMPLE_RATE,
    ) -> None:
        if endpoint_seconds <= 0:
            raise ValueError(f"endpoint silence must be > 0 seconds, got {endpoint_seconds}")
        self.threshold = threshold
        self.release = threshold - hysteresis
        self.endpoint_samples = round(endpoint_seconds * sample_rate)
        self.min_speech_samples = round(min_speech_seconds * sample_rate)
        self.in_utterance = False
        self._position = 0  # samples scored so far
        self._start = 0
        self._last_speech_end = 0
        self._speech_samples = 0

    @property
    def position(self) -> int:
        """Samples scored so far."""
        return self._position

    @property
    def speech_samples(self) -> int:
        """Samples of speech frames in the current utterance so far."""
        return self._speech_samples

    @property
    def utterance_start(self) -> int:
        """Start sample of the current utterance (meaningful while :attr:`in_utterance`)."""
        return self._start

    @property
    def last_speech_end(self) -> int:
        """End sample of the current utterance's last speech frame."""
        return self._last_speech_end

    def push(self, score: float, frame_length: int) -> EndpointEvent | None:
        """Advance by one scored frame.

        Args:
            score: The detector's score for the frame.
            frame_length: The frame's length in samples.

        Returns:
            The boundary this frame produced, if any.
        """
        start, self._position = self._position, self._position + frame_length
        speech = score >= (self.release if self.in_utterance else self.threshold)
        if not self.in_utterance:
            if not speech:
                return None
            self.in_utterance = True
            self._start, self._last_speech_end = start, self._position
            self._speech_samples = frame_length
            return EndpointEvent("start", start)
        if speech:
            self._last_speech_end = self._position
            self._speech_samples += frame_length
            return None
        if self._position - self._last_speech_end < self.endpoint_samples:
            return None
        self.in_utterance = False
        if self._speech_samples < self.min_speech_samples:
            return EndpointEvent("cancel", self._start)
        return EndpointEvent("end", self._last_speech_end)

    def split(self, sample: int) -> None:
        """Continue the current utterance as a new one starting at ``sample`` (forced cut)."""
        self._start = sample
        self._last_speech_end = max(self._last_speech_end, sample)
        # The part before the cut already counted; the new one must earn its own minimum.
        self._speech_samples = 0

    def reset(self) -> None:
        """Back to silence at stream position 0."""
        self.in_utterance = False
        self._position = self._start = self._last_speech_end = self._speech_samples = 0


def frame_scores(detector: VoiceActivityDetector, waveform: torch.Tensor) -> np.ndarray:
    """Score a whole 16 kHz waveform frame by frame (evaluation helper).

    Args:
        detector: A detector, reset first.
        waveform: (samples,) float32 at 16 kHz.

    Returns:
        (frames,) float64 scores; the tail shorter than a frame is not scored.
    """
    detector.reset()
    frames = FrameBuffer(detector.frame_length).push(waveform)
    return np.array([detector.score(frame) for frame in frames], dtype=np.float64)
