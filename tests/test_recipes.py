"""End-to-end recipe tests through the command line: prepare, train a few steps, evaluate, resume.

Each recipe runs its real loader on a tiny copy of its dataset in the exact on-disk layout; the
model is shrunk with --set so a run takes seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch
from fake_corpora import (
    TINY_OVERRIDES,
    make_librispeech,
    make_manifest_corpus,
    make_speech_commands,
)

import speechrnn
import speechrnn.data
from speechrnn.audio import fit_margins
from speechrnn.checkpoint import ASSETS, load_acoustic_model, read_checkpoint, save_model
from speechrnn.cli import main
from speechrnn.lm import WordLM
from speechrnn.transcribe import MARGIN_SECONDS

REPO = Path(__file__).resolve().parent.parent


def tiny_flags() -> list[str]:
    flags = []
    for override in TINY_OVERRIDES:
        flags += ["--set", override]
    return flags


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_speech_commands_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_speech_commands(tmp_path / "data", per_word=5)
    run = tmp_path / "run"
    code, out, err = run_cli(
        ["train", str(REPO / "recipes/speech_commands/config.toml"), "--data-root",
         str(tmp_path / "data"), "--run-dir", str(run), "--max-steps", "4", *tiny_flags(),
         "--set", "data.silence_fraction=0.5", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["step"] == 4 and summary["finished"]
    assert (tmp_path / "data/manifests/speech_commands/.completed").is_file()
    log = (run / "train.log").read_text()
    assert "training on" in log and "dev WER" in log
    code, out, err = run_cli(
        ["evaluate", str(run / "best.pt"), "--recipe", "speech_commands", "--data-root",
         str(tmp_path / "data"), "--split", "testing", "--output-dir", str(tmp_path / "eval")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    for line in ("WER:", "CER:", "accuracy (35 words):", "accuracy (12 classes):",
                 "confusion matrix (12-class):", "_silence_", "_unknown_"):  # fmt: skip
        assert line in out
    recogs = [json.loads(x) for x in (tmp_path / "eval/recogs.jsonl").read_text().splitlines()]
    assert len(recogs) == 4 + 2  # one test speaker per word + silence clips
    assert {"ref", "hyp", "best_phrase", "command"} <= set(recogs[0])
    for name in ("confusion-12-class.png", "confusion-35-word.png", "confusion-commands.png"):
        assert (tmp_path / "eval" / name).read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "eval/summary.json").read_text())
    assert 0.0 <= report["accuracy_12"] <= 1.0 and 0.0 <= report["accuracy_35"] <= 1.0


def test_librispeech_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_librispeech(tmp_path / "data", "train-clean-100", speakers=2, per_chapter=4)
    make_librispeech(tmp_path / "data", "dev-clean", speakers=1, per_chapter=2)
    run = tmp_path / "run"
    code, out, err = run_cli(
        ["train", str(REPO / "recipes/librispeech/config.toml"), "--data-root",
         str(tmp_path / "data"), "--run-dir", str(run), "--max-steps", "3", *tiny_flags(),
         "--set", "data.num_workers=0", "--set", "data.min_duration=0.1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "finished at step 3" in out
    code, out, err = run_cli(
        ["evaluate", str(run / "last.pt"), "--recipe", "librispeech", "--data-root",
         str(tmp_path / "data"), "--split", "dev-clean", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["utterances"] == 2 and report["reference_words"] == 4
    assert "command_accuracy" not in report
    assert Path(report["recogs"]).parent == run / "eval-last-librispeech-dev-clean"


def test_manifest_recipe_and_own_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_manifest_corpus(tmp_path / "data", train=8, dev=3)
    prepare = subprocess.run(
        [sys.executable, str(REPO / "recipes/manifest/prepare.py"), "--data-root", str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert prepare.returncode == 0, prepare.stderr
    assert "8 utterances" in prepare.stderr
    run = tmp_path / "run"
    code, _, err = run_cli(
        ["train", str(REPO / "recipes/manifest/config.toml"), "--data-root", str(data),
         "--run-dir", str(run), "--max-steps", "2", *tiny_flags()],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(
        ["evaluate", str(run / "last.pt"), str(data / "dev.jsonl"), "--commands", "yes,no,go up"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "command accuracy (with rejection):" in out and "_rejected_" in out
    assert "decoding: greedy" in out
    # The bundled model, even named by its file, writes its results under ./eval, never into
    # the package.
    assets = sorted(ASSETS.iterdir())
    monkeypatch.chdir(tmp_path)
    bundled = ASSETS / "default.pt"
    # Clips get the margins transcribe gives them (padded or cut to them).
    margins: list[float] = []

    def spy(waveform: torch.Tensor, rate: int, seconds: float) -> tuple[torch.Tensor, int]:
        margins.append(seconds)
        return fit_margins(waveform, rate, seconds)

    monkeypatch.setattr(speechrnn.data, "fit_margins", spy)
    code, out, err = run_cli(["evaluate", str(bundled), str(data / "dev.jsonl"), "--json"], capsys)
    assert code == 0, err
    assert margins == [MARGIN_SECONDS] * 3
    assert Path(json.loads(out)["recogs"]) == Path("eval/default-dev/recogs.jsonl")
    assert (tmp_path / "eval/default-dev/recogs.jsonl").is_file()
    assert sorted(ASSETS.iterdir()) == assets
    # A checkpoint carrying a word LM is evaluated the way it transcribes: beam search + LM.
    with_lm = tmp_path / "with_lm.pt"
    save_model(
        load_acoustic_model(run / "last.pt"), with_lm,
        extra={"language_model": WordLM.train(["yes", "no", "go up"]).to_state()},
    )  # fmt: skip
    for options, decoding in (([], "beam 8 + word LM"), (["--no-lm"], "greedy"),
                              (["--no-lm", "--beam-size", "4"], "beam 4")):  # fmt: skip
        code, out, err = run_cli(["evaluate", str(with_lm), str(data / "dev.jsonl"), *options],
                                 capsys)  # fmt: skip
        assert code == 0, err
        assert f"decoding: {decoding}\n" in out
    # A training checkpoint works wherever a model does.
    code, out, err = run_cli(
        ["transcribe", "--model", str(run / "last.pt"), str(data / "clips/dev_000.flac")], capsys
    )
    assert code == 0, err
    assert speechrnn.load_model(run / "last.pt").model.num_parameters() > 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(["train", "missing.toml"], 2, "does not exist", id="missing-config"),
        pytest.param(["train", "CONFIG", "--set", "optim.speed=1"], 2, "unknown key optim.speed",
                     id="unknown-key"),
        pytest.param(["train", "CONFIG"], 2, "no data root", id="no-data-root"),
        pytest.param(["train", "CONFIG", "--data-root", "MISSING"], 1, "does not exist",
                     id="missing-data-root"),
        pytest.param(["train", "CONFIG", "--data-root", "EMPTY"], 1, "manifest is empty",
                     id="empty-manifest"),
        pytest.param(["evaluate", "CHECKPOINT"], 2, "either a MANIFEST", id="evaluate-no-data"),
        pytest.param(["evaluate", "CHECKPOINT", "--recipe", "librispeech"], 2, "--data-root",
                     id="evaluate-incomplete-recipe"),
        pytest.param(["evaluate", "nope.pt", "m.jsonl"], 2, "not a checkpoint file",
                     id="evaluate-bad-checkpoint"),
        pytest.param(["evaluate", "CHECKPOINT", "missing.jsonl"], 1, "no such manifest",
                     id="evaluate-missing-manifest"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_and_an_exit_code(
    argv: list[str], code: int, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], trained_checkpoint: Path,
) -> None:  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.jsonl").write_text("\n")
    (empty / "dev.jsonl").write_text("\n")
    replacements = {
        "CONFIG": str(REPO / "recipes/manifest/config.toml"), "MISSING": str(tmp_path / "none"),
        "EMPTY": str(empty), "CHECKPOINT": str(trained_checkpoint),
    }  # fmt: skip
    argv = [replacements.get(a, a) for a in argv]
    argv += ["--run-dir", str(tmp_path / "run")] if argv[0] == "train" else []
    actual, _, err = run_cli(argv, capsys)
    assert actual == code
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoint")
    data = make_manifest_corpus(folder / "data", train=4, dev=2)
    code = main(["train", str(REPO / "recipes/manifest/config.toml"), "--data-root", str(data),
                 "--run-dir", str(folder / "run"), "--max-steps", "1", *tiny_flags()])  # fmt: skip
    assert code == 0
    return folder / "run" / "last.pt"


def train_command(data: Path, run: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "speechrnn", "train", str(REPO / "recipes/manifest/config.toml"),
        "--data-root", str(data), "--run-dir", str(run), "--max-steps", str(steps), *tiny_flags(),
        "--set", "train.checkpoint_every=1", "--set", "model.dropout=0.2",
        "--set", "spec_augment.time_masks=1",
    ]  # fmt: skip


def test_kill_9_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_manifest_corpus(tmp_path / "data", train=12, dev=3)
    steps = 14
    killed_run = tmp_path / "killed"
    victim = subprocess.Popen(train_command(data, killed_run, steps),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (killed_run / "last.pt").is_file() and victim.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.2)  # let it run on past the checkpoint
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stopped_at = read_checkpoint(killed_run / "last.pt")["training"]["step"]
    if victim.returncode != -signal.SIGKILL or stopped_at >= steps:
        pytest.skip("the run finished before it could be killed")
    # The same command with --resume, and an uninterrupted run, both in this process.
    code, _, err = run_cli([*train_command(data, killed_run, steps)[3:], "--resume"], capsys)
    assert code == 0, err
    assert f"resuming from {killed_run / 'last.pt'} at step {stopped_at}" in err
    code, _, err = run_cli(train_command(data, tmp_path / "whole", steps)[3:], capsys)
    assert code == 0, err
    expected = read_checkpoint(tmp_path / "whole" / "last.pt")
    actual = read_checkpoint(killed_run / "last.pt")
    assert actual["training"]["step"] == expected["training"]["step"] == steps
    for name, tensor in expected["state_dict"].items():
        assert torch.allclose(tensor, actual["state_dict"][name], atol=1e-6), name


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    data = make_manifest_corpus(tmp_path / "data", train=16, dev=4)
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "speechrnn", *train_command(data, run, 3)[3:],
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    payload = read_checkpoint(run / "last.pt")
    assert payload["training"]["step"] == 3
    log = (run / "train.log").read_text()
    assert log.count("training on") == 1  # only rank 0 writes
    speechrnn.load_model(run / "last.pt")


def load_prepare_script(recipe: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"prepare_{recipe}", REPO / "recipes" / recipe / "prepare.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speech_commands = load_prepare_script("speech_commands")
    assert speech_commands.main(["--data-root", str(tmp_path / "none")]) == 1
    assert "data.download = true" in capsys.readouterr().err
    make_speech_commands(tmp_path / "data", per_word=3)
    assert speech_commands.main(["--data-root", str(tmp_path / "data")]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "training.jsonl").is_file() and (folder / ".completed").is_file()
    librispeech = load_prepare_script("librispeech")
    make_librispeech(tmp_path / "data", "dev-clean", speakers=1, per_chapter=2)
    assert librispeech.main(["--data-root", str(tmp_path / "data"), "--subsets", "dev-clean"]) == 0
    assert (Path(capsys.readouterr().out.strip()) / "dev-clean.jsonl").is_file()
