"""Live audio in and a terminal view out, shared by ``speechrnn listen`` and demo_mic.py.

A :class:`MicrophoneSource` opens a PortAudio input stream (through ``sounddevice``) at the
device's native rate; its callback, which runs on PortAudio's thread and must never block, only
copies each block into a queue. A :class:`FileSource` puts a file's blocks into the same kind of
queue, in real time or as fast as the consumer takes them, so a file goes through exactly the path
the microphone does. :func:`iter_updates` drains a source into a
:class:`~speechrnn.streaming.StreamingRecognizer`, and :class:`TerminalView` draws a level meter
and the partial text on one line of a terminal and writes each final result as a line (or a JSON
object) to its output stream.

``sounddevice`` is imported only when a microphone is opened or listed, so ``import speechrnn``
works on machines without PortAudio.
"""

from __future__ import annotations

import json
import math
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Protocol, TextIO

import numpy as np

from speechrnn.audio import SAMPLE_RATE, iter_audio
from speechrnn.streaming import Event, Final, Partial, StreamingRecognizer

BLOCK_SECONDS = 0.1  # audio per callback: a lively meter, and few enough wake-ups to idle cheaply
_POLL_SECONDS = 0.1  # how often the consumer wakes up when no audio comes (to check the clock)
_END = None  # queue sentinel: the source has no more audio


