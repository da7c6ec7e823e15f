"""The ``speechrnn`` command: transcribe | listen | train | evaluate.

Results go to stdout, errors and progress to stderr. Exit codes: 0 success, 1 when any input
failed (each failure has a one-line message; the other inputs are still processed), 2 for usage
errors (bad flags, unusable model or command list), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from speechrnn import __version__
from speechrnn.audio import AUDIO_EXTENSIONS, AudioError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad command line; main() prints it and exits 2."""


def error(message: str) -> None:
    """Print a one-line error to stderr."""
    print(f"speechrnn: error: {message}", file=sys.stderr)


def read_commands(commands: str | None, commands_file: str | None) -> list[str] | None:
    """The command list from ``--commands "a,b"`` or ``--commands-file F`` (one per line).

    Raises:
        UsageError: Unreadable file or an empty list.
    """
    if commands is None and commands_file is None:
        return None
    if commands_file is not None:
        try:
            lines = Path(commands_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as problem:
            raise UsageError(f"cannot read commands file {commands_file}: {problem}") from None
        phrases = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
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
        help="acceptance threshold in command mode; higher rejects more (default: the model's)",
    )


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
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or folders")
    parser.add_argument(
        "--model", metavar="PATH", help="checkpoint file or bundled model name (default: bundled)"
    )
    add_commands_arguments(parser)
    parser.add_argument(
        "--beam-size", type=positive_int, default=1, metavar="N", help="1 = greedy (default)"
    )
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(run=run_transcribe)


def run_transcribe(args: argparse.Namespace) -> int:
    """``speechrnn transcribe``."""
    import torch
    from tqdm import tqdm

    from speechrnn.checkpoint import CheckpointError
    from speechrnn.decoding import DEFAULT_COMMAND_THRESHOLD, CommandDecoder
    from speechrnn.transcribe import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    phrases = read_commands(args.commands, args.commands_file)
    try:
        recognizer = load_model(args.model)
    except CheckpointError as problem:
        raise UsageError(str(problem)) from None
    commands = None
    if phrases is not None:
        threshold = args.command_threshold
        try:
            commands = CommandDecoder(
                phrases, threshold=DEFAULT_COMMAND_THRESHOLD if threshold is None else threshold
            )
        except ValueError as problem:
            raise UsageError(str(problem)) from None

    files = find_audio_files(args.inputs)
    if not files:
        error("no audio files found in " + ", ".join(args.inputs))
        return EXIT_FAILED
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
            error(str(problem) if isinstance(problem, AudioError) else f"{path}: {problem}")
            continue
        elapsed = time.perf_counter() - started
        if args.json:
            record = {"path": str(path), **result.to_dict()}
            record["rtf"] = round(elapsed / result.duration, 4) if result.duration > 0 else None
            record["confidence"] = round(result.confidence, 4)
            record["duration"] = round(result.duration, 4)
            line = json.dumps(record, ensure_ascii=False)
        else:
            line = f"{path}\t{result.text}"
        progress.clear()
        print(line, flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = argparse.ArgumentParser(
        prog="speechrnn", description="Offline speech-to-text and command recognition."
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_transcribe_parser(subparsers)
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
