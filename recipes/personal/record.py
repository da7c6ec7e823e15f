"""Record your own voice, as training data for a model fine-tuned to it.

    python recipes/personal/record.py --out DATA [--read recipes/personal/prompts.txt \
        [--read-count 30]] [--commands "lights on,lights off,stop" | --commands-file F] \
        [--takes 5] [--seconds 2.5] [--background 20] [--device ID|NAME]

``--read`` asks you to read each sentence of a file once (the first ``--read-count`` of them):
speech in general, which is what teaches the model your voice. 30 sentences of prompts.txt take
a minute or two; recipes/personal/README.md has the measurement. Each command phrase is asked
for ``--takes`` times, round by round (all phrases once, then again), so the takes spread over
the session. After "Say: ..." the microphone records ``--seconds`` (longer for a long
sentence); the clip keeps 160 ms of
background around the speech found in it (as every training clip of the bundled model has) and
is written as DATA/audio/*.flac. A take in which no speech is heard is asked for again, once.
``--background`` seconds of your room with nobody speaking are recorded too, in 2 s clips with an
empty transcript: they teach the model that your room's noise is no command.

Every take is written atomically as soon as it is recorded, and a run that stops (Ctrl-C, a
closed laptop) continues where it was: takes already on disk are not asked for again. At the
end DATA/train.jsonl and DATA/dev.jsonl are written: each command's last take goes to dev (to
check the fine-tuned model on takes it never heard), the rest, the sentences and the background
to train, each listed 8 times (see TRAIN_LISTINGS).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from speechrnn.audio import (
    SAMPLE_RATE,
    AudioError,
    fit_margins,
    prepare_waveform,
    save_audio,
    speech_span,
)
from speechrnn.cli import read_phrase_file
from speechrnn.data import DataError, Utterance, audio_duration, write_manifest
from speechrnn.microphone import AudioSource, MicrophoneError, MicrophoneSource
from speechrnn.tokenizer import normalize_text
from speechrnn.transcribe import MARGIN_SECONDS

BACKGROUND_CLIP_SECONDS = 2.0
STALL_SECONDS = 5  # a device that sends nothing this long is gone (unplugged, suspended)
# A sentence's window: a reading pace of under 2 words per second, and a second to start.
READ_SECONDS_PER_WORD, READ_START_SECONDS = 0.6, 1.0
# train.jsonl lists each clip this many times under ids of its own, so that each listing gets its
# own augmented copies (data.copies of them): with config.toml's 4 copies, 32 versions of every
# clip, as in the measured run (README.md).
TRAIN_LISTINGS = 8
BACKGROUND_TEXT = ""  # heard as nothing


class RecordError(RuntimeError):
    """A problem that stops the session (no phrases, bad arguments)."""


@dataclass(frozen=True)
class Take:
    """One recording to make: ``text`` said for the ``number``-th time (from 1); ``read``: a
    sentence to read once (training only), not a command."""

    text: str
    number: int
    read: bool = False

    @property
    def stem(self) -> str:
        """A file name for it: readable, and unique even for phrases with odd characters."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.text).strip("-")[:40] or "phrase"
        digest = hashlib.sha1(self.text.encode()).hexdigest()[:6]
        return f"read-{slug}-{digest}" if self.read else f"{slug}-{digest}-take{self.number}"

    def seconds(self, window: float) -> float:
        """The recording window: ``window`` for a command, enough to read a sentence."""
        if not self.read:
            return window
        return max(window, READ_START_SECONDS + READ_SECONDS_PER_WORD * len(self.text.split()))


def _normalized(phrases: Sequence[str]) -> list[str]:
    texts: list[str] = []
    for phrase in phrases:
        text = normalize_text(phrase)
        if not text:
            raise RecordError(f"phrase {phrase!r} has nothing to say")
        if text not in texts:
            texts.append(text)
    return texts


