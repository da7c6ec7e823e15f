"""Tests for speechrnn.cli: output formats, exit codes, and bad input without tracebacks."""

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import TrainedModel

from speechrnn.cli import main

JSON_KEYS = {"path", "text", "command", "confidence", "duration", "rtf", "words"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_transcribes_files_and_folders(
    trained_model: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(trained_model.path)
    code, out, _ = run(["transcribe", *map(str, trained_model.clips), "--model", model], capsys)
    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines == [
        [str(c), p] for c, p in zip(trained_model.clips, trained_model.phrases, strict=True)
    ]
    folder = trained_model.clips[0].parent
    code, out, _ = run(["transcribe", str(folder), "--model", model], capsys)
    assert code == 0 and sorted(out.splitlines()) == sorted(
        f"{c}\t{p}" for c, p in zip(trained_model.clips, trained_model.phrases, strict=True)
    )


def test_json_schema(trained_model: TrainedModel, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "transcribe",
            str(trained_model.clips[2]),
            "--model",
            str(trained_model.path),
            "--json",
            "--beam-size",
            "4",
        ],
        capsys,
    )
    assert code == 0
    record = json.loads(out)
    assert set(record) == JSON_KEYS
    assert record["text"] == "go forward" and record["command"] is None
    assert 0 <= record["confidence"] <= 1 and record["duration"] > 0 and record["rtf"] > 0
    assert [w["word"] for w in record["words"]] == ["go", "forward"]
    assert all(
        set(w) == {"word", "start", "end"} and w["start"] < w["end"] for w in record["words"]
    )


def test_commands_mode(
    trained_model: TrainedModel, tone_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands_file = tmp_path / "commands.txt"
    commands_file.write_text("# my commands\nyes\nstop\n\ngo forward\nturn left\n")
    inputs = [str(trained_model.clips[1]), str(tone_wav)]
    for flags in (
        ["--commands", "yes, stop,go forward,turn left"],
        ["--commands-file", str(commands_file)],
    ):
        code, out, _ = run(
            ["transcribe", *inputs, "--model", str(trained_model.path), "--json", *flags], capsys
        )
        assert code == 0
        accepted, rejected = (json.loads(line) for line in out.splitlines())
        assert accepted["command"] == "stop" and accepted["text"] == "stop"
        assert rejected["command"] is None and rejected["text"] == ""
    code, out, _ = run(
        ["transcribe", *inputs, "--model", str(trained_model.path), "--commands", "yes,stop"],
        capsys,
    )
    assert out.splitlines() == [f"{inputs[0]}\tstop", f"{inputs[1]}\t"]


def _write(path: Path, data: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    soundfile.write(str(path), data, rate, subtype=subtype)
    return path


def test_bad_files_fail_one_by_one(
    trained_model: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("hello\n" * 100)
    nan = np.zeros(16000, dtype=np.float32)
    nan[5] = np.nan
    bad = [
        tmp_path / "missing.wav",
        empty,
        text,
        _write(tmp_path / "nan.wav", nan, subtype="FLOAT"),
    ]
    good = trained_model.clips[0]
    code, out, err = run(
        ["transcribe", *map(str, bad), str(good), "--model", str(trained_model.path)], capsys
    )
    assert code == 1
    assert out.splitlines() == [f"{good}\tyes"]  # the good file is still transcribed
    errors = err.strip().splitlines()
    assert len(errors) == len(bad)
    for line, path in zip(errors, bad, strict=True):
        assert line.startswith("speechrnn: error: ") and str(path) in line


class Piped(io.TextIOWrapper):
    """Standard input with bytes piped in, or a terminal."""

    def __init__(self, data: bytes, terminal: bool = False) -> None:
        super().__init__(io.BytesIO(data))
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_dash_reads_one_recording_from_standard_input(
    trained_model: TrainedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the copy goes, to check it
    # FLAC, so the format must be told from the bytes (the copy has no suffix).
    clip, rate = soundfile.read(str(trained_model.clips[2]), dtype="float32")
    flac = tmp_path / "clip.flac"
    soundfile.write(str(flac), clip, rate)
    monkeypatch.setattr(sys, "stdin", Piped(flac.read_bytes()))
    model = ["--model", str(trained_model.path)]
    first = str(trained_model.clips[0])
    code, out, _ = run(["transcribe", first, "-", *model], capsys)
    assert code == 0
    assert out.splitlines() == [f"{first}\tyes", "-\tgo forward"]
    assert sorted(tmp_path.iterdir()) == [flac]  # the copy is gone

    monkeypatch.setattr(sys, "stdin", Piped(flac.read_bytes()))
    code, out, _ = run(["transcribe", "-", "--json", *model], capsys)
    assert code == 0 and json.loads(out)["path"] == "-"

    monkeypatch.setattr(sys, "stdin", Piped(b"not audio at all\n" * 50))
    code, out, err = run(["transcribe", "-", *model], capsys)
    assert code == 1 and out == ""
    assert err.startswith("speechrnn: error: -: not a readable audio file")
    assert len(err.strip().splitlines()) == 1 and str(tmp_path) not in err


@pytest.mark.parametrize(
    ("inputs", "terminal", "message"),
    [
        (["-", "-"], False, "can be read only once"),
        (["-"], True, "nothing is piped in"),
    ],
)
def test_standard_input_misuse_is_a_usage_error(
    trained_model: TrainedModel,
    inputs: list[str],
    terminal: bool,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", Piped(b"", terminal=terminal))
    code, out, err = run(["transcribe", *inputs, "--model", str(trained_model.path)], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("speechrnn: error: ") and message in lines[0]


def test_zero_samples_and_odd_formats_succeed(
    trained_model: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zero = _write(tmp_path / "zero.wav", np.zeros(0, dtype=np.int16))
    clip, rate = soundfile.read(str(trained_model.clips[1]), dtype="float32")
    stereo_44k = np.repeat(np.stack([clip, clip], 1), 2, axis=0)  # 22.05 kHz -> 44.1 kHz, stereo
    files = [
        zero,
        _write(tmp_path / "8bit.wav", clip, rate, "PCM_U8"),
        _write(tmp_path / "24bit.wav", clip, rate, "PCM_24"),
        _write(tmp_path / "float.wav", clip, rate, "FLOAT"),
        _write(tmp_path / "stereo44k.wav", stereo_44k, 2 * rate),
    ]
    code, out, _ = run(
        ["transcribe", *map(str, files), "--model", str(trained_model.path), "--json"], capsys
    )
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["text"] == "" and records[0]["duration"] == 0 and records[0]["rtf"] is None
    assert [r["text"] for r in records[1:]] == ["stop"] * 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "", id="no-command"),
        pytest.param(["transcribe"], "", id="no-files"),
        pytest.param(["transcribe", "x.wav", "--beam-size", "0"], "must be >= 1", id="beam-size"),
        pytest.param(["transcribe", "x.wav", "--threads", "two"], "whole number", id="threads"),
        pytest.param(
            ["transcribe", "x.wav", "--commands", "a", "--commands-file", "f"],
            "not allowed",
            id="both-lists",
        ),
        pytest.param(
            ["transcribe", "x.wav", "--model", "nowhere.pt"],
            "not a checkpoint file nor a bundled model",
            id="model",
        ),
        pytest.param(
            ["transcribe", "x.wav", "--commands", " , "],
            "command list is empty",
            id="empty-commands",
        ),
        pytest.param(
            ["transcribe", "x.wav", "--commands-file", "nope.txt"],
            "cannot read commands file",
            id="commands-file",
        ),
        pytest.param(["frobnicate"], "invalid choice", id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert message in err


def test_unspeakable_command_is_a_usage_error(
    trained_model: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        [
            "transcribe",
            str(trained_model.clips[0]),
            "--model",
            str(trained_model.path),
            "--commands",
            "yes,!!!",
        ],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_confidence_given_as_threshold_is_a_usage_error(
    trained_model: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    # The statistic is a log-probability (<= 0): 0.7 would silently reject every clip.
    argv = ["transcribe", str(trained_model.clips[0]), "--model", str(trained_model.path)]
    code, out, err = run([*argv, "--commands", "yes,no", "--command-threshold", "0.7"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "speechrnn: error: threshold must be <= 0 (a log-probability per character), got 0.7; "
        "for a confidence of 0.7 use -0.36"
    ]


def test_console_script_and_module(trained_model: TrainedModel) -> None:
    # The console script installed beside this interpreter (CI does not activate the venv).
    script = str(Path(sys.executable).parent / "speechrnn")
    for command in ([script], [sys.executable, "-m", "speechrnn"]):
        done = subprocess.run(
            [
                *command,
                "transcribe",
                str(trained_model.clips[0]),
                "--model",
                str(trained_model.path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{trained_model.clips[0]}\tyes\n"


def test_language_model_decoding_options(
    trained_model: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from speechrnn.checkpoint import load_acoustic_model, save_model
    from speechrnn.lm import WordLM

    with_lm = tmp_path / "with_lm.pt"
    state = WordLM.train(trained_model.phrases).to_state()
    save_model(load_acoustic_model(trained_model.path), with_lm, extra={"language_model": state})
    clips = [str(c) for c in trained_model.clips]
    expected = [f"{c}\t{p}" for c, p in zip(clips, trained_model.phrases, strict=True)]
    for options in ([], ["--no-lm"], ["--beam-size", "3"], ["--beam-size", "1"]):
        code, out, err = run(["transcribe", *clips, "--model", str(with_lm), *options], capsys)
        assert (code, out.splitlines()) == (0, expected), (options, err)
    broken = tmp_path / "broken_lm.pt"
    save_model(
        load_acoustic_model(trained_model.path), broken, extra={"language_model": {"format": 1}}
    )
    code, out, err = run(["transcribe", clips[0], "--model", str(broken)], capsys)
    assert code == 2 and out == ""
    assert "bad language model" in err and len(err.strip().splitlines()) == 1
