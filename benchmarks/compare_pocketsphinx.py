"""speechrnn next to pocketsphinx on real human speech, in one run, on the same audio and lists.

The sets come from Debian's ``pocketsphinx-testdata`` (see ``real_speech.py``; fetched with
``apt-get download`` + ``dpkg -x`` into a cache on first use): open-vocabulary clips, whole
utterances as commands, single words cut from the recordings, out-of-list speech, silence and
generated noise. A second real speaker comes from Debian's Asterisk prompts (see
``asterisk_prompts.py``; ``--skip-asterisk`` leaves them out): her one-word prompts against the
same word list and against the NATO alphabet, and her sentences for open vocabulary. A third
real voice comes from Debian's KTuberling game data (see ``ktuberling_words.py``;
``--skip-ktuberling`` leaves it out): the object names of each playground as a command list, the
other playgrounds' names as out-of-list words. A fourth source is Debian's KLettres game data (see
``klettres_sounds.py``; ``--skip-klettres`` leaves it out): two more speakers, each saying the
letters of the alphabet and a few short words, as a list of the letters and a list of the words,
each list's out-of-list speech the other's clips. Optionally (``--synthetic-dev``) the held-out
synthetic voices too, clean and through a telephone band.

How each system is run:

- speechrnn: ``speechrnn.load_model(--model)``; open vocabulary with ``Recognizer.transcribe``
  (the model's default decoding: beam search with its word LM when it carries one, else greedy;
  ``--beam-size 1`` for greedy acoustic-only decoding); command lists with ``CommandDecoder``
  (accepts the best phrase when its statistic reaches the model's calibrated threshold or
  ``--command-threshold``, else rejects).
- pocketsphinx (PyPI 5.x, bundled US-English model, default settings): open vocabulary with its
  default language model; command lists two ways, both given exactly the same phrases:
  a JSGF grammar ``public <command> = phrase | phrase | ...;`` (forced choice among the phrases;
  a rejection is counted when it returns no hypothesis or an empty one, which it does when only
  silence/filler paths survive), and keyword spotting (``kws``: every phrase a keyphrase with one
  threshold; the spotted keyphrase with the highest posterior is the answer, none spotted is a
  rejection). pocketsphinx's documentation says kws thresholds must be tuned on test data, so the
  kws threshold is swept over a grid and the best one on these very clips is reported ("oracle":
  an upper bound for pocketsphinx). speechrnn is reported at its default threshold and, for
  symmetry, at its oracle threshold picked the same way (best in-list accuracy minus false-accept
  rate, per list), and with no rejection at all (the best phrase always wins: forced choice, as
  with pocketsphinx's grammar; its in-list accuracy is the ceiling any threshold can reach).

Scores: WER/CER with ``speechrnn.metrics`` (texts normalized by ``speechrnn.tokenizer``; the
abbreviations "mr", "mrs", "dr" in a hypothesis count as the spoken words). Command accuracy: the
right phrase accepted (a rejection is an error). False-accept rate: out-of-list clips for which
any phrase was accepted. RTF: decoding seconds / audio seconds on one thread (torch set to one
thread; pocketsphinx is single-threaded). Model size: the files loaded. Load time: building the
recognizer from files already on disk, after imports.

    .venv/bin/python benchmarks/compare_pocketsphinx.py [--model PATH] [--json]
        [--testdata .../pocketsphinx/test/data] [--asterisk-data FOLDER | --skip-asterisk]
        [--ktuberling-data FOLDER | --skip-ktuberling] [--klettres-data FOLDER | --skip-klettres]
        [--synthetic-dev DATA/dev.jsonl]

Run it alone on the machine: timings taken beside another job are worthless.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import asterisk_prompts
import klettres_sounds
import ktuberling_words
import numpy as np
import real_speech
import torch
from asterisk_prompts import PromptSets
from klettres_sounds import SoundLists
from ktuberling_words import WordLists
from real_speech import MIN_OUT_OF_LIST_LETTERS, RATE, Clip, EvaluationSets, to_float

import speechrnn
from speechrnn.checkpoint import resolve_model_path
from speechrnn.decoding import DEFAULT_COMMAND_THRESHOLD, CommandDecoder
from speechrnn.metrics import char_error_rate, word_error_rate

# A hypothesis's abbreviations that are spoken as words (pocketsphinx's LM writes "mr").
SPOKEN_FORMS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
# kws thresholds tried (pocketsphinx's docs suggest 1e-5 .. 1e-50; its default is 1e-30).
KWS_THRESHOLDS = (1e-40, 1e-30, 1e-20, 1e-10, 1e-5, 1e-1, 1e2, 1e5, 1e10)
KWS_DEFAULT_THRESHOLD = 1e-30
# speechrnn thresholds tried for its oracle row (its statistic is a log-probability <= 0).
SPEECHRNN_THRESHOLDS = tuple(-x / 10 for x in range(0, 61))
FORCED_ROW = "speechrnn (no rejection)"  # its cells keep every clip's statistic ("scores")
FIRST_VOICES = ("testdata", "Asterisk")  # pooled in one table (see markdown)


def log(message: str) -> None:
    """Progress to stderr."""
    print(message, file=sys.stderr, flush=True)


def spoken(text: str) -> str:
    """Replace written abbreviations by the words said."""
    return " ".join(SPOKEN_FORMS.get(word, word) for word in text.lower().split())


# --- outcomes and scores -------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandOutcome:
    """What a recognizer made of one clip given a command list."""

    command: str | None  # accepted phrase, None when rejected
    best: str | None = None  # top candidate even when rejected (None: nothing found)
    score: float | None = None  # rejection statistic, when the system exposes one


@dataclass
class CommandRun:
    """Outcomes of one system in one mode on one list: in-list and out-of-list clips."""

    inside: list[CommandOutcome] = field(default_factory=list)
    inside_refs: list[str] = field(default_factory=list)
    outside: dict[str, list[CommandOutcome]] = field(default_factory=dict)  # category -> outcomes
    seconds: float = 0.0  # decoding time
    audio_seconds: float = 0.0


def accuracy(outcomes: Sequence[CommandOutcome], references: Sequence[str]) -> float:
    """Share of clips whose accepted phrase is the reference (rejections are errors)."""
    if not references:
        return math.nan
    return sum(o.command == r for o, r in zip(outcomes, references, strict=True)) / len(references)


def false_accept_rate(outcomes: Sequence[CommandOutcome]) -> float:
    """Share of out-of-list clips for which some phrase was accepted."""
    if not outcomes:
        return math.nan
    return sum(o.command is not None for o in outcomes) / len(outcomes)


def at_threshold(outcomes: Iterable[CommandOutcome], threshold: float) -> list[CommandOutcome]:
    """Re-decide outcomes that carry a score: accept ``best`` iff ``score >= threshold``."""
    decided = []
    for o in outcomes:
        accept = o.best is not None and o.score is not None and o.score >= threshold
        decided.append(CommandOutcome(o.best if accept else None, o.best, o.score))
    return decided


def rescore(run: CommandRun, threshold: float) -> CommandRun:
    """A CommandRun decided at another threshold (for systems whose outcomes carry scores)."""
    return CommandRun(
        inside=at_threshold(run.inside, threshold),
        inside_refs=run.inside_refs,
        outside={k: at_threshold(v, threshold) for k, v in run.outside.items()},
        seconds=run.seconds,
        audio_seconds=run.audio_seconds,
    )


def objective(run: CommandRun) -> float:
    """What an oracle threshold maximizes: in-list accuracy - pooled false-accept rate."""
    outside = [o for outcomes in run.outside.values() for o in outcomes]
    fa = false_accept_rate(outside) if outside else 0.0
    return accuracy(run.inside, run.inside_refs) - fa


def pick_threshold(runs: dict[float, CommandRun]) -> float:
    """The threshold whose run scores best (ties: the strictest, i.e. the largest)."""
    return max(runs, key=lambda t: (round(objective(runs[t]), 9), t))


def command_summary(run: CommandRun) -> dict[str, Any]:
    """Accuracy, false-reject and false-accept rates of a run (JSON-ready)."""
    summary: dict[str, Any] = {
        "in_list": len(run.inside),
        "accuracy": accuracy(run.inside, run.inside_refs),
        "false_reject": sum(o.command is None for o in run.inside) / max(1, len(run.inside)),
    }
    for category, outcomes in run.outside.items():
        summary[f"false_accept_{category}"] = false_accept_rate(outcomes)
        summary[f"n_{category}"] = len(outcomes)
    summary["seconds"] = run.seconds
    summary["audio_seconds"] = run.audio_seconds
    summary["rtf"] = run.seconds / run.audio_seconds if run.audio_seconds else math.nan
    return summary


# --- systems -------------------------------------------------------------------------------------


class SpeechrnnSystem:
    """speechrnn behind the comparison's interface."""

    name = "speechrnn"

    def __init__(self, model: str | None, beam_size: int | None, threshold: float | None) -> None:
        path = resolve_model_path(model)
        started = time.perf_counter()
        self.recognizer = speechrnn.load_model(model)
        self.load_seconds = time.perf_counter() - started
        # Command mode's background vocabulary is built on first use, once per process; build it
        # here so that no command's timing includes it.
        _ = self.recognizer.lexicon
        self.model_bytes = path.stat().st_size
        self.model_files = [str(path)]
        self.beam_size = beam_size
        # None: the threshold calibrated into the checkpoint, i.e. what users get.
        self.threshold = self.recognizer.command_threshold if threshold is None else threshold
        self._decoders: dict[tuple[tuple[str, ...], float], CommandDecoder] = {}

    def transcribe(self, samples: np.ndarray) -> str:
        """Open-vocabulary text of a clip."""
        result = self.recognizer.transcribe(
            to_float(samples), sample_rate=RATE, beam_size=self.beam_size
        )
        return result.text

    def command(
        self, samples: np.ndarray, commands: tuple[str, ...], threshold: float | None = None
    ) -> CommandOutcome:
        """Command-list decision for a clip (clips here are far below the 30 s segment size,
        so decoding the clip's log-probs at once, margins added, is what ``transcribe`` does),
        at ``threshold`` (None: the system's)."""
        threshold = self.threshold if threshold is None else threshold
        decoder = self._decoders.get((commands, threshold))
        if decoder is None:
            decoder = self._decoders[(commands, threshold)] = self.recognizer.command_decoder(
                commands, threshold
            )
        log_probs, _ = self.recognizer.clip_log_probs(to_float(samples))
        match = decoder.decode(log_probs)
        best = match.best_phrase if math.isfinite(match.score) else None
        return CommandOutcome(match.command, best, match.score)


