"""Real human speech for benchmarks: Debian's ``pocketsphinx-testdata``, fetched and cut into sets.

The package (``apt-get download pocketsphinx-testdata`` + ``dpkg -x``; nothing is installed) holds
a few minutes of real recordings with their transcripts. :func:`fetch_testdata` finds or extracts
it into a cache folder once; :func:`build_sets` turns it into evaluation sets:

- open vocabulary: ``librivox/*.wav`` (``librivox/transcription``), ``cards/*.wav``
  (``cards/cards.transcription``), ``goforward.raw`` ("go forward ten meters") and
  ``tidigits/dhd.2934z.raw``, whose transcript is read from its name by the TIDIGITS naming
  convention, checked first against every entry of the package's ``tidigits/tidigits.lsn``
  (``numbers.raw`` and ``something.raw`` have no transcript in the package and are left out);
- command phrases: whole utterances (the card clips, "go forward ten meters", the digit string)
  with one-word-off distractors built from the package's own grammars; the LibriVox sentences are
  out-of-list speech;
- single words, cut from the recordings: in-list words (the ten digits and the card words read
  from ``cards/cards.gram``) and out-of-list words (every other word of at least three letters);
- silence and generated noise, which a command recognizer must reject.

Word boundaries: a word alone between two pauses (energy below the clip's peak by 30 dB for at
least 100 ms) is cut at the pauses, so its boundaries owe nothing to any recognizer ("pause"
cuts). Words run together inside one stretch of speech are separated where a forced aligner
(given as a callable; the comparison uses pocketsphinx's) puts the boundary, moved to the quietest
10 ms within 50 ms ("aligned" cuts). Every cut gets 10 ms fades and 150 ms of the recording's own
room tone on each side.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch

from speechrnn.audio import AudioError, load_audio

RATE = 16000  # every clip of the package is 16 kHz, 16-bit mono
PACKAGE = "pocketsphinx-testdata"
DATA_SUBDIR = Path("usr/share/pocketsphinx/test/data")  # inside the package
INSTALLED_ROOT = Path("/")  # where `apt-get install` puts a package's usr/... tree
COMPLETED = ".completed"

GOFORWARD_TEXT = "go forward ten meters"  # goforward.raw; also the first rule of goforward.gram
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# TIDIGITS file names spell the digits said, 'z' zero and 'o' oh, then a production letter.
_TIDIGITS_CODES = {str(i): word for i, word in enumerate(DIGITS)} | {"z": "zero", "o": "oh"}
# One-word-off variants of the in-list phrases, from the package's grammars (cards.gram,
# goforward.gram) and the digit string: a phrase recognizer must tell them from the real ones.
DISTRACTOR_PHRASES = (
    "ten of hearts",
    "four king of clubs",
    "seven of diamonds",
    "five nine",
    "eight of spades four of clubs seven of diamonds",
    "go backward ten meters",
    "go forward two meters",
    "two nine three four five",
    "two five three four zero",
)
MIN_OUT_OF_LIST_LETTERS = 3  # shorter words ("a", "of", "he") are fragments, not commands

FRAME = RATE // 100  # 10 ms energy frames
PAUSE_DB = 30.0  # a frame this far below the clip's loudest frame is silence
MIN_PAUSE_FRAMES = 10  # 100 ms: shorter dips are stop closures inside words
MIN_ISLAND_FRAMES = 5  # 50 ms: shorter bursts are clicks
MAX_CONTEXT_SECONDS = 0.2  # real pause kept around a pause-delimited word
SNAP_FRAMES = 5  # an aligned boundary moves to the quietest frame within 50 ms
FADE_SECONDS = 0.01
ROOM_TONE_SECONDS = 0.15

# (audio, transcript) -> [(word, start seconds, end seconds)]; fillers like "<sil>" are skipped.
Aligner = Callable[[np.ndarray, str], list[tuple[str, float, float]]]


class TestDataError(RuntimeError):
    """The package's data cannot be found or fetched."""


@dataclass(frozen=True, eq=False)
class Clip:
    """One evaluation clip."""

    id: str
    samples: np.ndarray  # (samples,) int16 at RATE
    text: str  # what is said; "" for silence and noise
    source: str  # librivox, cards, goforward, tidigits, silence, noise, synthetic
    cut: str = ""  # single words: "pause" or "aligned" (see the module docstring)

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.samples) / RATE


