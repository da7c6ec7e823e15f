"""The ``speechrnn`` command: transcribe | listen | train | evaluate.

Results go to stdout, errors and progress to stderr. Exit codes: 0 success, 1 when any input
failed (each failure has a one-line message; the other inputs are still processed), 2 for usage
errors (bad flags, unusable model or command list), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from speechrnn import __version__
from speechrnn.audio import AUDIO_EXTENSIONS, AudioError

if TYPE_CHECKING:  # torch-heavy modules load only when a subcommand needs them
    from speechrnn.decoding import CommandDecoder
    from speechrnn.transcribe import Recognizer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad command line; main() prints it and exits 2."""


def error(message: str) -> None:
    """Print a one-line error to stderr."""
    print(f"speechrnn: error: {message}", file=sys.stderr)


def read_phrase_file(path: str | Path) -> list[str]:
    """The stripped lines of a UTF-8 text file that are neither blank nor ``#`` comments.

    Raises:
        OSError: The file cannot be read.
        UnicodeDecodeError: It is not UTF-8 text.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def read_commands(commands: str | None, commands_file: str | None) -> list[str] | None:
    """The command list from ``--commands "a,b"`` or ``--commands-file F`` (one per line).

    Raises:
        UsageError: Unreadable file or an empty list.
    """
    if commands is None and commands_file is None:
        return None
    if commands_file is not None:
        try:
            phrases = read_phrase_file(commands_file)
        except (OSError, UnicodeDecodeError) as problem:
            raise UsageError(f"cannot read commands file {commands_file}: {problem}") from None
    else:
        assert commands is not None
        phrases = [phrase.strip() for phrase in commands.split(",") if phrase.strip()]
    if not phrases:
        raise UsageError("the command list is empty")
    return phrases


def add_commands_arguments(parser: argparse.ArgumentParser) -> None:
    """--commands / --commands-file / --command-threshold, shared by several subcommands."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--commands", metavar="LIST", help='comma-separated phrases, e.g. "yes,no,stop"'
    )
    group.add_argument("--commands-file", metavar="FILE", help="file with one phrase per line")
    parser.add_argument(
        "--command-threshold",
        type=float,
        default=None,
        metavar="T",
        help="acceptance threshold in command mode, a log-probability <= 0; higher rejects more "
        "(default: the model's)",
    )


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """--beam-size / --no-lm, shared by the dictation subcommands."""
    parser.add_argument(
        "--beam-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="1 = greedy; more = beam search (default: 8 with the model's language model, "
        "1 for a model without one)",
    )
    parser.add_argument(
        "--no-lm", action="store_true", help="dictate with the acoustic model alone (no word LM)"
    )


def load_recognizer(args: argparse.Namespace) -> Recognizer:
    """The model of ``--model``, without its word LM under ``--no-lm``.

    Raises:
        UsageError: The model cannot be loaded.
    """
    from speechrnn.checkpoint import CheckpointError
    from speechrnn.transcribe import load_model

    try:
        recognizer = load_model(args.model)
    except CheckpointError as problem:
        raise UsageError(str(problem)) from None
    if args.no_lm:
        recognizer.language_model = None
    return recognizer


def find_audio_files(inputs: Sequence[str]) -> list[Path]:
    """Expand directories (recursively) into their audio files; keep files as given."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            )
            files.extend(found)
        else:
            files.append(path)
    return files


STDIN = "-"  # the input name that reads audio from standard input


@contextlib.contextmanager
def stdin_as_file(inputs: Sequence[str]) -> Iterator[Path | None]:
    """Standard input copied to a temporary file while the block runs, when ``inputs`` has "-".

    A file, not a pipe: the decoders need to probe the format and read in blocks, and a copy on
    disk keeps memory bounded for a long recording. The file has no suffix, so its format is
    told from its contents (soundfile, then ffmpeg).

    Yields:
        The copy, or None when no input is "-".

    Raises:
        UsageError: "-" given twice, or standard input is a terminal (nothing piped in).
        AudioError: Standard input could not be copied.
    """
    count = list(inputs).count(STDIN)
    if count == 0:
        yield None
        return
    if count > 1:
        raise UsageError("standard input ('-') can be read only once")
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("'-' reads audio from standard input, but nothing is piped in")
    with tempfile.TemporaryDirectory(prefix="speechrnn-stdin-") as folder:
        copy = Path(folder) / "stdin"
        try:
            with copy.open("wb") as file:
                shutil.copyfileobj(sys.stdin.buffer, file, length=1 << 20)
        except OSError as problem:  # e.g. a full temporary folder
            raise AudioError(f"{STDIN}: cannot copy standard input ({problem})") from None
        yield copy


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_transcribe_parser(subparsers: argparse._SubParsersAction) -> None:
    """Arguments of ``speechrnn transcribe``."""
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe audio files",
        description="Transcribe audio files (wav, flac, ogg, mp3, ...; any rate and channels). "
        "Prints 'path<TAB>text' per file, or one JSON object per line with --json.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="audio files or folders; - reads one recording (any format) from standard input",
    )
    parser.add_argument(
        "--model", metavar="PATH", help="checkpoint file or bundled model name (default: bundled)"
    )
    add_commands_arguments(parser)
    add_decoding_arguments(parser)
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(run=run_transcribe)


def run_transcribe(args: argparse.Namespace) -> int:
    """``speechrnn transcribe``."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    phrases = read_commands(args.commands, args.commands_file)
    recognizer = load_recognizer(args)
    commands = None
    if phrases is not None:
        threshold = args.command_threshold
        try:
            commands = recognizer.command_decoder(phrases, threshold)
        except ValueError as problem:
            raise UsageError(str(problem)) from None

    try:
        with stdin_as_file(args.inputs) as piped:
            return transcribe_files(args, recognizer, commands, piped)
    except AudioError as problem:  # only the copy of standard input: files fail one by one
        error(str(problem))
        return EXIT_FAILED


def transcribe_files(
    args: argparse.Namespace,
    recognizer: Recognizer,
    commands: CommandDecoder | None,
    piped: Path | None,
) -> int:
    """Transcribe ``args.inputs`` and print a line each; ``piped`` stands for "-"."""
    from tqdm import tqdm

    inputs = [str(piped) if item == STDIN and piped else item for item in args.inputs]
    files = find_audio_files(inputs)
    if not files:
        error("no audio files found in " + ", ".join(args.inputs))
        return EXIT_FAILED

    def name(path: Path) -> str:
        return STDIN if path == piped else str(path)

    failed = 0
    progress = tqdm(
        files,
        unit="file",
        disable=len(files) < 2 or not sys.stderr.isatty(),
        file=sys.stderr,
        leave=False,
    )
    for path in progress:
        started = time.perf_counter()
        try:
            result = recognizer.transcribe(path, commands=commands, beam_size=args.beam_size)
        except (AudioError, OSError) as problem:
            failed += 1
            progress.clear()
            message = str(problem) if isinstance(problem, AudioError) else f"{path}: {problem}"
            error(message.replace(str(path), name(path)))
            continue
        elapsed = time.perf_counter() - started
        if args.json:
            record = {"path": name(path), **result.to_dict()}
            record["rtf"] = round(elapsed / result.duration, 4) if result.duration > 0 else None
            record["confidence"] = round(result.confidence, 4)
            record["duration"] = round(result.duration, 4)
            line = json.dumps(record, ensure_ascii=False)
        else:
            line = f"{name(path)}\t{result.text}"
        progress.clear()
        print(line, flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _positive_amount(unit: str) -> Callable[[str], float]:
    """argparse type: a finite number of ``unit`` > 0."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {unit}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number of {unit}, got {text}")
        return value

    return parse


_seconds = _positive_amount("seconds")
_minutes = _positive_amount("minutes")


def add_listen_parser(subparsers: argparse._SubParsersAction) -> None:
    """Arguments of ``speechrnn listen``."""
    parser = subparsers.add_parser(
        "listen",
        help="transcribe live from a microphone (or a file played as one)",
        description="Listen to a microphone and print one line per utterance (one JSON object "
        "with --json) when the speaker pauses. On a terminal, stderr shows an input level meter "
        "and the words heard so far. Ctrl-C stops (exit 0); device problems exit 1.",
    )
    parser.add_argument(
        "--model", metavar="PATH", help="checkpoint file or bundled model name (default: bundled)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--device", metavar="ID|NAME", help="input device index or (part of its) name"
    )
    source.add_argument(
        "--input", metavar="FILE", help="play FILE through the live path instead of a microphone"
    )
    parser.add_argument(
        "--no-realtime",
        action="store_true",
        help="with --input: feed the file as fast as it is recognized, not in real time",
    )
    parser.add_argument(
        "--list-devices", action="store_true", help="list the input devices and exit"
    )
    add_commands_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per utterance")
    parser.add_argument(
        "--duration", type=_seconds, metavar="S", help="stop after S seconds of audio"
    )
    parser.add_argument(
        "--endpoint",
        type=_seconds,
        default=0.5,
        metavar="S",
        help="trailing silence that ends an utterance (default: 0.5)",
    )
    parser.add_argument(
        "--vad",
        choices=("silero", "webrtc", "energy"),
        default="silero",
        help="voice-activity detector (default: silero)",
    )
    parser.add_argument(
        "--max-utterance",
        type=_seconds,
        default=15.0,
        metavar="S",
        help="cut and finish utterances longer than S seconds (default: 15)",
    )
    add_decoding_arguments(parser)
    parser.add_argument(
        "--threads", type=positive_int, default=1, metavar="N", help="CPU threads (default: 1)"
    )
    parser.set_defaults(run=run_listen)


def print_input_devices() -> int:
    """``speechrnn listen --list-devices``."""
    from speechrnn.microphone import MicrophoneError, list_input_devices

    try:
        devices = list_input_devices()
    except MicrophoneError as problem:
        error(str(problem))
        return EXIT_FAILED
    if not devices:
        error("no audio input device found")
        return EXIT_FAILED
    for device in devices:
        mark = "*" if device.default else " "
        print(
            f"{mark} {device.index:>3}  {device.name}  ({device.host_api}, "
            f"{device.channels} in, {device.sample_rate:g} Hz)"
        )
    return EXIT_OK


class _StopRequest:
    """SIGINT/SIGTERM handler for ``listen``: raises KeyboardInterrupt until the live loop runs,
    then only records the request, so no audio chunk is abandoned half-processed and the
    utterance in progress can still be finished."""

    def __init__(self) -> None:
        self.armed = False
        self.requested = False

    def __call__(self, number: int, frame: object) -> None:
        if not self.armed:
            raise KeyboardInterrupt
        self.requested = True


def run_listen(args: argparse.Namespace) -> int:
    """``speechrnn listen``: exit 0 at the end of input, --duration or Ctrl-C; 1 for device or
    input problems; 2 for usage errors."""
    import signal

    if args.list_devices:
        return print_input_devices()
    if args.no_realtime and args.input is None:
        raise UsageError("--no-realtime only applies to --input FILE")
    # Ctrl-C and a polite kill both end the session cleanly (the last utterance is still printed),
    # even when started from a shell that ignores SIGINT in background jobs.
    stop = _StopRequest()
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _listen(args, stop)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _listen(args: argparse.Namespace, stop: _StopRequest) -> int:
    import torch

    from speechrnn.microphone import (
        AudioSource,
        FileSource,
        MicrophoneError,
        MicrophoneSource,
        TerminalView,
        iter_updates,
    )
    from speechrnn.streaming import StreamingConfig, StreamingRecognizer
    from speechrnn.vad import VadError

    torch.set_num_threads(args.threads)
    phrases = read_commands(args.commands, args.commands_file)
    try:
        config = StreamingConfig(
            vad=args.vad,
            endpoint_seconds=args.endpoint,
            post_roll_seconds=min(0.2, args.endpoint),
            max_utterance_seconds=args.max_utterance,
            beam_size=args.beam_size,
        )
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    recognizer = load_recognizer(args)

    source: AudioSource
    if args.input is not None:
        if not Path(args.input).is_file():
            error(f"{args.input}: no such file")
            return EXIT_FAILED
        source = FileSource(args.input, realtime=not args.no_realtime)
    else:
        try:
            source = MicrophoneSource(args.device)
        except MicrophoneError as problem:
            error(str(problem))
            return EXIT_FAILED
    threshold = args.command_threshold
    try:
        streamer = StreamingRecognizer(
            recognizer,
            config,
            commands=phrases,
            sample_rate=source.sample_rate,
            command_threshold=threshold,
        )
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    except VadError as problem:
        error(str(problem))
        return EXIT_FAILED

    view = TerminalView(source.name, sys.stdout, sys.stderr, json_output=args.json)
    code = EXIT_OK
    try:
        with source:
            print(
                f"speechrnn: listening on {source.name} ({source.sample_rate} Hz); Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            stop.armed = True
            try:
                # iter_updates yields at least every 0.1 s, so a stop request is seen promptly.
                for update in iter_updates(source, streamer, args.duration):
                    view.update(update)
                    if stop.requested:
                        break
            except KeyboardInterrupt:
                pass
            for event in streamer.flush():
                view.event(event)
            stop.armed = False
    except MicrophoneError as problem:
        code = EXIT_FAILED
        view.close()
        error(str(problem))
    except AudioError as problem:
        code = EXIT_FAILED
        view.close()
        error(str(problem))
    finally:
        view.close()
    if source.overflows:
        print(
            f"speechrnn: {source.overflows} input overflow(s): audio was dropped "
            "(the machine was too busy)",
            file=sys.stderr,
        )
    return code


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """Arguments of ``speechrnn train``."""
    parser = subparsers.add_parser(
        "train",
        help="train a model from a recipe config",
        description="Train an acoustic model from a TOML config (see recipes/*/config.toml). "
        "Writes the resolved config, train.log, metrics.csv, curves.png, last.pt and best.pt "
        "to the run folder; prints a summary to stdout when done. Works unchanged under "
        "torchrun --nproc_per_node=N. Ctrl-C or SIGTERM saves last.pt and stops; --resume "
        "continues exactly where the run stopped (even after kill -9).",
    )
    parser.add_argument("config", metavar="CONFIG.toml", help="training configuration")
    parser.add_argument("--data-root", metavar="DIR", help="dataset folder (sets data.root)")
    parser.add_argument(
        "--run-dir", metavar="DIR", help="folder for checkpoints and logs (default: runs/CONFIG)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=0.002 (repeatable)",
    )
    parser.add_argument(
        "--max-steps", type=positive_int, metavar="N", help="train N steps (sets train.max_steps)"
    )
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt if any")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="sets train.device")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    parser.add_argument(
        "--time-limit",
        type=_minutes,
        metavar="MINUTES",
        help="save last.pt and stop after this much wall time (resume later with --resume)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    """``speechrnn train``."""
    import signal
    from functools import partial

    from tqdm import tqdm

    from speechrnn.checkpoint import CheckpointError
    from speechrnn.data import DataError
    from speechrnn.training import ConfigError, load_config, train

    overrides = list(args.overrides)
    if args.data_root is not None:
        overrides.append(f"data.root={json.dumps(args.data_root)}")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.device is not None:
        overrides.append(f'train.device="{args.device}"')
    if args.threads is not None:
        overrides.append(f"train.threads={args.threads}")
    try:
        config = load_config(args.config, overrides)
    except ConfigError as problem:
        raise UsageError(str(problem)) from None
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / Path(args.config).stem

    signals: list[int] = []
    deadline = None if args.time_limit is None else time.monotonic() + 60 * args.time_limit

    def on_signal(number: int, frame: object) -> None:
        if number == signal.SIGINT and signals:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        signals.append(number)
        error("stopping after this step (saving last.pt); Ctrl-C again to abort")

    def should_stop() -> bool:
        return bool(signals) or (deadline is not None and time.monotonic() > deadline)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = train(
            config,
            run_dir,
            resume=args.resume,
            log=lambda message: tqdm.write(message, file=sys.stderr),
            progress_factory=partial(tqdm, file=sys.stderr, dynamic_ncols=True, disable=None),
            should_stop=should_stop,
        )
    except (ConfigError, CheckpointError) as problem:
        raise UsageError(str(problem)) from None
    except DataError as problem:
        error(str(problem))
        return EXIT_FAILED
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    state = result.state
    summary = {
        "run_dir": str(run_dir),
        "finished": result.finished,
        "step": state.step,
        "epoch": state.epoch,
        "dev_wer": None if result.last_dev is None else round(result.last_dev.wer, 4),
        "dev_cer": None if result.last_dev is None else round(result.last_dev.cer, 4),
        "best_wer": None if state.best_step < 0 else round(state.best_wer, 4),
        "best_step": state.best_step,
        "last_checkpoint": str(run_dir / "last.pt"),
        "best_checkpoint": str(run_dir / "best.pt") if state.best_step >= 0 else None,
        "skipped_batches": state.skipped_batches,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        status = "finished" if result.finished else "stopped (resume with --resume)"
        print(f"{run_dir}: {status} at step {state.step}, epoch {state.epoch}")
        if result.last_dev is not None:
            print(f"dev WER {result.last_dev.wer:.4f} CER {result.last_dev.cer:.4f}")
        if state.best_step >= 0:
            print(f"best dev WER {state.best_wer:.4f} at step {state.best_step}: {run_dir}/best.pt")
    if signals:
        return EXIT_INTERRUPTED
    return EXIT_OK


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Arguments of ``speechrnn evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a test set (WER, CER, command accuracy)",
        description='Recognize every utterance of a JSONL manifest ({"audio", "text"} per '
        "line) or of a recipe's split and print WER and CER; with a command list (given, or the "
        "Speech Commands words) also command accuracy and a confusion matrix (text, and PNG in "
        "the output folder). Per-utterance results go to OUTPUT_DIR/recogs.jsonl.",
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or model name")
    parser.add_argument("manifest", nargs="?", metavar="MANIFEST.jsonl", help="test manifest")
    parser.add_argument(
        "--recipe",
        choices=["speech_commands", "librispeech", "manifest"],
        help="evaluate a recipe's split instead of a manifest",
    )
    parser.add_argument("--data-root", metavar="DIR", help="with --recipe: the dataset folder")
    parser.add_argument(
        "--split", metavar="NAME", help="with --recipe: e.g. testing, test-clean, dev"
    )
    parser.add_argument(
        "--download", action="store_true", help="with --recipe: download the data if missing"
    )
    add_commands_arguments(parser)
    add_decoding_arguments(parser)
    parser.add_argument(
        "--batch-seconds", type=_seconds, default=120.0, metavar="S", help="audio per batch"
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where results go (default: next to the checkpoint; ./eval for a bundled model)",
    )
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """``speechrnn evaluate``."""
    import torch
    from tqdm import tqdm

    from speechrnn.checkpoint import (
        ASSETS,
        CheckpointError,
        model_from_checkpoint,
        read_checkpoint,
        resolve_model_path,
    )
    from speechrnn.data import DataError, SpeechDataset, prepare_recipe, read_manifest
    from speechrnn.decoding import CommandDecoder
    from speechrnn.training import evaluate, summarize_commands
    from speechrnn.transcribe import (
        MARGIN_SECONDS,
        background_lexicon,
        command_threshold_from_checkpoint,
        default_beam_size,
        language_model_from_checkpoint,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.manifest is None) == (args.recipe is None):
        raise UsageError("give either a MANIFEST.jsonl or --recipe NAME --data-root DIR --split S")
    if args.recipe is not None and (args.data_root is None or args.split is None):
        raise UsageError("--recipe needs --data-root DIR and --split NAME")
    phrases = read_commands(args.commands, args.commands_file)
    try:
        checkpoint = resolve_model_path(args.checkpoint)
        payload = read_checkpoint(checkpoint)
        model = model_from_checkpoint(payload)
        # A bundled model carries its calibrated threshold; other checkpoints use the default.
        model_threshold = command_threshold_from_checkpoint(payload)
        lm, lm_weights = language_model_from_checkpoint(payload, checkpoint)
    except CheckpointError as problem:
        raise UsageError(str(problem)) from None
    speech_commands = args.recipe == "speech_commands"
    try:
        if args.recipe is not None:
            recipe = prepare_recipe(args.recipe, args.data_root, [args.split], args.download)
            manifest = recipe.manifests[args.split]
            if phrases is None and recipe.commands is not None:
                phrases = list(recipe.commands)
            name = f"{args.recipe}-{args.split}"
        else:
            manifest = Path(args.manifest)
            name = manifest.stem
        utterances = read_manifest(manifest)
    except DataError as problem:
        error(str(problem))
        return EXIT_FAILED
    decoder = None
    if phrases is not None:
        threshold = args.command_threshold
        try:
            # The model's own vocabulary, as load_model() gives it, even with --no-lm.
            decoder = CommandDecoder(
                phrases,
                threshold=model_threshold if threshold is None else threshold,
                lexicon=background_lexicon(lm),
            )
        except ValueError as problem:
            raise UsageError(str(problem)) from None
    if args.output_dir:
        output = Path(args.output_dir)
    elif checkpoint.resolve().parent != ASSETS.resolve():
        output = checkpoint.parent / f"eval-{checkpoint.stem}-{name}"
    else:
        # A bundled model, by name or by its file: results never go into the installed package.
        output = Path("eval") / f"{checkpoint.stem}-{name}"
    output.mkdir(parents=True, exist_ok=True)

    if args.no_lm:
        lm = None
    beam_size = args.beam_size or default_beam_size(lm)
    # Clips get the margins transcribe gives them, so the scores are those users get.
    dataset = SpeechDataset(utterances, model.feature_config, margin_seconds=MARGIN_SECONDS)
    bar = tqdm(total=len(dataset), desc="evaluating", unit="utt", file=sys.stderr, disable=None)
    try:
        result = evaluate(
            model, dataset, "cpu", args.batch_seconds, beam_size=beam_size,
            commands=decoder, progress=bar.update, lm=lm, lm_weights=lm_weights,
        )  # fmt: skip
    except DataError as problem:
        bar.close()
        error(str(problem))
        return EXIT_FAILED
    bar.close()
    recogs = output / "recogs.jsonl"
    lines = [json.dumps(u.to_dict(), ensure_ascii=False) for u in result.utterances]
    recogs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    words = sum(u.word_errors.reference_length for u in result.utterances)
    report: dict[str, object] = {
        "checkpoint": str(checkpoint),
        "data": str(manifest),
        "utterances": len(result.utterances),
        "wer": round(result.wer, 4),
        "cer": round(result.cer, 4),
        "reference_words": words,
        "decoding": "greedy"
        if beam_size == 1
        else f"beam {beam_size}" + (" + word LM" if lm is not None else ""),
        "recogs": str(recogs),
    }
    text_lines = [
        f"utterances: {len(result.utterances)}",
        f"WER: {result.wer:.4f} ({words} reference words)",
        f"CER: {result.cer:.4f}",
        f"decoding: {report['decoding']}",
    ]
    if decoder is not None and phrases is not None:
        summary = summarize_commands(result.utterances, phrases, speech_commands)
        report["command_accuracy"] = round(summary.accuracy, 4)
        text_lines.append(f"command accuracy (with rejection): {summary.accuracy:.4f}")
        confusions = {"commands": summary.confusion, **summary.extra_confusions}
        for key, value in summary.extra.items():
            report[key] = round(value, 4)
            label = {"accuracy_35": "accuracy (35 words)", "accuracy_12": "accuracy (12 classes)"}
            text_lines.append(f"{label.get(key, key)}: {value:.4f}")
        pictures = {}
        for key, matrix in confusions.items():
            slug = key.replace(" ", "-")
            picture = output / f"confusion-{slug}.png"
            matrix.save_png(picture, title=f"{name}: {key}, accuracy {matrix.accuracy:.3f}")
            (output / f"confusion-{slug}.txt").write_text(matrix.to_text() + "\n")
            pictures[key] = str(picture)
        report["confusion_png"] = pictures
        shown = "12-class" if speech_commands else "commands"
        report["confusion"] = confusions[shown].to_dict()
        text_lines += ["", f"confusion matrix ({shown}):", confusions[shown].to_text()]
        text_lines.append(f"confusion matrices (PNG): {', '.join(pictures.values())}")
    text_lines.append(f"per-utterance results: {recogs}")
    (output / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        print("\n".join(text_lines))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = argparse.ArgumentParser(
        prog="speechrnn", description="Offline speech-to-text and command recognition."
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_transcribe_parser(subparsers)
    add_listen_parser(subparsers)
    add_train_parser(subparsers)
    add_evaluate_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: sys.argv[1:]).

    Returns:
        The exit code.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        code: int = args.run(args)
        return code
    except UsageError as problem:
        error(str(problem))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
