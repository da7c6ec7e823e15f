"""Tests for speechrnn.decoding on hand-made and tiny random CTC log-probability matrices."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from speechrnn import decoding, tokenizer
from speechrnn.decoding import (
    DEFAULT_LM_PRUNE_MARGIN,
    CommandDecoder,
    Hypothesis,
    WordSpan,
    align_words,
    decode,
    greedy_decode,
    hypothesis_confidence,
    prefix_beam_search,
)
from speechrnn.lexicon import Lexicon
from speechrnn.lm import LMWeights, WordLM

torch.set_num_threads(1)

BLANK = tokenizer.BLANK
VOCAB_SIZE = tokenizer.VOCAB_SIZE
COMMANDS = ["turn on the light", "turn off the light", "stop", "go forward 10 meters", "play music"]


def token(symbol: str) -> int:
    return tokenizer.VOCAB.index(symbol)


def frames_of(text: str, char_frames: int = 2, gap: int = 2, lead: int = 5) -> list[int]:
    """Frame labels for text: blanks, then each character for char_frames, then gap blanks."""
    labels = [BLANK] * lead
    for character in tokenizer.encode(text):
        labels += [character] * char_frames + [BLANK] * gap
    return labels + [BLANK] * lead


def matrix_of(labels: list[int], peak: float = 0.9, seed: int = 0) -> torch.Tensor:
    """(frames, VOCAB_SIZE) log-probs: `peak` on each frame's label, the rest spread at random."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.arange(len(labels))
    noise = torch.rand(len(labels), VOCAB_SIZE, generator=generator)
    noise[frames, labels] = 0.0
    probs = noise / noise.sum(dim=1, keepdim=True) * (1.0 - peak)
    probs[frames, labels] = peak
    return probs.log()


def spoken(text: str, seed: int = 0) -> torch.Tensor:
    return matrix_of(frames_of(text), seed=seed)


def silence(num_frames: int = 60) -> torch.Tensor:
    return matrix_of([BLANK] * num_frames, peak=0.999)


def uniform(num_frames: int = 60) -> torch.Tensor:
    return torch.full((num_frames, VOCAB_SIZE), -math.log(VOCAB_SIZE))


# --- greedy ---------------------------------------------------------------------------------


def test_greedy_collapses_repeats_and_keeps_blank_separated_copies() -> None:
    a, b = token("a"), token("b")
    labels = [BLANK, a, a, BLANK, a, b, b, BLANK]
    log_probs = matrix_of(labels, peak=0.8)
    hypothesis = greedy_decode(log_probs)
    assert hypothesis.tokens == (a, a, b)
    assert hypothesis.text == "aab"
    assert hypothesis.log_prob == pytest.approx(len(labels) * math.log(0.8), abs=1e-4)


def test_greedy_on_silence_and_on_no_frames_is_empty() -> None:
    assert greedy_decode(silence()).tokens == ()
    assert greedy_decode(torch.zeros(0, VOCAB_SIZE)) == Hypothesis((), 0.0, "")


def test_greedy_rejects_a_batch() -> None:
    with pytest.raises(ValueError, match="frames, vocab"):
        greedy_decode(torch.zeros(1, 5, VOCAB_SIZE))


# --- prefix beam search ---------------------------------------------------------------------