@dataclass
class EvaluationSets:
    """Everything the comparison scores, built by :func:`build_sets`."""

    open_vocabulary: list[Clip]
    word_commands: tuple[str, ...]
    words_in: list[Clip]
    words_out: list[Clip]
    phrase_commands: tuple[str, ...]
    phrases_in: list[Clip]
    phrases_out: list[Clip]
    silence: list[Clip]
    noise: list[Clip]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int | list[str] | dict[str, int]]:
        """Clip counts per set, cut methods and notes (JSON-ready)."""
        cuts: dict[str, int] = {}
        for clip in self.words_in + self.words_out:
            cuts[clip.cut] = cuts.get(clip.cut, 0) + 1
        return {
            "open_vocabulary": len(self.open_vocabulary),
            "open_vocabulary_seconds": round(sum(c.duration for c in self.open_vocabulary)),
            "word_commands": len(self.word_commands),
            "words_in": len(self.words_in),
            "words_out": len(self.words_out),
            "word_cuts": cuts,
            "phrase_commands": len(self.phrase_commands),
            "phrases_in": len(self.phrases_in),
            "phrases_out": len(self.phrases_out),
            "silence": len(self.silence),
            "noise": len(self.noise),
            "notes": self.notes,
        }


# --- fetching ---------------------------------------------------------------------------------