class MicrophoneError(RuntimeError):
    """No usable input device, PortAudio missing, or the device cannot be opened (one line)."""


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
    except OSError as problem:  # sounddevice raises OSError when libportaudio is not found
        raise MicrophoneError(
            f"PortAudio is not available ({problem}); install it (apt-get install libportaudio2)"
        ) from None
    except ImportError:
        raise MicrophoneError(
            "live audio needs the sounddevice package (pip install sounddevice)"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    """An audio input device as PortAudio reports it."""

    index: int
    name: str
    channels: int
    sample_rate: float
    host_api: str
    default: bool


def list_input_devices() -> list[InputDevice]:
    """The input devices PortAudio sees.

    Raises:
        MicrophoneError: PortAudio is missing.
    """
    sd = _sounddevice()
    try:
        default_input = sd.default.device[0]
        devices = sd.query_devices()
        host_apis = sd.query_hostapis()
    except sd.PortAudioError as problem:
        raise MicrophoneError(f"cannot list audio devices: {problem}") from None
    return [
        InputDevice(
            index=int(device["index"]),
            name=str(device["name"]),
            channels=int(device["max_input_channels"]),
            sample_rate=float(device["default_samplerate"]),
            host_api=str(host_apis[device["hostapi"]]["name"]),
            default=int(device["index"]) == default_input,
        )
        for device in devices
        if device["max_input_channels"] > 0
    ]


def resolve_device(spec: str | int | None) -> InputDevice:
    """Find an input device by index, exact name or unique part of a name (None: the default).

    Raises:
        MicrophoneError: No input device at all, or none (or several) matching ``spec``.
    """
    devices = list_input_devices()
    if not devices:
        raise MicrophoneError(
            "no audio input device found (is a microphone or sound server there?)"
        )
    if spec is None:
        for device in devices:
            if device.default:
                return device
        return devices[0]
    text = str(spec).strip()
    if text.isdigit():
        for device in devices:
            if device.index == int(text):
                return device
    exact = [d for d in devices if d.name == text]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(f"{d.index} {d.name!r}" for d in devices)
    what = "several" if matches else "no"
    raise MicrophoneError(f"{what} input devices match {text!r}; choose one of: {choices}")


class AudioSource(Protocol):
    """Blocks of audio arriving in a queue (microphone or file)."""

    sample_rate: int
    name: str
    overflows: int

    def read(self, timeout: float) -> list[np.ndarray] | None:
        """Every block queued so far, waiting up to ``timeout`` for the first; [] on timeout,
        None when the source has ended."""
        ...

    def __enter__(self) -> AudioSource: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class _QueueSource:
    """The queue both sources fill; ``read`` drains it."""

    def __init__(self, max_blocks: int = 0) -> None:
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(max_blocks)
        self._ended = False
        self.overflows = 0

    def read(self, timeout: float) -> list[np.ndarray] | None:
        if self._ended:
            return None
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        blocks: list[np.ndarray] = []
        item = first
        while True:
            if item is _END:
                self._ended = True
                break
            blocks.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return None if self._ended and not blocks else blocks


class MicrophoneSource(_QueueSource):
    """A PortAudio input stream at the device's native rate, mono, in ~100 ms blocks."""

    def __init__(self, device: str | int | None = None, block_seconds: float = BLOCK_SECONDS):
        """Pick the device (index, name or part of a name; None for the default).

        Raises:
            MicrophoneError: PortAudio missing or no matching input device.
        """
        super().__init__()
        self._sd = _sounddevice()
        self.device = resolve_device(device)
        self.name = self.device.name
        self.sample_rate = int(self.device.sample_rate)
        self._block = max(1, round(block_seconds * self.sample_rate))
        self._stream: Any = None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: no allocation beyond the copy, no locks held, never blocks.
        if status.input_overflow:
            self.overflows += 1
        self._queue.put_nowait(indata[:, 0].copy())

    def __enter__(self) -> MicrophoneSource:
        """Open and start the stream.

        Raises:
            MicrophoneError: The device cannot be opened (busy, gone, unsupported rate).
        """
        try:
            self._stream = self._sd.InputStream(
                device=self.device.index,
                channels=1,
                samplerate=self.sample_rate,
                blocksize=self._block,
                dtype="float32",
                callback=self._callback,
            )
            self._stream.start()
        except (self._sd.PortAudioError, ValueError) as problem:
            self._stream = None
            raise MicrophoneError(f"cannot open input device {self.name!r}: {problem}") from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except self._sd.PortAudioError:
                pass  # closing a stream whose device vanished: nothing left to release
            self._stream = None


class FileSource(_QueueSource):
    """A file played into the queue block by block, in real time or as fast as it is read."""

    def __init__(
        self, path: str | Path, realtime: bool = True, block_seconds: float = BLOCK_SECONDS
    ) -> None:
        # Unpaced, a bounded queue makes the reader wait for the recognizer instead of holding
        # the whole file in memory.
        super().__init__(max_blocks=0 if realtime else 8)
        self.path = Path(path)
        self.name = str(path)
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self._block_seconds = block_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _play(self) -> None:
        started = time.monotonic()
        position = 0
        try:
            for block in iter_audio(self.path, self._block_seconds, self.sample_rate):
                if self._stop.is_set():
                    return
                position += len(block)
                if self.realtime:
                    # A block is "recorded" once its last sample has been heard.
                    delay = started + position / self.sample_rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                self._put(block.numpy())
        except Exception as problem:  # handed to the consumer, which raises it
            self.error = problem
        finally:
            self._put(_END)

    def _put(self, block: np.ndarray | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(block, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def read(self, timeout: float) -> list[np.ndarray] | None:
        blocks = super().read(timeout)
        if blocks is None and self.error is not None:
            raise self.error
        return blocks

    def __enter__(self) -> FileSource:
        self._thread = threading.Thread(target=self._play, name="speechrnn-file", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass(frozen=True)
class Update:
    """What one pass of the live loop produced."""

    level_db: float  # RMS level of the loudest new block in dBFS (-inf for digital silence)
    events: list[Event] = field(default_factory=list)
    time: float = 0.0  # seconds of audio consumed so far


def level_db(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale."""
    if len(samples) == 0:
        return -math.inf
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * math.log10(power) if power > 0 else -math.inf


def iter_updates(
    source: AudioSource, streamer: StreamingRecognizer, duration: float | None = None
) -> Iterator[Update]:
    """Feed an open source into the recognizer until it ends or ``duration`` seconds of audio.

    Whatever has queued up since the last pass is processed at once, so a slow decode makes the
    next pass bigger instead of letting the queue grow. The caller finishes with
    ``streamer.flush()`` (also after Ctrl-C) to get the utterance still in progress.

    Yields:
        An :class:`Update` per pass (about one per block when keeping up), and one per
        ``_POLL_SECONDS`` while no audio arrives.
    """
    limit = math.inf if duration is None else duration * source.sample_rate
    consumed = 0
    level = -math.inf
    while consumed < limit:
        blocks = source.read(_POLL_SECONDS)
        if blocks is None:
            return
        if not blocks:
            yield Update(level, [], consumed / source.sample_rate)
            continue
        audio = np.concatenate(blocks)
        audio = audio[: int(min(len(audio), limit - consumed))]
        consumed += len(audio)
        level = max(level_db(block) for block in blocks)
        yield Update(level, streamer.process(audio), consumed / source.sample_rate)


class TerminalView:
    """Level meter + partial text on one redrawn line of ``status``; finals as lines on ``out``.

    The status line is drawn only when ``status`` is a terminal; finals are always written, as the
    text alone or, with ``json_output``, as one JSON object per line with the keys of
    ``speechrnn transcribe --json`` (``source`` in place of ``path``) plus ``start``/``end``.
    """

    METER_WIDTH = 20
    FLOOR_DB = -60.0  # the meter's empty end
    REDRAW_SECONDS = 0.05

    def __init__(
        self,
        source_name: str,
        out: TextIO,
        status: TextIO,
        json_output: bool = False,
        show_status: bool | None = None,
    ) -> None:
        self.source_name = source_name
        self.out = out
        self.status = status
        self.json_output = json_output
        self.show_status = status.isatty() if show_status is None else show_status
        self._partial = ""
        self._note = ""
        self._level = -math.inf
        self._drawn = False
        self._last_draw = 0.0

    def update(self, update: Update) -> None:
        """Show one pass of the live loop."""
        self._level = update.level_db
        for event in update.events:
            self.event(event)
        self._draw()

    def event(self, event: Event) -> None:
        """Show a partial, or write a final."""
        if isinstance(event, Partial):
            self._partial = event.stable
            self._note = ""
            return
        self._partial = ""
        self._write_final(event)

    def _write_final(self, final: Final) -> None:
        result = final.result
        rejected = not result.text
        if self.json_output:
            record = {"source": self.source_name, **result.to_dict()}
            record["confidence"] = round(result.confidence, 4)
            record["start"], record["end"] = final.start, final.end
            record["forced"] = final.forced
            line: str | None = json.dumps(record, ensure_ascii=False)
        else:
            line = None if rejected else result.text
        if rejected:
            self._note = "(not understood)"
        if line is not None:
            self._clear()
            print(line, file=self.out, flush=True)
        self._draw(force=True)

    def _meter(self) -> str:
        fraction = (self._level - self.FLOOR_DB) / -self.FLOOR_DB if self._level > -math.inf else 0
        filled = round(max(0.0, min(1.0, fraction)) * self.METER_WIDTH)
        return "[" + "#" * filled + "." * (self.METER_WIDTH - filled) + "]"

    def _draw(self, force: bool = False) -> None:
        if not self.show_status:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.REDRAW_SECONDS:
            return
        self._last_draw = now
        width = shutil.get_terminal_size((80, 24)).columns
        text = self._partial or self._note
        line = f"{self._meter()} {text}"
        if len(line) > width - 1:
            # Keep the newest words in view.
            line = self._meter() + " ..." + text[-(width - len(self._meter()) - 6) :]
        self.status.write("\r\033[K" + line)
        self.status.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.status.write("\r\033[K")
            self.status.flush()
            self._drawn = False

    def close(self) -> None:
        """Erase the status line."""
        self._clear()


__all__ = [
    "AudioSource",
    "FileSource",
    "InputDevice",
    "MicrophoneError",
    "MicrophoneSource",
    "TerminalView",
    "Update",
    "iter_updates",
    "level_db",
    "list_input_devices",
    "resolve_device",
]
