"""Build the synthetic speech corpus: many offline TTS voices saying commands and sentences.

Usage::

    python recipes/synthetic/prepare.py --out /work/data/synthetic_small --profile small --jobs 2

The plan (what to say, with which voice, rate, pitch and warp) is drawn from a seed, so a re-run
makes the same plan, skips every file that already exists and renders the rest: a killed build
finishes when run again. Whole voices are held out for the dev split (see :data:`HELD_OUT`).
Output layout::

    OUT/audio/<split>/<engine>/<voice>/<uid>.flac   16 kHz mono 16-bit FLAC
    OUT/train.jsonl, OUT/dev.jsonl                   {"audio", "text", "duration", "engine",
                                                      "voice", "category"} per line
    OUT/summary.json, OUT/.completed
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import math
import multiprocessing
import os
import random
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr
from tqdm import tqdm

_RECIPE_DIR = Path(__file__).resolve().parent
# The sibling modules (and this one, for spawned workers) must be importable however this file
# was loaded; speechrnn comes from the checkout when it is not installed.
if str(_RECIPE_DIR) not in sys.path:
    sys.path.insert(0, str(_RECIPE_DIR))
try:
    import speechrnn  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_RECIPE_DIR.parents[1]))

# Imports after the sys.path set-up above.
import tts_texts  # noqa: E402
from tts_engines import ENGINES, Engine  # noqa: E402
from tts_texts import Prompt  # noqa: E402

from speechrnn.tokenizer import normalize_text  # noqa: E402

LOGGER = logging.getLogger("synthetic")

SAMPLE_RATE = 16000
# Silence kept before and after speech; every file gets exactly this much (padded if needed).
MARGIN_SECONDS = 0.15
# Output peak, -1 dBFS: engines differ wildly in level and gain augmentation happens in training.
PEAK = 0.89
SPLITS = ("train", "dev")

# Voices never used for training. espeak: one accent (all variants) and five variants (all
# accents); flite: rms; festival: ked; kokoro: gongitsune. piper and hibari have one voice each,
# kept for training.
HELD_OUT_ESPEAK_ACCENTS = frozenset({"en-029"})
HELD_OUT_ESPEAK_VARIANTS = frozenset({"m6", "f4", "klatt3", "Annie", "travis"})
HELD_OUT: dict[str, frozenset[str]] = {
    "flite": frozenset({"rms"}),
    "festival": frozenset({"ked_diphone"}),
    "kokoro": frozenset({"jf_gongitsune"}),
}


def is_held_out(engine: str, voice: str) -> bool:
    """Whether a voice belongs to the dev split only.

    Args:
        engine: Engine name, e.g. ``"espeak"``.
        voice: Voice name within the engine, e.g. ``"en-gb+m3"``.

    Returns:
        True for dev-only voices.
    """
    if engine == "espeak":
        accent, _, variant = voice.partition("+")
        return accent in HELD_OUT_ESPEAK_ACCENTS or variant in HELD_OUT_ESPEAK_VARIANTS
    return voice in HELD_OUT.get(engine, frozenset())


_ENGINE_WEIGHTS = (
    ("espeak", 0.30),
    ("flite", 0.20),
    ("festival", 0.15),
    ("piper", 0.20),
    ("hibari", 0.15),
)


@dataclass(frozen=True)
class Profile:
    """How much of each kind of text to render (each kind: none unless a profile asks)."""

    name: str
    # Renders of each of the 35 Speech Commands words.
    command_repeats: int = 0
    # Renders of each digit zero..nine.
    digit_repeats: int = 0
    # Random numbers (large, ordinal, codes, decimals) added to the cardinals 0..100.
    number_extra: int = 0
    # Renders of each number prompt.
    number_repeats: int = 0
    # Renders of each single letter and of each NATO code word.
    letter_repeats: int = 0
    nato_repeats: int = 0
    # Random runs of two to four NATO words, rendered once each.
    nato_sequences: int = 0
    # Command-phrase renders, cycling through the template pool.
    phrases: int = 0
    # Most distinct phrases drawn from one template.
    phrase_variety: int = 0
    # Sentence renders, cycling through the WordNet pool (~40k sentences).
    sentences: int = 0
    # Share of utterances spoken by held-out voices.
    dev_fraction: float = 0.05
    # Relative share of each engine (among the engines that work here).
    engine_weights: tuple[tuple[str, float], ...] = _ENGINE_WEIGHTS
    # Renders of each word of the isolated-word vocabulary (about 26,000 words).
    vocabulary_repeats: int = 0
    # Another profile whose dev/train sentence split this one keeps (its dev sentences are the
    # other plan's dev sentences, and its train sentences are never among them), so that a model
    # trained on both corpora is still measured on sentences it never heard. "": its own split.
    sentences_from: str = ""
    # Renders of each number word said alone (cardinals to 100, ordinals to the hundredth).
    number_word_repeats: int = 0


PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small",
        command_repeats=48,
        digit_repeats=24,
        number_extra=150,
        number_repeats=1,
        letter_repeats=6,
        nato_repeats=4,
        nato_sequences=40,
        phrases=800,
        phrase_variety=30,
        sentences=1100,
        dev_fraction=0.08,
        engine_weights=_ENGINE_WEIGHTS,
    ),
    "full": Profile(
        name="full",
        command_repeats=600,
        digit_repeats=300,
        number_extra=3000,
        number_repeats=2,
        letter_repeats=100,
        nato_repeats=60,
        nato_sequences=600,
        phrases=15000,
        phrase_variety=150,
        sentences=40000,
        dev_fraction=0.05,
        engine_weights=_ENGINE_WEIGHTS,
    ),
    # Kokoro alone, in a corpus of its own: it is too slow (about real time on one core) to
    # share the full profile's plan, so this is about 1 h of its five accented voices, to
    # train on beside the full corpus.
    "kokoro": Profile(
        name="kokoro",
        command_repeats=32,
        digit_repeats=16,
        number_extra=150,
        number_repeats=1,
        letter_repeats=4,
        nato_repeats=3,
        nato_sequences=30,
        phrases=600,
        phrase_variety=30,
        sentences=500,
        dev_fraction=0.1,
        engine_weights=(("kokoro", 1.0),),
        sentences_from="full",
    ),
    # Isolated everyday words, once each, in a corpus of their own to train on beside the full
    # one: a user's command list is mostly words outside the 35 commands, and the full corpus
    # says those only inside sentences. Each word is said by one voice: held-out voices say
    # about 5% of the words, which are then never heard in train.
    "words": Profile(name="words", vocabulary_repeats=1),
    # Number words alone, each said equally often, to train on beside the full corpus: there
    # "six" is said alone about 900 times and "sixteen" twice, so isolated "sixteen", "sixty"
    # and "sixth" are all heard as "six". The held-out voices say each word too, so the dev
    # split measures exactly these confusions.
    "numbers": Profile(name="numbers", number_word_repeats=30),
    # The 26 letters alone, each said 200 times, to train on beside the full corpus, which says
    # each letter alone 100 times in 85,500 clips: the letters whose names rhyme (b, c, d, e, g,
    # p, t, v, z) are what real speakers' letters are most often taken for. The held-out voices
    # say them too, so the dev split measures these confusions.
    "letters": Profile(name="letters", letter_repeats=200),
}


def profile_engines(profile: Profile) -> list[str]:
    """The engines a profile gives a share to, in its order (the default ``--engines``)."""
    return [name for name, weight in profile.engine_weights if weight > 0]


@dataclass(frozen=True)
class Utterance:
    """One planned file."""

    uid: str
    split: str
    category: str
    text: str
    spoken: str
    engine: str
    voice: str
    # Speaking-rate factor of the final audio (> 1 faster).
    rate: float
    # Mean-F0 factor asked of the engine (engines without F0 control ignore it).
    pitch: float
    # Spectral warp by resampling: every frequency (F0 and formants) is multiplied by it.
    warp: float
    seed: int

    @property
    def path(self) -> str:
        """Audio path relative to the corpus folder."""
        return f"audio/{self.split}/{self.engine}/{self.voice}/{self.uid}.flac"


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _make_utterance(
    rng: random.Random, prompt: Prompt, split: str, engine: str, voice: str
) -> Utterance:
    rate = _log_uniform(rng, 0.8, 1.25)
    pitch = _log_uniform(rng, 0.8, 1.25)
    # A quarter of the files keep the voice's own timbre; the rest move it up to two semitones.
    warp = 1.0 if rng.random() < 0.25 else _log_uniform(rng, 0.89, 1.12)
    seed = rng.randrange(2**31)
    key = f"{engine}|{voice}|{prompt.spoken}|{prompt.text}|{rate:.4f}|{pitch:.4f}|{warp:.4f}|{seed}"
    uid = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Utterance(
        uid=uid,
        split=split,
        category=prompt.category,
        text=prompt.text,
        spoken=prompt.spoken,
        engine=engine,
        voice=voice,
        rate=round(rate, 4),
        pitch=round(pitch, 4),
        warp=round(warp, 4),
        seed=seed,
    )


def _prompt_instances(
    profile: Profile, rng: random.Random, dev_sentences: frozenset[str] | None = None
) -> Iterator[tuple[Prompt, bool]]:
    """Every render of the profile as (prompt, goes_to_dev).

    ``dev_sentences``, when given, fixes which sentences may be said in dev (all others go to
    train) instead of a random share of them.
    """
    repeated = (
        (tts_texts.command_prompts(), profile.command_repeats),
        (tts_texts.digit_prompts(), profile.digit_repeats),
        (tts_texts.number_prompts(rng, profile.number_extra), profile.number_repeats),
        (tts_texts.letter_prompts(), profile.letter_repeats),
        (tts_texts.nato_prompts(), profile.nato_repeats),
        (tts_texts.nato_sequence_prompts(rng, profile.nato_sequences), 1),
        # Last, and drawing nothing at 0 repeats: the plans of the other profiles stay as built
        # (and do not parse WordNet's word lists, 0.7 s, only to skip them).
        (
            tts_texts.vocabulary_prompts() if profile.vocabulary_repeats else (),
            profile.vocabulary_repeats,
        ),
        (tts_texts.number_word_prompts(), profile.number_word_repeats),
    )
    for prompts, repeats in repeated:
        for prompt in prompts:
            for _ in range(repeats):
                yield prompt, rng.random() < profile.dev_fraction
    phrases = tts_texts.phrase_prompts(rng, profile.phrase_variety)
    rng.shuffle(phrases)
    for index in range(profile.phrases if phrases else 0):
        yield phrases[index % len(phrases)], rng.random() < profile.dev_fraction
    # Sentences measure generalization: dev sentences are texts never heard in train.
    sentences = list(tts_texts.sentence_prompts())
    if not sentences:
        LOGGER.warning("no sentences: WordNet not found in %s", tts_texts.WORDNET_DIR)
        return
    rng.shuffle(sentences)
    if dev_sentences is None:
        dev_count = max(1, round(len(sentences) * profile.dev_fraction))
        pools = {True: sentences[:dev_count], False: sentences[dev_count:]}
    else:
        pools = {
            True: [s for s in sentences if s.text in dev_sentences],
            False: [s for s in sentences if s.text not in dev_sentences],
        }
    positions = {True: 0, False: 0}
    for _ in range(profile.sentences):
        to_dev = rng.random() < profile.dev_fraction
        pool = pools[to_dev]
        yield pool[positions[to_dev] % len(pool)], to_dev
        positions[to_dev] += 1


def build_plan(
    profile: Profile, voices: dict[str, tuple[str, ...]], seed: int = 0
) -> list[Utterance]:
    """Draw the deterministic list of utterances for a profile.

    Args:
        profile: What to render.
        voices: Usable voices per engine (engines left out are not used).
        seed: Seed of every random choice.

    Returns:
        Utterances in a shuffled, deterministic order, each uid once.
    """
    dev_sentences = None
    if profile.sentences_from:
        # The other corpus was built with every voice of its engines (as on this machine).
        reference = PROFILES[profile.sentences_from]
        all_voices = {name: ENGINES[name].voices for name in profile_engines(reference)}
        dev_sentences = frozenset(
            u.text
            for u in build_plan(reference, all_voices, seed)
            if u.split == "dev" and u.category == "sentence"
        )
    rng = random.Random(f"{profile.name}:{seed}")
    pools: dict[str, dict[str, list[str]]] = {split: defaultdict(list) for split in SPLITS}
    for engine, names in sorted(voices.items()):
        for voice in names:
            pools["dev" if is_held_out(engine, voice) else "train"][engine].append(voice)
    weights = dict(profile.engine_weights)
    engine_choices = {
        split: [(engine, weights.get(engine, 0.0)) for engine in sorted(pools[split])]
        for split in SPLITS
    }
    plan: dict[str, Utterance] = {}
    for prompt, to_dev in _prompt_instances(profile, rng, dev_sentences):
        split = "dev" if to_dev else "train"
        choices = [(engine, weight) for engine, weight in engine_choices[split] if weight > 0]
        if not choices:
            continue
        engine = rng.choices([e for e, _ in choices], weights=[w for _, w in choices])[0]
        voice = rng.choice(pools[split][engine])
        utterance = _make_utterance(rng, prompt, split, engine, voice)
        plan.setdefault(utterance.uid, utterance)
    ordered = list(plan.values())
    rng.shuffle(ordered)
    return ordered


def limit_plan(plan: list[Utterance], limit: int, dev_fraction: float) -> list[Utterance]:
    """Keep the first ``limit`` utterances, with at least one dev utterance when there are any."""
    dev = [u for u in plan if u.split == "dev"]
    train = [u for u in plan if u.split == "train"]
    dev_count = min(len(dev), max(1, round(limit * dev_fraction))) if limit > 1 else 0
    return train[: limit - dev_count] + dev[:dev_count]


def trim_silence(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, margin: float = MARGIN_SECONDS
) -> np.ndarray:
    """Cut leading and trailing silence, leaving exactly ``margin`` seconds around the speech.

    Args:
        audio: (samples,) float32 audio.
        sample_rate: Its sample rate.
        margin: Seconds kept (or zero-padded) before the first and after the last voiced frame.

    Returns:
        The trimmed audio; raises ValueError when nothing is louder than silence.
    """
    frame, hop = sample_rate // 50, sample_rate // 100
    padded = np.pad(audio, (0, max(0, frame - len(audio))))
    count = 1 + (len(padded) - frame) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, frame), strides=(padded.strides[0] * hop, padded.strides[0])
    )
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    if level.max() < -60.0:
        raise ValueError("no speech found")
    # 40 dB under the loudest frame keeps weak fricatives (they also fall inside the margin) and
    # drops the noise floors of the diphone voices, which reach -47 dB in their silences.
    loud = level > level.max() - 40.0
    # Speech is two or more consecutive loud frames (20 ms): a lone click is not speech.
    pairs = np.flatnonzero(loud[:-1] & loud[1:])
    if pairs.size == 0:
        raise ValueError("no speech found")
    start, end = pairs[0] * hop, min(len(audio), (pairs[-1] + 1) * hop + frame)
    keep = round(margin * sample_rate)
    padded = np.pad(audio, (keep, keep))
    return padded[start : end + 2 * keep]


def finish_audio(audio: np.ndarray, sample_rate: int, warp: float) -> np.ndarray:
    """Warp, resample to 16 kHz, trim and level one engine output.

    Args:
        audio: (samples,) float32 engine output.
        sample_rate: Its sample rate.
        warp: Frequency factor; reading the samples as if recorded at ``sample_rate * warp``
            multiplies F0 and formants by ``warp`` and the tempo too (the engine was asked for a
            rate divided by ``warp`` to make up for it).

    Returns:
        (samples,) float32 at :data:`SAMPLE_RATE`.
    """
    audio = np.asarray(audio, dtype=np.float32)
    audio = soxr.resample(audio, sample_rate * warp, SAMPLE_RATE, quality="HQ")
    audio = trim_silence(audio)
    return (audio * (PEAK / max(float(np.abs(audio).max()), 1e-6))).astype(np.float32)


_ENGINE_CACHE: dict[str, Engine] = {}


def render(utterance: Utterance, out_dir: Path) -> str | None:
    """Synthesize one utterance into its file (atomically).

    Args:
        utterance: What to say and how.
        out_dir: Corpus folder.

    Returns:
        None on success, else an error message.
    """
    engine = _ENGINE_CACHE.get(utterance.engine)
    try:
        if engine is None:
            engine = _ENGINE_CACHE[utterance.engine] = ENGINES[utterance.engine]()
        audio, sample_rate = engine.synthesize(
            utterance.spoken,
            utterance.voice,
            utterance.rate / utterance.warp,
            utterance.pitch,
            utterance.seed,
        )
        audio = finish_audio(audio, sample_rate, utterance.warp)
    except Exception as error:
        # One utterance an engine cannot say must not stop a build of hours: report and go on.
        return f"{utterance.engine}/{utterance.voice} {utterance.spoken!r}: {error!r}"
    path = out_dir / utterance.path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    soundfile.write(str(temporary), audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(temporary, path)
    return None


def _render_chunk(job: tuple[list[Utterance], str]) -> list[str | None]:
    chunk, out_dir = job
    return [render(utterance, Path(out_dir)) for utterance in chunk]


def _init_worker() -> None:
    # Die with the parent (kill -9 included) instead of lingering as an orphan: PR_SET_PDEATHSIG.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _close_engines() -> None:
    for engine in _ENGINE_CACHE.values():
        engine.close()
    _ENGINE_CACHE.clear()


def render_missing(
    plan: Sequence[Utterance], out_dir: Path, jobs: int, progress: bool = True
) -> list[str]:
    """Render every planned file that does not exist yet.

    Args:
        plan: The utterances.
        out_dir: Corpus folder.
        jobs: Worker processes; 1 renders in this process.
        progress: Show a tqdm bar on stderr.

    Returns:
        Error messages of the utterances that failed.
    """
    missing = [u for u in plan if not (out_dir / u.path).exists()]
    if not missing:
        return []
    # Chunks of one engine each keep per-engine state warm; interleaving them spreads the slow
    # engines over the whole run so both the bar and the load stay even.
    by_engine: dict[str, list[Utterance]] = defaultdict(list)
    for utterance in missing:
        by_engine[utterance.engine].append(utterance)
    chunk_size = 8
    chunks = [
        items[start : start + chunk_size]
        for items in by_engine.values()
        for start in range(0, len(items), chunk_size)
    ]
    random.Random(0).shuffle(chunks)
    errors: list[str] = []
    bar = tqdm(
        total=len(missing), unit="utt", file=sys.stderr, disable=not progress, dynamic_ncols=True
    )
    jobs_args = [(chunk, str(out_dir)) for chunk in chunks]
    try:
        if jobs <= 1:
            results: Iterator[list[str | None]] = map(_render_chunk, jobs_args)
            for outcome in results:
                errors.extend(e for e in outcome if e)
                bar.update(len(outcome))
        else:
            # spawn, not fork: the caller (a test session, say) may hold threads or torch state.
            context = multiprocessing.get_context("spawn")
            with context.Pool(jobs, initializer=_init_worker) as pool:
                for outcome in pool.imap_unordered(_render_chunk, jobs_args):
                    errors.extend(e for e in outcome if e)
                    bar.update(len(outcome))
    finally:
        bar.close()
        _close_engines()
    return errors


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_manifests(plan: Sequence[Utterance], out_dir: Path) -> dict[str, object]:
    """(Re)write ``train.jsonl`` and ``dev.jsonl`` from the planned files that exist.

    Args:
        plan: The utterances.
        out_dir: Corpus folder.

    Returns:
        Summary: utterances and hours per split, engine and category.
    """
    rows: dict[str, list[tuple[Utterance, float]]] = {split: [] for split in SPLITS}
    for utterance in sorted(plan, key=lambda u: u.path):
        path = out_dir / utterance.path
        if path.exists():
            info = soundfile.info(str(path))
            rows[utterance.split].append((utterance, round(info.frames / info.samplerate, 3)))
    summary: dict[str, object] = {}
    for split, split_rows in rows.items():
        lines = [
            json.dumps(
                {
                    "audio": utterance.path,
                    "text": utterance.text,
                    "duration": duration,
                    "engine": utterance.engine,
                    "voice": utterance.voice,
                    "category": utterance.category,
                }
            )
            + "\n"
            for utterance, duration in split_rows
        ]
        _write_atomic(out_dir / f"{split}.jsonl", "".join(lines))
        seconds: defaultdict[str, float] = defaultdict(float)
        counts: Counter[str] = Counter()
        for utterance, duration in split_rows:
            for key in (f"engine:{utterance.engine}", f"category:{utterance.category}"):
                counts[key] += 1
                seconds[key] += duration
        summary[split] = {
            "utterances": len(split_rows),
            "hours": round(sum(duration for _, duration in split_rows) / 3600, 3),
            "voices": len({(u.engine, u.voice) for u, _ in split_rows}),
            "by": {
                key: {"utterances": counts[key], "hours": round(seconds[key] / 3600, 3)}
                for key in sorted(counts)
            },
        }
    return summary


def tidy_audio_folder(plan: Sequence[Utterance], out_dir: Path) -> int:
    """Delete temporary files left by killed runs; count audio files that are not in the plan.

    Args:
        plan: The utterances.
        out_dir: Corpus folder.

    Returns:
        How many ``.flac`` files under ``audio/`` the plan does not know (they are left alone).
    """
    planned = {u.path for u in plan}
    unknown = 0
    for path in (out_dir / "audio").rglob("*"):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
        elif path.suffix == ".flac" and path.relative_to(out_dir).as_posix() not in planned:
            unknown += 1
    return unknown


def probe_engines(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Find the usable voices of each named engine, warning about the rest."""
    voices: dict[str, tuple[str, ...]] = {}
    for name in names:
        usable, problem = ENGINES[name].probe()
        if problem:
            LOGGER.warning("%s: %s", name, problem)
        if usable:
            voices[name] = usable
            LOGGER.info("%s: %d voices", name, len(usable))
    return voices


