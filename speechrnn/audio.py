"""Audio input: any common format, sample rate, bit depth and channel count -> float32 mono 16 kHz.

Files are decoded block by block (soundfile, or ffmpeg for formats libsndfile cannot read), mixed
down and resampled with a stateful resampler, so an hour-long recording never has to exist in
memory at its native rate and channel count.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional
import torchaudio.transforms

SAMPLE_RATE = 16000  # the model's rate: every input is brought to it
BLOCK_SECONDS = 30.0  # decoding block; 30 s of 48 kHz stereo float32 is 11.5 MB
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".m4a", ".aac",
     ".wma", ".webm", ".caf", ".w64", ".raw"}
)  # fmt: skip
# Formats libsndfile does not read; they need the ffmpeg program.
_FFMPEG_ONLY = frozenset({".m4a", ".aac", ".wma", ".webm"})


class AudioError(ValueError):
    """An audio input that cannot be used; the message is one line, fit for a user."""


# torchaudio builds one windowed-sinc kernel of (new / gcd) x (orig / gcd + 2 x reach) taps for a
# pair of rates: 76,000 for 44.1 kHz -> 16 kHz, but 706 million (2.8 GB, and 12 GB at its peak)
# for 44,099 Hz, whose gcd with 16,000 is 1. A rate whose kernel would pass this bound is filtered
# as the nearest rate whose kernel does not: within 0.1% for every rate from 8 to 400 kHz (44,099
# Hz as 44,100, 7,999 as 8,000), a change of speed and pitch that recognition does not notice.
_MAX_KERNEL_TAPS = 1_000_000


def _kernel_taps(orig_freq: int, new_freq: int) -> int:
    """Size of torchaudio's resampling kernel (lowpass_filter_width 6, rolloff 0.99)."""
    gcd = math.gcd(orig_freq, new_freq)
    reach = math.ceil(6 * orig_freq / (min(orig_freq, new_freq) * 0.99))
    return new_freq // gcd * (orig_freq // gcd + 2 * reach)


def filter_rate(orig_freq: int, new_freq: int = SAMPLE_RATE) -> int:
    """The input rate that audio at ``orig_freq`` is resampled as.

    Args:
        orig_freq: The audio's sample rate.
        new_freq: The rate to resample to.

    Returns:
        ``orig_freq`` itself for every common rate; for an odd one (44,099 Hz) the nearest rate
        whose filter is small (44,100 Hz).
    """
    for distance in range(orig_freq):
        for rate in (orig_freq - distance, orig_freq + distance):
            if rate > 0 and _kernel_taps(rate, new_freq) <= _MAX_KERNEL_TAPS:
                return rate
    return orig_freq  # not reached: a rate that divides new_freq always qualifies


@functools.lru_cache(maxsize=8)
def _resample_transform(orig_freq: int, new_freq: int) -> torchaudio.transforms.Resample:
    """The windowed-sinc resampling filter for one pair of rates, built on first use.

    The transform only reads its kernel, so one instance serves every ``Resampler`` (and thread)
    at these rates. Eight pairs bound the cache; each kernel is at most 4 MB (float32).
    """
    return torchaudio.transforms.Resample(orig_freq, new_freq, dtype=torch.float32)