def brute_force(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log P(label sequence) for every sequence, summing all frame paths that collapse to it."""
    num_frames, vocab = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    rows = log_probs.double().tolist()
    for path in itertools.product(range(vocab), repeat=num_frames):
        labels = tuple(
            label
            for index, label in enumerate(path)
            if label != BLANK and (index == 0 or path[index - 1] != label)
        )
        path_log_prob = sum(rows[frame][label] for frame, label in enumerate(path))
        totals[labels] = float(
            torch.logaddexp(
                torch.tensor(totals.get(labels, -math.inf), dtype=torch.float64),
                torch.tensor(path_log_prob, dtype=torch.float64),
            )
        )
    return totals


@pytest.mark.parametrize(
    ("num_frames", "vocab", "seed"),
    [(4, 3, 0), (5, 3, 1), (5, 4, 2), (6, 3, 3), (4, 4, 4), (6, 4, 5)],
)
def test_exhaustive_beam_search_matches_brute_force(num_frames: int, vocab: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    log_probs = (1.5 * torch.randn(num_frames, vocab, generator=generator)).log_softmax(dim=1)
    expected = brute_force(log_probs)
    # Wide enough to keep every prefix, and unpruned: the search must then be exact.
    hypotheses = prefix_beam_search(log_probs, beam_size=len(expected), prune_margin=None)
    best_labels = max(expected, key=lambda labels: expected[labels])
    assert hypotheses[0].tokens == best_labels
    assert hypotheses[0].log_prob == pytest.approx(expected[best_labels], abs=1e-4)
    for hypothesis in hypotheses:
        assert hypothesis.log_prob == pytest.approx(expected[hypothesis.tokens], abs=1e-4)
    log_probs_found = [hypothesis.log_prob for hypothesis in hypotheses]
    assert log_probs_found == sorted(log_probs_found, reverse=True)
    assert {hypothesis.tokens for hypothesis in hypotheses} == set(expected)


def test_beam_search_sums_paths_where_greedy_picks_the_best_single_path() -> None:
    # Per frame: blank 0.4, a 0.35, b 0.25. The best path is blank blank ("", 0.16) but "a" has
    # three paths (aa, a-, -a) worth 0.1225 + 0.14 + 0.14 = 0.4025.
    log_probs = torch.tensor([[0.4, 0.35, 0.25]] * 2).log()
    assert greedy_decode(log_probs).tokens == ()
    best = prefix_beam_search(log_probs, beam_size=4)[0]
    assert best.tokens == (1,)
    assert best.log_prob == pytest.approx(math.log(0.4025), abs=1e-5)


def test_pruned_beam_search_agrees_with_greedy_on_a_clear_utterance() -> None:
    log_probs = spoken("go forward ten meters")
    hypotheses = prefix_beam_search(log_probs, beam_size=4)
    assert hypotheses[0].text == "go forward ten meters"
    assert len(hypotheses) <= 4
    assert decode(log_probs, beam_size=4) == hypotheses[0]
    assert decode(log_probs) == greedy_decode(log_probs)


def test_beam_search_on_no_frames_and_bad_arguments() -> None:
    assert prefix_beam_search(torch.zeros(0, VOCAB_SIZE)) == [Hypothesis((), 0.0, "")]
    with pytest.raises(ValueError, match="beam_size"):
        decode(silence(), beam_size=0)
    with pytest.raises(ValueError, match="prune_margin"):
        prefix_beam_search(silence(), prune_margin=-1.0)


def blurred(text: str, confusions: dict[int, tuple[str, float]], seed: int = 0) -> torch.Tensor:
    """spoken(text), except that the characters at the given positions of ``text`` are heard
    as another character with the given probability (the spoken one keeps 0.9 - that)."""
    labels = frames_of(text)
    matrix = matrix_of(labels, seed=seed).exp()
    position = -1
    for frame, label in enumerate(labels):
        if label == BLANK:
            continue
        if frame == 0 or labels[frame - 1] != label:
            position += 1
        if position in confusions:
            other, share = confusions[position]
            matrix[frame, token(other)] = share
            matrix[frame, label] = 0.9 - share
    return matrix.log()


def test_language_model_corrects_a_misheard_letter() -> None:
    lm = WordLM.train(["go forward ten meters", "turn on the light", "go back"])
    # "go forward ten meters" with the t of "ten" heard as an a ("an" is not in the LM).
    log_probs = blurred("go forward ten meters", {11: ("a", 0.6)})
    assert prefix_beam_search(log_probs, beam_size=8)[0].text == "go forward aen meters"
    best = prefix_beam_search(log_probs, beam_size=8, lm=lm, lm_weights=LMWeights(0.5, 1.0, -2.0))
    assert best[0].text == "go forward ten meters"
    # log_prob stays the acoustic log-probability of the chosen prefix (the surviving paths'
    # mass, so only close to the unconstrained search's value), not the LM-ranked score.
    plain = {h.text: h.log_prob for h in prefix_beam_search(log_probs, beam_size=16)}
    assert best[0].log_prob == pytest.approx(plain["go forward ten meters"], abs=0.5)
    # decode() runs the same search, at the LM's pruning margin.
    assert (
        decode(log_probs, 8, lm, LMWeights(0.5, 1.0, -2.0))
        == prefix_beam_search(
            log_probs, 8, DEFAULT_LM_PRUNE_MARGIN, lm=lm, lm_weights=LMWeights(0.5, 1.0, -2.0)
        )[0]
    )
    assert decode(log_probs, 8, lm, LMWeights(0.5, 1.0, -2.0)).text == "go forward ten meters"
    assert decode(log_probs, 1, lm) == greedy_decode(log_probs)  # greedy ignores the LM


def test_language_model_with_zero_weights_ranks_like_the_acoustic_model() -> None:
    lm = WordLM.train(["go forward ten meters"])
    log_probs = blurred("go forward ten meters", {3: ("x", 0.45), 11: ("a", 0.6)}, seed=3)
    plain = prefix_beam_search(log_probs, beam_size=8)
    with_lm = prefix_beam_search(log_probs, beam_size=8, lm=lm, lm_weights=LMWeights(0, 0, 0))
    assert [h.text for h in with_lm] == [h.text for h in plain]


def test_unknown_words_still_come_out() -> None:
    # Open vocabulary: a clearly spoken word the LM has never seen is not replaced.
    lm = WordLM.train(["turn on the light"])
    hypothesis = prefix_beam_search(spoken("zebra crossing"), 8, lm=lm)[0]
    assert hypothesis.text == "zebra crossing"


# --- command decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("turn on the light", "turn on the light"),
        ("turn off the light", "turn off the light"),
        ("stop", "stop"),
        ("go forward ten meters", "go forward 10 meters"),
        ("play music", "play music"),
    ],
)
def test_command_decoder_picks_the_spoken_phrase(said: str, expected: str) -> None:
    match = CommandDecoder(COMMANDS).decode(spoken(said))
    assert match.command == expected
    assert match.best_phrase == expected
    assert match.score == max(match.scores.values())
    assert set(match.scores) == set(COMMANDS)
    assert match.confidence > 0.8


@pytest.mark.parametrize(
    "log_probs",
    [
        pytest.param(spoken("start"), id="out-of-list word"),
        pytest.param(spoken("hello there"), id="other speech"),
        pytest.param(spoken("turn on the light please"), id="extra word"),
        pytest.param(spoken("go forward two meters"), id="one word differs"),
        pytest.param(silence(), id="silence"),
        pytest.param(uniform(), id="uniform noise"),
        pytest.param(
            torch.randn(60, VOCAB_SIZE, generator=torch.Generator().manual_seed(0)).log_softmax(1),
            id="random noise",
        ),
    ],
)
def test_command_decoder_rejects_what_is_not_a_command(log_probs: torch.Tensor) -> None:
    decoder = CommandDecoder(COMMANDS)
    match = decoder.decode(log_probs)
    assert match.command is None
    assert match.best_phrase in COMMANDS
    assert match.score < decoder.threshold
    assert 0.0 <= match.confidence < math.exp(decoder.threshold)


def test_command_score_ignores_silence_padding() -> None:
    decoder = CommandDecoder(COMMANDS)
    short = decoder.decode(spoken("stop"))
    padded = decoder.decode(torch.cat((silence(100), spoken("stop"), silence(200))))
    assert padded.command == "stop"
    assert padded.score == pytest.approx(short.score, abs=0.05)
    # Padding must not dilute a wrong word either.
    assert decoder.decode(torch.cat((silence(300), spoken("start")))).command is None


def test_command_score_is_normalized_by_phrase_length() -> None:
    # The same slip (one extra letter said) weighs less in a long phrase than in a short one.
    short = CommandDecoder(["stop"]).decode(spoken("stops"))
    long = CommandDecoder(["turn on the light"]).decode(spoken("turn on the lights"))
    assert short.score < long.score < 0.0
    assert long.score / short.score == pytest.approx(5 / 18, rel=0.2)


def test_command_confidence_is_monotone_in_score() -> None:
    decoder = CommandDecoder(COMMANDS)
    matches = [decoder.decode(spoken(said)) for said in ("stop", "top", "start")]
    matches.append(decoder.decode(silence()))
    for match in matches:
        assert 0.0 <= match.confidence <= 1.0
        assert match.confidence == pytest.approx(math.exp(match.score))
    by_score = sorted(matches, key=lambda match: match.score)
    assert [m.confidence for m in by_score] == sorted(m.confidence for m in matches)


def unsure_first_letter(text: str, heard: str, said: str, p_heard: float) -> torch.Tensor:
    """`text` spoken, its first letter heard as `heard` (p_heard) or `said` (1 - p_heard)."""
    labels = frames_of(text)
    matrix = matrix_of(labels, peak=0.98).exp()
    first = labels.index(token(text[0]))
    for frame in (first, first + 1):
        matrix[frame] = 0.0001
        matrix[frame, token(heard)] = p_heard
        matrix[frame, token(said)] = 1.0 - p_heard
    return (matrix / matrix.sum(dim=1, keepdim=True)).log()


def test_background_vocabulary_rejects_an_out_of_list_word_it_knows() -> None:
    # "cat", its c heard with a 25% doubt of b, to the list ["bat"]: the commands alone cannot
    # tell a doubtful "bat" from another word...
    log_probs = unsure_first_letter("cat", "c", "b", 0.75)
    alone = CommandDecoder(["bat"]).decode(log_probs)
    assert alone.command == "bat"
    # ...a vocabulary that knows "cat" can: "bat" is not the likeliest word said.
    lexicon = Lexicon(["cat", "bat", "hat", "tab"])
    known = CommandDecoder(["bat"], lexicon=lexicon).decode(log_probs)
    assert known.command is None and known.score < alone.score
    # And the right word spoken with the same doubt is still accepted.
    assert CommandDecoder(["cat"], lexicon=lexicon).decode(log_probs).command == "cat"


def test_a_misspelt_right_word_beats_its_misspelling_when_that_is_no_word() -> None:
    # "clubs" heard as "clucs" with 20% doubt: "clucs" is no word, so "clubs" is the best one.
    log_probs = unsure_first_letter("bs", "c", "b", 0.8)
    log_probs = torch.cat((spoken("clu")[:-2], log_probs[5:]))
    lexicon = Lexicon(["clubs", "club", "cubs", "class", "close"])
    match = CommandDecoder(["clubs", "hearts"], lexicon=lexicon).decode(log_probs)
    assert match.command == "clubs"
    assert match.score == pytest.approx(match.scores["clubs"])


def test_list_phrases_compete_even_when_the_vocabulary_lacks_them() -> None:
    # "stop" is no word of this vocabulary, yet "top" said to ["stop", "top"] is "top", and the
    # statistic stays <= 0.
    lexicon = Lexicon(["cat", "hat"])
    match = CommandDecoder(["stop", "top"], lexicon=lexicon).decode(spoken("top"))
    assert match.command == "top"
    assert all(score <= 0.0 for score in match.scores.values())


class CountingLexicon(Lexicon):
    """A Lexicon that counts its searches."""

    searches = 0

    def best_log_prob(self, matrix: np.ndarray) -> float:
        self.searches += 1
        return super().best_log_prob(matrix)


@pytest.mark.parametrize("audio", ["silence", "cat"])
def test_background_search_is_skipped_only_when_nothing_could_be_accepted(audio: str) -> None:
    log_probs = silence() if audio == "silence" else spoken("cat")
    lexicon = CountingLexicon(["cat", "bat", "top"])
    full = CommandDecoder(["top", "bat"], threshold=-math.inf, lexicon=lexicon).decode(log_probs)
    assert lexicon.searches == 1  # threshold tuning always gets the full statistic
    quick = CommandDecoder(["top", "bat"], threshold=-0.5, lexicon=lexicon).decode(log_probs)
    assert lexicon.searches == 1  # R / 2 and A / 2 already rule both phrases out: no search
    assert quick.command is None and full.score < -0.5
    # The scores given instead are upper bounds of the full statistic.
    assert all(quick.scores[p] >= full.scores[p] for p in ("top", "bat"))
    # A phrase that may pass does get the search, and the full statistic.
    said = CommandDecoder(["cat", "bat"], threshold=-0.5, lexicon=lexicon).decode(spoken("cat"))
    assert lexicon.searches == 2 and said.command == "cat"


def test_threshold_decides_acceptance() -> None:
    log_probs = spoken("top")  # close to "stop", but not it
    assert CommandDecoder(["stop"]).decode(log_probs).command is None
    assert CommandDecoder(["stop"], threshold=-5.0).decode(log_probs).command == "stop"


def test_phrases_needing_more_frames_than_given_score_minus_infinity() -> None:
    log_probs = matrix_of([token(c) for c in "stop"])  # 4 frames, no blanks
    match = CommandDecoder(COMMANDS).decode(log_probs)
    assert match.command == "stop"
    assert match.scores["turn on the light"] == -math.inf
    # "oo" needs a blank between the two o, so 3 frames: 2 cannot hold it.
    assert CommandDecoder(["oo"]).decode(matrix_of([token("o")] * 2)).score == -math.inf


def test_zero_frames_are_rejected() -> None:
    match = CommandDecoder(COMMANDS).decode(torch.zeros(0, VOCAB_SIZE))
    assert match.command is None
    assert match.best_phrase == COMMANDS[0]
    assert match.score == -math.inf
    assert match.confidence == 0.0


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        ([], "at least one phrase"),
        (["stop", "?!"], "'\\?!' has nothing speakable"),
        (["Turn ON", "stop", "turn on!"], "'Turn ON' and 'turn on!'"),
        ("stop", "not a single string"),
    ],
)
def test_command_decoder_rejects_bad_command_lists(commands: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CommandDecoder(commands)


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (math.nan, "got NaN"),
        (0.5, "got 0.5; for a confidence of 0.5 use -0.69"),
        (2.0, "must be <= 0"),
    ],
)
def test_command_decoder_rejects_thresholds_that_could_accept_nothing(
    threshold: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CommandDecoder(["stop"], threshold=threshold)
    # 0 and -inf are the ends of the range: accept only a perfect match, or the best phrase always.
    assert CommandDecoder(["stop"], threshold=0.0).threshold == 0.0
    assert CommandDecoder(["stop"], threshold=-math.inf).decode(spoken("go")).command == "stop"


def test_tokens_of_returns_the_normalized_phrase_tokens() -> None:
    decoder = CommandDecoder(COMMANDS)
    assert decoder.tokens_of("go forward 10 meters") == tuple(
        tokenizer.encode("go forward ten meters")
    )
    with pytest.raises(ValueError, match="unknown command"):
        decoder.tokens_of("go")


def test_command_decoder_rejects_a_too_small_vocabulary() -> None:
    with pytest.raises(ValueError, match="symbols"):
        CommandDecoder(["stop"]).decode(torch.zeros(10, 5).log_softmax(1))


# --- word alignment -------------------------------------------------------------------------


def test_align_words_finds_the_frames_of_each_word() -> None:
    h, i, space, y, o = (token(c) for c in "hi yo")
    labels = [BLANK, BLANK, h, h, BLANK, i, BLANK, space, BLANK, y, BLANK, BLANK, o, o, o, BLANK]
    spans = align_words(matrix_of(labels), tokenizer.encode("hi yo"))
    assert spans == [WordSpan("hi", 2, 6), WordSpan("yo", 9, 15)]


def test_align_words_without_forced_align_gives_the_same_spans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_probs = spoken("turn off the light", seed=3)
    tokens = tokenizer.encode("turn off the light")
    with_torchaudio = align_words(log_probs, tokens)
    monkeypatch.setattr(decoding, "_torchaudio_forced_align", None)
    assert align_words(log_probs, tokens) == with_torchaudio
    assert [span.word for span in with_torchaudio] == ["turn", "off", "the", "light"]


@pytest.mark.parametrize("seed", range(4))
def test_viterbi_fallback_matches_forced_align_on_random_matrices(seed: int) -> None:
    if decoding._torchaudio_forced_align is None:
        pytest.skip("torchaudio has no forced_align")
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(12, 5, generator=generator).log_softmax(1)
    targets = (1, 2, 2, 4, 3)
    expected, _ = decoding._torchaudio_forced_align(
        log_probs.unsqueeze(0), torch.tensor([targets], dtype=torch.int32), blank=BLANK
    )
    assert decoding._viterbi_paths(log_probs.numpy(), [targets])[0] == expected[0].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_batched_viterbi_matches_one_phrase_alignment(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    frames = [1, 3, 6, 12, 25, 40][seed]
    # Peaky, CTC-like posteriors; phrases with repeated letters, spaces and one letter, some
    # longer than the clip can hold.
    log_probs = (3 * torch.randn(frames, VOCAB_SIZE, generator=generator)).log_softmax(1)
    phrases = ["a", "see", "book", "go forward ten meters", "ten", "clubs", "all", "x"]
    targets = [tuple(tokenizer.encode(phrase)) for phrase in phrases]
    paths = decoding._viterbi_paths(log_probs.numpy(), targets)
    assert len(paths) == len(targets)
    for tokens, path in zip(targets, paths, strict=True):
        assert path == decoding._best_path(log_probs, tokens)
        assert (path is None) == (frames < decoding._min_frames(tokens))


@pytest.mark.parametrize("frames", [30, 200])
def test_command_scores_agree_between_batched_and_per_phrase_alignment(
    frames: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = torch.Generator().manual_seed(frames)
    log_probs = (3 * torch.randn(frames, VOCAB_SIZE, generator=generator)).log_softmax(1)
    # 70 phrases: more than one batch of phrases.
    words = ["go", "stop", "left", "right", "see", "book", "lights on", "call mom", "ten", "a"]
    phrases = [f"{a} {b}" for a, b in itertools.product(words, words[:7])]
    decoder = CommandDecoder(phrases, threshold=-5.0)
    monkeypatch.setattr(decoding, "_BATCHED_VITERBI_MAX_FRAMES", 10_000)
    batched = decoder.decode(log_probs)
    monkeypatch.setattr(decoding, "_BATCHED_VITERBI_MAX_FRAMES", 0)
    one_by_one = decoder.decode(log_probs)
    assert batched.best_phrase == one_by_one.best_phrase
    assert batched.scores.keys() == one_by_one.scores.keys()
    for phrase, score in batched.scores.items():
        assert score == pytest.approx(one_by_one.scores[phrase], abs=1e-4)


def test_align_words_spreads_evenly_when_alignment_is_infeasible() -> None:
    tokens = tokenizer.encode("ab cd")  # 5 tokens on 3 frames
    spans = align_words(torch.zeros(3, VOCAB_SIZE).log_softmax(1), tokens)
    assert [span.word for span in spans] == ["ab", "cd"]
    assert spans[0].start_frame == 0
    assert spans[-1].end_frame == 3
    assert all(span.start_frame < span.end_frame for span in spans)


def test_align_words_edge_cases() -> None:
    assert align_words(silence(), []) == []
    assert align_words(torch.zeros(0, VOCAB_SIZE), tokenizer.encode("hi")) == [WordSpan("hi", 0, 0)]
    with pytest.raises(ValueError, match="blank"):
        align_words(silence(), [token("a"), BLANK])


# --- confidence -----------------------------------------------------------------------------


def test_hypothesis_confidence_separates_right_from_wrong() -> None:
    log_probs = spoken("play music")
    right = greedy_decode(log_probs)
    wrong = Hypothesis(tuple(tokenizer.encode("pay muzak")), 0.0, "pay muzak")
    right_confidence = hypothesis_confidence(log_probs, right)
    wrong_confidence = hypothesis_confidence(log_probs, wrong)
    assert 0.85 < right_confidence <= 1.0
    assert 0.0 <= wrong_confidence < 0.5


def test_empty_hypothesis_confidence_says_how_sure_nothing_was_said() -> None:
    empty = Hypothesis((), 0.0, "")
    assert hypothesis_confidence(silence(), empty) > 0.99
    assert hypothesis_confidence(uniform(), empty) == pytest.approx(1 / VOCAB_SIZE)
    assert hypothesis_confidence(torch.zeros(0, VOCAB_SIZE), empty) == 0.0


def test_unalignable_hypothesis_has_zero_confidence() -> None:
    tokens = tuple(tokenizer.encode("go forward"))
    assert hypothesis_confidence(silence(5), Hypothesis(tokens, 0.0, "go forward")) == 0.0
