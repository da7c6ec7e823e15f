"""Data augmentation: waveform effects (speed, reverberation, microphone colouring, noise, telephone
band, gain), and SpecAugment and vocal tract length perturbation on features.

Every random choice is drawn from a ``torch.Generator`` the caller passes in, and callers seed it
from (seed, utterance, copy or epoch) with :func:`derive_seed`. An augmented example is therefore a
pure function of those numbers: cached copies can be rebuilt bit for bit and a resumed run sees
exactly the data an uninterrupted one would have seen, without saving any RNG state.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio.functional

from speechrnn.audio import SAMPLE_RATE, load_audio, prepare_waveform
from speechrnn.features import FeatureConfig

NOISE_KINDS = ("white", "pink", "brown", "babble", "file")
TELEPHONE_RATE = 8000  # narrow-band telephony
TELEPHONE_BAND = (300.0, 3400.0)  # Hz, the classic PSTN pass band
_MAX_RIR_SECONDS = 1.0
WARP_KNOTS = 4  # inner points of SpecAugmentConfig.warp_jitter's per-utterance warp shape


@dataclass(frozen=True)
class AugmentConfig:
    """Waveform augmentation. Each effect is applied with its own probability (0 disables it)."""

    speed_prob: float = 0.0  # speed perturbation (tempo and pitch, like Kaldi's sox speed)
    speed_factors: tuple[float, ...] = (0.9, 0.95, 1.05, 1.1)  # multiples of 0.05 resample fast
    reverb_prob: float = 0.0  # synthetic room impulse response
    rt60_min: float = 0.15  # seconds for the reverberation to decay by 60 dB
    rt60_max: float = 0.8
    eq_prob: float = 0.0  # microphone colouring: random peaking filters
    eq_bands: int = 3
    eq_max_gain_db: float = 8.0
    noise_prob: float = 0.0  # additive noise at a random SNR
    snr_min_db: float = 0.0
    snr_max_db: float = 30.0
    noise_kinds: tuple[str, ...] = NOISE_KINDS  # drawn uniformly among those available
    babble_min_speakers: int = 3
    babble_max_speakers: int = 6
    noise_files: tuple[str, ...] = ()  # extra real noise: audio files, folders or JSONL manifests
    telephone_prob: float = 0.0  # 300-3400 Hz band and an 8 kHz down/up round trip
    gain_prob: float = 0.0  # level change; the result is clipped to [-1, 1] like a real ADC
    gain_min_db: float = -20.0
    gain_max_db: float = 6.0
    # More silence before and after the clip, each side drawn in [0, silence_max] seconds: a
    # corpus trimmed to a fixed margin otherwise teaches the model where speech starts and ends.
    silence_prob: float = 0.0
    silence_max: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "speed_factors", tuple(float(f) for f in self.speed_factors))
        object.__setattr__(self, "noise_kinds", tuple(self.noise_kinds))
        object.__setattr__(self, "noise_files", tuple(self.noise_files))
        for name in ("speed_prob", "reverb_prob", "eq_prob", "noise_prob", "telephone_prob",
                     "gain_prob", "silence_prob"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augment.{name} must be in [0, 1], got {value}")
        unknown = sorted(set(self.noise_kinds) - set(NOISE_KINDS))
        if unknown:
            raise ValueError(f"augment.noise_kinds: unknown {unknown}; choose from {NOISE_KINDS}")
        if any(f <= 0.5 or f >= 2.0 for f in self.speed_factors):
            raise ValueError(f"augment.speed_factors must be in (0.5, 2), got {self.speed_factors}")
        if self.speed_prob > 0 and not self.speed_factors:
            raise ValueError("augment.speed_factors is empty but speed_prob > 0")
        pairs = (
            ("rt60_min", "rt60_max"),
            ("snr_min_db", "snr_max_db"),
            ("gain_min_db", "gain_max_db"),
            ("babble_min_speakers", "babble_max_speakers"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"augment.{low} must be <= augment.{high}")
        if self.rt60_min <= 0 or self.babble_min_speakers < 1 or self.eq_bands < 0:
            raise ValueError("augment.rt60_min and babble_min_speakers must be positive")
        if not 0.0 <= self.silence_max <= 10.0:
            raise ValueError(f"augment.silence_max must be in [0, 10] s, got {self.silence_max}")

    @property
    def enabled(self) -> bool:
        """Whether any waveform effect can fire."""
        return any(
            p > 0
            for p in (self.speed_prob, self.reverb_prob, self.eq_prob, self.noise_prob,
                      self.telephone_prob, self.gain_prob, self.silence_prob)
        )  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        """Plain builtins (tuples as lists). The silence settings are left out while
        ``silence_prob`` is 0, so a config without them describes (and names its feature cache)
        as it did before they existed."""
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.silence_prob == 0:
            del plain["silence_prob"], plain["silence_max"]
        return plain


@dataclass(frozen=True)
class SpecAugmentConfig:
    """SpecAugment (Park et al., 2019) on feature frames, applied on the fly at every step."""

    freq_masks: int = 0  # number of frequency masks (0 disables)
    freq_mask_width: int = 15  # each covers up to this many bins
    time_masks: int = 0  # number of time masks (0 disables)
    time_mask_width: int = 20  # each covers up to this many frames ...
    time_mask_max_ratio: float = 0.1  # ... and at most this fraction of the utterance
    # Vocal tract length perturbation (Jaitly & Hinton, 2013) on log-mel frames: the spectrum is
    # stretched by a factor in [1 - warp_max, 1 + warp_max], which moves formants the way a
    # shorter or longer vocal tract would. It turns a few TTS voices into many speakers, and
    # unlike speed perturbation it leaves pitch and tempo alone. Log-mel features only.
    warp_prob: float = 0.0
    warp_max: float = 0.1
    # A warped spectrum also gets its own shape: at WARP_KNOTS frequencies, evenly spaced in mel,
    # the stretch is scaled by its own factor in [1 - warp_jitter, 1 + warp_jitter] (linear in
    # between, 1 at the band edges), so formants move by different ratios, as between two real
    # speakers, not only all together, as a vocal tract's length moves them. 0: VTLP alone.
    warp_jitter: float = 0.0

    def __post_init__(self) -> None:
        if min(self.freq_masks, self.freq_mask_width, self.time_masks, self.time_mask_width) < 0:
            raise ValueError("spec_augment counts and widths must be >= 0")
        if not 0.0 <= self.time_mask_max_ratio <= 1.0:
            raise ValueError("spec_augment.time_mask_max_ratio must be in [0, 1]")
        if not 0.0 <= self.warp_prob <= 1.0:
            raise ValueError("spec_augment.warp_prob must be in [0, 1]")
        if not 0.0 <= self.warp_max < 0.5:
            raise ValueError("spec_augment.warp_max must be in [0, 0.5)")
        if not 0.0 <= self.warp_jitter < 0.3:
            raise ValueError("spec_augment.warp_jitter must be in [0, 0.3)")

    @property
    def enabled(self) -> bool:
        """Whether any mask can be applied."""
        return (self.freq_masks > 0 and self.freq_mask_width > 0) or (
            self.time_masks > 0 and self.time_mask_width > 0
        )

    @property
    def warps(self) -> bool:
        """Whether the spectrum can be warped."""
        return self.warp_prob > 0.0 and self.warp_max > 0.0


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any values, stable across processes and Python versions.

    ``hash()`` is salted per process, so it cannot be used for seeds shared by workers and runs.
    """
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator_for(*parts: object) -> torch.Generator:
    """A CPU generator seeded with :func:`derive_seed` of ``parts``."""
    generator = torch.Generator()
    generator.manual_seed(derive_seed(*parts))
    return generator


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _chance(generator: torch.Generator, probability: float) -> bool:
    # Always draw, so whether one effect fires never shifts the draws of the next.
    draw = float(torch.rand((), generator=generator))
    return draw < probability


