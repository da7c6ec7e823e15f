"""Tests for speechrnn.augmentation: each effect does what it says, reproducibly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from fake_corpora import write_clip

from speechrnn.augmentation import (
    AudioSegment,
    AugmentConfig,
    SpecAugmentConfig,
    WaveformAugmenter,
    colored_noise,
    derive_seed,
    frequency_warp,
    generator_for,
    mix_at_snr,
    noise_segments_from_paths,
    read_audio_segment,
    reverberate,
    spec_augment,
    speed_perturb,
    synthetic_rir,
    telephone,
    warp_source_bins,
    warp_spectrum,
)
from speechrnn.features import FeatureConfig, FeatureExtractor

RATE = 16000


def tone(frequency: float, seconds: float = 1.0) -> torch.Tensor:
    time = torch.arange(int(seconds * RATE)) / RATE
    return 0.3 * torch.sin(2 * math.pi * frequency * time)


def band_energy(signal: torch.Tensor, low: float, high: float) -> float:
    spectrum = torch.fft.rfft(signal).abs().pow(2)
    frequencies = torch.fft.rfftfreq(len(signal), 1 / RATE)
    return float(spectrum[(frequencies >= low) & (frequencies < high)].sum())


def test_derive_seed_is_stable_and_distinguishes_parts() -> None:
    assert derive_seed(1, "x", 2) == derive_seed(1, "x", 2)
    assert derive_seed(1, "x", 2) != derive_seed(1, "x", 3)
    assert 0 <= derive_seed("a") < 2**63
    first = torch.rand(3, generator=generator_for(5, "u"))
    assert torch.equal(first, torch.rand(3, generator=generator_for(5, "u")))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_duration_and_pitch(factor: float) -> None:
    faster = speed_perturb(tone(1000.0), factor)
    assert len(faster) == pytest.approx(RATE / factor, abs=2)
    spectrum = torch.fft.rfft(faster).abs()
    peak = float(torch.fft.rfftfreq(len(faster), 1 / RATE)[spectrum.argmax()])
    assert peak == pytest.approx(1000.0 * factor, rel=0.01)


def test_reverberation_keeps_length_and_level_and_smears_time() -> None:
    impulse = torch.zeros(RATE)
    impulse[100] = 1.0
    rir = synthetic_rir(0.5, generator_for(0))
    assert rir[0] != 0 and float(rir.norm()) == pytest.approx(1.0, rel=1e-5)
    wet = reverberate(impulse, rir)
    assert len(wet) == len(impulse)
    assert float(wet.pow(2).mean()) == pytest.approx(float(impulse.pow(2).mean()), rel=1e-4)
    # Energy now lingers well after the impulse.
    assert float(wet[100 + RATE // 10 :].abs().max()) > 0


def test_telephone_band_limits() -> None:
    wide = colored_noise(RATE, 0.0, generator_for(1))
    narrow = telephone(wide)
    assert len(narrow) == len(wide)
    # Above 4 kHz nothing survives the 8 kHz round trip; below 300 Hz the band-pass cuts.
    assert band_energy(narrow, 4200, 8000) < 1e-3 * band_energy(wide, 4200, 8000)
    assert band_energy(narrow, 0, 150) < 0.05 * band_energy(wide, 0, 150)
    assert band_energy(narrow, 800, 2500) > 0.5 * band_energy(wide, 800, 2500)


def test_mix_at_snr_reaches_the_requested_ratio() -> None:
    signal = tone(440.0)
    noise = colored_noise(len(signal), 0.0, generator_for(2))
    mixed = mix_at_snr(signal, noise, 10.0)
    added = mixed - signal
    snr = 10 * math.log10(float(signal.pow(2).mean()) / float(added.pow(2).mean()))
    assert snr == pytest.approx(10.0, abs=0.01)


def test_noise_colours_have_their_slopes() -> None:
    generator = generator_for(3)
    white, pink, brown = (colored_noise(4 * RATE, e, generator) for e in (0.0, 1.0, 2.0))
    for noise in (white, pink, brown):
        assert float(noise.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-4)

    def tilt(noise: torch.Tensor) -> float:
        return band_energy(noise, 50, 500) / band_energy(noise, 2000, 6000)

    assert tilt(white) < tilt(pink) < tilt(brown)


def full_config(**changes: object) -> AugmentConfig:
    values: dict[str, object] = dict(
        speed_prob=0.5, reverb_prob=0.5, eq_prob=0.5, noise_prob=0.8, telephone_prob=0.3,
        gain_prob=0.5,
    )  # fmt: skip
    values.update(changes)
    return AugmentConfig(**values)  # type: ignore[arg-type]


def test_augmenter_is_a_function_of_its_seed(tmp_path: Path) -> None:
    noise_file = write_clip(tmp_path / "noise.wav", 200.0, 2.0, 0)
    babble = [AudioSegment(str(write_clip(tmp_path / f"b{i}.wav", 300 + 50 * i, 1.0, i)))
              for i in range(3)]  # fmt: skip
    augmenter = WaveformAugmenter(full_config(), [AudioSegment(str(noise_file))], babble)
    assert set(augmenter.noise_kinds) == {"white", "pink", "brown", "babble", "file"}
    clean = tone(500.0)
    outputs = [augmenter(clean, generator_for(0, "utt", copy)) for copy in range(6)]
    again = [augmenter(clean, generator_for(0, "utt", copy)) for copy in range(6)]
    for first, second in zip(outputs, again, strict=True):
        assert torch.equal(first, second)
    assert any(not torch.equal(outputs[0], other) for other in outputs[1:])
    for output in outputs:
        assert torch.isfinite(output).all() and output.abs().max() <= 1.0


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble", "file"])
def test_each_noise_kind_adds_noise(kind: str, tmp_path: Path) -> None:
    source = AudioSegment(str(write_clip(tmp_path / "n.wav", 200.0, 2.0, 0)), 0.5, 1.0)
    augmenter = WaveformAugmenter(
        AugmentConfig(noise_prob=1.0, noise_kinds=(kind,), snr_min_db=5, snr_max_db=5),
        [source], [source],
    )  # fmt: skip
    assert augmenter.noise_kinds == (kind,)
    clean = tone(1500.0)
    noisy = augmenter(clean, generator_for(1))
    snr = 10 * math.log10(float(clean.pow(2).mean()) / float((noisy - clean).pow(2).mean()))
    assert snr == pytest.approx(5.0, abs=0.1)


def test_unavailable_noise_kinds_are_left_out() -> None:
    augmenter = WaveformAugmenter(AugmentConfig(noise_prob=1.0))
    assert augmenter.noise_kinds == ("white", "pink", "brown")


def test_gain_and_clipping() -> None:
    augmenter = WaveformAugmenter(AugmentConfig(gain_prob=1.0, gain_min_db=20, gain_max_db=20))
    louder = augmenter(tone(300.0), generator_for(0))
    assert float(louder.abs().max()) == 1.0  # 0.3 x 10 clips


def test_disabled_augmenter_returns_the_input() -> None:
    clean = tone(300.0)
    assert not AugmentConfig().enabled
    assert torch.equal(WaveformAugmenter(AugmentConfig())(clean, generator_for(0)), clean)


@pytest.mark.parametrize(
    "changes",
    [
        {"noise_prob": 1.5},
        {"noise_kinds": ("static",)},
        {"snr_min_db": 30.0, "snr_max_db": 0.0},
        {"speed_factors": (3.0,)},
        {"silence_prob": -0.1},
        {"silence_max": -1.0},
    ],
)
def test_bad_configs_are_rejected(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="augment"):
        AugmentConfig(**changes)  # type: ignore[arg-type]


def test_added_silence_surrounds_the_clip_within_its_bounds() -> None:
    clean = tone(300.0, 0.5) + 0.05  # no sample is zero: the clip's ends are where it is
    config = AugmentConfig(silence_prob=1.0, silence_max=0.8)
    assert config.enabled
    lengths = set()
    for seed in range(8):
        out = WaveformAugmenter(config)(clean, generator_for(seed))
        loud = torch.nonzero(out.abs() > 1e-6).flatten()
        before, after = int(loud[0]), len(out) - int(loud[-1]) - 1
        assert torch.equal(out[before : before + len(clean)], clean)
        assert 0 <= before <= 0.8 * RATE and 0 <= after <= 0.8 * RATE + 1
        lengths.add(len(out))
    assert len(lengths) > 4  # drawn per example, not fixed
    # Seeded: the same example gets the same silence.
    first = WaveformAugmenter(config)(clean, generator_for(3))
    assert torch.equal(first, WaveformAugmenter(config)(clean, generator_for(3)))


def test_silence_off_leaves_old_configs_and_their_cache_names_alone() -> None:
    clean = tone(300.0)
    old = AugmentConfig(noise_prob=1.0, noise_kinds=("white",), gain_prob=0.5)
    assert "silence_prob" not in old.to_dict()  # the feature cache's key is as before
    assert "silence_prob" in AugmentConfig(silence_prob=0.5).to_dict()
    # A config that turns silence off draws the same random numbers as one without it.
    with_zero = AugmentConfig(noise_prob=1.0, noise_kinds=("white",), gain_prob=0.5, silence_max=2)
    assert torch.equal(
        WaveformAugmenter(old)(clean, generator_for(5)),
        WaveformAugmenter(with_zero)(clean, generator_for(5)),
    )


def test_spec_augment_masks_with_the_fill_value_reproducibly() -> None:
    features = torch.randn(200, 40) + 5.0
    fill = torch.full((40,), -7.0)
    config = SpecAugmentConfig(freq_masks=2, freq_mask_width=8, time_masks=2, time_mask_width=20)
    masked = spec_augment(features, config, generator_for(0), fill)
    assert masked.shape == features.shape
    changed = masked != features
    assert changed.any()
    assert torch.all(masked[changed] == -7.0)
    # Whole frequency bins (every frame) and whole frames (every bin) are masked.
    full_bins = changed.all(dim=0).sum()
    full_frames = changed.all(dim=1).sum()
    assert 0 < full_bins <= 2 * 8 and 0 < full_frames <= 2 * 20
    assert torch.equal(masked, spec_augment(features, config, generator_for(0), fill))
    assert not torch.equal(masked, spec_augment(features, config, generator_for(1), fill))
    # The global RNG is left alone.
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    spec_augment(features, config, generator_for(0), fill)
    assert torch.equal(torch.rand(1), expected)


def test_time_masks_respect_the_length_ratio() -> None:
    features = torch.zeros(30, 10)
    config = SpecAugmentConfig(time_masks=1, time_mask_width=100, time_mask_max_ratio=0.1)
    for seed in range(20):
        masked = spec_augment(features, config, generator_for(seed), torch.ones(10))
        assert int((masked[:, 0] == 1).sum()) <= 3


def test_warp_source_bins_keep_the_band_edges_and_order() -> None:
    config = FeatureConfig()
    identity = warp_source_bins(config, 1.0)
    assert torch.allclose(identity, torch.arange(80, dtype=torch.float32), atol=1e-4)
    for factor in (0.85, 0.92, 1.08, 1.15):
        position = warp_source_bins(config, factor)
        assert torch.all(position[1:] >= position[:-1])  # no bin reads below its neighbour
        assert float(position.min()) >= 0.0 and float(position.max()) <= 79.0
        # The band's top edge maps onto itself, so the last bin reads from (almost) itself.
        assert float(position[-1]) == pytest.approx(79.0, abs=1.0)
        # Below the knee, a stretch (> 1) reads from lower bins and a squeeze from higher ones.
        middle = position[20:50] - identity[20:50]
        assert bool((middle < -0.2).all()) if factor > 1 else bool((middle > 0.2).all())


def test_warp_spectrum_moves_a_tone_like_a_higher_voice() -> None:
    config = FeatureConfig()
    extractor = FeatureExtractor(config)
    with torch.no_grad():
        low, high = extractor(tone(1000.0)), extractor(tone(1100.0))
    warped = warp_spectrum(low, config, 1.1)
    # The 1000 Hz peak, stretched by 10%, lands in the bin of a 1100 Hz tone, not where it was.
    assert int(warped.mean(0).argmax()) == int(high.mean(0).argmax())
    assert int(low.mean(0).argmax()) != int(high.mean(0).argmax())
    assert torch.allclose(warp_spectrum(low, config, 1.0), low, atol=1e-3)


def test_frequency_warp_is_seeded_and_optional() -> None:
    config = FeatureConfig()
    features = torch.randn(50, 80)
    off = SpecAugmentConfig()
    assert frequency_warp(features, off, config, generator_for(0)) is features
    never = SpecAugmentConfig(warp_prob=0.0, warp_max=0.1)
    assert not never.warps
    always = SpecAugmentConfig(warp_prob=1.0, warp_max=0.1)
    warped = frequency_warp(features, always, config, generator_for(0))
    assert warped.shape == features.shape and not torch.equal(warped, features)
    assert torch.equal(warped, frequency_warp(features, always, config, generator_for(0)))
    assert not torch.equal(warped, frequency_warp(features, always, config, generator_for(1)))
    # Roughly warp_prob of the draws warp.
    half = SpecAugmentConfig(warp_prob=0.5, warp_max=0.1)
    count = sum(
        not torch.equal(frequency_warp(features, half, config, generator_for(s)), features)
        for s in range(200)
    )
    assert 70 < count < 130
    with pytest.raises(ValueError, match="log-mel"):
        frequency_warp(torch.randn(5, 13), always, FeatureConfig(kind="mfcc", n_mfcc=13),
                       generator_for(0))  # fmt: skip
    for bad in ({"warp_prob": 1.5}, {"warp_max": 0.6}, {"warp_max": -0.1}):
        with pytest.raises(ValueError, match="warp"):
            SpecAugmentConfig(**bad)  # type: ignore[arg-type]


def test_warp_jitter_reshapes_the_spectrum_without_folding_it() -> None:
    config = FeatureConfig()
    plain = warp_source_bins(config, 1.05)
    assert torch.equal(warp_source_bins(config, 1.05, ()), plain)
    assert torch.allclose(warp_source_bins(config, 1.05, (0.0,) * 4), plain, atol=1e-4)
    for jitter in ((0.1, -0.1, 0.1, -0.1), (-0.2, 0.2, -0.2, 0.2), (0.15, 0.15, 0.15, 0.15)):
        position = warp_source_bins(config, 1.05, jitter)
        assert torch.all(position[1:] >= position[:-1])  # monotonic: reshaped, never folded
        assert float(position.min()) >= 0.0 and float(position.max()) <= 79.0
        assert float((position - plain).abs().max()) > 0.5  # it does move formants
        # The band's edges stay where VTLP put them.
        assert float(position[0]) == pytest.approx(float(plain[0]), abs=0.5)
        assert float(position[-1]) == pytest.approx(float(plain[-1]), abs=0.5)
    # A knot raised by 10% reads from a higher source frequency near it, a lowered one lower.
    up = warp_source_bins(config, 1.0, (0.1, 0.0, 0.0, 0.0))
    down = warp_source_bins(config, 1.0, (-0.1, 0.0, 0.0, 0.0))
    knot = 16  # the first inner knot: a fifth of the way through the band, in mel
    assert float(up[knot]) > float(warp_source_bins(config, 1.0)[knot])
    assert float(down[knot]) < float(warp_source_bins(config, 1.0)[knot])


def test_frequency_warp_jitter_is_seeded_and_leaves_old_configs_alone() -> None:
    config = FeatureConfig()
    features = torch.randn(50, 80)
    vtlp = SpecAugmentConfig(warp_prob=1.0, warp_max=0.1)
    shaped = SpecAugmentConfig(warp_prob=1.0, warp_max=0.1, warp_jitter=0.08)
    # The stretch is drawn first, so a jittered warp shares it and only adds a shape.
    with_shape = frequency_warp(features, shaped, config, generator_for(3))
    assert torch.equal(with_shape, frequency_warp(features, shaped, config, generator_for(3)))
    assert not torch.equal(with_shape, frequency_warp(features, vtlp, config, generator_for(3)))
    # Without jitter the generator is used exactly as before (two draws), so runs reproduce.
    generator = generator_for(3)
    frequency_warp(features, vtlp, config, generator)
    reference = generator_for(3)
    torch.rand(2, generator=reference, dtype=torch.float64)
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=reference))
    for bad in (-0.1, 0.3):
        with pytest.raises(ValueError, match="warp_jitter"):
            SpecAugmentConfig(warp_jitter=bad)


def test_read_audio_segment_and_noise_sources(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a" / "clip.flac", 300.0, 2.0, 0)
    segment = read_audio_segment(clip, 0.5, 1.0)
    assert len(segment) == RATE
    whole = read_audio_segment(clip)
    assert torch.allclose(segment, whole[RATE // 2 : RATE // 2 + RATE])
    write_clip(tmp_path / "a" / "b.wav", 300.0, 0.5, 1)
    manifest = tmp_path / "noise.jsonl"
    manifest.write_text('{"audio": "a/clip.flac"}\n')
    segments = noise_segments_from_paths(
        [tmp_path / "a", manifest],
        lambda path: [AudioSegment(str(tmp_path / "a" / "clip.flac"), 0.0, 2.0)],
    )
    assert [Path(s.path).name for s in segments] == ["b.wav", "clip.flac", "clip.flac"]
    with pytest.raises(FileNotFoundError):
        noise_segments_from_paths([tmp_path / "missing"], lambda path: [])