def _plan_fingerprint(plan: Sequence[Utterance]) -> str:
    return hashlib.sha1("\n".join(sorted(u.uid for u in plan)).encode()).hexdigest()


def _format_summary(summary: dict[str, object]) -> str:
    lines = []
    for split in SPLITS:
        info = summary[split]
        assert isinstance(info, dict)
        lines.append(
            f"{split}: {info['utterances']} utterances, {info['hours']:.2f} h, "
            f"{info['voices']} voices"
        )
        for key, value in info["by"].items():
            lines.append(f"  {key:<20} {value['utterances']:>7} utt {value['hours']:>8.3f} h")
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus folder to build")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="small",
        help="how much to render (default: small)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="render only the first N planned utterances (for trials)",
    )
    parser.add_argument(
        "--engines",
        default=None,
        help=f"comma-separated engines to use, of {','.join(ENGINES)} (default: those the "
        "profile gives a share)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the plan (default: 0)")
    parser.add_argument(
        "--manifests-only",
        action="store_true",
        help="render nothing: write the manifests of the planned files rendered so far, to "
        "train on a partly built corpus (a later run without it finishes the corpus)",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="render only this split's planned utterances (dev: the held-out voices, to measure "
        "a model without building the whole corpus; a later run without it finishes the corpus)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.engines is None:
        args.engines = profile_engines(PROFILES[args.profile])
    else:
        args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or finish) the corpus; see ``--help``.

    Args:
        argv: Command-line arguments without the program name (None: ``sys.argv[1:]``).

    Returns:
        0 when every planned file exists, 1 when some failed, 2 when no engine works.
    """
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    profile = PROFILES[args.profile]
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(out_dir / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            LOGGER.error("another prepare.py is building %s", out_dir)
            return 1
        voices = probe_engines(args.engines)
        if not voices:
            LOGGER.error("no TTS engine works; install at least espeak-ng")
            return 2
        plan = build_plan(profile, voices, args.seed)
        if args.limit is not None:
            plan = limit_plan(plan, args.limit, profile.dev_fraction)
        assert all(normalize_text(u.text) == u.text and u.text for u in plan)
        marker = out_dir / ".completed"
        fingerprint = _plan_fingerprint(plan)
        complete = (
            marker.exists()
            and json.loads(marker.read_text()).get("plan") == fingerprint
            and all((out_dir / f"{split}.jsonl").exists() for split in SPLITS)
            and all((out_dir / u.path).exists() for u in plan)
        )
        if complete:
            LOGGER.info("%s is complete (%d utterances); nothing to do", out_dir, len(plan))
            summary_path = out_dir / "summary.json"
            summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        else:
            marker.unlink(missing_ok=True)
            LOGGER.info("plan: %d utterances (%s profile)", len(plan), profile.name)
            # --split renders part of the plan; the manifests and the summary still describe
            # the whole plan (the other split's files rendered so far, if any).
            to_render = [u for u in plan if args.split in (None, u.split)]
            errors = (
                []
                if args.manifests_only
                else render_missing(to_render, out_dir, args.jobs, progress=not args.no_progress)
            )
            for error in errors[:20]:
                LOGGER.warning("failed: %s", error)
            unknown = tidy_audio_folder(plan, out_dir)
            if unknown:
                LOGGER.warning(
                    "%d audio files are not in this plan (other profile, seed, limit "
                    "or engines); left alone and not in the manifests",
                    unknown,
                )
            summary = write_manifests(plan, out_dir)
            summary.update(
                profile=profile.name,
                planned=len(plan),
                seed=args.seed,
                limit=args.limit,
                failed=len(errors),
                engines={engine: len(names) for engine, names in voices.items()},
                profile_config=asdict(profile),
            )
            _write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
            if errors:
                LOGGER.error("%d utterances failed; re-run to retry them", len(errors))
                return 1
            listed = sum(int(summary[split]["utterances"]) for split in SPLITS)  # type: ignore[index]
            if listed == len(plan):
                _write_atomic(marker, json.dumps({"plan": fingerprint}) + "\n")
            else:
                LOGGER.info(
                    "partial corpus: the manifests list %d of %d planned utterances; "
                    "run again without --manifests-only or --split to finish it",
                    listed,
                    len(plan),
                )
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(summary))
    else:
        print(_format_summary(summary))
        print(f"built in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