def plan_takes(phrases: Sequence[str], takes: int, read: Sequence[str] = ()) -> list[Take]:
    """The sentences to ``read`` once each, then every phrase ``takes`` times, round by round,
    in normalized spelling.

    Raises:
        RecordError: Nothing to record, a phrase with nothing to say, or commands with
            takes < 2 (one is for dev).
    """
    texts = _normalized(phrases)
    if texts and takes < 2:
        raise RecordError("--takes must be at least 2: one take of each phrase is kept for dev")
    reading = [Take(text, 1, read=True) for text in _normalized(read)]
    if not texts and not reading:
        raise RecordError("no phrases to record")
    return reading + [Take(text, number) for number in range(1, takes + 1) for text in texts]


def capture(source: AudioSource, seconds: float) -> torch.Tensor:
    """The next ``seconds`` of ``source`` (after dropping what it had queued), 16 kHz mono.

    Raises:
        MicrophoneError: The source ended first, or sent nothing for STALL_SECONDS.
    """
    source.read(timeout=0.0)  # audio from before the prompt was shown: not part of the take
    wanted = round(seconds * source.sample_rate)
    blocks: list[np.ndarray] = []
    have, silent_reads = 0, 0
    while have < wanted:
        got = source.read(timeout=1.0)
        if got is None:
            raise MicrophoneError(f"{source.name}: the input ended")
        silent_reads = 0 if got else silent_reads + 1
        if silent_reads >= STALL_SECONDS:  # one-second reads
            raise MicrophoneError(f"{source.name}: no audio for {STALL_SECONDS} s")
        blocks.extend(got)
        have += sum(len(block) for block in got)
    samples = np.concatenate(blocks)[:wanted] if blocks else np.zeros(0, np.float32)
    return prepare_waveform(samples, source.sample_rate)


def record_session(
    takes: Sequence[Take],
    out: Path,
    source: AudioSource,
    seconds: float,
    background_seconds: float = 0.0,
    say: Callable[[str], None] = print,
) -> tuple[list[Utterance], list[Utterance]]:
    """Record what is missing from ``out`` and write its train/dev manifests.

    Args:
        takes: From :func:`plan_takes`.
        out: The data folder (audio/ and the manifests go there).
        source: An open microphone (or any :class:`~speechrnn.microphone.AudioSource`).
        seconds: Recording window per take.
        background_seconds: Room tone to record with nobody speaking (0: none).
        say: Where prompts go.

    Returns:
        (train, dev) utterances, as written to ``out``/train.jsonl and dev.jsonl.
    """
    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    missing = [take for take in takes if not (audio_dir / f"{take.stem}.flac").is_file()]
    if missing:
        say(f"{len(takes) - len(missing)} of {len(takes)} takes already recorded; "
            f"{len(missing)} to go. Speak after each prompt.")  # fmt: skip
    for index, take in enumerate(missing, 1):
        for attempt in (1, 2):
            again = " (again: no speech was heard)" if attempt == 2 else ""
            say(f"[{index}/{len(missing)}] Say: {take.text}{again}")
            waveform = capture(source, take.seconds(seconds))
            if speech_span(waveform, SAMPLE_RATE) is not None:
                fitted, _ = fit_margins(waveform, SAMPLE_RATE, MARGIN_SECONDS)
                save_audio(audio_dir / f"{take.stem}.flac", fitted)
                break
        else:
            say(f"skipped: {take.text} (take {take.number}); run again to retry it")
    background = _record_background(audio_dir, source, background_seconds, say)
    return _write_manifests(out, takes, background)


