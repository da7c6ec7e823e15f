"""Tests for speechrnn.streaming, speechrnn.vad and speechrnn.microphone (with fake streams).

The real-microphone path (PortAudio through a PulseAudio virtual source) is in test_listen.py.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TrainedModel

from speechrnn import microphone
from speechrnn.audio import SAMPLE_RATE, load_audio, save_audio
from speechrnn.cli import main
from speechrnn.microphone import (
    FileSource,
    MicrophoneError,
    MicrophoneSource,
    TerminalView,
    Update,
    iter_updates,
    level_db,
)
from speechrnn.streaming import Final, Partial, StreamingConfig, StreamingRecognizer
from speechrnn.transcribe import Recognizer, Result, load_model
from speechrnn.vad import (
    Endpointer,
    EndpointEvent,
    EnergyVad,
    FrameBuffer,
    WebRtcVad,
    frame_scores,
    make_vad,
)

GAP_SECONDS = 0.9  # between utterances: longer than the 0.5 s default endpoint


@pytest.fixture(scope="module")
def recognizer(trained_model: TrainedModel) -> Recognizer:
    torch.set_num_threads(1)
    return load_model(trained_model.path)


@pytest.fixture(scope="module")
def session(trained_model: TrainedModel) -> tuple[torch.Tensor, list[str]]:
    """Silence, then every trained clip (and the first again) separated by pauses, faint noise."""
    order = [2, 0, 1, 0]
    clips = [load_audio(trained_model.clips[i]) for i in order]
    pieces = [torch.zeros(SAMPLE_RATE // 2)]
    for clip in clips:
        pieces += [clip, torch.zeros(int(GAP_SECONDS * SAMPLE_RATE))]
    waveform = torch.cat(pieces)
    waveform += 1e-3 * torch.randn(len(waveform), generator=torch.Generator().manual_seed(1))
    return waveform, [trained_model.phrases[i] for i in order]


def run_stream(
    streamer: StreamingRecognizer, waveform: torch.Tensor | np.ndarray, chunk: int
) -> list[Partial | Final]:
    events: list[Partial | Final] = []
    for start in range(0, len(waveform), chunk):
        events += streamer.process(waveform[start : start + chunk])
    return events + streamer.flush()


def finals(events: list[Partial | Final]) -> list[Final]:
    return [event for event in events if isinstance(event, Final)]


def same_finals(found: list[Final], expected: list[Final]) -> bool:
    """Equal but for float rounding in the confidence (FFTs over different chunkings)."""
    return len(found) == len(expected) and all(
        (a.result.text, a.result.words, a.result.command, a.start, a.end, a.forced)
        == (b.result.text, b.result.words, b.result.command, b.start, b.end, b.forced)
        and a.result.confidence == pytest.approx(b.result.confidence, abs=1e-5)
        for a, b in zip(found, expected, strict=True)
    )


def test_finals_do_not_depend_on_chunk_size(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]]
) -> None:
    waveform, phrases = session
    streamer = StreamingRecognizer(recognizer)
    reference = finals(run_stream(streamer, waveform, 800))
    assert [f.result.text for f in reference] == phrases
    for chunk in (1, 160, 4099, len(waveform)):
        if chunk == 1:  # one sample at a time is slow; a second's worth proves the point
            head = waveform[: SAMPLE_RATE + 3000]
            expected = finals(run_stream(streamer, head, 800))
            assert same_finals(finals(run_stream(streamer, head, 1)), expected)
            continue
        assert same_finals(finals(run_stream(streamer, waveform, chunk)), reference), chunk


def test_final_equals_file_transcription_of_the_same_span(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]]
) -> None:
    waveform, _ = session
    streamer = StreamingRecognizer(recognizer)
    for final in finals(run_stream(streamer, waveform, 1600)):
        span = waveform[round(final.start * SAMPLE_RATE) : round(final.end * SAMPLE_RATE)]
        from_file = recognizer.transcribe(span, sample_rate=SAMPLE_RATE)
        shifted = tuple(
            type(word)(
                word.word, round(word.start - final.start, 3), round(word.end - final.start, 3)
            )
            for word in final.result.words
        )
        assert final.result.text == from_file.text
        assert final.result.confidence == pytest.approx(from_file.confidence, abs=1e-5)
        assert final.result.duration == pytest.approx(from_file.duration, abs=1e-3)
        assert shifted == from_file.words
        assert final.start <= final.result.words[0].start < final.result.words[-1].end <= final.end


def test_resampled_input_gives_the_same_text(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]]
) -> None:
    import torchaudio.functional

    waveform, phrases = session
    native = torchaudio.functional.resample(waveform, SAMPLE_RATE, 44100)
    streamer = StreamingRecognizer(recognizer, sample_rate=44100)
    found = finals(run_stream(streamer, native.numpy()[:, None], 2205))  # (samples, 1) blocks
    assert [f.result.text for f in found] == phrases


def test_partials_show_a_stable_prefix_while_speaking(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]]
) -> None:
    waveform, _ = session
    config = StreamingConfig(partial_interval=0.2, stable_decodes=2)
    events = run_stream(StreamingRecognizer(recognizer, config), waveform, 800)
    partials = [e for e in events if isinstance(e, Partial)]
    assert partials, "no partial results"
    times = [p.time for p in partials]
    gaps = [b - a for a, b in itertools.pairwise(times) if b - a < 0.5]
    assert max(gaps) <= 0.2 + 800 / SAMPLE_RATE
    # Each partial's stable words start the final of its utterance.
    for partial in partials:
        final = next(f for f in finals(events) if f.start == partial.start)
        assert final.result.text.split()[: len(partial.stable.split())] == partial.stable.split()
    assert any(p.stable == "go forward" for p in partials)
    # Nothing is stable before two decodes agree.
    first = partials[0]
    assert first.stable == "" and first.text == first.unstable
    none = StreamingConfig(partial_interval=0)
    assert not any(
        isinstance(e, Partial)
        for e in run_stream(StreamingRecognizer(recognizer, none), waveform, 800)
    )


def test_endpoint_silence_is_configurable(
    recognizer: Recognizer, trained_model: TrainedModel
) -> None:
    yes, stop = (load_audio(trained_model.clips[i]) for i in (0, 1))
    waveform = torch.cat([torch.zeros(8000), yes, torch.zeros(6400), stop, torch.zeros(16000)])
    short = StreamingRecognizer(recognizer, StreamingConfig(endpoint_seconds=0.25))
    assert [f.result.text for f in finals(run_stream(short, waveform, 800))] == ["yes", "stop"]
    long = StreamingRecognizer(recognizer, StreamingConfig(endpoint_seconds=1.0))
    assert len(finals(run_stream(long, waveform, 800))) == 1


def test_command_mode_accepts_and_rejects(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]]
) -> None:
    waveform, phrases = session
    streamer = StreamingRecognizer(recognizer, commands=["yes", "stop", "go forward"])
    results = [f.result for f in finals(run_stream(streamer, waveform, 800))]
    assert [r.command for r in results] == phrases
    strict = StreamingRecognizer(recognizer, commands=["left", "right"])
    rejected = [f.result for f in finals(run_stream(strict, waveform, 800))]
    assert len(rejected) == len(phrases)
    assert all(r.command is None and r.text == "" for r in rejected)


class AlwaysSpeech:
    """A fake VAD that hears speech everywhere (the worst case for utterance length)."""

    frame_length = 400
    threshold = 0.5

    def __init__(self, scores: list[float] | None = None) -> None:
        self.scores = scores or [1.0]
        self.count = 0

    def score(self, frame: torch.Tensor) -> float:
        self.count += 1
        return self.scores[self.count % len(self.scores)]

    def reset(self) -> None:
        self.count = 0


def test_long_speech_is_cut_at_the_cap_and_memory_stays_bounded(recognizer: Recognizer) -> None:
    config = StreamingConfig(max_utterance_seconds=6.0, partial_interval=1.0)
    # A dip in the score every 2 s gives the cut a preferred place.
    scores = [1.0] * 79 + [0.6]
    streamer = StreamingRecognizer(recognizer, config, vad=AlwaysSpeech(scores))
    noise = 0.01 * torch.randn(31 * SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    events: list[Partial | Final] = []
    largest = 0
    for start in range(0, len(noise), 1600):
        events += streamer.process(noise[start : start + 1600])
        largest = max(largest, streamer.buffered_seconds)
    cut = finals(events)
    assert len(cut) == 5 and all(f.forced for f in cut)
    assert all(f.end - f.start <= 6.0 + 1e-6 for f in cut)
    assert [f.start for f in cut[1:]] == [f.end for f in cut[:-1]]  # no audio lost or repeated
    assert cut[0].end == pytest.approx(5.96)  # at the dip in the score, not at the cap
    assert largest <= 6.0 + 0.2
    tail = finals(streamer.flush())
    assert len(tail) == 1 and not tail[0].forced


def test_silence_keeps_only_the_pre_roll(recognizer: Recognizer) -> None:
    streamer = StreamingRecognizer(recognizer, vad=EnergyVad())
    quiet = 1e-3 * torch.randn(20 * SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    for start in range(0, len(quiet), 800):
        assert streamer.process(quiet[start : start + 800]) == []
        assert streamer.buffered_seconds <= 0.3 + 0.1
    assert not streamer.speaking and streamer.time == pytest.approx(20.0)


def test_streaming_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        StreamingConfig(endpoint_seconds=0)
    with pytest.raises(ValueError, match="post_roll"):
        StreamingConfig(endpoint_seconds=0.1, post_roll_seconds=0.2)
    with pytest.raises(ValueError, match="max_utterance"):
        StreamingConfig(max_utterance_seconds=1)
    with pytest.raises(ValueError, match="silero, webrtc, energy"):
        make_vad("loud")


# --- speechrnn.vad ----------------------------------------------------------------------------


def test_frame_buffer_cuts_any_chunks_into_the_same_frames() -> None:
    signal = torch.randn(5000)
    whole = FrameBuffer(512).push(signal)
    buffer = FrameBuffer(512)
    pieces = [frame for i in range(0, 5000, 77) for frame in buffer.push(signal[i : i + 77])]
    assert len(whole) == len(pieces) == 9
    assert all(torch.equal(a, b) for a, b in zip(whole, pieces, strict=True))
    assert FrameBuffer(512).push(torch.zeros(100)) == []


def test_endpointer_events_hysteresis_and_cancel() -> None:
    endpointer = Endpointer(0.5, endpoint_seconds=0.1, min_speech_seconds=0.05, hysteresis=0.2)
    frame = 160  # 10 ms
    scores = [0.0] * 3 + [0.9] * 10 + [0.4] * 3 + [0.1] * 10 + [0.9] * 2 + [0.0] * 12
    events = [endpointer.push(s, frame) for s in scores]
    found = [(i, e) for i, e in enumerate(events) if e is not None]
    # 0.4 is above the release threshold (0.3) once speaking, so speech lasts to frame 16.
    assert found[0] == (3, EndpointEvent("start", 3 * frame))
    assert found[1] == (25, EndpointEvent("end", 16 * frame))
    # Two frames (20 ms) of speech are under the 50 ms minimum: cancelled.
    assert found[2] == (26, EndpointEvent("start", 26 * frame))
    assert found[3][1].kind == "cancel"


@pytest.mark.parametrize("name", ["silero", "webrtc", "energy"])
def test_detectors_tell_speech_from_silence(name: str, trained_model: TrainedModel) -> None:
    speech = load_audio(trained_model.clips[2])
    quiet = 1e-3 * torch.randn(SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    detector = make_vad(name)
    scores = frame_scores(detector, torch.cat([quiet, speech, quiet]))
    frames_per_second = SAMPLE_RATE / detector.frame_length
    head = scores[int(0.2 * frames_per_second) : int(0.9 * frames_per_second)]  # WebRTC adapts
    middle = scores[
        int(1.2 * frames_per_second) : int((1.0 + len(speech) / 16000) * frames_per_second)
    ]
    assert (head < detector.threshold).all()
    assert (middle >= detector.threshold).mean() > 0.5


def test_webrtc_rejects_a_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        WebRtcVad(mode=7)


# --- speechrnn.microphone: sources, the live loop and the terminal view ------------------------


def test_file_source_feeds_the_same_finals_as_direct_processing(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]], tmp_path: Path
) -> None:
    waveform, phrases = session
    path = tmp_path / "session.wav"
    save_audio(path, waveform)
    streamer = StreamingRecognizer(recognizer)
    events: list[Partial | Final] = []
    with FileSource(path, realtime=False) as source:
        for update in iter_updates(source, streamer):
            events += update.events
    events += streamer.flush()
    assert [f.result.text for f in finals(events)] == phrases
    # --duration stops early, on the audio clock.
    with FileSource(path, realtime=False) as source:
        times = [u.time for u in iter_updates(source, streamer, duration=1.0)]
    assert times[-1] == pytest.approx(1.0)
    streamer.reset()


def test_realtime_file_source_is_paced(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    save_audio(path, torch.zeros(SAMPLE_RATE // 2))
    started = time.monotonic()
    with FileSource(path, realtime=True) as source:
        total = 0
        while (blocks := source.read(0.1)) is not None:
            total += sum(len(b) for b in blocks)
    assert total == SAMPLE_RATE // 2
    assert time.monotonic() - started >= 0.45


class FakeSoundDevice(types.SimpleNamespace):
    """Stands in for the sounddevice module: one 48 kHz input device playing ``signal``."""

    class PortAudioError(Exception):
        pass

    def __init__(self, signal: np.ndarray, busy: bool = False) -> None:
        super().__init__()
        self.signal, self.busy = signal, busy
        self.default = types.SimpleNamespace(device=[0, -1])

    def query_devices(self) -> list[dict[str, object]]:
        return [
            {"index": 0, "name": "Fake Mic", "hostapi": 0, "max_input_channels": 2,
             "default_samplerate": 48000.0},
            {"index": 1, "name": "Fake Speaker", "hostapi": 0, "max_input_channels": 0,
             "default_samplerate": 48000.0},
        ]  # fmt: skip

    def query_hostapis(self) -> list[dict[str, str]]:
        return [{"name": "FakeAPI"}]

    def InputStream(self, **options: object) -> object:
        if self.busy:
            raise self.PortAudioError("Device unavailable [PaErrorCode -9985]")
        return FakeStream(self.signal, **options)


class FakeStream:
    """Calls the callback from another thread, as PortAudio does, flagging one overflow."""

    def __init__(self, signal: np.ndarray, callback, blocksize: int, **_: object) -> None:  # type: ignore[no-untyped-def]
        self.signal, self.callback, self.blocksize = signal, callback, blocksize
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        for index, start in enumerate(range(0, len(self.signal), self.blocksize)):
            block = self.signal[start : start + self.blocksize]
            status = types.SimpleNamespace(input_overflow=index == 3)
            self.callback(block[:, None].astype(np.float32), len(block), None, status)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.join()

    def close(self) -> None:
        pass


def test_microphone_source_with_a_fake_device(
    recognizer: Recognizer,
    session: tuple[torch.Tensor, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torchaudio.functional

    waveform, phrases = session
    signal = torchaudio.functional.resample(waveform, SAMPLE_RATE, 48000).numpy()
    monkeypatch.setattr(microphone, "_sounddevice", lambda: FakeSoundDevice(signal))
    assert [d.name for d in microphone.list_input_devices()] == ["Fake Mic"]
    with pytest.raises(MicrophoneError, match=r"no input devices match 'usb'.*0 'Fake Mic'"):
        MicrophoneSource("usb")
    source = MicrophoneSource("fake")
    assert source.sample_rate == 48000 and source.name == "Fake Mic"
    streamer = StreamingRecognizer(recognizer, sample_rate=source.sample_rate)
    events: list[Partial | Final] = []
    with source:
        for update in iter_updates(source, streamer, duration=len(signal) / 48000):
            events += update.events
    events += streamer.flush()
    assert [f.result.text for f in finals(events)] == phrases
    assert source.overflows == 1


def test_terminal_view_draws_status_and_writes_finals() -> None:
    out, status = io.StringIO(), io.StringIO()
    view = TerminalView("mic", out, status, show_status=True)
    result = Result("go forward", 0.93, None, (), 1.3)
    view.update(Update(-20.0, [Partial("go", "for", 0.2, 0.9)], 0.9))
    assert "go" in status.getvalue() and "#" in status.getvalue()
    assert "for" not in status.getvalue()  # only the stable prefix is shown
    view.update(Update(-30.0, [Final(result, 0.2, 1.5)], 1.6))
    view.update(Update(-30.0, [Final(Result("", 0.1), 2.0, 2.5)], 2.6))
    view.close()
    assert out.getvalue() == "go forward\n"  # nothing printed for an utterance not understood
    assert status.getvalue().endswith("\r\033[K")

    out = io.StringIO()
    view = TerminalView("mic", out, io.StringIO(), json_output=True)
    view.event(Final(result, 0.2, 1.5))
    record = json.loads(out.getvalue())
    assert set(record) == {
        "source", "text", "confidence", "command", "words", "duration", "start", "end", "forced"
    }  # fmt: skip
    assert (record["source"], record["text"], record["start"], record["end"]) == (
        "mic", "go forward", 0.2, 1.5
    )  # fmt: skip


def test_level_db() -> None:
    assert level_db(np.zeros(10)) == float("-inf")
    assert level_db(np.full(10, 0.1)) == pytest.approx(-20.0)


# --- speechrnn listen (in process; the real-device path is in test_listen.py) -----------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_listen_input_file_prints_one_line_per_utterance(
    trained_model: TrainedModel,
    session: tuple[torch.Tensor, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    waveform, phrases = session
    path = tmp_path / "session.wav"
    save_audio(path, waveform)
    model = str(trained_model.path)
    code, out, err = run_cli(
        ["listen", "--model", model, "--input", str(path), "--no-realtime"], capsys
    )
    assert code == 0 and out.splitlines() == phrases
    assert "listening on" in err
    code, out, _ = run_cli(
        ["listen", "--model", model, "--input", str(path), "--no-realtime", "--json",
         "--commands", "yes,stop,go forward"],
        capsys,
    )  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["command"] for r in records] == phrases
    assert all(r["source"] == str(path) and r["start"] < r["end"] for r in records)


def test_listen_ctrl_c_exits_cleanly_with_the_last_utterance(
    trained_model: TrainedModel,
    session: tuple[torch.Tensor, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waveform, phrases = session
    path = tmp_path / "session.wav"
    save_audio(path, waveform)
    original = FileSource.read
    consumed = {"samples": 0}

    def interrupted_read(self: FileSource, timeout: float) -> list[np.ndarray] | None:
        # Ctrl-C in the middle of the first utterance (its clip spans about 0.5-1.8 s).
        if consumed["samples"] >= 1.4 * SAMPLE_RATE:
            raise KeyboardInterrupt
        blocks = original(self, timeout)
        consumed["samples"] += sum(len(b) for b in blocks or [])
        return blocks

    monkeypatch.setattr(FileSource, "read", interrupted_read)
    argv = ["listen", "--model", str(trained_model.path), "--input", str(path), "--no-realtime"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    assert len(out.splitlines()) == 1 and out.splitlines()[0] in phrases[0]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(["--no-realtime"], 2, "--no-realtime only applies", id="no-realtime-alone"),
        pytest.param(["--input", "missing.wav"], 1, "no such file", id="missing-input"),
        pytest.param(["--endpoint", "0"], 2, "positive number of seconds", id="bad-endpoint"),
        pytest.param(["--device", "usb"], 1, "no input devices match 'usb'", id="no-such-device"),
        pytest.param(["--device", "0"], 1, "cannot open input device 'Fake Mic'", id="busy"),
    ],
)
def test_listen_errors_are_one_line(
    argv: list[str],
    code: int,
    message: str,
    trained_model: TrainedModel,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = FakeSoundDevice(np.zeros(100, dtype=np.float32), busy=True)
    monkeypatch.setattr(microphone, "_sounddevice", lambda: busy)
    got, _, err = run_cli(["listen", "--model", str(trained_model.path), *argv], capsys)
    assert got == code
    lines = err.strip().splitlines()
    if code == 2 and lines[0].startswith("usage:"):
        lines = lines[-1:]  # argparse prints the usage first
    assert len(lines) == 1 and message in lines[0]


def test_listen_without_portaudio_or_devices(
    trained_model: TrainedModel,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> types.ModuleType:
        raise MicrophoneError("PortAudio is not available (PortAudio library not found)")

    monkeypatch.setattr(microphone, "_sounddevice", missing)
    code, _, err = run_cli(["listen", "--list-devices"], capsys)
    assert code == 1 and err.strip() == (
        "speechrnn: error: PortAudio is not available (PortAudio library not found)"
    )
    empty = FakeSoundDevice(np.zeros(1, dtype=np.float32))
    empty.query_devices = lambda: []  # type: ignore[method-assign]
    monkeypatch.setattr(microphone, "_sounddevice", lambda: empty)
    code, _, err = run_cli(["listen", "--model", str(trained_model.path)], capsys)
    assert code == 1 and "no audio input device found" in err
    monkeypatch.setattr(microphone, "_sounddevice", lambda: FakeSoundDevice(np.zeros(1)))
    code, out, _ = run_cli(["listen", "--list-devices"], capsys)
    assert code == 0 and out == "*   0  Fake Mic  (FakeAPI, 2 in, 48000 Hz)\n"


def test_final_is_decoded_ahead_of_the_endpoint(
    recognizer: Recognizer, session: tuple[torch.Tensor, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the post-roll has been heard the final is decoded; the endpoint pass decodes nothing."""
    waveform, phrases = session
    streamer = StreamingRecognizer(recognizer, StreamingConfig(partial_interval=0))
    decodes = {"count": 0}
    original = recognizer.decode_log_probs

    def counting(*args: object, **kwargs: object) -> Result:
        decodes["count"] += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recognizer, "decode_log_probs", counting)
    found = []
    for start in range(0, len(waveform), 1600):
        before = decodes["count"]
        events = streamer.process(waveform[start : start + 1600])
        if any(isinstance(e, Final) for e in events):
            assert decodes["count"] == before
        found += finals(events)
    assert [f.result.text for f in found] == phrases
