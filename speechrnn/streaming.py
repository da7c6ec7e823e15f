"""Live recognition: audio chunks in, partial and final results out.

The acoustic model is bidirectional, so it cannot emit text frame by frame. Instead a voice-activity
detector (:mod:`speechrnn.vad`) finds utterances; while one grows it is re-decoded every
``partial_interval`` seconds, and the words that several consecutive decodes agree on are shown as
a partial result; when the speaker has been silent for ``endpoint_seconds`` the utterance is
decoded once more, exactly as a file would be, into a :class:`~speechrnn.transcribe.Result`. That
last decode starts as soon as the pause reaches ``post_roll_seconds`` (it covers the same span the
final will), so the final is ready the moment the endpoint silence has elapsed; if speech resumes
instead, the decode is discarded.

Every decision is made on fixed frames of the 16 kHz stream, never on the chunks the caller
happens to pass, and every decode reads the utterance's own samples, its margins fitted as a file
segment's are (``Recognizer.decode_clip``), so the final results do not depend on the chunk size
and equal ``Recognizer.transcribe`` of the same span of audio. Memory is bounded whatever the
stream's length: while nobody speaks only a short pre-roll of audio is kept, and an utterance
longer than ``max_utterance_seconds`` is cut at its quietest recent point and finished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from speechrnn.audio import Resampler, to_mono
from speechrnn.decoding import CommandDecoder, greedy_decode
from speechrnn.transcribe import Recognizer, Result
from speechrnn.vad import DEFAULT_VAD, Endpointer, FrameBuffer, VoiceActivityDetector, make_vad

_CUT_SEARCH_SECONDS = 3.0  # a forced cut is made at the quietest VAD frame this close to the cap


@dataclass(frozen=True)
class StreamingConfig:
    """How the streaming recognizer segments and re-decodes. Times are in seconds."""

    vad: str = DEFAULT_VAD  # "silero", "webrtc" or "energy" (see speechrnn.vad)
    vad_threshold: float | None = None  # speech threshold on the VAD score; None = the VAD's own
    endpoint_seconds: float = 0.5  # trailing silence that ends an utterance
    min_speech_seconds: float = 0.15  # utterances with less speech are dropped (clicks, coughs)
    pre_roll_seconds: float = 0.3  # audio kept before the detected onset: VADs react late
    post_roll_seconds: float = 0.2  # audio after the last speech frame given to the model
    partial_interval: float = 0.2  # re-decode period while speaking; 0 turns partials off
    stable_decodes: int = 2  # a word is shown once this many consecutive decodes agree on it
    max_utterance_seconds: float = 15.0  # longer utterances are cut and finished (bounds memory)
    # Final decoding: 1 = greedy, more = CTC prefix beam search, None = the recognizer's default
    # (a beam search with its language model when it has one). Partials are always greedy.
    beam_size: int | None = None

    def __post_init__(self) -> None:
        if self.endpoint_seconds <= 0:
            raise ValueError(f"endpoint_seconds must be > 0, got {self.endpoint_seconds}")
        if not 0 <= self.post_roll_seconds <= self.endpoint_seconds:
            raise ValueError(
                f"post_roll_seconds must be between 0 and endpoint_seconds "
                f"({self.endpoint_seconds}), got {self.post_roll_seconds}"
            )
        if self.pre_roll_seconds < 0 or self.min_speech_seconds < 0:
            raise ValueError("pre_roll_seconds and min_speech_seconds must be >= 0")
        if self.partial_interval < 0:
            raise ValueError(f"partial_interval must be >= 0, got {self.partial_interval}")
        if self.stable_decodes < 1:
            raise ValueError(f"stable_decodes must be >= 1, got {self.stable_decodes}")
        if self.max_utterance_seconds < 2 * _CUT_SEARCH_SECONDS:
            raise ValueError(
                f"max_utterance_seconds must be >= {2 * _CUT_SEARCH_SECONDS:g}, "
                f"got {self.max_utterance_seconds}"
            )
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")


@dataclass(frozen=True)
class Partial:
    """What has been heard so far of the utterance in progress.

    Attributes:
        stable: Words the last ``stable_decodes`` decodes agree on (show these).
        unstable: The rest of the latest decode (may still change).
        start: Stream time (seconds) where the utterance started.
        time: Stream time of the audio decoded so far.
    """

    stable: str
    unstable: str
    start: float
    time: float

    @property
    def text(self) -> str:
        """The latest decode in full."""
        return " ".join(part for part in (self.stable, self.unstable) if part)


@dataclass(frozen=True)
class Final:
    """A finished utterance.

    Attributes:
        result: The transcription, as file transcription returns it; word times are on the
            stream's clock.
        start: Stream time (seconds) of the utterance's first sample given to the model.
        end: Stream time one past its last sample.
        forced: True when the utterance was cut at ``max_utterance_seconds``, not by a pause.
    """

    result: Result
    start: float
    end: float
    forced: bool = False


Event = Partial | Final


def _common_prefix(hypotheses: Sequence[list[str]]) -> list[str]:
    prefix: list[str] = []
    for words in zip(*hypotheses, strict=False):
        if any(word != words[0] for word in words):
            break
        prefix.append(words[0])
    return prefix


class StreamingRecognizer:
    """Turn a live audio stream into partial and final results.

    Example:
        >>> streamer = StreamingRecognizer(speechrnn.load_model(), sample_rate=48000)
        >>> for block in blocks:                      # any size, any time
        ...     for event in streamer.process(block):
        ...         print(event)
        >>> final_events = streamer.flush()           # end of stream
    """

    def __init__(
        self,
        recognizer: Recognizer,
        config: StreamingConfig | None = None,
        commands: Sequence[str] | CommandDecoder | None = None,
        sample_rate: int | None = None,
        command_threshold: float | None = None,
        vad: VoiceActivityDetector | None = None,
    ) -> None:
        """Build a streaming recognizer.

        Args:
            recognizer: A loaded model (:func:`speechrnn.load_model`).
            config: Segmentation and decoding settings.
            commands: Phrases to choose from (finals are one of them, or rejected with
                text ""), or None for free transcription.
            sample_rate: Rate of the audio passed to :meth:`process` (default: the model's);
                other rates are resampled exactly.
            command_threshold: Acceptance threshold for command mode; higher rejects more
                (default: the one calibrated for the model).
            vad: A detector to use instead of ``config.vad`` (for tests).

        Raises:
            ValueError: Bad settings or an empty command list.
            speechrnn.vad.VadError: The configured VAD's package is missing.
        """
        self.recognizer = recognizer
        self.config = config or StreamingConfig()
        self.commands = (
            commands
            if isinstance(commands, CommandDecoder) or commands is None
            else recognizer.command_decoder(commands, command_threshold)
        )
        model_rate = recognizer.sample_rate
        self.sample_rate = sample_rate or model_rate
        self._resampler = Resampler(self.sample_rate, model_rate)
        self._rate = model_rate
        self._feature_config = recognizer.model.feature_config
        self._hop = self._feature_config.hop_length
        self.vad = vad or make_vad(self.config.vad, self.config.vad_threshold)
        self._frames = FrameBuffer(self.vad.frame_length)
        self._endpointer = Endpointer(
            self.vad.threshold,
            self.config.endpoint_seconds,
            self.config.min_speech_seconds,
            sample_rate=model_rate,
        )
        self._pre_roll = round(self.config.pre_roll_seconds * model_rate)
        self._post_roll = round(self.config.post_roll_seconds * model_rate)
        self._max_samples = round(self.config.max_utterance_seconds * model_rate)
        self._partial_samples = round(self.config.partial_interval * model_rate)
        self.reset()

    def reset(self) -> None:
        """Start a new stream at time 0."""
        self._resampler = Resampler(self.sample_rate, self._rate)
        self.vad.reset()
        self._frames.reset()
        self._endpointer.reset()
        self._audio = torch.zeros(0)  # 16 kHz samples from _audio_start to _received
        self._audio_start = 0
        self._received = 0
        self._begin_utterance(None)

    def _begin_utterance(self, start: int | None) -> None:
        """Set up the state of an utterance starting at sample ``start`` (None: no utterance)."""
        self._utterance_start = start
        self._vad_scores: list[tuple[int, float]] = []  # (frame end sample, score)
        self._decodes: deque[list[str]] = deque(maxlen=self.config.stable_decodes)
        self._last_partial = start or 0
        # (start, end, final) decoded ahead of the endpoint; see _speculate().
        self._speculative: tuple[int | None, int, Final] | None = None

    @property
    def time(self) -> float:
        """Seconds of audio received so far (at the model's rate, after resampling)."""
        return self._received / self._rate

    @property
    def buffered_seconds(self) -> float:
        """Seconds of audio held (the pre-roll while silent, the utterance while speaking)."""
        return len(self._audio) / self._rate

    @property
    def speaking(self) -> bool:
        """True while an utterance is in progress."""
        return self._utterance_start is not None

    def process(self, samples: np.ndarray | torch.Tensor) -> list[Event]:
        """Feed the next chunk of audio.

        Args:
            samples: (samples,) or (samples, channels) audio at :attr:`sample_rate`, any size.

        Returns:
            The partial and final results this chunk produced, in order (often none).
        """
        audio = self._resampler.process(to_mono(samples))
        return self._consume(audio)

    def flush(self) -> list[Event]:
        """End the stream: finish the utterance in progress, then reset.

        Returns:
            The remaining final results.
        """
        events = self._consume(self._resampler.flush())
        endpointer = self._endpointer
        if (
            self._utterance_start is not None
            and endpointer.in_utterance
            and endpointer.speech_samples >= endpointer.min_speech_samples
        ):
            end = min(endpointer.last_speech_end + self._post_roll, self._received)
            events.append(self._final(end, forced=False))
        self.reset()
        return events

    def _consume(self, audio: torch.Tensor) -> list[Event]:
        events: list[Event] = []
        if len(audio):
            self._audio = torch.cat([self._audio, audio])
            self._received += len(audio)
        for frame in self._frames.push(audio):
            score = self.vad.score(frame)
            event = self._endpointer.push(score, len(frame))
            position = self._endpointer.position
            if event is not None and event.kind == "start":
                start = max(0, event.sample - self._pre_roll) // self._hop * self._hop
                start = max(start, -(-self._audio_start // self._hop) * self._hop)
                self._begin_utterance(start)
            elif event is not None and event.kind == "end":
                events.append(self._final(event.sample + self._post_roll, forced=False))
            elif event is not None and event.kind == "cancel":
                self._begin_utterance(None)
            if self._utterance_start is not None:
                self._vad_scores.append((position, score))
                if position - self._utterance_start >= self._max_samples:
                    events.append(self._forced_cut())
        # While the speaker pauses, the final is decoded ahead of the endpoint instead of a
        # partial: the text cannot grow in a pause, and the CPU is kept for the final.
        pausing = self._endpointer.position - self._endpointer.last_speech_end >= self._post_roll
        if self._utterance_start is not None and pausing:
            self._speculate()
        elif (
            self._utterance_start is not None
            and self._partial_samples > 0
            and self._received - self._last_partial >= self._partial_samples
        ):
            events.append(self._partial())
        self._trim_audio()
        return events

    def _trim_audio(self) -> None:
        """Keep only the audio a future utterance or the current one can still need."""
        if self._utterance_start is not None:
            keep_from = self._utterance_start
        else:
            # The next onset is at or after the VAD's position; its pre-roll reaches back this far.
            keep_from = max(0, self._endpointer.position - self._pre_roll - self._hop)
        if keep_from > self._audio_start:
            self._audio = self._audio[keep_from - self._audio_start :].clone()
            self._audio_start = keep_from

    def _utterance_audio(self, end: int) -> torch.Tensor:
        """The current utterance's samples up to ``end``: (samples,)."""
        assert self._utterance_start is not None
        return self._audio[self._utterance_start - self._audio_start : end - self._audio_start]

    def _decode(self, end: int, forced: bool) -> Final:
        """Decode the current utterance over [start, end) as a file would be decoded: from its
        samples, so that its margins are fitted as in training (the pre-roll and post-roll give
        it more background than the model expects)."""
        start = self._utterance_start
        assert start is not None
        result = self.recognizer.decode_clip(
            self._utterance_audio(end),
            self.commands,
            beam_size=self.config.beam_size,
            time_offset=start / self._rate,
        )
        return Final(result, round(start / self._rate, 3), round(end / self._rate, 3), forced)

    def _final(self, end: int, forced: bool) -> Final:
        """The current utterance's final result over [start, end); then wait for the next one."""
        end = min(end, self._received)
        key = (self._utterance_start, end)
        if not forced and self._speculative is not None and self._speculative[:2] == key:
            final = self._speculative[2]
        else:
            final = self._decode(end, forced)
        self._begin_utterance(None)
        return final

    def _speculate(self) -> None:
        """Decode the final result ahead of time once the speaker has paused for the post-roll.

        The endpoint comes ``endpoint_seconds - post_roll_seconds`` later; if no speech returns
        by then, the final result is this very decode (the same span of audio), so it is ready
        without delay. If speech returns, the decode is simply discarded.
        """
        endpointer = self._endpointer
        if self._utterance_start is None or not endpointer.in_utterance:
            return
        end = endpointer.last_speech_end + self._post_roll
        if endpointer.position < end or end > self._received:
            return  # still speaking, or the post-roll has not been heard yet
        if self._speculative is None or self._speculative[:2] != (self._utterance_start, end):
            self._speculative = (self._utterance_start, end, self._decode(end, forced=False))

    def _forced_cut(self) -> Final:
        """Finish an over-long utterance at its quietest recent VAD frame; go on from there."""
        assert self._utterance_start is not None
        cap = self._utterance_start + self._max_samples
        earliest = cap - round(_CUT_SEARCH_SECONDS * self._rate)
        window = [(score, end) for end, score in self._vad_scores if end >= earliest]
        # The latest of the quietest frames: a pause between words, and utterances kept long.
        _, frame_end = min(window, key=lambda item: (item[0], -item[1]))
        middle = frame_end - self.vad.frame_length // 2
        cut = min(middle, cap) // self._hop * self._hop
        final = self._final(cut, forced=True)
        self._begin_utterance(cut)
        self._endpointer.split(cut)
        return final

    def _partial(self) -> Partial:
        """Re-decode the utterance so far (greedy) and report its stable prefix."""
        start = self._utterance_start
        assert start is not None
        self._last_partial = self._received
        with torch.inference_mode():
            log_probs, _ = self.recognizer.clip_log_probs(self._utterance_audio(self._received))
        words = greedy_decode(log_probs).text.split() if log_probs.shape[0] else []
        self._decodes.append(words)
        stable = _common_prefix(self._decodes) if len(self._decodes) == self._decodes.maxlen else []
        return Partial(
            " ".join(stable),
            " ".join(words[len(stable) :]),
            round(start / self._rate, 3),
            round(self._received / self._rate, 3),
        )


__all__ = ["Event", "Final", "Partial", "StreamingConfig", "StreamingRecognizer"]