def _choice(generator: torch.Generator, count: int) -> int:
    return int(torch.randint(count, (), generator=generator))


def _rms(waveform: torch.Tensor) -> float:
    return float(waveform.pow(2).mean().sqrt()) if len(waveform) else 0.0


def read_audio_segment(
    path: str | Path, offset: float = 0.0, duration: float | None = None
) -> torch.Tensor:
    """Read part of an audio file as float32 mono 16 kHz.

    Args:
        path: Any audio file :func:`speechrnn.audio.load_audio` reads.
        offset: Start, in seconds.
        duration: Length in seconds; None reads to the end.

    Returns:
        (samples,) float32.
    """
    try:
        with soundfile.SoundFile(str(path)) as file:
            rate = file.samplerate
            file.seek(min(file.frames, round(offset * rate)))
            frames = -1 if duration is None else round(duration * rate)
            data = file.read(frames, dtype="float32", always_2d=True)
        return prepare_waveform(data, rate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        # Formats soundfile cannot seek in (via ffmpeg): decode the whole file and cut.
        waveform = load_audio(path)
        start = round(offset * SAMPLE_RATE)
        stop = None if duration is None else start + round(duration * SAMPLE_RATE)
        return waveform[start:stop]


@dataclass(frozen=True)
class AudioSegment:
    """A stretch of an audio file: a noise source or a babble talker."""

    path: str
    offset: float = 0.0
    duration: float | None = None  # None: to the end of the file


def colored_noise(samples: int, exponent: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise whose power falls as 1 / f**exponent, at unit RMS.

    Args:
        samples: Length.
        exponent: 0 white, 1 pink, 2 brown (red).
        generator: Random source.

    Returns:
        (samples,) float32.
    """
    white = torch.randn(samples, generator=generator)
    if exponent == 0 or samples < 2:
        return white / max(_rms(white), 1e-8)
    spectrum = torch.fft.rfft(white)
    frequencies = torch.arange(spectrum.shape[0], dtype=torch.float32)
    frequencies[0] = 1.0  # leave DC as is rather than dividing by zero
    noise = torch.fft.irfft(spectrum / frequencies.pow(exponent / 2), n=samples)
    noise = noise - noise.mean()
    return noise / max(_rms(noise), 1e-8)


def synthetic_rir(
    rt60: float, generator: torch.Generator, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """A room impulse response: a direct path, then exponentially decaying noise.

    The tail's amplitude falls by 60 dB over ``rt60`` seconds and is low-passed progressively
    (walls absorb high frequencies first) by smoothing later parts more; the direct-to-reverberant
    ratio is random.

    Args:
        rt60: Reverberation time in seconds.
        generator: Random source.
        sample_rate: Rate of the response.

    Returns:
        (samples,) float32 with the direct path at index 0 and unit energy.
    """
    length = max(2, int(min(_MAX_RIR_SECONDS, 1.2 * rt60) * sample_rate))
    time = torch.arange(length, dtype=torch.float32) / sample_rate
    # 60 dB in amplitude is a factor 1000: exp(-ln(1000) t / rt60).
    envelope = torch.exp(-math.log(1000.0) * time / rt60)
    tail = torch.randn(length, generator=generator) * envelope
    smoothed = torch.nn.functional.avg_pool1d(tail[None, None], 5, stride=1, padding=2)[0, 0]
    weight = (time / max(float(time[-1]), 1e-6)).clamp(0, 1)
    tail = (1 - weight) * tail + weight * smoothed
    # Reflections arrive a few milliseconds after the direct sound.
    pre_delay = int(_uniform(generator, 0.002, 0.01) * sample_rate)
    tail[:pre_delay] = 0.0
    direct_to_reverb_db = _uniform(generator, -3.0, 12.0)
    tail = tail / max(float(tail.norm()), 1e-8) * 10 ** (-direct_to_reverb_db / 20)
    tail[0] = 1.0
    return tail / tail.norm()


def _fft_convolve(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear convolution truncated to the signal's length (power-of-two FFTs are fastest)."""
    size = 1 << (len(signal) + len(kernel) - 2).bit_length()
    product = torch.fft.rfft(signal, size) * torch.fft.rfft(kernel, size)
    return torch.fft.irfft(product, size)[: len(signal)]


def speed_perturb(
    waveform: torch.Tensor, factor: float, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """Play ``factor`` times faster (duration / factor, pitch x factor), by resampling.

    Args:
        waveform: (samples,) float32.
        factor: Speed factor, e.g. 1.1.
        sample_rate: The waveform's rate.

    Returns:
        (about samples / factor,) float32 at the same rate.
    """
    source_rate = round(sample_rate * factor / 100) * 100
    if source_rate == sample_rate:
        return waveform
    return torchaudio.functional.resample(waveform, source_rate, sample_rate)


def reverberate(waveform: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve with a room impulse response, keeping the length and the RMS level.

    Args:
        waveform: (samples,) float32.
        rir: (taps,) impulse response with the direct path first.

    Returns:
        (samples,) float32.
    """
    if len(waveform) == 0:
        return waveform
    wet = _fft_convolve(waveform, rir)
    return wet * (_rms(waveform) / max(_rms(wet), 1e-8))


def telephone(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Narrow-band telephone channel: 8 kHz down/up round trip and a 300-3400 Hz band-pass.

    Args:
        waveform: (samples,) float32.
        sample_rate: Its rate.

    Returns:
        (samples,) float32.
    """
    if len(waveform) == 0:
        return waveform
    narrow = torchaudio.functional.resample(waveform, sample_rate, TELEPHONE_RATE)
    wide = torchaudio.functional.resample(narrow, TELEPHONE_RATE, sample_rate)
    wide = torch.nn.functional.pad(wide, (0, max(0, len(waveform) - len(wide))))[: len(waveform)]
    low, high = TELEPHONE_BAND
    # Two biquads each side: a 4th-order band edge, roughly what a handset codec filter does.
    for _ in range(2):
        wide = torchaudio.functional.highpass_biquad(wide, sample_rate, low)
        wide = torchaudio.functional.lowpass_biquad(wide, sample_rate, high)
    return wide


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Add noise scaled to a signal-to-noise ratio.

    Args:
        signal: (samples,) float32.
        noise: (samples,) float32, same length.
        snr_db: 10 log10(signal power / noise power) after scaling.

    Returns:
        (samples,) float32. A silent signal gets the noise at an RMS of 10**(-snr/20) / 10,
        so silence clips still teach the model what quiet noise sounds like.
    """
    signal_rms = _rms(signal)
    reference = signal_rms if signal_rms > 1e-4 else 0.1
    noise_rms = max(_rms(noise), 1e-8)
    return signal + noise * (reference / noise_rms * 10 ** (-snr_db / 20))


def _fit_length(noise: torch.Tensor, samples: int, generator: torch.Generator) -> torch.Tensor:
    """Loop or cut ``noise`` to ``samples``, starting at a random point."""
    if len(noise) == 0:
        return torch.zeros(samples)
    start = _choice(generator, len(noise))
    repeats = (start + samples) // len(noise) + 1
    return noise.repeat(repeats)[start : start + samples]


class WaveformAugmenter:
    """Apply the effects of an :class:`AugmentConfig` to waveforms.

    Order: silence, speed, reverberation, microphone colouring, noise, telephone channel, gain; the
    added silence is then a recording's (room, noise, channel), the noise is added in the room,
    and the channel and level then apply to speech and noise alike.

    Args:
        config: Which effects, how often and how strong.
        noise_sources: Real noise recordings (kind "file"), held in memory once read.
        babble_sources: Utterances other talkers say (kind "babble"), read when needed.
        sample_rate: Rate of the waveforms.
    """

    def __init__(
        self,
        config: AugmentConfig,
        noise_sources: Sequence[AudioSegment] = (),
        babble_sources: Sequence[AudioSegment] = (),
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.config = config
        self.noise_sources = tuple(noise_sources)
        self.babble_sources = tuple(babble_sources)
        self.sample_rate = sample_rate
        self._noise_cache: dict[int, torch.Tensor] = {}
        kinds = [k for k in config.noise_kinds if k in ("white", "pink", "brown")]
        if "babble" in config.noise_kinds and self.babble_sources:
            kinds.append("babble")
        if "file" in config.noise_kinds and self.noise_sources:
            kinds.append("file")
        self.noise_kinds: tuple[str, ...] = tuple(kinds)

    def __call__(self, waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment one waveform.

        Args:
            waveform: (samples,) float32.
            generator: Random source (seed it per example for reproducibility).

        Returns:
            (samples',) float32; the length changes only with added silence and speed
            perturbation.
        """
        config = self.config
        if len(waveform) == 0:
            return waveform
        # Draw every decision up front: the sequence of draws is the same whatever fires.
        use_speed = _chance(generator, config.speed_prob)
        use_reverb = _chance(generator, config.reverb_prob)
        use_eq = _chance(generator, config.eq_prob)
        use_noise = _chance(generator, config.noise_prob) and bool(self.noise_kinds)
        use_telephone = _chance(generator, config.telephone_prob)
        use_gain = _chance(generator, config.gain_prob)
        # Drawn last and only when enabled, so configs without it keep their random streams.
        if config.silence_prob > 0 and _chance(generator, config.silence_prob):
            before = round(_uniform(generator, 0.0, config.silence_max) * self.sample_rate)
            after = round(_uniform(generator, 0.0, config.silence_max) * self.sample_rate)
            waveform = torch.cat([waveform.new_zeros(before), waveform, waveform.new_zeros(after)])
        if use_speed:
            factor = config.speed_factors[_choice(generator, len(config.speed_factors))]
            waveform = speed_perturb(waveform, factor, self.sample_rate)
        if use_reverb:
            rt60 = _uniform(generator, config.rt60_min, config.rt60_max)
            waveform = reverberate(waveform, synthetic_rir(rt60, generator, self.sample_rate))
        if use_eq:
            waveform = self._colour(waveform, generator)
        if use_noise:
            snr = _uniform(generator, config.snr_min_db, config.snr_max_db)
            noise = self._noise(len(waveform), generator)
            waveform = mix_at_snr(waveform, noise, snr)
        if use_telephone:
            waveform = telephone(waveform, self.sample_rate)
        if use_gain:
            gain_db = _uniform(generator, config.gain_min_db, config.gain_max_db)
            waveform = waveform * 10 ** (gain_db / 20)
        return waveform.clamp(-1.0, 1.0)

    def _colour(self, waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random peaking filters: the uneven response of cheap microphones and small speakers."""
        nyquist_margin = 0.45 * self.sample_rate
        for _ in range(self.config.eq_bands):
            # Log-uniform centre between 150 Hz and 6 kHz.
            centre = math.exp(_uniform(generator, math.log(150.0), math.log(6000.0)))
            gain = _uniform(generator, -self.config.eq_max_gain_db, self.config.eq_max_gain_db)
            q = _uniform(generator, 0.5, 2.0)
            waveform = torchaudio.functional.equalizer_biquad(
                waveform, self.sample_rate, min(centre, nyquist_margin), gain, q
            )
        return waveform

    def _noise(self, samples: int, generator: torch.Generator) -> torch.Tensor:
        kind = self.noise_kinds[_choice(generator, len(self.noise_kinds))]
        if kind == "white":
            return colored_noise(samples, 0.0, generator)
        if kind == "pink":
            return colored_noise(samples, 1.0, generator)
        if kind == "brown":
            return colored_noise(samples, 2.0, generator)
        if kind == "babble":
            return self._babble(samples, generator)
        index = _choice(generator, len(self.noise_sources))
        if index not in self._noise_cache:
            source = self.noise_sources[index]
            self._noise_cache[index] = read_audio_segment(
                source.path, source.offset, source.duration
            )
        return _fit_length(self._noise_cache[index], samples, generator)

    def _babble(self, samples: int, generator: torch.Generator) -> torch.Tensor:
        """Several other utterances at equal level, summed: a crowd of talkers."""
        talkers = int(
            torch.randint(
                self.config.babble_min_speakers, self.config.babble_max_speakers + 1, (),
                generator=generator,
            )
        )  # fmt: skip
        mixture = torch.zeros(samples)
        for _ in range(talkers):
            source = self.babble_sources[_choice(generator, len(self.babble_sources))]
            speech = read_audio_segment(source.path, source.offset, source.duration)
            speech = _fit_length(speech, samples, generator)
            mixture += speech / max(_rms(speech), 1e-8)
        return mixture


def spec_augment(
    features: torch.Tensor,
    config: SpecAugmentConfig,
    generator: torch.Generator,
    fill: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mask random frequency bands and time spans (torchaudio's masks, reproducibly seeded).

    Args:
        features: (frames, num_features) raw features.
        config: Mask counts and sizes.
        generator: Random source.
        fill: (num_features,) value for masked cells, normally the global feature mean so that
            masked cells normalize to zero; None fills with zeros.

    Returns:
        (frames, num_features) masked copy.
    """
    if not config.enabled or features.shape[0] == 0:
        return features
    frames = features.shape[0]
    # torchaudio's masks draw from the global RNG; run them on a private, seeded copy of it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (), generator=generator)))
        # (1, num_features, frames): the layout torchaudio's masks expect.
        masked = features.T.unsqueeze(0).clone()
        nan = float("nan")
        for _ in range(config.freq_masks if config.freq_mask_width > 0 else 0):
            width = min(config.freq_mask_width, features.shape[1] - 1) + 1
            masked = torchaudio.functional.mask_along_axis(masked, width, nan, axis=1)
        time_width = min(config.time_mask_width, int(config.time_mask_max_ratio * frames))
        for _ in range(config.time_masks if time_width > 0 else 0):
            masked = torchaudio.functional.mask_along_axis(masked, time_width + 1, nan, axis=2)
    result = masked[0].T
    replacement = torch.zeros(features.shape[1]) if fill is None else fill.to(features.dtype)
    return torch.where(torch.isnan(result), replacement.expand_as(result), result)


def _hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    # The HTK mel scale, which torchaudio's MelSpectrogram uses by default.
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)
def _mel_bins(feature_config: FeatureConfig) -> tuple[float, float, torch.Tensor]:
    """The mel value of f_min, the mel spacing of the filters, and each bin's centre in Hz.

    Cached: it depends only on the (frozen) feature settings, and the warp runs per example.
    """
    edges = torch.linspace(
        float(_hz_to_mel(torch.tensor(feature_config.f_min))),
        float(_hz_to_mel(torch.tensor(feature_config.f_max))),
        feature_config.n_mels + 2,
        dtype=torch.float64,
    )
    return float(edges[0]), float(edges[1] - edges[0]), _mel_to_hz(edges[1:-1])


def warp_source_bins(
    feature_config: FeatureConfig, factor: float, jitter: Sequence[float] = ()
) -> torch.Tensor:
    """Where each warped mel bin takes its value from, for a spectrum stretched by ``factor``.

    The warp is VTLP's piecewise-linear one: frequencies scale by ``factor`` up to a knee, and
    above it a straight line maps the top of the band onto itself, so no bin reads past the band
    (or is left empty) at either end. With ``jitter``, the source frequency at each of
    ``len(jitter)`` points evenly spaced in mel inside the band is further scaled by ``1 + j``
    (linearly in between, unscaled at the band edges), and kept non-decreasing.

    Args:
        feature_config: The log-mel settings (bin centres come from f_min, f_max and n_mels).
        factor: Stretch; above 1 moves formants up (a shorter vocal tract).
        jitter: Relative changes of the stretch at inner points (empty: VTLP alone).

    Returns:
        (n_mels,) fractional source-bin positions in [0, n_mels - 1].
    """
    n = feature_config.n_mels
    low_mel, mel_step, centres = _mel_bins(feature_config)
    top = feature_config.f_max
    # A target frequency f reads the source at f / factor below the knee; the knee sits where
    # that line would still leave room to reach (top, top) with a positive slope.
    knee = 0.8 * top * min(factor, 1.0)
    source = torch.where(
        centres <= knee,
        centres / factor,
        knee / factor + (centres - knee) * (top - knee / factor) / (top - knee),
    )
    if len(jitter) > 0:
        # The jitter is piecewise linear in mel, 0 at both band edges; a running maximum keeps
        # the mapping monotonic, so the spectrum is reshaped, never folded.
        mels = (_hz_to_mel(centres) - low_mel) / mel_step
        # (float32 knots, as stage 12 was trained with, then widened once.)
        knots = torch.linspace(0.0, float(feature_config.n_mels + 1), len(jitter) + 2)
        knots = knots.to(mels.dtype)
        values = torch.tensor([0.0, *jitter, 0.0], dtype=mels.dtype)
        segment = torch.bucketize(mels, knots[1:-1])
        weight = (mels - knots[segment]) / (knots[segment + 1] - knots[segment])
        scale = 1.0 + values[segment] * (1.0 - weight) + values[segment + 1] * weight
        source = torch.cummax(source * scale, dim=0).values.clamp(max=top)
    position = (_hz_to_mel(source) - low_mel) / mel_step - 1.0
    return position.clamp(0.0, n - 1.0).to(torch.float32)


def frequency_warp(
    features: torch.Tensor,
    config: SpecAugmentConfig,
    feature_config: FeatureConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """With probability ``config.warp_prob``, stretch log-mel frames along frequency (VTLP).

    Args:
        features: (frames, n_mels) raw log-mel features.
        config: Warp probability and range.
        feature_config: The settings the features were computed with.
        generator: Random source; untouched when warping is disabled.

    Returns:
        (frames, n_mels) warped features (the input itself when not warped).

    Raises:
        ValueError: Features that are not log-mel.
    """
    if not config.warps:
        return features
    if feature_config.kind != "logmel":
        raise ValueError("spec_augment.warp_prob needs log-mel features (features.kind = 'logmel')")
    draw = torch.rand(2, generator=generator, dtype=torch.float64)
    if float(draw[0]) >= config.warp_prob or features.shape[0] == 0:
        return features
    factor = 1.0 + config.warp_max * (2.0 * float(draw[1]) - 1.0)
    jitter: tuple[float, ...] = ()
    if config.warp_jitter > 0:
        # Drawn only when used, so configs without it keep their random streams.
        shape = torch.rand(WARP_KNOTS, generator=generator, dtype=torch.float64)
        jitter = tuple(config.warp_jitter * (2.0 * float(v) - 1.0) for v in shape)
    return warp_spectrum(features, feature_config, factor, jitter)


def warp_spectrum(
    features: torch.Tensor,
    feature_config: FeatureConfig,
    factor: float,
    jitter: Sequence[float] = (),
) -> torch.Tensor:
    """Stretch log-mel frames along frequency by ``factor`` (see :func:`warp_source_bins`).

    Args:
        features: (frames, n_mels) raw log-mel features.
        feature_config: The settings the features were computed with.
        factor: Stretch; above 1 moves formants up.
        jitter: Relative changes of the stretch at inner points (see :func:`warp_source_bins`).

    Returns:
        (frames, n_mels) warped features.
    """
    position = warp_source_bins(feature_config, factor, jitter)
    low = position.floor().long()
    high = (low + 1).clamp(max=feature_config.n_mels - 1)
    weight = (position - low).to(features.dtype)
    # Linear interpolation between neighbouring bins of the log spectrum.
    return features[:, low] * (1.0 - weight) + features[:, high] * weight


def noise_segments_from_paths(
    paths: Sequence[str | Path], read_manifest: Callable[[Path], list[AudioSegment]]
) -> list[AudioSegment]:
    """Expand noise sources given as files, folders or JSONL manifests into segments.

    Args:
        paths: Audio files, folders (searched recursively for audio) or ``.jsonl`` manifests.
        read_manifest: Reads a manifest's entries as segments.

    Returns:
        The segments, in a stable order.

    Raises:
        FileNotFoundError: A path that does not exist.
    """
    from speechrnn.audio import AUDIO_EXTENSIONS

    segments: list[AudioSegment] = []
    for item in paths:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"noise source {path} does not exist")
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            )
            segments.extend(AudioSegment(str(p)) for p in files)
        elif path.suffix == ".jsonl":
            segments.extend(read_manifest(path))
        else:
            segments.append(AudioSegment(str(path)))
    return segments
