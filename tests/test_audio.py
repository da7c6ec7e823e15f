"""Tests for speechrnn.audio: formats, rates, channels, bad input, block-wise resampling."""

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from speechrnn.audio import (
    SAMPLE_RATE,
    AudioError,
    Resampler,
    _ffmpeg_blocks,
    filter_rate,
    fit_margins,
    frame_levels,
    iter_audio,
    load_audio,
    pad_margins,
    prepare_waveform,
    speech_span,
    speech_threshold,
    to_mono,
)


def _sine(rate: int, seconds: float = 1.0, frequency: float = 440.0) -> np.ndarray:
    time = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


@pytest.mark.parametrize(
    ("subtype", "suffix", "rate", "channels"),
    [
        ("PCM_16", ".wav", 16000, 1),
        ("PCM_U8", ".wav", 16000, 1),  # 8-bit
        ("PCM_24", ".wav", 16000, 1),  # 24-bit
        ("FLOAT", ".wav", 16000, 1),
        ("PCM_16", ".wav", 44100, 2),  # stereo 44.1 kHz
        ("PCM_16", ".flac", 48000, 1),
        ("VORBIS", ".ogg", 22050, 1),
        ("MPEG_LAYER_III", ".mp3", 44100, 1),
    ],
)
def test_formats_become_16k_mono(
    tmp_path: Path, subtype: str, suffix: str, rate: int, channels: int
) -> None:
    tone = _sine(rate)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / f"clip{suffix}"
    soundfile.write(str(path), data, rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == torch.float32 and audio.ndim == 1
    assert abs(len(audio) - SAMPLE_RATE) < 0.06 * SAMPLE_RATE  # mp3 adds encoder padding
    # The tone's level survives (8-bit and lossy codecs within a few percent).
    rms = float(audio[2000:-2000].pow(2).mean().sqrt())
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.08)


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left, right = _sine(16000), np.zeros(16000, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    assert torch.allclose(load_audio(path), torch.from_numpy(left) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_block_resampling_equals_whole(tmp_path: Path, rate: int) -> None:
    signal = torch.randn(rate * 3) * 0.1
    whole = torchaudio.functional.resample(signal, rate, SAMPLE_RATE)
    path = tmp_path / "noise.wav"
    soundfile.write(str(path), signal.numpy(), rate, subtype="FLOAT")
    blocks = list(iter_audio(path, block_seconds=0.37))  # many blocks, not aligned to anything
    assert len(blocks) > 3
    streamed = torch.cat(blocks)
    assert len(streamed) == len(whole)
    assert torch.allclose(streamed, whole, atol=1e-5)


def test_resampler_with_random_chunks() -> None:
    generator = torch.Generator().manual_seed(1)
    signal = torch.randn(48000 * 2, generator=generator)
    resampler = Resampler(48000, SAMPLE_RATE)
    pieces, start = [], 0
    while start < len(signal):
        size = int(torch.randint(1, 3000, (1,), generator=generator))
        pieces.append(resampler.process(signal[start : start + size]))
        start += size
    pieces.append(resampler.flush())
    expected = torchaudio.functional.resample(signal, 48000, SAMPLE_RATE)
    assert torch.allclose(torch.cat(pieces), expected, atol=1e-5)


@pytest.mark.parametrize(
    "rate", [4000, 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 192000]
)
def test_common_rates_are_filtered_as_themselves(rate: int) -> None:
    assert filter_rate(rate) == rate


@pytest.mark.parametrize(("rate", "nearest"), [(44099, 44100), (7999, 8000), (47999, 48000)])
def test_an_odd_rate_is_filtered_as_the_nearest_rate_with_a_small_kernel(
    rate: int, nearest: int
) -> None:
    # 44,099 Hz shares no factor with 16 kHz: torchaudio's kernel for it would take 2.8 GB.
    assert filter_rate(rate) == nearest
    resampler = Resampler(rate, SAMPLE_RATE)
    assert resampler.filter_freq == nearest
    kernel = resampler._transform.kernel
    assert kernel.numel() <= 1_000_000
    signal = torch.randn(rate * 2, generator=torch.Generator().manual_seed(2))
    streamed = torch.cat([resampler.process(signal[:30001]), resampler.process(signal[30001:])])
    streamed = torch.cat([streamed, resampler.flush()])
    expected = torchaudio.functional.resample(signal, nearest, SAMPLE_RATE)
    assert len(streamed) == len(expected)
    assert torch.allclose(streamed, expected, atol=1e-5)


def test_an_odd_rate_file_reads_at_the_right_length(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    soundfile.write(str(path), _sine(44099, seconds=2.0), 44099, subtype="FLOAT")
    audio = load_audio(path)
    assert abs(len(audio) - 2 * SAMPLE_RATE) <= 2
    rms = float(audio[2000:-2000].pow(2).mean().sqrt())
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resamplers_at_the_same_rates_share_one_filter() -> None:
    assert Resampler(44100)._transform is Resampler(44100)._transform
    assert Resampler(44100)._transform is not Resampler(48000)._transform


def test_waveform_input_integer_and_stereo() -> None:
    samples = (np.stack([_sine(8000)] * 2, axis=1) * 32767).astype(np.int16)
    audio = prepare_waveform(samples, 8000)
    assert len(audio) == 16000 and float(audio.abs().max()) == pytest.approx(0.5, abs=0.02)


def test_read_only_input_is_copied_not_shared() -> None:
    raw = _sine(16000).astype(np.float32).tobytes()
    samples = np.frombuffer(raw, dtype=np.float32)  # a caller's raw PCM: read-only
    mono = to_mono(samples)
    mono += 1.0
    assert float(np.abs(samples).max()) <= 0.51, "the caller's bytes are untouched"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioError, match="not a readable audio file"):
        load_audio(path)


def test_zero_samples_is_valid_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "nothing.wav"
    soundfile.write(str(path), np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    assert load_audio(path).shape == (0,)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_samples_are_rejected(tmp_path: Path, bad: float) -> None:
    data = _sine(16000)
    data[100] = bad
    path = tmp_path / "bad.wav"
    soundfile.write(str(path), data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path)
    with pytest.raises(AudioError, match="NaN or infinite"):
        prepare_waveform(data, 16000)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_ffmpeg_formats(tmp_path: Path) -> None:
    """m4a/aac go through the ffmpeg program (installed by scripts/setup.sh)."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    wav = tmp_path / "tone.wav"
    soundfile.write(str(wav), _sine(44100, 2.0), 44100, subtype="PCM_16")
    m4a = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(m4a)], check=True)
    audio = load_audio(m4a)
    assert abs(len(audio) - 2 * SAMPLE_RATE) < 0.05 * SAMPLE_RATE
    # ffmpeg's blocks are read-only views of its output bytes; to_mono copies them for torch.
    blocks = list(_ffmpeg_blocks(m4a, 0.5))
    assert len(blocks) >= 4
    for block, _ in blocks:
        before = block.copy()
        mono = to_mono(block)
        mono += 1.0  # must not write into (or crash on) the read-only buffer
        assert np.array_equal(block, before)
    assert float(audio[4000:-4000].pow(2).mean().sqrt()) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(AudioError, match="not a readable audio file"):
        load_audio(broken)


def _burst(seconds: float, rate: int = 16000) -> torch.Tensor:
    """A 440 Hz tone at -10 dBFS with 5 ms ramps: something louder than any background."""
    t = torch.arange(int(seconds * rate)) / rate
    ramp = torch.clamp(torch.minimum(t, t.flip(0)) / 0.005, max=1.0)
    return 0.45 * torch.sin(2 * math.pi * 440.0 * t) * ramp


def test_pad_margins_fills_a_tight_clip_up_to_the_margin() -> None:
    speech = _burst(0.5)
    tight = torch.cat([torch.zeros(800), speech, torch.zeros(320)])  # 50 ms before, 20 ms after
    padded, lead = pad_margins(tight, 16000, 0.16)
    # Speech is measured on 20 ms frames every 10 ms: the first frame reaching into the burst
    # starts at 40 ms, the last one ends at 60 ms after the start of the clip's last 20 ms.
    assert lead == 2560 - 640
    assert len(padded) == lead + len(tight) + 2560 - 160
    assert torch.equal(padded[lead : lead + len(tight)], tight)  # the clip itself is untouched
    assert padded[:lead].abs().max() == 0  # a clean clip's background is silence


def test_pad_margins_leaves_clips_with_margins_and_clips_without_speech_alone() -> None:
    roomy = torch.cat([torch.zeros(4000), _burst(0.5), torch.zeros(4000)])
    assert pad_margins(roomy, 16000, 0.16) == (roomy, 0)
    silence = torch.zeros(16000)
    assert pad_margins(silence, 16000, 0.16)[1] == 0
    noise = 0.05 * torch.randn(16000, generator=torch.Generator().manual_seed(1))
    assert pad_margins(noise, 16000, 0.16) == (noise, 0)  # steady noise has no speech
    assert pad_margins(torch.zeros(100), 16000, 0.16)[1] == 0  # shorter than one frame
    assert pad_margins(roomy, 16000, 0.0) == (roomy, 0)


def test_pad_margins_repeats_a_noisy_clips_own_background() -> None:
    generator = torch.Generator().manual_seed(0)
    noise = 0.01 * torch.randn(16000, generator=generator)  # -40 dBFS background
    clip = noise.clone()
    clip[1600:9600] += _burst(0.5)  # speech from 100 ms: the noise before it is not speech
    padded, lead = pad_margins(clip, 16000, 0.16)
    assert lead == 2560 - 1440
    added = padded[:lead]
    # Noise of the clip's own level, not silence (which it never had around its speech).
    assert 0.5 < float(added.pow(2).mean().sqrt()) / 0.01 < 1.5


def test_fit_margins_cuts_long_margins_down_and_pads_short_ones() -> None:
    generator = torch.Generator().manual_seed(2)
    speech = _burst(0.5)
    # 1 s of faint noise before the speech, 50 ms after it.
    clip = torch.cat([torch.zeros(16000), speech, torch.zeros(800)])
    clip = clip + 1e-3 * torch.randn(len(clip), generator=generator)
    start, end = speech_span(clip, 16000) or (0, 0)
    assert abs(start - 16000) <= 320 and abs(end - 24000) <= 320
    fitted, lead = fit_margins(clip, 16000, 0.16)
    assert lead == -(start - 2560)  # negative: samples cut off before the clip's speech
    # What is kept is the clip itself from 160 ms before its speech, then background after it.
    kept = len(clip) + lead
    assert torch.equal(fitted[:kept], clip[-lead:])
    assert len(fitted) == start - (-lead) + (end - start) + 2560
    assert speech_span(fitted, 16000) == (2560, 2560 + end - start)
    # The same clip with the short margin only padded: its long lead stays.
    padded, pad_lead = pad_margins(clip, 16000, 0.16)
    assert pad_lead == 0 and torch.equal(padded[: len(clip)], clip)


def test_fit_margins_leaves_margins_within_the_rules_resolution_and_non_speech_alone() -> None:
    speech = _burst(0.5)
    # 170 ms and 150 ms of silence: both within 20 ms of 160 ms.
    near = torch.cat([torch.zeros(2720), speech, torch.zeros(2400)])
    assert fit_margins(near, 16000, 0.16) == (near, 0)
    noise = 0.05 * torch.randn(16000, generator=torch.Generator().manual_seed(1))
    assert fit_margins(noise, 16000, 0.16) == (noise, 0)
    assert fit_margins(torch.zeros(16000), 16000, 0.16)[1] == 0
    roomy = torch.cat([torch.zeros(8000), speech, torch.zeros(8000)])
    assert fit_margins(roomy, 16000, 0.0) == (roomy, 0)
    fitted, lead = fit_margins(roomy, 16000, 0.16)
    assert lead < 0 and len(fitted) < len(roomy)


def test_speech_threshold_follows_the_peak_on_clean_clips_and_the_background_on_noisy() -> None:
    burst = _burst(0.5)  # -10 dBFS: a 440 Hz tone of amplitude 0.45 has a power of -10 dB
    clean = torch.cat([torch.zeros(8000), burst, torch.zeros(8000)])
    peak = float(frame_levels(clean, 16000).max())
    assert peak == pytest.approx(-10.0, abs=0.2)
    # Digital silence around the speech: 40 dB under the loudest frame.
    assert speech_threshold(frame_levels(clean, 16000)) == pytest.approx(peak - 40.0)
    generator = torch.Generator().manual_seed(3)
    noisy = clean + 0.01 * torch.randn(len(clean), generator=generator)  # -40 dBFS background
    level = frame_levels(noisy, 16000)
    background = float(torch.quantile(level, 0.1))
    assert background == pytest.approx(-40.0, abs=1.0)
    assert speech_threshold(level) == pytest.approx(background + 10.0)
    loud = clean + 0.1 * torch.randn(len(clean), generator=generator)  # -20 dBFS background
    # Never above 20 dB under the loudest frame, whatever the background.
    level = frame_levels(loud, 16000)
    assert speech_threshold(level) == pytest.approx(float(level.max()) - 20.0)
    assert speech_threshold(frame_levels(torch.zeros(16000), 16000)) is None
    steady = 0.05 * torch.randn(16000, generator=generator)
    assert speech_threshold(frame_levels(steady, 16000)) is None
