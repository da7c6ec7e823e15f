"""Tests for speechrnn.training: configuration, schedules, the loop, exact resume, evaluation."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest
import torch
from fake_corpora import TINY_OVERRIDES, make_manifest_corpus

import speechrnn
from speechrnn.checkpoint import read_checkpoint
from speechrnn.metrics import ErrorCounts
from speechrnn.training import (
    ConfigError,
    OptimConfig,
    TrainConfig,
    TrainState,
    UtteranceResult,
    config_to_toml,
    learning_rate,
    load_config,
    parse_override,
    summarize_commands,
    train,
)

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("recipe", ["speech_commands", "librispeech", "manifest", "synthetic"])
def test_recipe_configs_load_and_round_trip(recipe: str, tmp_path: Path) -> None:
    config = load_config(REPO / "recipes" / recipe / "config.toml")
    saved = tmp_path / "config.toml"
    saved.write_text(config_to_toml(config))
    assert load_config(saved) == config


def test_synthetic_recipe_is_the_bundled_model_shape() -> None:
    config = load_config(REPO / "recipes" / "synthetic" / "config.toml")
    model = speechrnn.training.AcousticModel(config.model, config.features)
    assert 1.8e6 < model.num_parameters() < 2.3e6
    assert model.time_stride == 4
    assert config.data.copies > 1 and config.data.sortagrad and config.optim.warmup_steps > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("optim.lr=0.002", ("optim", "lr", 0.002), id="float"),
        pytest.param("data.train=train", ("data", "train", "train"), id="bare-word"),
        pytest.param('data.train=["a", "b"]', ("data", "train", ["a", "b"]), id="list"),
        pytest.param("train.amp=false", ("train", "amp", False), id="bool"),
    ],
)
def test_parse_override(text: str, expected: tuple[str, str, object]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(["optim.learning_rate=1"], "unknown key optim.learning_rate; valid keys",
                     id="unknown-key"),
        pytest.param(["optimizer.lr=1"], "unknown section", id="unknown-section"),
        pytest.param(["optim.lr=fast"], "optim.lr: expected a number", id="bad-type"),
        pytest.param(["optim.schedule=linear"], "one of 'cosine'", id="bad-choice"),
        pytest.param(["train.epochs=0"], "epochs", id="bad-range"),
        pytest.param(["lr=1"], "section.key=value", id="no-section"),
        pytest.param(["features.kind=mfcc", "spec_augment.warp_prob=0.5"], "needs log-mel",
                     id="warp-needs-logmel"),
    ],
)  # fmt: skip
def test_bad_overrides_are_rejected(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim\nlr = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[data]\nbatch_size = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key data\.batch_size"):
        load_config(unknown)
    loose = tmp_path / "loose.toml"
    loose.write_text('recipe = "manifest"\n[optim]\nlr = 0.01\n')
    with pytest.raises(
        ConfigError, match=r"recipe stands outside any \[section\]; put it under \[data\]"
    ):
        load_config(loose)
    loose.write_text("speed = 3\n")
    with pytest.raises(ConfigError, match=r"speed stands outside any \[section\]; valid sections"):
        load_config(loose)


def test_overrides_apply_on_top_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[optim]\nlr = 0.01\n[model]\nconv_strides = [2, 2]\n")
    config = load_config(path, ["optim.lr=0.5", "model.hidden_size=8", "data.train=x"])
    assert config.optim.lr == 0.5 and config.model.hidden_size == 8
    assert config.data.train == ("x",) and config.model.conv_strides == (2, 2)
    assert config.features == TrainConfig().features


def test_learning_rate_schedules() -> None:
    cosine = OptimConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    rates = [learning_rate(s, 100, cosine) for s in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert max(rates) == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert learning_rate(100, 100, cosine) == pytest.approx(0.1)
    onecycle = OptimConfig(lr=1.0, schedule="onecycle", pct_start=0.25, min_lr_ratio=0.0)
    rates = [learning_rate(s, 100, onecycle) for s in range(101)]
    assert rates[0] == pytest.approx(1 / 25) and rates[25] == pytest.approx(1.0)
    assert rates[100] == pytest.approx(0.0, abs=1e-9)
    constant = OptimConfig(lr=1.0, warmup_steps=4, schedule="constant")
    assert [learning_rate(s, 10, constant) for s in (0, 3, 9)] == [0.25, 1.0, 1.0]


# ----------------------------------------------------------------------------- the loop


def tiny_config(data_root: Path, *more: str) -> TrainConfig:
    return load_config(
        REPO / "recipes" / "manifest" / "config.toml",
        [*TINY_OVERRIDES, f'data.root="{data_root}"', "train.max_steps=6", "train.eval_every=3",
         "model.dropout=0.2", *more],
    )  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_manifest_corpus(tmp_path_factory.mktemp("corpus"), train=12, dev=4)


def parameters_of(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def test_train_writes_the_run_folder(corpus: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    run = tmp_path / "run"
    result = train(tiny_config(corpus), run, log=messages.append)
    assert result.finished and result.state.step == 6
    for name in ("config.toml", "train.log", "metrics.csv", "curves.png", "last.pt", "best.pt",
                 "dev_recogs.jsonl"):  # fmt: skip
        assert (run / name).is_file(), name
    assert load_config(run / "config.toml") == tiny_config(corpus)
    with open(run / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["step"]) for r in rows if r["train_loss"]] == [1, 2, 3, 4, 5, 6]
    assert [int(r["step"]) for r in rows if r["dev_wer"]] == [3, 6]
    assert any("sample" in m and "ref" in m for m in messages)
    assert any("dev WER" in m for m in messages)
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # Checkpoints hold no pickled objects and load as models.
    for name in ("last.pt", "best.pt"):
        payload = torch.load(run / name, map_location="cpu", weights_only=True)
        assert payload["training"]["step"] in range(1, 7)
        recognizer = speechrnn.load_model(run / name)
        result_text = recognizer.transcribe(read_first_audio(corpus)).text
        assert isinstance(result_text, str)
    # The feature normalization came from the data, not the defaults.
    state = parameters_of(run / "last.pt")
    assert not torch.allclose(state["feature_mean"], torch.zeros_like(state["feature_mean"]))


def read_first_audio(corpus: Path) -> Path:
    return sorted((corpus / "clips").glob("train_*.flac"))[0]


def test_existing_run_needs_resume_and_a_matching_config(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(corpus, "train.max_steps=2"), run)
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(corpus, "train.max_steps=2"), run)
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        train(tiny_config(corpus, "train.max_steps=4", "optim.lr=0.5"), run, resume=True)
    result = train(tiny_config(corpus, "train.max_steps=4"), run, resume=True)
    assert result.state.step == 4


class Interrupted(Exception):
    pass


def test_resume_after_a_crash_matches_an_uninterrupted_run(corpus: Path, tmp_path: Path) -> None:
    config = tiny_config(corpus, "train.checkpoint_every=2", "spec_augment.time_masks=1")
    whole = train(config, tmp_path / "whole")

    def crash(state: TrainState) -> None:
        if state.step == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(config, tmp_path / "crashed", on_step=crash)
    assert read_checkpoint(tmp_path / "crashed" / "last.pt")["training"]["step"] == 4
    resumed = train(config, tmp_path / "crashed", resume=True)
    assert resumed.state.step == whole.state.step == 6
    assert resumed.state.epoch == whole.state.epoch
    assert resumed.state.batch_in_epoch == whole.state.batch_in_epoch
    expected, actual = (
        parameters_of(tmp_path / "whole" / "last.pt"),
        parameters_of(tmp_path / "crashed" / "last.pt"),
    )
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-6), name
    optimizer_a = read_checkpoint(tmp_path / "whole" / "last.pt")["training"]["optimizer"]
    optimizer_b = read_checkpoint(tmp_path / "crashed" / "last.pt")["training"]["optimizer"]
    for key, state in optimizer_a["state"].items():
        assert torch.allclose(state["exp_avg_sq"], optimizer_b["state"][key]["exp_avg_sq"])
    with open(tmp_path / "crashed" / "metrics.csv", newline="") as file:
        steps = [int(r["step"]) for r in csv.DictReader(file) if r["train_loss"]]
    assert steps == [1, 2, 3, 4, 5, 6]  # rows of the lost step 5 were not kept twice


def test_non_finite_loss_batches_are_skipped(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = speechrnn.training.ctc_loss
    calls = {"n": 0}

    def sometimes_nan(*args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)  # type: ignore[arg-type]
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(speechrnn.training, "ctc_loss", sometimes_nan)
    messages: list[str] = []
    result = train(tiny_config(corpus, "train.max_steps=3"), tmp_path / "run", log=messages.append)
    assert result.finished and result.state.step == 3
    assert result.state.skipped_batches == 1
    assert any("non-finite loss" in m and "batch skipped" in m for m in messages)
    for tensor in parameters_of(tmp_path / "run" / "last.pt").values():
        assert torch.isfinite(tensor.float()).all()


def test_should_stop_saves_and_returns_early(corpus: Path, tmp_path: Path) -> None:
    steps: list[int] = []
    result = train(
        tiny_config(corpus),
        tmp_path / "run",
        on_step=lambda state: steps.append(state.step),
        should_stop=lambda: len(steps) >= 1,
    )
    assert not result.finished and result.state.step == 1
    assert read_checkpoint(tmp_path / "run" / "last.pt")["training"]["step"] == 1


def test_init_starts_a_new_run_from_another_runs_weights(corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(corpus, "train.max_steps=2"), tmp_path / "first")
    source = tmp_path / "first" / "last.pt"
    messages: list[str] = []
    # A vanishing learning rate: after one step the weights are still the ones started from.
    config = tiny_config(corpus, "train.max_steps=1", "optim.lr=1e-9", f'train.init="{source}"')
    result = train(config, tmp_path / "second", log=messages.append)
    assert result.state.step == 1
    assert any(f"from {source}" in m for m in messages)
    before, after = parameters_of(source), parameters_of(tmp_path / "second" / "last.pt")
    for name, tensor in before.items():
        assert torch.allclose(tensor, after[name], atol=1e-5), name
    # Dropout holds no weights: a fine-tune may change it, and runs with its own value.
    config = tiny_config(corpus, "train.max_steps=1", "optim.lr=1e-9", f'train.init="{source}"',
                         "model.dropout=0.3")  # fmt: skip
    result = train(config, tmp_path / "dropout", log=messages.append)
    assert result.state.step == 1
    assert read_checkpoint(tmp_path / "dropout" / "last.pt")["model_config"]["dropout"] == 0.3
    after = parameters_of(tmp_path / "dropout" / "last.pt")
    for name, tensor in before.items():
        assert torch.allclose(tensor, after[name], atol=1e-5), name
    # Without init, the same settings start from a fresh initialization.
    plain = train(tiny_config(corpus, "train.max_steps=1", "optim.lr=1e-9"), tmp_path / "third")
    assert plain.state.step == 1
    fresh = parameters_of(tmp_path / "third" / "last.pt")
    assert any(not torch.allclose(t, fresh[n], atol=1e-3) for n, t in before.items())


def test_init_rejects_a_checkpoint_of_another_shape(corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(corpus, "train.max_steps=1"), tmp_path / "first")
    source = tmp_path / "first" / "last.pt"
    with pytest.raises(ConfigError, match=r"train\.init: .*another \[model\]"):
        train(tiny_config(corpus, f'train.init="{source}"', "model.hidden_size=24"),
              tmp_path / "second")  # fmt: skip
    with pytest.raises(ConfigError, match=r"train\.init: cannot start from"):
        train(tiny_config(corpus, f'train.init="{tmp_path / "missing.pt"}"'), tmp_path / "third")


# ----------------------------------------------------------------------------- evaluation


def result_for(reference: str, hypothesis: str, best: str, command: str | None) -> UtteranceResult:
    return UtteranceResult(
        id=reference, audio="", reference=reference, hypothesis=hypothesis,
        word_errors=ErrorCounts(), char_errors=ErrorCounts(), command=command, best_phrase=best,
        command_score=0.0,
    )  # fmt: skip


def test_summarize_commands_with_speech_commands_scores() -> None:
    from speechrnn.data import SPEECH_COMMANDS_WORDS

    results = [
        result_for("yes", "yes", "yes", "yes"),  # right
        result_for("no", "go", "go", "go"),  # wrong word, both tasks
        result_for("marvin", "marvin", "marvin", "marvin"),  # unknown, right in 35 and 12
        result_for("bed", "bird", "bird", None),  # wrong in 35, right (unknown) in 12
        result_for("", "", "yes", None),  # silence, recognized as silence
        result_for("", "up", "up", "up"),  # silence heard as "up"
    ]
    summary = summarize_commands(results, SPEECH_COMMANDS_WORDS, speech_commands=True)
    assert summary.extra["accuracy_35"] == pytest.approx(2 / 4)
    assert summary.extra["accuracy_12"] == pytest.approx(4 / 6)
    # With rejection: yes, marvin right; no wrong; bed rejected (wrong: it is a command);
    # silence rejected (right); silence accepted as up (wrong).
    assert summary.accuracy == pytest.approx(3 / 6)
    assert summary.extra_confusions["12-class"].total == 6
    small = summarize_commands([results[0], result_for("no", "go", "yes", None)], ["yes", "no"])
    assert small.accuracy == 0.5 and small.confusion.labels == ("yes", "no", "_rejected_")
    assert not small.extra


def test_learning_rate_is_finite_everywhere() -> None:
    for schedule in ("cosine", "onecycle", "constant"):
        config = OptimConfig(schedule=schedule, warmup_steps=0)  # type: ignore[arg-type]
        for step in (0, 1, 50, 99, 100, 150):
            assert math.isfinite(learning_rate(step, 100, config))