class PocketsphinxSystem:
    """pocketsphinx 5 (bundled US-English model, default configuration)."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        import pocketsphinx

        self._pocketsphinx = pocketsphinx
        started = time.perf_counter()
        # FATAL: grammar searches log an ERROR line for every clip no phrase fits (a rejection).
        self.decoder = pocketsphinx.Decoder(loglevel="FATAL")
        self.load_seconds = time.perf_counter() - started
        self.lm_search = self.decoder.current_search()
        config = self.decoder.config
        self.model_files = [str(config["hmm"]), str(config["dict"]), str(config["lm"])]
        sizes = [_disk_bytes(Path(p)) for p in self.model_files]
        self.model_bytes = sum(sizes)
        self.model_bytes_without_lm = sizes[0] + sizes[1]
        self._folder = tempfile.TemporaryDirectory(prefix="compare-pocketsphinx-")
        self._searches: dict[tuple[str, tuple[str, ...], float], str] = {}

    def _decode(self, search: str, samples: np.ndarray) -> tuple[str | None, list[Any]]:
        self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.decoder.process_raw(samples.astype("<i2").tobytes(), full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        if hypothesis is None:
            return None, []
        return hypothesis.hypstr, list(self.decoder.seg())

    def transcribe(self, samples: np.ndarray) -> str:
        """Open-vocabulary text with the default language model."""
        text, _ = self._decode(self.lm_search, samples)
        return text or ""

    def align(self, samples: np.ndarray, text: str) -> list[tuple[str, float, float]]:
        """Forced word alignment (seconds), fillers and silences left out."""
        self.decoder.set_align_text(text)
        self.decoder.start_utt()
        self.decoder.process_raw(samples.astype("<i2").tobytes(), full_utt=True)
        self.decoder.end_utt()
        if self.decoder.hyp() is None:
            return []
        words = []
        for segment in self.decoder.seg():
            word = segment.word.split("(")[0]  # "the(2)": an alternative pronunciation
            if word.startswith(("<", "[", "+")):
                continue
            words.append((word, segment.start_frame / 100, (segment.end_frame + 1) / 100))
        return words

    def check_words(self, commands: Sequence[str]) -> None:
        """Make sure every command word is in the dictionary.

        A word the dictionary only has with a hyphen ("xray": "x-ray") is added with that
        entry's pronunciation, and a compound it lacks whose two parts it has in only one way
        ("moonwalker": "moon" + "walker") with the parts' pronunciations joined, so both systems
        get the same list as written.

        Raises:
            ValueError: Words missing from the dictionary in every spelling.
        """
        words = {word for command in commands for word in command.split()}
        missing = []
        for word in sorted(w for w in words if not self.decoder.lookup_word(w)):
            spellings = [word[:i] + "-" + word[i:] for i in range(1, len(word))]
            known = [p for p in map(self.decoder.lookup_word, spellings) if p]
            if not known:
                parts = [(word[:i], word[i:]) for i in range(2, len(word) - 1)]
                known = [
                    f"{head} {tail}"
                    for head, tail in (
                        (self.decoder.lookup_word(a), self.decoder.lookup_word(b)) for a, b in parts
                    )
                    if head and tail
                ]
            if len(known) == 1:
                self.decoder.add_word(word, known[0], True)
            else:
                missing.append(word)
        if missing:
            raise ValueError(f"not in pocketsphinx's dictionary: {', '.join(missing)}")

    def _search(self, kind: str, commands: tuple[str, ...], threshold: float = 0.0) -> str:
        key = (kind, commands, threshold)
        if key not in self._searches:
            name = f"{kind}{len(self._searches)}"
            if kind == "jsgf":
                alternatives = " | ".join(f"( {c} )" for c in commands)
                grammar = f"#JSGF V1.0;\ngrammar commands;\npublic <command> = {alternatives};\n"
                self.decoder.add_jsgf_string(name, grammar)
            else:
                path = Path(self._folder.name) / f"{name}.kws"
                path.write_text("".join(f"{c} /{threshold:g}/\n" for c in commands))
                self.decoder.add_kws(name, str(path))
            self._searches[key] = name
        return self._searches[key]

    def grammar_command(self, samples: np.ndarray, commands: tuple[str, ...]) -> CommandOutcome:
        """JSGF forced choice; no (or an empty) hypothesis is a rejection."""
        text, _ = self._decode(self._search("jsgf", commands), samples)
        text = " ".join((text or "").split())
        return CommandOutcome(text or None, text or None)

    def keyword_command(
        self, samples: np.ndarray, commands: tuple[str, ...], threshold: float
    ) -> CommandOutcome:
        """Keyword spotting; the detection with the highest posterior wins, none is a rejection."""
        _, segments = self._decode(self._search("kws", commands, threshold), samples)
        if not segments:
            return CommandOutcome(None)
        best = " ".join(max(segments, key=lambda s: s.prob).word.split())
        return CommandOutcome(best, best)


def _disk_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


# --- running -------------------------------------------------------------------------------------


def run_open(
    transcribe: Callable[[np.ndarray], str], clips: Sequence[Clip]
) -> tuple[list[str], float]:
    """Transcribe every clip; return the hypotheses and the decoding seconds."""
    hypotheses, seconds = [], 0.0
    for clip in clips:
        started = time.perf_counter()
        hypotheses.append(transcribe(clip.samples))
        seconds += time.perf_counter() - started
    return hypotheses, seconds


def open_scores(clips: Sequence[Clip], hypotheses: Sequence[str], seconds: float) -> dict[str, Any]:
    """WER, CER and RTF of one system on one open-vocabulary set."""
    references = [c.text for c in clips]
    heard = [spoken(h) for h in hypotheses]
    audio = sum(c.duration for c in clips)
    return {
        "clips": len(clips),
        "wer": word_error_rate(references, heard),
        "cer": char_error_rate(references, heard),
        "rtf": seconds / audio if audio else math.nan,
        "seconds": seconds,
        "audio_seconds": audio,
        "hypotheses": {c.id: h for c, h in zip(clips, hypotheses, strict=True)},
    }


def run_commands(
    decide: Callable[[np.ndarray], CommandOutcome],
    inside: Sequence[Clip],
    outside: Mapping[str, Sequence[Clip]],
) -> CommandRun:
    """Decide every in-list and out-of-list clip with one system/mode/list."""
    run = CommandRun(inside_refs=[c.text for c in inside])
    for clips, target in [(inside, run.inside)] + [
        (clips, run.outside.setdefault(k, [])) for k, clips in outside.items()
    ]:
        for clip in clips:
            started = time.perf_counter()
            target.append(decide(clip.samples))
            run.seconds += time.perf_counter() - started
            run.audio_seconds += clip.duration
    return run


@dataclass
class ListSpec:
    """One command list and the clips it is tried on."""

    name: str  # key in the report: "words", "asterisk_words", "ktuberling_egypt", "phrases"...
    title: str  # what the report calls it
    commands: tuple[str, ...]
    inside: list[Clip]
    outside: dict[str, list[Clip]]
    single_words: bool = True  # counted in the pooled single-word table


def list_specs(
    sets: EvaluationSets,
    prompts: PromptSets | None = None,
    toys: WordLists | None = None,
    letters: SoundLists | None = None,
) -> list[ListSpec]:
    """Every command list with its in-list and reject clips.

    - ``words``: the digits and card words, on words cut from pocketsphinx-testdata;
    - ``asterisk_words`` (with ``prompts``): the same list, on the Asterisk speaker's one-word
      prompts: her digits are in the list, every other word of three letters or more is not;
    - ``asterisk_nato``: the NATO alphabet, on the same prompts;
    - ``ktuberling_PLAYGROUND`` (with ``toys``): one list per KTuberling playground, its
      object names in the list, the other playgrounds' names (three letters or more) out of it;
    - ``klettres_letters`` and ``klettres_words`` (with ``letters``): the alphabet, on the
      KLettres speakers' letters, with their words out of the list; and their words, with their
      letters out of the list (each said alone, so short ones count too);
    - ``phrases``: whole utterances of pocketsphinx-testdata.

    Silence and noise are reject clips of every list.
    """
    rejects = {"silence": sets.silence, "noise": sets.noise}
    specs = [
        ListSpec(
            "words",
            "Single words cut from pocketsphinx-testdata (cards and TIDIGITS speakers)",
            sets.word_commands,
            sets.words_in,
            {"out_of_list": sets.words_out} | rejects,
        )
    ]
    if prompts is not None:
        for name, title, commands in (
            ("asterisk_words", "Asterisk prompts (one speaker), the same list", sets.word_commands),
            ("asterisk_nato", "Asterisk prompts, the NATO alphabet", prompts.nato),
        ):
            inside = [c for c in prompts.words if c.text in commands]
            outside = _out_of_list(prompts.words, commands)
            specs.append(
                ListSpec(name, title, commands, inside, {"out_of_list": outside} | rejects)
            )
    if toys is not None:
        for word_list in toys.lists:
            outside = _out_of_list(toys.clips, word_list.commands)
            specs.append(
                ListSpec(
                    f"ktuberling_{word_list.name}",
                    f"KTuberling object names, playground {word_list.name}",
                    word_list.commands,
                    list(word_list.clips),
                    {"out_of_list": outside} | rejects,
                )
            )
    if letters is not None:
        for name, title, commands, inside, outside in (
            (
                "klettres_letters",
                "KLettres (two speakers), the alphabet",
                letters.letter_commands,
                letters.letters,
                letters.words,
            ),
            (
                "klettres_words",
                "KLettres (two speakers), their words",
                letters.word_commands,
                letters.words,
                letters.letters,
            ),
        ):
            specs.append(
                ListSpec(
                    name, title, commands, list(inside), {"out_of_list": list(outside)} | rejects
                )
            )
    specs.append(
        ListSpec(
            "phrases",
            "Whole utterances of pocketsphinx-testdata as phrases",
            sets.phrase_commands,
            sets.phrases_in,
            {"out_of_list": sets.phrases_out} | rejects,
            single_words=False,
        )
    )
    return specs


def _out_of_list(clips: Sequence[Clip], commands: Sequence[str]) -> list[Clip]:
    """The clips whose word is not in the list, long enough to count as a command said."""
    return [c for c in clips if c.text not in commands and len(c.text) >= MIN_OUT_OF_LIST_LETTERS]


def command_rows(
    speech: SpeechrnnSystem, sphinx: PocketsphinxSystem | None, specs: Sequence[ListSpec]
) -> dict[str, dict[str, Any]]:
    """Every command-mode row: system/mode -> list -> summary (and the threshold used)."""
    rows: dict[str, dict[str, Any]] = {}
    default = f"speechrnn (threshold {speech.threshold:g})"
    oracle = "speechrnn (oracle threshold)"
    forced = FORCED_ROW
    rows[default], rows[oracle], rows[forced] = {}, {}, {}
    for spec in specs:
        log(f"speechrnn: {spec.name} list")
        # Warm-up, as for open vocabulary: the first call of a decoder (and of the background
        # search, which a clip of speech from the list reaches) allocates.
        for samples in [clip.samples for clip in spec.inside[:1]] + [np.zeros(RATE, np.int16)]:
            speech.command(samples, spec.commands)
        run = run_commands(
            partial(speech.command, commands=spec.commands), spec.inside, spec.outside
        )
        rows[default][spec.name] = command_summary(run) | {"threshold": speech.threshold}
        rows[default][spec.name].update(_details(run, spec))
        # The decoder skips the background search when nothing can reach its threshold, and
        # then reports upper bounds; other thresholds are judged on full statistics, from a
        # second (untimed) pass at -inf.
        full = run_commands(
            partial(speech.command, commands=spec.commands, threshold=-math.inf),
            spec.inside,
            spec.outside,
        )
        rescored = {t: rescore(full, t) for t in SPEECHRNN_THRESHOLDS}
        chosen = pick_threshold(rescored)
        rows[oracle][spec.name] = command_summary(rescored[chosen]) | {"threshold": chosen}
        rows[forced][spec.name] = command_summary(rescore(full, -math.inf)) | {
            "threshold": -math.inf,
            "scores": _score_record(full, spec),
        }
    if sphinx is None:
        return rows
    grammar, kws, kws_default = (
        "pocketsphinx JSGF grammar",
        "pocketsphinx keywords (oracle threshold)",
        f"pocketsphinx keywords (default {KWS_DEFAULT_THRESHOLD:g})",
    )
    rows[grammar], rows[kws], rows[kws_default] = {}, {}, {}
    for spec in specs:
        log(f"pocketsphinx: {spec.name} list, grammar")
        run = run_commands(
            partial(sphinx.grammar_command, commands=spec.commands), spec.inside, spec.outside
        )
        rows[grammar][spec.name] = command_summary(run)
        rows[grammar][spec.name].update(_details(run, spec))
        sweep: dict[float, CommandRun] = {}
        for threshold in KWS_THRESHOLDS:
            log(f"pocketsphinx: {spec.name} list, keywords at {threshold:g}")
            sweep[threshold] = run_commands(
                partial(sphinx.keyword_command, commands=spec.commands, threshold=threshold),
                spec.inside,
                spec.outside,
            )
        chosen = pick_threshold(sweep)
        rows[kws][spec.name] = command_summary(sweep[chosen]) | {"threshold": chosen}
        rows[kws][spec.name].update(_details(sweep[chosen], spec))
        rows[kws][spec.name]["sweep"] = {
            f"{t:g}": {k: v for k, v in command_summary(r).items() if k != "rtf"}
            for t, r in sweep.items()
        }
        rows[kws_default][spec.name] = command_summary(sweep[KWS_DEFAULT_THRESHOLD]) | {
            "threshold": KWS_DEFAULT_THRESHOLD
        }
    return rows


def _details(run: CommandRun, spec: ListSpec) -> dict[str, Any]:
    """Per-clip outcomes, and in-list accuracy by how single words were cut."""
    details: dict[str, Any] = {"outcomes": _outcome_record(run, spec)}
    cuts = sorted({clip.cut for clip in spec.inside if clip.cut})
    if cuts:
        details["accuracy_by_cut"] = {}
        for cut in cuts:
            pairs = [
                (o, c.text) for o, c in zip(run.inside, spec.inside, strict=True) if c.cut == cut
            ]
            details["accuracy_by_cut"][cut] = {
                "clips": len(pairs),
                "accuracy": accuracy([o for o, _ in pairs], [r for _, r in pairs]),
            }
    return details


def _keyed_outcomes(
    run: CommandRun, spec: ListSpec
) -> Iterator[tuple[str, str | None, CommandOutcome]]:
    """(report key, reference or None out of the list, outcome) of every clip of a list."""
    for clip, outcome in zip(spec.inside, run.inside, strict=True):
        yield clip.id, clip.text, outcome
    for category, clips in spec.outside.items():
        for clip, outcome in zip(clips, run.outside[category], strict=True):
            yield f"{category}:{clip.id}", None, outcome


def _outcome_record(run: CommandRun, spec: ListSpec) -> dict[str, str | None]:
    """Clip id -> accepted phrase, for the JSON report."""
    return {key: outcome.command for key, _, outcome in _keyed_outcomes(run, spec)}


def _score_record(run: CommandRun, spec: ListSpec) -> dict[str, dict[str, Any]]:
    """Clip id -> its reference (None out of the list), top phrase and full statistic, so a
    saved report can be decided again at any threshold (e.g. one chosen on another speaker)."""
    return {
        key: {"text": text, "best": outcome.best, "score": outcome.score}
        for key, text, outcome in _keyed_outcomes(run, spec)
    }


# --- synthetic voices ----------------------------------------------------------------------------


def synthetic_clips(manifest: Path, limit: int) -> tuple[list[Clip], list[Clip]]:
    """Up to ``limit`` clips spread evenly over a manifest, clean and through a telephone band."""
    from speechrnn.audio import load_audio
    from speechrnn.augmentation import telephone
    from speechrnn.data import read_manifest

    utterances = read_manifest(manifest)
    if limit and len(utterances) > limit:
        step = len(utterances) / limit
        utterances = [utterances[int(i * step)] for i in range(limit)]
    clean: list[Clip] = []
    narrow: list[Clip] = []
    for utterance in utterances:
        waveform = load_audio(utterance.audio)
        start = round(utterance.offset * RATE)
        waveform = waveform[start : start + round(utterance.duration * RATE)]
        for target, signal in ((clean, waveform), (narrow, telephone(waveform, RATE))):
            pcm = np.clip(np.round(signal.numpy() * 32768.0), -32768, 32767).astype(np.int16)
            target.append(Clip(utterance.id, pcm, utterance.text, "synthetic"))
    return clean, narrow


# --- report --------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _ratio(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _threshold(value: float | str | None) -> str:
    # A report read back from --json holds infinite thresholds as "inf" / "-inf".
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else f"{value:g}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (a fresh report, or one read back from ``--json``)."""
    lines = []
    sets = report["sets"]
    lines.append(
        f"Real speech: {sets['open_vocabulary']} open-vocabulary clips "
        f"({sets['open_vocabulary_seconds']} s), {sets['words_in']} in-list and "
        f"{sets['words_out']} out-of-list single words (cuts: {sets['word_cuts']}), "
        f"{sets['phrases_in']} in-list and {sets['phrases_out']} out-of-list utterances, "
        f"{sets['silence']} silence and {sets['noise']} noise clips; lists of "
        f"{sets['word_commands']} words and {sets['phrase_commands']} phrases."
    )
    if sets.get("asterisk_words"):
        lines[-1] += (
            f" Asterisk prompts (a second real speaker): {sets['asterisk_words']} one-word "
            f"prompts and {sets['asterisk_open_vocabulary']} sentences "
            f"({sets['asterisk_open_vocabulary_seconds']} s)."
        )
    if sets.get("ktuberling_words"):
        lines[-1] += (
            f" KTuberling (a third real voice): {sets['ktuberling_words']} object names in "
            f"{sets['ktuberling_lists']} lists."
        )
    if sets.get("klettres_letters"):
        lines[-1] += (
            f" KLettres (two more real speakers): {sets['klettres_letters']} letters and "
            f"{sets['klettres_words']} words."
        )
    if sets.get("synthetic"):
        lines[-1] += f" Synthetic held-out voices: {sets['synthetic']} clips."
    lines += _open_table(report)
    lists: dict[str, Any] = report.get("lists") or {
        name: {"title": name, "single_words": name != "phrases"}
        for name in next(iter(report["commands"].values()))
    }
    for name, about in lists.items():
        lines += ["", f"**{about['title']}**" + (f" ({about['size']})" if "size" in about else "")]
        lines += [
            "",
            "| command mode | accuracy | FA out-of-list | FA silence | FA noise | threshold "
            "| RTF |",
            "|---|---|---|---|---|---|---|",
        ]
        for system, row in report["commands"].items():
            cell = row[name]
            lines.append(
                f"| {system} | {_pct(cell['accuracy'])} | {_pct(cell['false_accept_out_of_list'])} "
                f"| {_pct(cell['false_accept_silence'])} | {_pct(cell['false_accept_noise'])} "
                f"| {_threshold(cell.get('threshold', '-'))} | {_ratio(cell['rtf'])} |"
            )
    words = [name for name, about in lists.items() if about.get("single_words")]
    # The first two voices' lists are pooled together, as before the later voices came.
    groups: dict[str, list[str]] = {}
    for name in words:
        voice = _voice(name)
        groups.setdefault("testdata and Asterisk" if voice in FIRST_VOICES else voice, []).append(
            name
        )
    if len(groups) > 1:
        for title, names in groups.items():
            lines += _pooled_table(report, names, f"Real single words, {title}")
    lines += _pooled_table(report, words, "All real single words")
    lines += _voice_out_table(report, words)
    lines.append("")
    lines.append(
        "FA = false accepts (share of clips that should be rejected but got a command). Oracle "
        "thresholds are tuned on these very clips, per list. The interval is Wilson's score "
        "interval: with this few words, accuracies inside it are not told apart."
    )
    if report["sets"]["notes"]:
        lines += ["", "Notes: " + "; ".join(report["sets"]["notes"])]
    return "\n".join(lines)