class Resampler:
    """Resample a stream of blocks exactly as if the whole signal had been resampled at once.

    Each block is resampled with enough context on both sides to cover the windowed-sinc filter,
    and block boundaries are kept on the grid where input and output samples coincide, so the
    concatenated output equals ``torchaudio.functional.resample`` of the concatenated input
    (within float tolerance) away from the signal's two ends. An odd input rate is resampled as
    the nearest rate with a small filter (:func:`filter_rate`).
    """

    def __init__(self, orig_freq: int, new_freq: int = SAMPLE_RATE) -> None:
        if orig_freq <= 0 or new_freq <= 0:
            raise AudioError(f"sample rates must be positive, got {orig_freq} -> {new_freq}")
        self.orig_freq = orig_freq
        self.new_freq = new_freq
        # From here on the input counts as being at this rate (itself, for any common rate).
        self.filter_freq = filter_rate(orig_freq, new_freq)
        gcd = math.gcd(self.filter_freq, new_freq)
        self._orig_step = self.filter_freq // gcd  # input samples per output "grid" step
        self._new_step = new_freq // gcd
        # torchaudio's kernel (lowpass_filter_width=6) reaches ~6 * orig/new input samples; 64 more
        # is margin. Rounded up to the grid so trimmed output stays aligned.
        reach = 6 * max(1.0, self.filter_freq / new_freq) + 64
        self._context = self._orig_step * math.ceil(reach / self._orig_step)
        self._buffer = torch.zeros(0)
        self._left = 0  # samples of already-emitted history at the start of _buffer
        # The same filter as torchaudio.functional.resample (bit for bit, with a float32 kernel),
        # built once per pair of rates and shared: building it takes 1-2.5 ms (44.1 kHz), 5% of a
        # core if redone per 50 ms microphone block, and a tenth to a sixth of a 0.6 s command.
        self._transform = _resample_transform(self.filter_freq, new_freq)

    def _resample(self, samples: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self._transform(samples)
        return result

    def process(self, samples: torch.Tensor) -> torch.Tensor:
        """Feed input samples and get the output that is final so far.

        Args:
            samples: (samples,) float32 mono input at ``orig_freq``.

        Returns:
            (samples,) float32 output at ``new_freq``; it lags the input by the filter context.
        """
        if self.filter_freq == self.new_freq:
            return samples
        self._buffer = torch.cat([self._buffer, samples.float()])
        # Emit whole grid steps, keeping `context` samples of look-ahead unconsumed.
        available = len(self._buffer) - self._left - self._context
        ready = available // self._orig_step * self._orig_step
        if ready <= 0:
            return torch.zeros(0)
        out = self._resample(self._buffer[: self._left + ready + self._context])
        skip = self._left // self._orig_step * self._new_step
        result = out[skip : skip + ready // self._orig_step * self._new_step]
        keep_from = max(0, self._left + ready - self._context)
        self._buffer = self._buffer[keep_from:]
        self._left = self._left + ready - keep_from
        return result

    def flush(self) -> torch.Tensor:
        """Return the output for all input still held back; the resampler is then empty.

        Returns:
            (samples,) float32 output at ``new_freq``.
        """
        if self.filter_freq == self.new_freq or len(self._buffer) <= self._left:
            return torch.zeros(0)
        out = self._resample(self._buffer)
        skip = self._left // self._orig_step * self._new_step
        total = math.ceil((len(self._buffer) - self._left) * self.new_freq / self.filter_freq)
        self._buffer = torch.zeros(0)
        self._left = 0
        return out[skip : skip + total]


def to_mono(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mix any channel layout down to mono float32.

    Args:
        samples: (samples,) or (samples, channels) audio, any numeric dtype.

    Returns:
        (samples,) float32.
    """
    array = np.asarray(samples)
    if not array.flags.writeable:
        # torch cannot share a read-only buffer (np.frombuffer over bytes: ffmpeg's output, a
        # caller's raw PCM): the tensor could write into it.
        array = array.copy()
    tensor = torch.as_tensor(array)
    if tensor.dtype == torch.int16:
        tensor = tensor.float() / 32768.0
    elif tensor.dtype == torch.int32:
        tensor = tensor.float() / 2147483648.0
    elif tensor.dtype == torch.uint8:
        tensor = (tensor.float() - 128.0) / 128.0
    tensor = tensor.float()
    if tensor.ndim == 2:
        tensor = tensor.mean(dim=1)
    elif tensor.ndim != 1:
        raise AudioError(
            f"audio must be 1-D or (samples, channels), got shape {tuple(tensor.shape)}"
        )
    return tensor


def _check_finite(block: torch.Tensor, name: str) -> None:
    if not torch.isfinite(block).all():
        raise AudioError(f"{name}: audio contains NaN or infinite samples")


def _soundfile_blocks(path: Path, block_seconds: float) -> Iterator[tuple[np.ndarray, int]]:
    with soundfile.SoundFile(str(path)) as file:
        block_frames = max(1, int(block_seconds * file.samplerate))
        while True:
            block = file.read(block_frames, dtype="float32", always_2d=True)
            if len(block) == 0:
                return
            yield block, file.samplerate


def _ffmpeg_blocks(path: Path, block_seconds: float) -> Iterator[tuple[np.ndarray, int]]:
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1",
               "-ar", str(SAMPLE_RATE), "-"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    block_bytes = int(block_seconds * SAMPLE_RATE) * 4
    try:
        while chunk := process.stdout.read(block_bytes):
            usable = len(chunk) // 4 * 4
            yield np.frombuffer(chunk[:usable], dtype=np.float32).reshape(-1, 1), SAMPLE_RATE
    finally:
        process.stdout.close()
        error = process.stderr.read().decode(errors="replace").strip().splitlines()
        if process.wait() != 0:
            # ffmpeg prefixes its reason with the path; the message names the path once.
            reason = error[-1].replace(f"{path}: ", "") if error else "ffmpeg failed"
            raise AudioError(f"{path}: not a readable audio file ({reason})")


def iter_audio(
    path: str | Path, block_seconds: float = BLOCK_SECONDS, sample_rate: int = SAMPLE_RATE
) -> Iterator[torch.Tensor]:
    """Decode an audio file block by block as float32 mono at ``sample_rate``.

    Args:
        path: Any file soundfile reads (wav, flac, ogg, mp3, aiff, ...), or one ffmpeg reads when
            the ffmpeg program is installed (m4a, aac, wma, webm).
        block_seconds: Length of the decoded blocks, which bounds memory use.
        sample_rate: Output sample rate.

    Yields:
        (samples,) float32 blocks in [-1, 1] (for well-formed files); their concatenation is the
        whole file.

    Raises:
        AudioError: Missing, empty or unreadable file, or NaN/infinite samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    blocks: Iterator[tuple[np.ndarray, int]]
    if path.suffix.lower() in _FFMPEG_ONLY:
        if shutil.which("ffmpeg") is None:
            raise AudioError(f"{path}: {path.suffix} files need the ffmpeg program (not found)")
        blocks = _ffmpeg_blocks(path, block_seconds)
    else:
        try:
            with soundfile.SoundFile(str(path)):
                pass
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
            if shutil.which("ffmpeg") is None:
                reason = str(error).split(":")[-1].strip() or "unknown format"
                raise AudioError(f"{path}: not a readable audio file ({reason})") from None
            blocks = _ffmpeg_blocks(path, block_seconds)
        else:
            blocks = _soundfile_blocks(path, block_seconds)
    resampler: Resampler | None = None
    for block, rate in blocks:
        mono = to_mono(block)
        _check_finite(mono, str(path))
        if resampler is None:
            resampler = Resampler(rate, sample_rate)
        out = resampler.process(mono)
        if len(out):
            yield out
    if resampler is not None:
        tail = resampler.flush()
        if len(tail):
            yield tail


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read a whole audio file as float32 mono at ``sample_rate``.

    Args:
        path: An audio file (see :func:`iter_audio`).
        sample_rate: Output sample rate.

    Returns:
        (samples,) float32; zero samples for a valid file that holds no audio.

    Raises:
        AudioError: Missing, empty or unreadable file, or NaN/infinite samples.
    """
    blocks = list(iter_audio(path, sample_rate=sample_rate))
    return torch.cat(blocks) if blocks else torch.zeros(0)


def prepare_waveform(
    waveform: np.ndarray | torch.Tensor, sample_rate: float, target_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """Bring an in-memory waveform to float32 mono at ``target_rate``.

    Args:
        waveform: (samples,), (samples, channels) or (channels, samples) audio (the longer axis
            is time, so ``torchaudio.load``'s layout works as is); integer dtypes are scaled to
            [-1, 1].
        sample_rate: Rate of ``waveform`` in Hz, a whole number (16000.0 is fine).
        target_rate: Output rate.

    Returns:
        (samples,) float32.

    Raises:
        AudioError: Bad shape or rate, or NaN/infinite samples.
    """
    rate = whole_rate(sample_rate)
    if not isinstance(waveform, torch.Tensor | np.ndarray):
        waveform = np.asarray(waveform)  # a list of samples
    if waveform.ndim == 2 and waveform.shape[0] < waveform.shape[1]:
        # (channels, samples): no whole recording has more channels than samples.
        waveform = waveform.T
    mono = to_mono(waveform)
    _check_finite(mono, "waveform")
    if rate == target_rate:
        return mono.contiguous()
    resampler = Resampler(rate, target_rate)
    return torch.cat([resampler.process(mono), resampler.flush()])


def whole_rate(sample_rate: float) -> int:
    """A sample rate as an int, from an int or a float with no fraction.

    Raises:
        AudioError: A fraction of a hertz, or not a number.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.number):
        raise AudioError(f"sample_rate must be a number of Hz, got {sample_rate!r}")
    if not float(sample_rate).is_integer():
        raise AudioError(f"sample_rate must be a whole number of Hz, got {sample_rate}")
    return int(sample_rate)


def save_audio(path: str | Path, waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM (format from the suffix), atomically.

    Args:
        path: Destination (.wav or .flac).
        waveform: (samples,) float32 in [-1, 1].
        sample_rate: Sample rate of ``waveform``.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp{path.suffix}")
    data = waveform.detach().clamp(-1.0, 1.0).cpu().numpy()
    soundfile.write(str(temporary), data, sample_rate, subtype="PCM_16")
    temporary.replace(path)


def frame_levels(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The level of each frame the speech rule (:func:`speech_span`) looks at.

    Args:
        waveform: (samples,) float32, at least 20 ms long.
        sample_rate: Its rate.

    Returns:
        (frames,) float64 mean power in dB (full scale 0 dB) of 20 ms frames every 10 ms.
    """
    frames = waveform.double().unfold(0, sample_rate // 50, sample_rate // 100)
    return 10.0 * torch.log10(frames.pow(2).mean(dim=1) + 1e-12)


def speech_span(waveform: torch.Tensor, sample_rate: int) -> tuple[int, int] | None:
    """Where a clip's speech starts and ends, by the rule its margins are measured with.

    Speech starts at the first and ends after the last pair of consecutive 20 ms frames (10 ms
    apart) louder than both 40 dB under the loudest frame (the rule the synthetic corpus is
    trimmed by, ``recipes/synthetic/prepare.py``) and 10 dB over the clip's background (its 10th
    percentile frame; 20 dB under the loudest frame always counts), so that a noisy recording's
    noise does not count as speech.

    Args:
        waveform: (samples,) float32.
        sample_rate: Its rate.

    Returns:
        (first sample, end sample) of the speech, or None for a clip with no speech (silence,
        steady noise, or shorter than a frame).
    """
    if len(waveform) < sample_rate // 50:
        return None
    return span_of_levels(frame_levels(waveform, sample_rate), len(waveform), sample_rate)


def speech_threshold(level: torch.Tensor) -> float | None:
    """The level a frame must exceed to count as speech in :func:`speech_span`.

    Args:
        level: (frames,) the clip's frame levels (:func:`frame_levels`), at least one.

    Returns:
        The threshold in dB (40 dB under the loudest frame, raised to 10 dB over the background
        but never above 20 dB under the loudest frame), or None for a clip with no speech
        (silence, or steady noise).
    """
    peak, floor = float(level.max()), float(torch.quantile(level, 0.1))
    if peak < -60.0 or peak < float(level.min()) + 10.0:  # silence, or steady noise: no speech
        return None
    # A clip cut close to its speech may have too few quiet frames for the 10th percentile to be
    # background: 20 dB under the peak is loud whatever the percentile says.
    return max(peak - 40.0, min(floor + 10.0, peak - 20.0))


def span_of_levels(level: torch.Tensor, samples: int, sample_rate: int) -> tuple[int, int] | None:
    """:func:`speech_span` from levels already computed, for callers that also need them.

    Args:
        level: (frames,) the clip's frame levels (:func:`frame_levels`), at least one.
        samples: The clip's length in samples.
        sample_rate: Its rate.

    Returns:
        As :func:`speech_span`.
    """
    frame, hop = sample_rate // 50, sample_rate // 100
    threshold = speech_threshold(level)
    if threshold is None:
        return None
    loud = level > threshold
    pairs = torch.nonzero(loud[:-1] & loud[1:]).flatten()
    if len(pairs) == 0:
        return None
    return int(pairs[0]) * hop, min(samples, (int(pairs[-1]) + 1) * hop + frame)


def pad_margins(
    waveform: torch.Tensor, sample_rate: int, seconds: float
) -> tuple[torch.Tensor, int]:
    """Give a clip at least ``seconds`` of background before and after its speech.

    Speech is found by :func:`speech_span`. A margin more than 20 ms short (two frame steps, the
    rule's resolution) is filled up with the clip's own quietest frames, repeated: silence for a
    clean clip, its noise for a noisy one. Longer margins are kept (:func:`fit_margins` cuts
    them down too).

    Args:
        waveform: (samples,) float32.
        sample_rate: Its rate.
        seconds: The margin wanted on each side.

    Returns:
        ((samples + added,) float32, samples added before the clip). A clip with no speech (or
        shorter than a frame) comes back as it is.
    """
    return _fit_margins(waveform, sample_rate, seconds, trim=False)


def fit_margins(
    waveform: torch.Tensor, sample_rate: int, seconds: float
) -> tuple[torch.Tensor, int]:
    """Give a clip ``seconds`` of background before and after its speech: pad short margins
    (as :func:`pad_margins`) and cut long ones down.

    Every training clip of the synthetic corpus has about 150 ms of background around its
    speech, and the bundled model has learned to expect it: 0.8 s more of silence on each side
    of a held-out synthetic word costs it about 30 points of command accuracy
    (``benchmarks/margins.py``). A recording with a second of silence before a word is common,
    so inference hears every clip with the margins of training. A margin within 20 ms of
    ``seconds`` (the speech rule's resolution) is left as it is.

    Args:
        waveform: (samples,) float32.
        sample_rate: Its rate.
        seconds: The margin wanted on each side.

    Returns:
        ((samples - removed + added,) float32, samples added before the clip, negative when
        samples were removed there). A clip with no speech (or shorter than a frame) comes back
        as it is.
    """
    return _fit_margins(waveform, sample_rate, seconds, trim=True)


def _fit_margins(
    waveform: torch.Tensor, sample_rate: int, seconds: float, trim: bool
) -> tuple[torch.Tensor, int]:
    frame, hop = sample_rate // 50, sample_rate // 100
    if seconds <= 0 or len(waveform) < frame:
        return waveform, 0
    # The levels serve both the speech rule and the choice of background to pad with.
    level = frame_levels(waveform, sample_rate)
    span = span_of_levels(level, len(waveform), sample_rate)
    if span is None:
        return waveform, 0
    start, end = span
    margin = round(seconds * sample_rate)
    # Two hops off is within the rule's resolution: the corpus's own clips measure so.
    short_lead, short_tail = margin - start, margin - (len(waveform) - end)
    lead = short_lead if abs(short_lead) > 2 * hop and (trim or short_lead > 0) else 0
    tail = short_tail if abs(short_tail) > 2 * hop and (trim or short_tail > 0) else 0
    if lead == 0 and tail == 0:
        return waveform, 0
    # Negative: cut that many samples off that side.
    kept = waveform[max(0, -lead) : len(waveform) - max(0, -tail)]
    if lead <= 0 and tail <= 0:
        return kept, lead
    # The background: the four quietest frames of the whole clip, in time order, repeated.
    quiet = torch.sort(torch.argsort(level)[:4]).values * hop
    background = torch.cat([waveform[int(i) : int(i) + frame] for i in quiet])
    background = background.repeat(max(lead, tail) // len(background) + 1)
    return torch.cat([background[: max(lead, 0)], kept, background[: max(tail, 0)]]), lead
