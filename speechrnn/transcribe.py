"""File and waveform transcription: audio -> log-probs -> text or a command, with word times.

Long recordings are decoded block by block and cut into segments at quiet points, so memory stays
bounded whatever the file's length; each segment is decoded on its own and the word times are put
back on the file's clock.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechrnn.audio import SAMPLE_RATE, AudioError, fit_margins, iter_audio, prepare_waveform
from speechrnn.checkpoint import (
    CheckpointError,
    model_from_checkpoint,
    read_checkpoint,
    resolve_model_path,
)
from speechrnn.decoding import (
    COMMAND_STATISTIC_VERSION,
    DEFAULT_COMMAND_THRESHOLD,
    CommandDecoder,
    Hypothesis,
    align_words,
    decode,
    hypothesis_confidence,
)
from speechrnn.lexicon import Lexicon
from speechrnn.lm import SENTENCE_END, SENTENCE_START, LMWeights, WordLM
from speechrnn.model import AcousticModel
from speechrnn.tokenizer import normalize_text

MAX_SEGMENT_SECONDS = 30.0  # longest stretch given to the bidirectional model at once
MIN_SEGMENT_SECONDS = 20.0  # cuts are made at the quietest point between these two
_ENERGY_WINDOW = 800  # 50 ms at 16 kHz, the resolution of the quiet-point search
# Beam of the default dictation decoding when the model carries a language model. Measured on
# held-out synthetic voices (benchmarks/lm_weights.py): beam 16 was 1.3 WER points better for
# 1.9x the decoding time, beam 4 3.1 points worse.
DEFAULT_LM_BEAM_SIZE = 8
# Background every clip gets before and after its speech before the model hears it. The synthetic
# corpus that trained the bundled model has exactly 160 ms on each side of every clip
# (recipes/synthetic/prepare.py), and the model came to rely on it: real prompts trimmed closer
# (benchmarks/asterisk_prompts.py) lost first and last sounds, and with the margins added their
# single words gave half the false accepts (MODEL_CARD.md).
MARGIN_SECONDS = 0.16

AudioInput = str | Path | bytes | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Word:
    """One recognized word and its time span in seconds from the start of the audio."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Result:
    """What a transcription returns.

    Attributes:
        text: The transcript; in command mode, the accepted command or "" when rejected.
        confidence: In [0, 1].
        command: The accepted command exactly as given, or None (also None without commands).
        words: Words with start/end times in seconds.
        duration: Audio length in seconds.
    """

    text: str
    confidence: float
    command: str | None = None
    words: tuple[Word, ...] = field(default_factory=tuple)
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        values = asdict(self)
        values["words"] = [asdict(word) for word in self.words]
        return values


def _quietest_cut(samples: torch.Tensor, low: int, high: int) -> int:
    """Sample index in [low, high) at the centre of the quietest 50 ms window."""
    region = samples[low:high]
    windows = len(region) // _ENERGY_WINDOW
    if windows == 0:
        return high
    energy = region[: windows * _ENERGY_WINDOW].reshape(windows, _ENERGY_WINDOW).pow(2).mean(1)
    return low + int(energy.argmin()) * _ENERGY_WINDOW + _ENERGY_WINDOW // 2