def _pooled_table(report: dict[str, Any], names: Sequence[str], title: str) -> list[str]:
    """Command-mode accuracy and false accepts pooled over the lists ``names``."""
    lines = [
        "",
        f"**{title}** (pooled over {', '.join(names)})",
        "",
        "| command mode | in-list words | accuracy | accuracy, 95% interval | out-of-list words "
        "| FA | RTF, these lists |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, row in report["commands"].items():
        pooled = [row[name] for name in names]
        inside = sum(cell["in_list"] for cell in pooled)
        right = sum(_count(cell, "accuracy", "in_list") for cell in pooled)
        outside = sum(cell["n_out_of_list"] for cell in pooled)
        accepted = sum(_count(cell, "false_accept_out_of_list", "n_out_of_list") for cell in pooled)
        audio = sum(cell["audio_seconds"] for cell in pooled)
        seconds = sum(cell["seconds"] for cell in pooled)
        low, high = wilson_interval(round(right), inside)
        lines.append(
            f"| {system} | {inside} | {_pct(right / inside if inside else math.nan)} "
            f"| {_pct(low)} - {_pct(high)} "
            f"| {outside} | {_pct(accepted / outside if outside else math.nan)} "
            f"| {_ratio(seconds / audio if audio else math.nan)} |"
        )
    return lines


def _voice(name: str) -> str:
    """The real voice a single-word list was recorded by."""
    if name.startswith("ktuberling_"):
        return "KTuberling"
    if name.startswith("klettres_"):
        return "KLettres"
    return "Asterisk" if name.startswith("asterisk_") else "testdata"


def saved_run(cells: Sequence[dict[str, Any]]) -> CommandRun:
    """The single words of saved forced-choice cells as one undecided run, pooled over lists.

    Args:
        cells: Forced-choice cells of a report (their ``scores``).

    Returns:
        A run (no timings) to :func:`rescore` at any threshold: in-list words and the
        out-of-list words; silence and noise clips are left out, as in the pooled tables.
    """
    run = CommandRun(outside={"out_of_list": []})
    for cell in cells:
        for key, clip in cell["scores"].items():
            outcome = CommandOutcome(clip["best"], clip["best"], clip["score"])
            if clip["text"] is not None:
                run.inside.append(outcome)
                run.inside_refs.append(clip["text"])
            elif key.startswith("out_of_list:"):
                run.outside["out_of_list"].append(outcome)
    return run


def _word_counts(run: CommandRun) -> tuple[int, int, int, int]:
    """(right in-list words, in-list words, accepted out-of-list words, out-of-list words)."""
    right = sum(o.command == r for o, r in zip(run.inside, run.inside_refs, strict=True))
    outside = run.outside["out_of_list"]
    return right, len(run.inside), sum(o.command is not None for o in outside), len(outside)


def voice_out_thresholds(
    report: dict[str, Any], names: Sequence[str]
) -> list[tuple[str, float, tuple[int, int, int, int]]]:
    """Each real voice decided at one threshold chosen on the other voices' lists.

    The threshold is the one :func:`pick_threshold` takes for the other voices' words pooled
    (accuracy minus false-accept rate, ties to the strictest), as the oracle does per list, but
    it never sees the voice it is used on: what a threshold calibrated on real speech would give
    a new speaker.

    Args:
        report: A report whose forced-choice row keeps per-clip statistics.
        names: The single-word lists to use.

    Returns:
        (voice, threshold, :func:`_word_counts` of its lists at it) per voice; empty when the
        report has no statistics or fewer than two voices.
    """
    forced = report["commands"].get(FORCED_ROW, {})
    if not names or any("scores" not in forced.get(name, {}) for name in names):
        return []
    voices = sorted({_voice(name) for name in names})
    if len(voices) < 2:
        return []
    results = []
    for voice in voices:
        rest = saved_run([forced[name] for name in names if _voice(name) != voice])
        chosen = pick_threshold({t: rescore(rest, t) for t in SPEECHRNN_THRESHOLDS})
        held = saved_run([forced[name] for name in names if _voice(name) == voice])
        results.append((voice, chosen, _word_counts(rescore(held, chosen))))
    return results


def _voice_out_table(report: dict[str, Any], names: Sequence[str]) -> list[str]:
    """The table of :func:`voice_out_thresholds` (nothing for reports without statistics)."""
    results = voice_out_thresholds(report, names)
    if not results:
        return []
    lines = [
        "",
        "**speechrnn, each real voice at a threshold chosen on the other voices' lists** "
        "(accuracy minus FA, pooled)",
        "",
        "| voice | threshold | in-list words | accuracy | out-of-list words | FA |",
        "|---|---|---|---|---|---|",
    ]
    totals = [0, 0, 0, 0]
    for voice, threshold, counts in results:
        right, inside, accepted, outside = counts
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        lines.append(
            f"| {voice} | {_threshold(threshold)} | {inside} | {_pct(right / max(1, inside))} "
            f"| {outside} | {_pct(accepted / max(1, outside))} |"
        )
    right, inside, accepted, outside = totals
    lines.append(
        f"| all | - | {inside} | {_pct(right / max(1, inside))} | {outside} "
        f"| {_pct(accepted / max(1, outside))} |"
    )
    return lines


def _open_table(report: dict[str, Any]) -> list[str]:
    """The open-vocabulary table: WER and CER per set, RTF over every real clip, size, load."""
    columns = [("real", "real")]
    rows = report["open"].values()
    for key, title in (
        ("asterisk", "Asterisk"),
        ("synthetic_clean", "synth. clean"),
        ("synthetic_telephone", "synth. phone"),
    ):
        if any(key in row for row in rows):
            columns.append((key, title))
    lines = ["", "| system |"]
    for key, title in columns:
        lines[-1] += f" WER {title} |" + (f" CER {title} |" if key in ("real", "asterisk") else "")
    lines[-1] += " RTF (1 thread) | model size | load |"
    lines.append("|" + "---|" * (lines[-1].count("|") - 1))
    for name, row in report["open"].items():
        cells = [name]
        for key, _ in columns:
            scores = row.get(key, {})
            cells.append(_pct(scores.get("wer", math.nan)))
            if key in ("real", "asterisk"):
                cells.append(_pct(scores.get("cer", math.nan)))
        real = [row[key] for key in ("real", "asterisk") if key in row]
        audio = sum(scores.get("audio_seconds", math.nan) for scores in real)
        seconds = sum(scores.get("seconds", math.nan) for scores in real)
        rtf = seconds / audio if audio else math.nan
        if math.isnan(rtf):  # a report saved before seconds were kept
            rtf = row["real"]["rtf"]
        system = report["systems"][name]
        cells += [
            _ratio(rtf),
            f"{system['model_bytes'] / 1e6:.1f} MB",
            f"{system['load_seconds']:.2f} s",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval of a proportion (95% for z = 1.96); (nan, nan) for no trials.

    Unlike the normal approximation it stays inside [0, 1] and is usable at 0 or ``total``
    successes and for a few dozen trials, the size of the real word sets here.
    """
    if total <= 0:
        return math.nan, math.nan
    share = successes / total
    scale = 1.0 + z * z / total
    centre = (share + z * z / (2 * total)) / scale
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def _count(cell: dict[str, Any], rate: str, total: str) -> float:
    """How many clips a rate of a saved row stands for (a NaN rate, saved as None, is none)."""
    value = cell[rate]
    return 0.0 if value is None or math.isnan(value) else float(value) * cell[total]


def _prompt_summary(prompts: PromptSets | None) -> dict[str, Any]:
    """Clip counts of the Asterisk prompts (nothing when they are left out)."""
    if prompts is None:
        return {}
    return {
        "asterisk_words": len(prompts.words),
        "asterisk_open_vocabulary": len(prompts.open_vocabulary),
        "asterisk_open_vocabulary_seconds": round(
            sum(clip.duration for clip in prompts.open_vocabulary)
        ),
    }


def _toy_summary(toys: WordLists | None) -> dict[str, Any]:
    """Clip counts of the KTuberling lists (nothing when they are left out)."""
    if toys is None:
        return {}
    return {"ktuberling_words": len(toys.clips), "ktuberling_lists": len(toys.lists)}


def _letter_summary(letters: SoundLists | None) -> dict[str, Any]:
    if letters is None:
        return {}
    return {"klettres_letters": len(letters.letters), "klettres_words": len(letters.words)}


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: None for NaN, "inf" / "-inf" for the infinities."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="speechrnn checkpoint (default: the bundled model)")
    parser.add_argument(
        "--testdata",
        type=Path,
        help="extracted pocketsphinx test data folder (default: fetch and cache)",
    )
    parser.add_argument("--cache-dir", type=Path, help="where the Debian package is extracted")
    parser.add_argument(
        "--synthetic-dev",
        type=Path,
        help="held-out synthetic manifest (DATA_ROOT/dev.jsonl); skipped if absent",
    )
    parser.add_argument(
        "--synthetic-limit",
        type=int,
        default=200,
        help="at most this many synthetic clips, spread over the manifest",
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=None,
        help="speechrnn beam (1: greedy, no LM; default: the model's own decoding)",
    )
    parser.add_argument(
        "--command-threshold",
        type=float,
        default=None,
        help="speechrnn command acceptance threshold (default: the model's own, calibrated "
        f"into its checkpoint; {DEFAULT_COMMAND_THRESHOLD:g} for a model without one)",
    )
    parser.add_argument(
        "--skip-pocketsphinx",
        action="store_true",
        help="run speechrnn only (word cuts then need no aligner: pause cuts)",
    )
    for source, packages, what in (
        ("asterisk", "the Asterisk prompt packages were", "the Asterisk prompts"),
        ("ktuberling", "the ktuberling-data package was", "the KTuberling object names"),
        ("klettres", "the klettres-data package was", "the KLettres letters and words"),
    ):
        parser.add_argument(
            f"--{source}-data",
            type=Path,
            help=f"folder that {packages} extracted into (default: fetch and cache)",
        )
        parser.add_argument(f"--skip-{source}", action="store_true", help=f"leave out {what}")
    parser.add_argument("--dump-clips", type=Path, help="write every evaluation clip here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="REPORT.json",
        help="measure nothing: print the Markdown tables of a report saved with --json",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        try:
            print(markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as problem:
            print(f"error: {args.render}: not a saved report ({problem!r})", file=sys.stderr)
            return 2
        return 0

    torch.set_num_threads(1)
    # Raises when already fixed in this process (e.g. under pytest): harmless then.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    try:
        data = real_speech.fetch_testdata(args.cache_dir, args.testdata)
        log(f"data: {data}")
        prompts = None
        if not args.skip_asterisk:
            root = asterisk_prompts.fetch_prompts(root=args.asterisk_data)
            log(f"asterisk prompts: {root}")
            prompts = asterisk_prompts.build_prompt_sets(root)
        toys = None
        if not args.skip_ktuberling:
            root = ktuberling_words.fetch_words(root=args.ktuberling_data)
            log(f"ktuberling: {root}")
            toys = ktuberling_words.build_word_lists(root)
        letters = None
        if not args.skip_klettres:
            root = klettres_sounds.fetch_sounds(root=args.klettres_data)
            log(f"klettres: {root}")
            letters = klettres_sounds.build_sound_lists(root)
    except real_speech.TestDataError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    sphinx = None
    if not args.skip_pocketsphinx:
        try:
            sphinx = PocketsphinxSystem()
        except ImportError:
            log("pocketsphinx is not installed (pip install pocketsphinx): speechrnn only")
    aligner = sphinx.align if sphinx is not None else real_speech.pause_aligner
    sets = real_speech.build_sets(data, aligner)
    if prompts is not None:
        sets.notes.extend(prompts.notes)
    if toys is not None:
        sets.notes.extend(toys.notes)
    if letters is not None:
        sets.notes.extend(letters.notes)
    if args.dump_clips:
        for name in (
            "open_vocabulary",
            "words_in",
            "words_out",
            "phrases_in",
            "phrases_out",
            "silence",
            "noise",
        ):
            real_speech.save_clips(args.dump_clips, getattr(sets, name), name)
        if prompts is not None:
            real_speech.save_clips(args.dump_clips, prompts.words, "asterisk_words")
            real_speech.save_clips(args.dump_clips, prompts.open_vocabulary, "asterisk_open")
        if toys is not None:
            real_speech.save_clips(args.dump_clips, toys.clips, "ktuberling_words")
        if letters is not None:
            real_speech.save_clips(args.dump_clips, letters.letters, "klettres_letters")
            real_speech.save_clips(args.dump_clips, letters.words, "klettres_words")
    specs = list_specs(sets, prompts, toys, letters)
    if sphinx is not None:
        try:  # before anything is measured
            for spec in specs:
                sphinx.check_words(spec.commands)
        except ValueError as problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    speech = SpeechrnnSystem(args.model, args.beam_size, args.command_threshold)
    systems: list[SpeechrnnSystem | PocketsphinxSystem] = [speech]
    if sphinx is not None:
        systems.append(sphinx)

    synthetic: tuple[list[Clip], list[Clip]] | None = None
    if args.synthetic_dev is not None:
        if args.synthetic_dev.is_file():
            synthetic = synthetic_clips(args.synthetic_dev, args.synthetic_limit)
        else:
            log(f"{args.synthetic_dev}: not found, synthetic voices skipped")

    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
        },
        "sets": sets.summary()
        | _prompt_summary(prompts)
        | _toy_summary(toys)
        | _letter_summary(letters)
        | {"synthetic": len(synthetic[0]) if synthetic else 0},
        "systems": {},
        "open": {},
    }
    for system in systems:
        name = system.name
        report["systems"][name] = {
            "model_files": system.model_files,
            "model_bytes": system.model_bytes,
            "load_seconds": system.load_seconds,
        }
        if isinstance(system, PocketsphinxSystem):
            report["systems"][name]["model_bytes_without_lm"] = system.model_bytes_without_lm
        system.transcribe(np.zeros(RATE, dtype=np.int16))  # warm-up: first calls allocate
        log(f"{name}: open vocabulary")
        hypotheses, seconds = run_open(system.transcribe, sets.open_vocabulary)
        report["open"][name] = {"real": open_scores(sets.open_vocabulary, hypotheses, seconds)}
        if prompts is not None:
            log(f"{name}: Asterisk prompts ({len(prompts.open_vocabulary)} clips)")
            hypotheses, seconds = run_open(system.transcribe, prompts.open_vocabulary)
            report["open"][name]["asterisk"] = open_scores(
                prompts.open_vocabulary, hypotheses, seconds
            )
        if synthetic is not None:
            for key, clips in zip(
                ("synthetic_clean", "synthetic_telephone"), synthetic, strict=True
            ):
                log(f"{name}: {key} ({len(clips)} clips)")
                hypotheses, seconds = run_open(system.transcribe, clips)
                report["open"][name][key] = open_scores(clips, hypotheses, seconds)
    report["lists"] = {
        spec.name: {
            "title": spec.title,
            "size": f"{len(spec.commands)} phrases; {len(spec.inside)} in-list, "
            f"{len(spec.outside['out_of_list'])} out-of-list clips",
            "single_words": spec.single_words,
        }
        for spec in specs
    }
    report["commands"] = command_rows(speech, sphinx, specs)
    if args.json:
        print(json.dumps(_finite(report), indent=2))
    else:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