def _record_background(
    audio_dir: Path, source: AudioSource, seconds: float, say: Callable[[str], None]
) -> list[Path]:
    count = int(seconds // BACKGROUND_CLIP_SECONDS)
    paths = [audio_dir / f"background-{i + 1}.flac" for i in range(count)]
    todo = [path for path in paths if not path.is_file()]
    if todo:
        say(f"Now {len(todo) * BACKGROUND_CLIP_SECONDS:g} s of your room: please keep quiet.")
        capture(source, 0.5)  # the end of the prompt's keystroke or breath
    for path in todo:
        save_audio(path, capture(source, BACKGROUND_CLIP_SECONDS))
    return paths


def _utterance(path: Path, text: str) -> Utterance:
    duration = audio_duration(path)  # from the FLAC header: no need to decode the clip
    return Utterance(id=f"personal/{path.name}", audio=str(path.resolve()), text=text,
                     duration=duration)  # fmt: skip


def _write_manifests(
    out: Path, takes: Sequence[Take], background: Sequence[Path]
) -> tuple[list[Utterance], list[Utterance]]:
    # The highest take of each command; sentences read are for training only.
    last = {take.text: take.number for take in takes if not take.read}
    train: list[Utterance] = []
    dev: list[Utterance] = []
    for take in takes:
        path = out / "audio" / f"{take.stem}.flac"
        if path.is_file():
            held_out = not take.read and take.number == last[take.text]
            (dev if held_out else train).append(_utterance(path, take.text))
    train.extend(_utterance(path, BACKGROUND_TEXT) for path in background if path.is_file())
    train = [replace(u, id=f"{u.id}#{k}") for k in range(TRAIN_LISTINGS) for u in train]
    write_manifest(out / "train.jsonl", train)
    write_manifest(out / "dev.jsonl", dev)
    return train, dev


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a text file that are no # comment.

    Raises:
        RecordError: The file cannot be read.
    """
    try:
        return read_phrase_file(path)
    except (OSError, UnicodeDecodeError) as problem:
        raise RecordError(f"cannot read {path}: {problem}") from None


def read_phrases(commands: str | None, commands_file: Path | None) -> list[str]:
    """The phrases of ``--commands "a,b"`` or ``--commands-file F`` (none when neither is given).

    Raises:
        RecordError: The file cannot be read.
    """
    if commands_file is not None:
        return read_lines(commands_file)
    if commands is None:
        return []
    return [part.strip() for part in commands.split(",") if part.strip()]


def main(
    argv: list[str] | None = None,
    open_source: Callable[[], AudioSource] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """The command line; ``open_source`` (default: the microphone) and ``say`` (prompts) are for
    tests."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--commands", help='comma-separated phrases, e.g. "lights on,stop"')
    group.add_argument("--commands-file", type=Path, help="one phrase per line")
    parser.add_argument("--out", type=Path, required=True, help="data folder to fill")
    parser.add_argument("--read", type=Path, help="sentences to read once each, one per line")
    parser.add_argument(
        "--read-count", type=int, metavar="N", help="read only the first N sentences of --read"
    )
    parser.add_argument("--takes", type=int, default=5, help="takes per phrase (default 5)")
    parser.add_argument("--seconds", type=float, default=2.5, help="window per take (2.5)")
    parser.add_argument("--background", type=float, default=20.0, help="seconds of room tone")
    parser.add_argument("--device", help="input device index or (part of its) name")
    args = parser.parse_args(argv)
    try:
        if not 0.5 <= args.seconds <= 30 or args.background < 0:
            raise RecordError("--seconds must be 0.5-30 and --background at least 0")
        if args.read_count is not None and (args.read is None or args.read_count < 1):
            raise RecordError("--read-count needs --read and must be at least 1")
        phrases = read_phrases(args.commands, args.commands_file)
        reading = read_lines(args.read)[: args.read_count] if args.read else []
        if not phrases and not reading:
            raise RecordError("give --read, --commands or --commands-file")
        takes = plan_takes(phrases, args.takes, reading)
        source = open_source() if open_source else MicrophoneSource(args.device)
        with source:
            train, dev = record_session(takes, args.out, source, args.seconds, args.background, say)
    except (RecordError, MicrophoneError, AudioError, DataError, OSError) as problem:
        print(f"record: error: {problem}", file=sys.stderr)
        return 2 if isinstance(problem, RecordError) else 1
    except KeyboardInterrupt:
        print("\nstopped; run the same command again to go on", file=sys.stderr)
        return 130
    clips = len(train) // TRAIN_LISTINGS
    print(f"{args.out}/train.jsonl: {clips} clips, each listed {TRAIN_LISTINGS} times; "
          f"dev.jsonl: {len(dev)} clips", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
