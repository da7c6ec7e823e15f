"""Tests of recipes/personal: prompted recording (a fake microphone) and finishing a model."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType, TracebackType

import numpy as np
import pytest
import soundfile
import torch
from conftest import TrainedModel

from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.checkpoint import read_checkpoint, resolve_model_path, save_model
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.transcribe import load_model

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "personal"


def recipe(name: str) -> ModuleType:
    if str(RECIPE_DIR) not in sys.path:
        sys.path.insert(0, str(RECIPE_DIR))
    return importlib.import_module(name)


class FakeMicrophone:
    """Plays the clip of each prompt it is shown, then silence; at 48 kHz like many devices."""

    sample_rate = 48000
    name = "fake"
    overflows = 0

    def __init__(self, clips: dict[str, np.ndarray], mute: set[str] | None = None) -> None:
        self.clips = clips  # text -> 48 kHz samples
        self.mute = mute or set()  # texts answered with silence the first time
        self.pending = np.zeros(0, np.float32)
        self.prompts: list[str] = []

    def say(self, prompt: str) -> None:
        self.prompts.append(prompt)
        text = prompt.split("Say: ", 1)[-1].split(" (again", 1)[0]
        if text in self.clips and text not in self.mute:
            lead = np.zeros(self.sample_rate // 5, np.float32)
            self.pending = np.concatenate([lead, self.clips[text]])
        self.mute.discard(text)

    def read(self, timeout: float) -> list[np.ndarray]:
        block = np.zeros(self.sample_rate // 10, np.float32)
        block[: len(self.pending[: len(block)])] = self.pending[: len(block)]
        self.pending = self.pending[len(block) :]
        return [block + np.float32(1e-4) * np.random.default_rng(0).standard_normal(len(block))]

    def __enter__(self) -> FakeMicrophone:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass


def clips_of(trained_model: TrainedModel) -> dict[str, np.ndarray]:
    clips = {}
    for text, path in zip(trained_model.phrases, trained_model.clips, strict=True):
        samples = load_audio(path).numpy()  # 16 kHz
        at_48k = np.arange(len(samples) * 3) / 3
        clips[text] = np.interp(at_48k, np.arange(len(samples)), samples).astype(np.float32)
    return clips


def same(a: object, b: object) -> bool:
    """Equality for nested dicts/lists that may hold tensors."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_plan_takes_goes_round_by_round_and_checks_its_input() -> None:
    record = recipe("record")
    takes = record.plan_takes(["Lights ON", "stop", "lights on!"], 3)
    assert [(t.text, t.number) for t in takes] == [
        ("lights on", 1), ("stop", 1), ("lights on", 2), ("stop", 2), ("lights on", 3), ("stop", 3)
    ]  # fmt: skip
    assert len({t.stem for t in takes}) == len(takes)
    with pytest.raises(record.RecordError, match="at least 2"):
        record.plan_takes(["stop"], 1)
    # Sentences to read come first, once each; a long one gets a longer window.
    read = record.plan_takes(["stop"], 2, read=["The cat sat on the mat, and then it slept."])
    assert [(t.text, t.read) for t in read] == [
        ("the cat sat on the mat and then it slept", True), ("stop", False), ("stop", False)
    ]  # fmt: skip
    assert read[0].seconds(2.5) == pytest.approx(1.0 + 0.6 * 10) and read[1].seconds(2.5) == 2.5
    assert record.plan_takes([], 1, read=["hello there"])[0].stem.startswith("read-hello-there")
    with pytest.raises(record.RecordError, match="nothing to say"):
        record.plan_takes(["stop", "?!"], 2)
    with pytest.raises(record.RecordError, match="no phrases"):
        record.plan_takes([], 2)