def segment_stream(
    blocks: Iterable[torch.Tensor],
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float = MAX_SEGMENT_SECONDS,
    min_seconds: float = MIN_SEGMENT_SECONDS,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Regroup a stream of audio blocks into segments cut at quiet points.

    Args:
        blocks: (samples,) float32 blocks of one signal.
        sample_rate: Their sample rate.
        max_seconds: No segment is longer.
        min_seconds: No segment but the last is shorter.

    Yields:
        (offset in samples of the segment's start, (samples,) segment).
    """
    max_samples, min_samples = int(max_seconds * sample_rate), int(min_seconds * sample_rate)
    buffer, offset = torch.zeros(0), 0
    for block in blocks:
        buffer = torch.cat([buffer, block])
        while len(buffer) > max_samples:
            cut = _quietest_cut(buffer, min_samples, max_samples)
            yield offset, buffer[:cut]
            buffer, offset = buffer[cut:], offset + cut
    if len(buffer) or offset == 0:
        yield offset, buffer


def default_beam_size(language_model: WordLM | None) -> int:
    """Dictation beam when none is given: a beam search with the language model when there is
    one, greedy decoding otherwise."""
    return DEFAULT_LM_BEAM_SIZE if language_model is not None else 1


class Recognizer:
    """A loaded model ready to transcribe files, waveforms or log-probs."""

    def __init__(
        self,
        model: AcousticModel,
        name: str = "",
        command_threshold: float = DEFAULT_COMMAND_THRESHOLD,
        language_model: WordLM | None = None,
        lm_weights: LMWeights | None = None,
    ) -> None:
        self.model = model.eval()
        self.name = name
        # Command-mode acceptance threshold; a bundled model carries one calibrated on held-out
        # voices (recipes/synthetic/export.py), other checkpoints get the decoder's default.
        self.command_threshold = command_threshold
        # Word language model for dictation (None: the acoustic model alone) and its weights,
        # tuned on held-out voices; the bundled model carries both.
        self.language_model = language_model
        self.lm_weights = lm_weights or LMWeights()
        # 0 turns the margins off (clip_log_probs then gives log_probs of the clip as it is).
        self.margin_seconds = MARGIN_SECONDS

    @functools.cached_property
    def lexicon(self) -> Lexicon | None:
        """Command mode's background vocabulary: the language model's words and the number
        words (None without one).

        Built on first use (about 0.2 s for the bundled model's 28,000 words), then kept.
        """
        return background_lexicon(self.language_model)

    def command_decoder(
        self, commands: Sequence[str], threshold: float | None = None
    ) -> CommandDecoder:
        """A command-list decoder for this model: its background vocabulary and threshold.

        Args:
            commands: The phrases (see :class:`~speechrnn.decoding.CommandDecoder`).
            threshold: Acceptance threshold; None for :attr:`command_threshold`.

        Raises:
            ValueError: An empty list, or phrases that are the same once normalized.
        """
        return CommandDecoder(
            commands,
            threshold=self.command_threshold if threshold is None else threshold,
            lexicon=self.lexicon,
        )

    @property
    def default_beam_size(self) -> int:
        """Dictation beam used when none is given (see :func:`default_beam_size`)."""
        return default_beam_size(self.language_model)

    @property
    def sample_rate(self) -> int:
        """The rate the model listens at."""
        return self.model.feature_config.sample_rate

    @property
    def frame_seconds(self) -> float:
        """Seconds per log-prob frame."""
        return self.model.output_frame_seconds

    @torch.no_grad()
    def log_probs(self, waveform: torch.Tensor) -> torch.Tensor:
        """CTC log-probabilities of a waveform as it is (no margins, no segmentation: keep it
        under a minute).

        Args:
            waveform: (samples,) float32 mono at :attr:`sample_rate`.

        Returns:
            (frames, vocab_size).
        """
        return self.model.log_probs(waveform)

    def clip_log_probs(self, waveform: torch.Tensor) -> tuple[torch.Tensor, float]:
        """CTC log-probabilities of one clip or segment as :meth:`transcribe` computes them: the
        clip is first given :data:`MARGIN_SECONDS` of background before and after its speech,
        its own background added where it has less and the excess cut where it has more
        (:func:`~speechrnn.audio.fit_margins`), as every training clip had.

        Args:
            waveform: (samples,) float32 mono at :attr:`sample_rate`, under a minute.

        Returns:
            ((frames, vocab_size) log-probs, seconds added before the clip): frame 0 starts that
            long before the clip's first sample (after it, when the value is negative).
        """
        fitted, lead = fit_margins(waveform, self.sample_rate, self.margin_seconds)
        return self.log_probs(fitted), lead / self.sample_rate

    def decode_clip(
        self,
        waveform: torch.Tensor,
        commands: CommandDecoder | None = None,
        beam_size: int | None = None,
        time_offset: float = 0.0,
        use_lm: bool = True,
    ) -> Result:
        """Decode one clip or segment as :meth:`transcribe` decodes a segment: its margins fitted
        (:meth:`clip_log_probs`), word times on its own clock plus ``time_offset`` and kept
        inside it.

        Args:
            waveform: (samples,) float32 mono at :attr:`sample_rate`, under a minute.
            commands: Command-list decoder, or None for free transcription.
            beam_size: As for :meth:`decode_log_probs`.
            time_offset: Seconds where the clip starts on the caller's clock.
            use_lm: Let the beam search use the model's language model, if it has one.

        Returns:
            The Result.
        """
        log_probs, lead = self.clip_log_probs(waveform)
        duration = len(waveform) / self.sample_rate
        result = self.decode_log_probs(
            log_probs, commands, beam_size, time_offset - lead, duration, use_lm
        )
        return _within(result, time_offset, time_offset + duration)

    def decode_log_probs(
        self,
        log_probs: torch.Tensor,
        commands: CommandDecoder | None = None,
        beam_size: int | None = None,
        time_offset: float = 0.0,
        duration: float | None = None,
        use_lm: bool = True,
    ) -> Result:
        """Turn log-probabilities into a Result.

        Args:
            log_probs: (frames, vocab_size) of one utterance or segment.
            commands: Command-list decoder, or None for free transcription.
            beam_size: 1 for greedy, more for CTC prefix beam search (None:
                :attr:`default_beam_size`).
            time_offset: Seconds added to every word time.
            duration: Audio seconds this covers (defaults to frames x frame seconds).
            use_lm: Let the beam search use the model's language model, if it has one.

        Returns:
            The Result.
        """
        if beam_size is None:
            beam_size = self.default_beam_size if use_lm else 1
        if duration is None:
            duration = log_probs.shape[0] * self.frame_seconds
        if commands is not None:
            match = commands.decode(log_probs)
            words: tuple[Word, ...] = ()
            if match.command is not None:
                tokens = commands.tokens_of(match.command)
                words = self._words(log_probs, tokens, time_offset)
            return Result(
                text=match.command or "",
                confidence=match.confidence,
                command=match.command,
                words=words,
                duration=duration,
            )
        lm = self.language_model if use_lm else None
        hypothesis: Hypothesis = decode(log_probs, beam_size, lm, self.lm_weights)
        return Result(
            text=hypothesis.text,
            confidence=hypothesis_confidence(log_probs, hypothesis),
            words=self._words(log_probs, hypothesis.tokens, time_offset),
            duration=duration,
        )

    def _words(
        self, log_probs: torch.Tensor, tokens: Sequence[int], time_offset: float
    ) -> tuple[Word, ...]:
        spans = align_words(log_probs, tokens)
        step = self.frame_seconds
        return tuple(
            Word(span.word, round(time_offset + span.start_frame * step, 3),
                 round(time_offset + span.end_frame * step, 3))
            for span in spans
        )  # fmt: skip

    def _blocks(self, audio: AudioInput, sample_rate: float | None) -> Iterator[torch.Tensor]:
        if isinstance(audio, str | Path | bytes):
            if sample_rate is not None:
                raise ValueError("sample_rate is only for waveforms; files carry their own")
            if isinstance(audio, bytes):
                yield from _encoded_blocks(audio, self.sample_rate)
            else:
                yield from iter_audio(audio, sample_rate=self.sample_rate)
            return
        if sample_rate is None:
            raise ValueError("a waveform needs its sample_rate")
        yield prepare_waveform(audio, sample_rate, self.sample_rate)

    def transcribe(
        self,
        audio: AudioInput,
        sample_rate: float | None = None,
        commands: Sequence[str] | CommandDecoder | None = None,
        beam_size: int | None = None,
        command_threshold: float | None = None,
        use_lm: bool = True,
    ) -> Result:
        """Transcribe a file or a waveform.

        Args:
            audio: A path to an audio file, an audio file's contents (bytes, any format a path
                may be in), or a waveform: (samples,), (samples, channels), or (channels,
                samples) as ``torchaudio.load`` returns it (the longer axis is time).
            sample_rate: The waveform's rate in Hz (required for waveforms, not allowed for
                files and bytes).
            commands: Phrases to choose from (the result is one of them, or rejected), or None
                for free transcription.
            beam_size: 1 for greedy decoding; more for CTC prefix beam search (None:
                :attr:`default_beam_size`, a beam search with the model's language model when
                it has one).
            command_threshold: Acceptance threshold for command mode; higher rejects more
                (default: the model's :attr:`command_threshold`).
            use_lm: Let dictation use the model's language model (False: acoustic model only).

        Returns:
            The Result.

        Raises:
            AudioError: Unreadable audio, or NaN/infinite samples.
            ValueError: Bad arguments (for example an empty command list).
        """
        if beam_size is not None and beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        if command_threshold is None:
            command_threshold = self.command_threshold
        # A list gets the model's background vocabulary, as the CLI and the streaming recognizer
        # do: the calibrated threshold belongs to the statistic computed with it.
        decoder = (
            commands
            if isinstance(commands, CommandDecoder) or commands is None
            else self.command_decoder(commands, command_threshold)
        )
        segments: list[Result] = []
        all_log_probs: list[torch.Tensor] = []
        # Per segment of a command clip: (seconds into the joined frames where it starts,
        # seconds to add there to be on the recording's clock).
        pieces: list[tuple[float, float]] = []
        joined_seconds = 0.0
        total_samples = 0
        for offset, segment in segment_stream(self._blocks(audio, sample_rate), self.sample_rate):
            total_samples = offset + len(segment)
            if decoder is None:
                segments.append(
                    self.decode_clip(segment, None, beam_size, offset / self.sample_rate, use_lm)
                )
            else:
                log_probs, lead = self.clip_log_probs(segment)
                # A command is decided on the whole clip, so keep every segment's frames; each
                # segment brings its own margins, so each has its own shift back to the clock.
                pieces.append((joined_seconds, offset / self.sample_rate - lead - joined_seconds))
                joined_seconds += log_probs.shape[0] * self.frame_seconds
                all_log_probs.append(log_probs)
        duration = total_samples / self.sample_rate
        if decoder is not None:
            result = self.decode_log_probs(torch.cat(all_log_probs), decoder, duration=duration)
            return _within(_on_clock(result, pieces), 0.0, duration)
        return _join(segments, duration)


def _encoded_blocks(data: bytes, sample_rate: int) -> Iterator[torch.Tensor]:
    """Decode an audio file's contents held in memory (an upload, a network message).

    They go through a temporary file, removed afterwards, so every format a path can be in
    works (told from the bytes; ffmpeg's too) and a long recording is still read block by block.

    Raises:
        AudioError: As for a file, with the temporary file's name replaced by "<bytes>".
    """
    with tempfile.TemporaryDirectory(prefix="speechrnn-bytes-") as folder:
        path = Path(folder) / "audio"
        path.write_bytes(data)
        try:
            yield from iter_audio(path, sample_rate=sample_rate)
        except AudioError as error:
            raise AudioError(str(error).replace(str(path), "<bytes>")) from None


def _on_clock(result: Result, pieces: Sequence[tuple[float, float]]) -> Result:
    """Word times of frames joined from several segments, moved onto the recording's clock.

    Args:
        result: Decoded from the joined frames, times counted from their first frame.
        pieces: Per segment, in order: (time in the joined frames where it starts, seconds to
            add to a time inside it).
    """

    def move(t: float, end: bool) -> float:
        # A word that ends where a segment starts ends in the segment before it.
        inside = (
            shift for start, shift in reversed(pieces) if t > start or (t == start and not end)
        )
        return round(t + next(inside, pieces[0][1]), 3)

    words = tuple(Word(w.word, move(w.start, False), move(w.end, True)) for w in result.words)
    return replace(result, words=words)


def _within(result: Result, start: float, end: float) -> Result:
    """The Result with its word times kept inside [start, end] (a word aligned partly on the
    margin added before or after a segment)."""

    def clamp(t: float) -> float:
        return round(min(max(t, start), end), 3)

    words = tuple(Word(w.word, clamp(w.start), clamp(w.end)) for w in result.words)
    return replace(result, words=words)


def _join(segments: list[Result], duration: float) -> Result:
    """Merge the Results of consecutive segments of one recording."""
    if len(segments) == 1:
        return Result(segments[0].text, segments[0].confidence, None, segments[0].words, duration)
    text = " ".join(r.text for r in segments if r.text)
    weights = [max(r.duration, 1e-6) for r in segments]
    confidence = sum(r.confidence * w for r, w in zip(segments, weights, strict=True)) / sum(
        weights
    )
    words = tuple(word for r in segments for word in r.words)
    return Result(text, confidence, None, words, duration)


def language_model_from_checkpoint(
    payload: dict[str, Any], path: str | Path
) -> tuple[WordLM | None, LMWeights]:
    """The word language model and its weights stored in a checkpoint, if any.

    Args:
        payload: The checkpoint dict (from :func:`~speechrnn.checkpoint.read_checkpoint`).
        path: Its file, for error messages.

    Raises:
        CheckpointError: A stored language model that cannot be rebuilt.
    """
    if "language_model" not in payload:
        return None, LMWeights()
    try:
        lm = WordLM.from_state(payload["language_model"])
        return lm, LMWeights.from_dict(payload.get("lm_weights", {}))
    except (ValueError, TypeError) as problem:
        raise CheckpointError(f"{path}: bad language model ({problem})") from None


# The number words zero..one hundred and first..hundredth. Command lists are full of numbers, and
# a number word the background lacks cannot explain itself: "sixtieth" said to a list with "six"
# is then compared only with words that fit it worse (the bundled LM lacks seven such ordinals).
# normalize_text spells them: any ordinal suffix makes an ordinal ("1th" -> "first").
NUMBER_WORDS: tuple[str, ...] = tuple(
    sorted(set(normalize_text("0 " + " ".join(f"{n} {n}th" for n in range(1, 101))).split()))
)


def background_lexicon(language_model: WordLM | None) -> Lexicon | None:
    """Command mode's background vocabulary from a language model: its words and
    :data:`NUMBER_WORDS` (None for None)."""
    if language_model is None:
        return None
    markers = (SENTENCE_START, SENTENCE_END)
    words = [word for word in language_model.words if word not in markers]
    return Lexicon([*words, *NUMBER_WORDS])


def command_threshold_from_checkpoint(payload: dict[str, Any]) -> float:
    """The command threshold calibrated into a checkpoint, if it is for today's statistic.

    A threshold stored without :data:`~speechrnn.decoding.COMMAND_STATISTIC_VERSION`, or with
    another version, was calibrated for another statistic and would mean something else here:
    such checkpoints (and those with none) get the decoder's default.

    Args:
        payload: The checkpoint dict (from :func:`~speechrnn.checkpoint.read_checkpoint`).
    """
    if payload.get("command_statistic") != COMMAND_STATISTIC_VERSION:
        return DEFAULT_COMMAND_THRESHOLD
    return float(payload.get("command_threshold", DEFAULT_COMMAND_THRESHOLD))


def load_model(name_or_path: str | Path | None = None) -> Recognizer:
    """Load a bundled model by name, or a checkpoint file.

    Args:
        name_or_path: None for the bundled default model, a bundled name (see
            :func:`speechrnn.available_models`), or a checkpoint path.

    Returns:
        A Recognizer.

    Raises:
        CheckpointError: Unknown name, unreadable file or failed checksum.
    """
    path = resolve_model_path(name_or_path)
    payload = read_checkpoint(path)
    language_model, lm_weights = language_model_from_checkpoint(payload, path)
    return Recognizer(
        model_from_checkpoint(payload),
        name=str(name_or_path or path.stem),
        command_threshold=command_threshold_from_checkpoint(payload),
        language_model=language_model,
        lm_weights=lm_weights,
    )


__all__ = [
    "NUMBER_WORDS",
    "AudioError",
    "Recognizer",
    "Result",
    "Word",
    "background_lexicon",
    "command_threshold_from_checkpoint",
    "language_model_from_checkpoint",
    "load_model",
    "segment_stream",
]
