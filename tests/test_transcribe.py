"""Tests for speechrnn.transcribe: the Recognizer API, long-file segmentation, commands."""

import itertools
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TrainedModel

from speechrnn import load_model, tokenizer
from speechrnn.audio import SAMPLE_RATE, AudioError, load_audio, save_audio
from speechrnn.lexicon import Lexicon
from speechrnn.lm import WordLM
from speechrnn.transcribe import (
    MAX_SEGMENT_SECONDS,
    MIN_SEGMENT_SECONDS,
    NUMBER_WORDS,
    background_lexicon,
    segment_stream,
)


def test_segment_stream_cuts_at_quiet_points() -> None:
    rate = 1000
    loud = torch.ones(rate * 25)
    signal = torch.cat([loud, torch.zeros(rate), loud, torch.zeros(rate // 2), loud[: rate * 5]])
    blocks = signal.split(3333)
    segments = list(segment_stream(blocks, rate, max_seconds=30, min_seconds=20))
    assert torch.equal(torch.cat([s for _, s in segments]), signal)
    offsets = [offset for offset, _ in segments]
    assert offsets == sorted(offsets) and offsets[0] == 0
    for (offset, segment), (next_offset, _) in itertools.pairwise(segments):
        assert offset + len(segment) == next_offset
        assert 20 * rate <= len(segment) <= 30 * rate
        assert float(signal[next_offset]) == 0.0  # every cut lies in silence


def test_segment_stream_of_nothing_yields_one_empty_segment() -> None:
    assert [len(s) for _, s in segment_stream([], 16000)] == [0]


def test_file_and_waveform_agree(trained_model: TrainedModel) -> None:
    model = load_model(trained_model.path)
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        from_file = model.transcribe(clip)
        assert from_file.text == phrase
        assert from_file.command is None
        assert 0.0 <= from_file.confidence <= 1.0
        assert [w.word for w in from_file.words] == phrase.split()
        assert all(0 <= w.start < w.end <= from_file.duration + 0.05 for w in from_file.words)
        waveform = load_audio(clip)
        from_waveform = model.transcribe(waveform.numpy(), sample_rate=SAMPLE_RATE)
        assert from_waveform.text == phrase
        stereo_48k = torch.stack([waveform, waveform], 1).repeat_interleave(3, 0)
        assert model.transcribe(stereo_48k, sample_rate=48000).text == phrase
        # torchaudio.load's layout, (channels, samples), and a rate given as a float.
        assert model.transcribe(stereo_48k.T, sample_rate=48000.0).text == phrase
        from_bytes = model.transcribe(clip.read_bytes())
        assert (from_bytes.text, from_bytes.words) == (phrase, from_file.words)


def test_bytes_that_are_not_audio_name_no_temporary_file(
    trained_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(trained_model.path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(AudioError, match=r"^<bytes>: (not a readable audio file|file is empty)"):
        model.transcribe(b"not audio at all")
    with pytest.raises(AudioError, match=r"^<bytes>: file is empty$"):
        model.transcribe(b"")
    assert list(tmp_path.iterdir()) == []  # the temporary copies are gone
    with pytest.raises(ValueError, match="sample_rate is only for waveforms"):
        model.transcribe(trained_model.clips[0].read_bytes(), sample_rate=SAMPLE_RATE)


def test_beam_search_agrees_on_clear_clips(trained_model: TrainedModel) -> None:
    model = load_model(trained_model.path)
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        assert model.transcribe(clip, beam_size=8).text == phrase


def test_commands_pick_and_reject(trained_model: TrainedModel, tone_wav: Path) -> None:
    model = load_model(trained_model.path)
    commands = ["Yes", "Stop", "go forward", "no"]
    for clip, phrase in zip(trained_model.clips, trained_model.phrases, strict=True):
        result = model.transcribe(clip, commands=commands)
        assert result.command is not None and result.command.lower() == phrase
        assert result.text == result.command
    rejected = model.transcribe(tone_wav, commands=commands)
    assert rejected.command is None and rejected.text == ""
    silence = model.transcribe(torch.zeros(SAMPLE_RATE), sample_rate=SAMPLE_RATE, commands=commands)
    assert silence.command is None


class CountingLexicon(Lexicon):
    """A Lexicon that counts its searches."""

    searches = 0

    def best_log_prob(self, matrix: np.ndarray) -> float:
        self.searches += 1
        return super().best_log_prob(matrix)


def test_command_lists_get_the_models_background_vocabulary(trained_model: TrainedModel) -> None:
    """transcribe(commands=[...]) decides as the CLI does: with the model's background vocabulary,
    which the calibrated threshold was measured with (it used to be left out here)."""
    model = load_model(trained_model.path)
    lexicon = CountingLexicon(["yes", "stop", "go", "forward", "no", "cat"])
    model.__dict__["lexicon"] = lexicon  # what the cached property returns for a model with an LM
    commands = ["yes", "stop"]
    clip = trained_model.clips[trained_model.phrases.index("yes")]
    result = model.transcribe(clip, commands=commands, command_threshold=-math.inf)
    assert lexicon.searches == 1  # at -inf the background search always runs
    log_probs, _ = model.clip_log_probs(load_audio(clip))
    expected = model.decode_log_probs(log_probs, model.command_decoder(commands, -math.inf))
    assert (result.command, result.confidence) == (expected.command, expected.confidence)


def test_long_file_is_segmented(trained_model: TrainedModel, tmp_path: Path) -> None:
    """A recording longer than one segment is cut in silence and its word times stay on the
    file's clock."""
    clip = load_audio(trained_model.clips[0])  # "yes"
    gap = torch.zeros(SAMPLE_RATE)
    repeats = int(MAX_SEGMENT_SECONDS * 2.2 / ((len(clip) + len(gap)) / SAMPLE_RATE)) + 1
    path = tmp_path / "long.wav"
    save_audio(path, torch.cat([torch.cat([clip, gap]) for _ in range(repeats)]))
    result = load_model(trained_model.path).transcribe(path)
    assert result.duration > 2 * MAX_SEGMENT_SECONDS
    # The tiny model never heard two words in a row, so it may not put spaces between repeats.
    assert result.text.replace(" ", "") == "yes" * repeats
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert starts[-1] > 2 * MIN_SEGMENT_SECONDS  # later segments keep the file's clock
    assert result.words[-1].end <= result.duration + 0.05


def test_bad_arguments(trained_model: TrainedModel) -> None:
    model = load_model(trained_model.path)
    with pytest.raises(ValueError, match="sample_rate"):
        model.transcribe(torch.zeros(100))
    with pytest.raises(ValueError, match="beam_size"):
        model.transcribe(trained_model.clips[0], beam_size=0)
    with pytest.raises(ValueError):
        model.transcribe(trained_model.clips[0], commands=[])
    with pytest.raises(TypeError, match="commands must be strings, got int 1"):
        model.transcribe(trained_model.clips[0], commands=["yes", 1])  # type: ignore[list-item]
    with pytest.raises(AudioError, match=r"whole number of Hz, got 16000\.5"):
        model.transcribe(torch.zeros(100), sample_rate=16000.5)
    with pytest.raises(AudioError, match="a number of Hz, got '16000'"):
        model.transcribe(torch.zeros(100), sample_rate="16000")  # type: ignore[arg-type]


def test_checkpoint_carries_the_command_threshold(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    """A threshold stored in the checkpoint becomes the default; an explicit one overrides it."""
    from speechrnn.checkpoint import load_acoustic_model, save_model
    from speechrnn.decoding import COMMAND_STATISTIC_VERSION, DEFAULT_COMMAND_THRESHOLD

    strict = tmp_path / "strict.pt"
    # Scores are <= 0 and reach 0 only for a certain model, so -0.001 rejects a real clip.
    calibrated = {"command_threshold": -0.001, "command_statistic": COMMAND_STATISTIC_VERSION}
    save_model(load_acoustic_model(trained_model.path), strict, extra=calibrated)
    model = load_model(strict)
    assert model.command_threshold == -0.001
    # A threshold calibrated for another statistic (or for the first, unversioned one) does not
    # apply to today's: such a checkpoint gets the default.
    for stale in ({"command_threshold": -0.001}, {**calibrated, "command_statistic": 1}):
        save_model(load_acoustic_model(trained_model.path), tmp_path / "stale.pt", extra=stale)
        assert load_model(tmp_path / "stale.pt").command_threshold == DEFAULT_COMMAND_THRESHOLD
    clip = trained_model.clips[0]
    assert model.transcribe(clip, commands=["yes", "stop"]).command is None
    assert model.transcribe(clip, commands=["yes", "stop"], command_threshold=-5.0).command == "yes"


def test_language_model_is_used_by_default_and_can_be_turned_off(
    trained_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechrnn import decoding, transcribe
    from speechrnn.lm import LMWeights

    plain = load_model(trained_model.path)
    assert plain.language_model is None and plain.default_beam_size == 1
    lm = WordLM.train(trained_model.phrases)
    model = transcribe.Recognizer(plain.model, language_model=lm, lm_weights=LMWeights(0.3))
    assert model.default_beam_size == transcribe.DEFAULT_LM_BEAM_SIZE > 1
    seen: list[object] = []
    real_search = decoding.prefix_beam_search

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("lm"))
        return real_search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(decoding, "prefix_beam_search", spy)
    clip = trained_model.clips[-1]
    assert model.transcribe(clip).text == trained_model.phrases[-1]
    assert seen == [lm]
    assert model.transcribe(clip, use_lm=False).text == trained_model.phrases[-1]
    assert seen == [lm]  # greedy: no beam search at all
    assert model.transcribe(clip, beam_size=4, use_lm=False).text == trained_model.phrases[-1]
    assert seen == [lm, None]


def test_clips_cut_close_to_their_speech_get_margins(trained_model: TrainedModel) -> None:
    """transcribe() gives a clip the background the corpus always has around its speech; word
    times stay on the clip's own clock."""
    model = load_model(trained_model.path)
    waveform = load_audio(trained_model.clips[trained_model.phrases.index("go forward")])
    loud = torch.nonzero(waveform.abs() > 0.05).flatten()
    tight = waveform[int(loud[0]) : int(loud[-1]) + 1]  # no silence left on either side
    log_probs, lead = model.clip_log_probs(tight)
    assert lead >= 0.1
    assert log_probs.shape[0] > model.log_probs(tight).shape[0]
    result = model.transcribe(tight, sample_rate=SAMPLE_RATE)
    assert all(0.0 <= w.start <= w.end <= result.duration for w in result.words)
    command = model.transcribe(tight, sample_rate=SAMPLE_RATE, commands=["go forward", "stop"])
    assert all(0.0 <= w.start <= w.end <= command.duration for w in command.words)
    # margin_seconds = 0: the clip as it is.
    model.margin_seconds = 0.0
    plain, none_added = model.clip_log_probs(tight)
    assert none_added == 0.0 and torch.equal(plain, model.log_probs(tight))


def test_long_silence_around_a_clip_is_cut_to_the_margins(trained_model: TrainedModel) -> None:
    """A word with seconds of silence around it is heard as the corpus's clips are: with 160 ms
    of background; word times stay on the recording's clock."""
    model = load_model(trained_model.path)
    waveform = load_audio(trained_model.clips[trained_model.phrases.index("go forward")])
    roomy = torch.cat([torch.zeros(2 * SAMPLE_RATE), waveform, torch.zeros(SAMPLE_RATE)])
    log_probs, lead = model.clip_log_probs(roomy)
    assert lead < -1.5  # most of the 2 s of silence before the speech is not heard
    assert log_probs.shape[0] < model.log_probs(roomy).shape[0]
    result = model.transcribe(roomy, sample_rate=SAMPLE_RATE)
    assert result.text == model.transcribe(waveform, sample_rate=SAMPLE_RATE).text
    assert result.words and all(2.0 - 0.2 <= w.start <= w.end <= 3.0 + 0.2 for w in result.words)
    command = model.transcribe(roomy, sample_rate=SAMPLE_RATE, commands=["go forward", "stop"])
    assert command.command == "go forward"
    assert all(1.8 <= w.start <= w.end <= result.duration for w in command.words)


def test_command_word_times_across_segments_are_on_the_clock(
    trained_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Command mode joins the frames of every segment, each with its own margins; a word in a
    later segment still gets its time on the recording's clock."""
    model = load_model(trained_model.path)

    def tight(phrase: str) -> torch.Tensor:
        waveform = load_audio(trained_model.clips[trained_model.phrases.index(phrase)])
        loud = torch.nonzero(waveform.abs() > 0.05).flatten()
        return waveform[int(loud[0]) : int(loud[-1]) + 1]

    first, second = tight("stop"), tight("go forward")
    signal = torch.cat([first, second])

    alone = model.transcribe(
        second, sample_rate=SAMPLE_RATE, commands=["go forward"], command_threshold=-math.inf
    )

    def two_segments(blocks: object, sample_rate: int) -> list[tuple[int, torch.Tensor]]:
        # Cut right between the phrases, so each segment needs margins on both sides.
        return [(0, first), (len(first), second)]

    # By name: the package's ``transcribe`` attribute is not the module.
    monkeypatch.setattr("speechrnn.transcribe.segment_stream", two_segments)
    result = model.transcribe(
        signal, sample_rate=SAMPLE_RATE, commands=["go forward"], command_threshold=-math.inf
    )
    assert result.command == "go forward"
    offset = len(first) / SAMPLE_RATE
    # The same words as in the second segment decoded alone, moved by its offset.
    assert [w.word for w in result.words] == [w.word for w in alone.words] == ["go", "forward"]
    for joined, single in zip(result.words, alone.words, strict=True):
        assert joined.start == pytest.approx(single.start + offset, abs=0.045)
        assert joined.end == pytest.approx(single.end + offset, abs=0.045)


def test_background_vocabulary_has_every_number_word() -> None:
    """Command lists are full of numbers: "sixtieth" said to a list with "six" must be able to
    explain itself even when the language model never saw the word."""
    lm = WordLM.train(["go forward ten meters", "turn on the light"])
    lexicon = background_lexicon(lm)
    assert lexicon is not None
    assert {"zero", "sixteen", "sixtieth", "hundredth", "twenty", "first"} <= set(NUMBER_WORDS)
    assert len(NUMBER_WORDS) == 57  # 0..19, the tens, hundred; and each one's ordinal but zero's
    lm_words = {"go", "forward", "ten", "meters", "turn", "on", "the", "light"}
    assert lexicon.num_words == len(lm_words | set(NUMBER_WORDS))
    # A clip the model spells "sixtieth" plainly: the background explains it exactly.
    tokens = tokenizer.encode("sixtieth")
    matrix = np.full((2 * len(tokens) + 1, tokenizer.VOCAB_SIZE), -12.0, dtype=np.float32)
    matrix[0::2, tokenizer.BLANK] = 0.0
    matrix[np.arange(1, 2 * len(tokens), 2), tokens] = 0.0
    assert lexicon.best_log_prob(matrix) == pytest.approx(0.0, abs=1e-4)
    assert Lexicon(lm_words).best_log_prob(matrix) < -10.0
    assert background_lexicon(None) is None