def default_cache_dir(name: str = PACKAGE) -> Path:
    """``$XDG_CACHE_HOME/speechrnn/NAME`` (``~/.cache`` by default; NAME: the package)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "speechrnn" / name


def _looks_like_data(folder: Path) -> bool:
    return (folder / "librivox" / "transcription").is_file() and (folder / "cards").is_dir()


def fetch_testdata(cache_dir: Path | None = None, testdata: Path | None = None) -> Path:
    """The package's ``test/data`` folder, fetched and extracted into the cache when needed.

    Looked for in order: ``testdata`` (an extracted folder), the installed package, the cache
    (complete when its marker exists); otherwise ``apt-get download`` + ``dpkg -x`` into the
    cache, then the marker is written, so a second call does nothing.

    Args:
        cache_dir: Where to extract (default :func:`default_cache_dir`).
        testdata: An already extracted ``.../pocketsphinx/test/data`` folder.

    Returns:
        The data folder.

    Raises:
        TestDataError: ``testdata`` is not the data folder, or the download failed.
    """
    if testdata is not None:
        if not _looks_like_data(testdata):
            raise TestDataError(
                f"{testdata}: not a pocketsphinx test data folder (expected librivox/ and cards/)"
            )
        return testdata
    root = find_or_extract(
        (PACKAGE,),
        lambda folder: _looks_like_data(folder / DATA_SUBDIR),
        cache_dir or default_cache_dir(),
        hint=f"--testdata .../{DATA_SUBDIR}",
        expected=str(DATA_SUBDIR),
    )
    return root / DATA_SUBDIR


def find_or_extract(
    packages: Sequence[str],
    looks_right: Callable[[Path], bool],
    cache_dir: Path,
    hint: str,
    expected: str,
    given: Path | None = None,
) -> Path:
    """The folder that Debian packages' ``usr/...`` trees are under: ``given`` when the user
    named one, else :data:`INSTALLED_ROOT` when they are installed, else the cache when a
    complete extraction is there, else the cache after :func:`extract_packages`.

    Args:
        packages: Package names.
        looks_right: Whether a folder holds the files wanted.
        cache_dir: Where to extract.
        hint: The option that takes an extracted folder instead (for error messages).
        expected: What the packages should contain (for error messages).
        given: A folder the packages were extracted into; it must look right.

    Raises:
        TestDataError: ``given`` lacks the files, the download failed, or the packages lack
            the files.
    """
    if given is not None:
        if not looks_right(given):
            raise TestDataError(f"{given}: expected {expected}")
        return given
    if looks_right(INSTALLED_ROOT):
        return INSTALLED_ROOT
    if (cache_dir / COMPLETED).is_file() and looks_right(cache_dir):
        return cache_dir
    extract_packages(packages, cache_dir, hint=hint)
    if not looks_right(cache_dir):
        raise TestDataError(f"{' '.join(packages)} did not contain {expected}")
    return cache_dir


def extract_packages(packages: Sequence[str], cache_dir: Path, hint: str) -> None:
    """``apt-get download`` Debian packages and ``dpkg -x`` them into ``cache_dir`` (nothing is
    installed); a marker file written last records that the folder is complete.

    Args:
        packages: Package names.
        cache_dir: Where to extract.
        hint: The option that takes an extracted folder instead (for the error message).

    Raises:
        TestDataError: apt-get or dpkg is missing, or a download failed.
    """
    for program in ("apt-get", "dpkg"):
        if shutil.which(program) is None:
            raise TestDataError(
                f"{program} not found: fetch the Debian package(s) {' '.join(packages)} "
                f"elsewhere, extract them with dpkg -x and pass {hint}"
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    names = []
    with tempfile.TemporaryDirectory(dir=cache_dir) as folder:
        for package in packages:
            done = subprocess.run(
                ["apt-get", "download", package], cwd=folder, capture_output=True, text=True
            )
            debs = sorted(Path(folder).glob(f"{package}_*.deb"))
            if done.returncode != 0 or not debs:
                raise TestDataError(
                    f"apt-get download {package} failed (try `apt-get update`): "
                    f"{done.stderr.strip()[-300:]}"
                )
            subprocess.run(["dpkg", "-x", str(debs[-1]), str(cache_dir)], check=True)
            names.append(debs[-1].name)
    (cache_dir / COMPLETED).write_text("".join(f"{name}\n" for name in names))


# --- transcripts --------------------------------------------------------------------------------

_TRANSCRIPT_LINE = re.compile(r"^(.*)\((\S+)\)\s*$")
_JSGF_RULE = r"<{}>\s*=\s*([^;]+);"


def parse_transcription(text: str) -> dict[str, str]:
    """Read a Sphinx transcription or .lsn file: ``<s> words </s> (utterance id)`` per line.

    Args:
        text: The file's contents.

    Returns:
        Utterance id -> words (markers like ``<s>`` removed, single spaces).
    """
    transcripts = {}
    for line in text.splitlines():
        match = _TRANSCRIPT_LINE.match(line.strip())
        if match:
            words = [w for w in match.group(1).split() if not w.startswith("<")]
            transcripts[match.group(2)] = " ".join(words)
    return transcripts


def tidigits_transcript(file_id: str) -> str | None:
    """The digits a TIDIGITS file says, read from its name (``man.ah.2934za`` -> "two nine ...").

    The last dotted part spells the digits ('z' zero, 'o' oh), optionally followed by the
    production letter 'a' or 'b'.

    Args:
        file_id: The file name without extension.

    Returns:
        The words, or None when the name does not follow the convention.
    """
    code = file_id.rsplit(".", 1)[-1]
    if code[-1:] in ("a", "b"):
        code = code[:-1]
    if not code or any(c not in _TIDIGITS_CODES for c in code):
        return None
    return " ".join(_TIDIGITS_CODES[c] for c in code)


def tidigits_convention_holds(lsn: dict[str, str]) -> bool:
    """Whether every transcript of a .lsn file is what its file name says (and there is one)."""
    return bool(lsn) and all(tidigits_transcript(i) == text for i, text in lsn.items())


def grammar_alternatives(grammar: str, rule: str) -> tuple[str, ...]:
    """The alternatives of a JSGF rule made only of words, e.g. ``<suits> = clubs | hearts;``.

    Args:
        grammar: The JSGF text.
        rule: The rule's name without brackets.

    Returns:
        The alternatives in order.

    Raises:
        ValueError: No such rule.
    """
    match = re.search(_JSGF_RULE.format(re.escape(rule)), grammar)
    if match is None:
        raise ValueError(f"no rule <{rule}> in the grammar")
    return tuple(" ".join(part.split()) for part in match.group(1).split("|") if part.strip())


# --- audio --------------------------------------------------------------------------------------


def read_pcm(path: Path) -> np.ndarray:
    """A 16 kHz mono clip as int16: headerless little-endian ``.raw`` or any soundfile format.

    Raises:
        TestDataError: Not 16 kHz mono.
    """
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2").astype(np.int16)
    samples, rate = soundfile.read(str(path), dtype="int16")
    if rate != RATE or samples.ndim != 1:
        raise TestDataError(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {samples.shape}")
    return np.asarray(samples, dtype=np.int16)


def to_float(samples: np.ndarray) -> torch.Tensor:
    """int16 PCM -> (samples,) float32 in [-1, 1)."""
    return torch.from_numpy(samples.astype(np.float32) / 32768.0)


def read_clip(path: Path, clip_id: str, text: str, source: str) -> Clip:
    """A recording in any format speechrnn reads, as a 16 kHz int16 mono clip.

    Raises:
        TestDataError: It cannot be decoded.
    """
    try:
        waveform = load_audio(path, RATE)
    except (AudioError, OSError) as problem:
        raise TestDataError(f"{path}: {problem}") from problem
    samples = np.round(waveform.clamp(-1.0, 32767 / 32768).numpy() * 32768.0).astype(np.int16)
    return Clip(clip_id, samples, text, source)


def frame_energy_db(samples: np.ndarray) -> np.ndarray:
    """(frames,) energy of 10 ms frames in dB relative to full scale."""
    frames = len(samples) // FRAME
    x = samples[: frames * FRAME].astype(np.float64).reshape(frames, FRAME) / 32768.0
    return np.asarray(10.0 * np.log10((x**2).mean(axis=1) + 1e-10))


def speech_islands(samples: np.ndarray) -> list[tuple[int, int]]:
    """Stretches of speech between pauses, as [start, end) 10 ms frame indices.

    A pause is a run of at least 100 ms of frames 30 dB below the loudest frame; shorter dips
    (stop closures) stay inside the speech, and bursts under 50 ms are dropped.
    """
    energy = frame_energy_db(samples)
    if len(energy) == 0:
        return []
    loud = energy > energy.max() - PAUSE_DB
    runs = _runs(loud)
    # Fill short gaps between speech runs, then drop short bursts.
    filled = loud.copy()
    for value, start, end in runs:
        inner = start > 0 and end < len(loud)
        if not value and inner and end - start < MIN_PAUSE_FRAMES:
            filled[start:end] = True
    return [(s, e) for v, s, e in _runs(filled) if v and e - s >= MIN_ISLAND_FRAMES]


def _runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    """(value, start, end) runs of a boolean array."""
    runs: list[tuple[bool, int, int]] = []
    start = 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((bool(mask[start]), start, i))
            start = i
    return runs


def room_tone(samples: np.ndarray, length: int) -> np.ndarray:
    """The quietest ``length`` samples of a recording (its background), at a 10 ms step."""
    if len(samples) <= length:
        return np.zeros(length, dtype=np.int16)
    x = samples.astype(np.float64) ** 2
    sums = np.convolve(x, np.ones(length), mode="valid")[::FRAME]
    start = int(np.argmin(sums)) * FRAME
    tone: np.ndarray = samples[start : start + length].astype(np.int16)
    return tone


def _finish_cut(piece: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Fade the cut's ends and put room tone around it."""
    piece = piece.astype(np.float64)
    fade = min(int(FADE_SECONDS * RATE), len(piece) // 2)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
    out = np.concatenate([tone, np.round(piece), tone])
    return np.asarray(np.clip(out, -32768, 32767), dtype=np.int16)


def _quietest_frame(energy: np.ndarray, centre: int, low: int, high: int) -> int:
    """The quietest frame boundary within SNAP_FRAMES of ``centre``, kept in (low, high)."""
    first, last = max(low + 1, centre - SNAP_FRAMES), min(high - 1, centre + SNAP_FRAMES)
    if first > last:
        return min(max(centre, low + 1), high - 1)
    return first + int(np.argmin(energy[first : last + 1]))


def _merge_split_words(
    islands: list[tuple[int, int]], words: Sequence[tuple[str, int, int]]
) -> list[tuple[int, int]]:
    """Join consecutive islands that one aligned word covers most of both of (a long closure
    inside a word is not a pause between words)."""

    def holders(island: tuple[int, int]) -> set[int]:
        share = 0.5 * (island[1] - island[0])
        return {
            i for i, (_, s, e) in enumerate(words) if min(e, island[1]) - max(s, island[0]) >= share
        }

    merged = [islands[0]]
    for island in islands[1:]:
        if holders(merged[-1]) & holders(island):
            merged[-1] = (merged[-1][0], island[1])
        else:
            merged.append(island)
    return merged


def cut_words(
    clip: Clip, alignment: Sequence[tuple[str, float, float]]
) -> list[tuple[str, int, int, str]]:
    """Word boundaries in a clip: at pauses where a word stands alone, else the aligner's.

    Args:
        clip: The recording.
        alignment: (word, start s, end s) of every word of its transcript, in order.

    Returns:
        (word, start sample, end sample, "pause" | "aligned") per word, in order.
    """
    energy = frame_energy_db(clip.samples)
    islands = speech_islands(clip.samples)
    if not islands or not alignment:
        return []
    total = len(energy)
    words = [(w, round(s * 100), round(e * 100)) for w, s, e in alignment]
    islands = _merge_split_words(islands, words)
    # Each word goes to the island holding (or nearest to) its centre; in order by construction
    # when the aligner's words are in order.
    groups: list[list[tuple[str, int, int]]] = [[] for _ in islands]
    for word in words:
        centre = (word[1] + word[2]) / 2
        distances = [
            0 if s <= centre < e else min(abs(centre - s), abs(centre - e)) for s, e in islands
        ]
        groups[int(np.argmin(distances))].append(word)
    cuts: list[tuple[str, int, int, str]] = []
    context = int(MAX_CONTEXT_SECONDS * 100)
    for index, ((start, end), group) in enumerate(zip(islands, groups, strict=True)):
        if not group:
            continue
        previous_end = islands[index - 1][1] if index else 0
        next_start = islands[index + 1][0] if index + 1 < len(islands) else total
        # Real pause around the island, never past the middle of the pause (or the clip's edge).
        left = start - min(context, (start - previous_end) // (2 if index else 1))
        right = end + min(context, (next_start - end) // (2 if index + 1 < len(islands) else 1))
        if len(group) == 1:
            cuts.append((group[0][0], left * FRAME, right * FRAME, "pause"))
            continue
        bounds = [left]
        for first, second in itertools.pairwise(group):
            centre = (first[2] + second[1]) // 2
            bounds.append(_quietest_frame(energy, centre, bounds[-1], end))
        bounds.append(right)
        for word, low, high in zip(group, bounds, bounds[1:], strict=False):
            cuts.append((word[0], low * FRAME, high * FRAME, "aligned"))
    return cuts


# --- sets -----------------------------------------------------------------------------------


def open_vocabulary_clips(data: Path) -> tuple[list[Clip], list[str]]:
    """The package's recordings whose transcript the package establishes.

    Returns:
        (clips, notes about what was left out and why).
    """
    clips: list[Clip] = []
    notes: list[str] = []
    librivox = parse_transcription((data / "librivox" / "transcription").read_text())
    for file_id, text in sorted(librivox.items()):
        clips.append(
            Clip(file_id, read_pcm(data / "librivox" / f"{file_id}.wav"), text, "librivox")
        )
    cards = parse_transcription((data / "cards" / "cards.transcription").read_text())
    for file_id, text in sorted(cards.items()):
        clips.append(
            Clip(f"cards-{file_id}", read_pcm(data / "cards" / f"{file_id}.wav"), text, "cards")
        )
    goforward = data / "goforward.raw"
    if goforward.is_file():
        clips.append(Clip("goforward", read_pcm(goforward), GOFORWARD_TEXT, "goforward"))
    lsn_path = data / "tidigits" / "tidigits.lsn"
    lsn = parse_transcription(lsn_path.read_text()) if lsn_path.is_file() else {}
    for path in sorted((data / "tidigits").glob("*.raw")):
        digits = tidigits_transcript(path.stem)
        if digits is None or not tidigits_convention_holds(lsn):
            notes.append(f"{path.name}: left out (TIDIGITS name convention not established)")
            continue
        clips.append(Clip(path.stem, read_pcm(path), digits, "tidigits"))
    for name in ("numbers.raw", "something.raw"):
        if (data / name).is_file():
            notes.append(f"{name}: left out (no transcript in the package)")
    return clips, notes


def word_command_list(data: Path) -> tuple[str, ...]:
    """The ten digits and the card words (ranks and suits of ``cards/cards.gram``)."""
    grammar = (data / "cards" / "cards.gram").read_text()
    ranks = grammar_alternatives(grammar, "rank")
    suits = grammar_alternatives(grammar, "suits")
    return DIGITS + tuple(r for r in ranks if r not in DIGITS) + suits


def silence_and_noise(seed: int = 0) -> tuple[list[Clip], list[Clip]]:
    """Silence (digital and faint hiss) and white/pink/brown noise at -25 dBFS RMS.

    Returns:
        (silence clips, noise clips), the same for every seed-0 run.
    """
    import torch

    from speechrnn.augmentation import colored_noise

    generator = torch.Generator().manual_seed(seed)

    def pcm(x: np.ndarray) -> np.ndarray:
        return np.asarray(np.clip(np.round(x * 32768.0), -32768, 32767), dtype=np.int16)

    silence = [
        Clip("zeros-1s", np.zeros(RATE, dtype=np.int16), "", "silence"),
        Clip("zeros-2.5s", np.zeros(int(2.5 * RATE), dtype=np.int16), "", "silence"),
        Clip(
            "hiss-70dB-1.5s",
            pcm(10 ** (-70 / 20) * colored_noise(int(1.5 * RATE), 0.0, generator).numpy()),
            "",
            "silence",
        ),
    ]
    noise = []
    for name, exponent in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        for seconds in (1.0, 2.5):
            waveform = 10 ** (-25 / 20) * colored_noise(int(seconds * RATE), exponent, generator)
            noise.append(Clip(f"{name}-{seconds:g}s", pcm(waveform.numpy()), "", "noise"))
    return silence, noise


def build_sets(data: Path, aligner: Aligner) -> EvaluationSets:
    """Every real-speech evaluation set of the comparison.

    Args:
        data: The package's ``test/data`` folder (see :func:`fetch_testdata`).
        aligner: Forced aligner used only where words run together (see the module docstring).

    Returns:
        The sets.
    """
    open_clips, notes = open_vocabulary_clips(data)
    word_commands = word_command_list(data)
    words_in: list[Clip] = []
    words_out: list[Clip] = []
    uncut = []
    for clip in open_clips:
        alignment = aligner(clip.samples, clip.text)
        if [w for w, _, _ in alignment] != clip.text.split():
            uncut.append(clip.id)
            continue
        tone = room_tone(clip.samples, int(ROOM_TONE_SECONDS * RATE))
        for number, (word, start, end, method) in enumerate(cut_words(clip, alignment)):
            target = words_in if word in word_commands else words_out
            if target is words_out and len(word) < MIN_OUT_OF_LIST_LETTERS:
                continue
            piece = _finish_cut(clip.samples[start:end], tone)
            target.append(Clip(f"{clip.id}#{number}-{word}", piece, word, clip.source, method))
    if uncut:
        notes.append(f"no single words cut from {', '.join(uncut)} (no alignment)")
    in_list = [c for c in open_clips if c.source in ("cards", "goforward", "tidigits")]
    phrase_commands = tuple(dict.fromkeys([c.text for c in in_list] + list(DISTRACTOR_PHRASES)))
    phrases_out = [c for c in open_clips if c.source == "librivox"]
    silence, noise = silence_and_noise()
    return EvaluationSets(
        open_vocabulary=open_clips,
        word_commands=word_commands,
        words_in=words_in,
        words_out=words_out,
        phrase_commands=phrase_commands,
        phrases_in=in_list,
        phrases_out=phrases_out,
        silence=silence,
        noise=noise,
        notes=notes,
    )


def save_clips(folder: Path, clips: Sequence[Clip], name: str) -> None:
    """Write clips as WAV files and a ``{name}.jsonl`` manifest (for listening to the cuts)."""
    import json

    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for clip in clips:
        file_name = re.sub(r"[^A-Za-z0-9_.#-]", "_", clip.id) + ".wav"
        soundfile.write(str(target / file_name), clip.samples, RATE, subtype="PCM_16")
        record = {"audio": f"{name}/{file_name}", "text": clip.text, "source": clip.source}
        if clip.cut:
            record["cut"] = clip.cut
        lines.append(json.dumps(record))
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def pause_aligner(samples: np.ndarray, text: str) -> list[tuple[str, float, float]]:
    """An "aligner" that needs no recognizer: the words, in order, on the speech islands, when
    there are exactly as many islands as words (else nothing: the clip gives no word cuts).

    Args:
        samples: (samples,) int16 recording.
        text: Its transcript.

    Returns:
        (word, start s, end s) per word, or [].
    """
    words = text.split()
    islands = speech_islands(samples)
    if len(islands) != len(words):
        return []
    return [(w, s / 100, e / 100) for w, (s, e) in zip(words, islands, strict=True)]