def test_record_session_writes_clips_and_manifests_and_resumes(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    record = recipe("record")
    phrases = list(trained_model.phrases[:2])
    microphone = FakeMicrophone(clips_of(trained_model), mute={phrases[1]})
    sentence = trained_model.phrases[2]
    takes = record.plan_takes(phrases, 2, read=[sentence])
    train, dev = record.record_session(takes, tmp_path, microphone, 2.5, 4.0, microphone.say)
    # The muted first answer was asked for again, and got.
    assert sum("(again" in prompt for prompt in microphone.prompts) == 1
    assert sorted(u.text for u in dev) == sorted(phrases)  # each phrase's last take
    assert all(u.audio.endswith("take2.flac") for u in dev)
    # The other takes, the sentence read, and 2 background clips, each listed 8 times.
    assert sorted(u.text for u in train) == sorted(8 * ["", "", *phrases, sentence])
    assert len({u.id for u in train}) == len(train) == 8 * len({u.audio for u in train})
    for utterance in train + dev:
        info = soundfile.info(utterance.audio)
        assert info.samplerate == SAMPLE_RATE and info.channels == 1
        if utterance.text:  # speech kept with its margins, not the whole 2.5 s window
            assert 0.3 < info.duration < 2.0
        else:
            assert info.duration == pytest.approx(2.0)
    lines = [json.loads(line) for line in (tmp_path / "dev.jsonl").read_text().splitlines()]
    assert {line["text"] for line in lines} == set(phrases)
    assert all(not Path(line["audio"]).is_absolute() for line in lines)

    # A second run asks for nothing recorded already, and writes the same manifests.
    again = FakeMicrophone(clips_of(trained_model))
    assert record.record_session(takes, tmp_path, again, 2.5, 4.0, again.say) == (train, dev)
    assert not any("Say:" in prompt for prompt in again.prompts)


def test_a_take_with_no_speech_twice_is_skipped_not_saved(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    record = recipe("record")
    microphone = FakeMicrophone({})  # silence whatever is asked
    takes = record.plan_takes(["stop"], 2)
    train, dev = record.record_session(takes, tmp_path, microphone, 1.0, 0.0, microphone.say)
    assert train == [] and dev == []
    assert sum(prompt.startswith("skipped") for prompt in microphone.prompts) == 2
    assert not list((tmp_path / "audio").iterdir())


class DeadMicrophone(FakeMicrophone):
    """A device that stops sending audio (unplugged)."""

    def read(self, timeout: float) -> list[np.ndarray]:
        return []


def test_a_device_that_sends_nothing_is_an_error_not_a_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = recipe("record")
    code = record.main(
        ["--commands", "stop", "--takes", "2", "--out", str(tmp_path)],
        lambda: DeadMicrophone({}),
        lambda prompt: None,
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == "record: error: fake: no audio for 5 s"


def test_main_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = recipe("record")
    assert record.main(["--out", str(tmp_path)], lambda: FakeMicrophone({})) == 2
    message = "record: error: give --read, --commands or --commands-file"
    assert capsys.readouterr().err.strip() == message
    code = record.main(["--commands", "stop", "--takes", "1", "--out", str(tmp_path)])
    assert code == 2 and "at least 2" in capsys.readouterr().err
    code = record.main(["--commands", "stop", "--read-count", "3", "--out", str(tmp_path)])
    assert code == 2 and "--read-count needs --read" in capsys.readouterr().err


def test_read_count_takes_the_first_sentences(tmp_path: Path) -> None:
    record = recipe("record")
    sentences = tmp_path / "read.txt"
    sentences.write_text("# a comment\nthe first one\nthe second one\nthe third one\n")
    microphone = FakeMicrophone({})  # silence: each sentence is asked for twice, then skipped
    argv = ["--read", str(sentences), "--read-count", "2", "--background", "0"]
    assert (
        record.main([*argv, "--out", str(tmp_path / "d")], lambda: microphone, microphone.say) == 0
    )
    asked = [p.split("Say: ")[1] for p in microphone.prompts if "Say: " in p and "again" not in p]
    assert asked == ["the first one", "the second one"]


def test_finish_carries_the_base_lm_and_threshold(tmp_path: Path) -> None:
    finish = recipe("finish")
    base = read_checkpoint(resolve_model_path(None))
    # A "fine-tuned" model: the bundled one with its weights nudged.
    bundled = load_model().model
    tuned = AcousticModel(bundled.config, bundled.feature_config)
    tuned.load_state_dict(bundled.state_dict())
    with torch.no_grad():
        tuned.head.bias.add_(0.01)
    run = tmp_path / "last.pt"
    save_model(tuned, run, extra={"training": {"step": 300}})
    out = finish.finish(run, tmp_path / "me.pt")
    payload = read_checkpoint(out)
    for key in finish.CARRIED:
        assert same(payload[key], base[key]), key
    assert payload["provenance"]["step"] == 300
    mine = load_model(out)
    assert mine.language_model is not None and mine.command_threshold == base["command_threshold"]
    assert torch.allclose(mine.model.head.bias, tuned.head.bias.half().float())


def test_finish_refuses_a_model_of_other_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finish = recipe("finish")
    bundled = load_model().model
    other = AcousticModel(
        ModelConfig(hidden_size=8, num_layers=1, conv_channels=8),
        type(bundled.feature_config)(kind="mfcc"),
    )
    save_model(other, tmp_path / "other.pt")
    code = finish.main([str(tmp_path / "other.pt"), "--out", str(tmp_path / "me.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "feature config differs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "me.pt").exists()


def test_record_train_finish_end_to_end(trained_model: TrainedModel, tmp_path: Path) -> None:
    """The README's three commands on a fake microphone: config.toml starts from the bundled
    model, and the finished file transcribes with its LM and threshold."""
    from speechrnn.cli import main as speechrnn

    record, finish = recipe("record"), recipe("finish")
    phrases = list(trained_model.phrases[:2])
    data, run = tmp_path / "data", tmp_path / "run"
    microphone = FakeMicrophone(clips_of(trained_model))
    argv = ["--commands", ",".join(phrases), "--takes", "2", "--background", "2"]
    code = record.main([*argv, "--out", str(data)], lambda: microphone, microphone.say)
    assert code == 0
    config = str(RECIPE_DIR / "config.toml")
    code = speechrnn(["train", config, "--data-root", str(data), "--run-dir", str(run),
                      "--max-steps", "2", "--set", "data.copies=1"])  # fmt: skip
    assert code == 0
    assert finish.main([str(run / "last.pt"), "--out", str(tmp_path / "me.pt")]) == 0
    mine = load_model(tmp_path / "me.pt")
    assert mine.language_model is not None
    assert mine.command_threshold == load_model().command_threshold
    # Two steps from the bundled weights: the model is still the bundle's, nearly.
    assert mine.transcribe(trained_model.clips[0], commands=phrases).command in (*phrases, None)
