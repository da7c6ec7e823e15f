"""A background vocabulary for command mode: the best CTC path made of known words.

A command list says what may be accepted; it says nothing of what else people say. Command mode
compares each phrase with a competitor, and the competitor decides what counts as "something
else". The best unconstrained path (the greedy transcript) is a weak competitor on voices the
model hears badly: it spells a right word slightly wrong ("clucs" for "clubs"), so the right
word loses to a spelling no one said. The best path through a vocabulary of real words is the
competitor the question is really about: is this phrase the likeliest thing in English that
was said? A correct command with a misheard letter is still the best word; "woman" said to the
list "one, two, ..." is explained better by "woman" itself.

:class:`Lexicon` stores the words as a letter trie and finds the best CTC path through any
sequence of its words (words separated by the space token, silence allowed before, between and
after) with a beam-pruned Viterbi search over the trie, in numpy. Only the nodes within
:data:`DEFAULT_BEAM` of the frame's best survive (and the root, so the search never loses every
finished path), and a node is only extended by the letters that can still end within the beam
in this frame, so a frame costs a few hundred node updates whatever the vocabulary's size, and
a frame the model hears as plain blank costs one addition.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from speechrnn import tokenizer

# Pruning of the search: a trie node more than DEFAULT_BEAM (natural log; e^-8 ~ 3e-4 times as
# likely) below the frame's best is dropped, and at most DEFAULT_MAX_ACTIVE nodes stay, best
# first. On the bundled model's vocabulary (28,000 words) and 491 clips (the real-speech clips of
# benchmarks/compare_pocketsphinx.py and every 10th synthetic dev clip) this found the same best
# path as beam 30 with no cap (checked on every 5th clip), in 40% of the time of beam 12 / 1,500
# nodes; beam 6 / 150 nodes took half the time but lost the best path on 6 clips, by up to 79 nats.
DEFAULT_BEAM = 8.0
DEFAULT_MAX_ACTIVE = 300

_NEG = np.float32(-1e30)  # finite: sums stay ordered, no inf - inf


class Lexicon:
    """A word list as a CTC search space (see the module docstring).

    Args:
        words: The words, in any spelling :func:`tokenizer.normalize_text` understands;
            multi-word entries add each of their words, duplicates and empties are ignored.
        beam: Pruning margin of :meth:`best_log_prob` (natural log, > 0).
        max_active: Most trie nodes kept per frame (>= 1).

    Attributes:
        num_words: Distinct words stored.
    """

    def __init__(
        self,
        words: Iterable[str],
        beam: float = DEFAULT_BEAM,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> None:
        if not beam > 0 or max_active < 1:
            raise ValueError(f"need beam > 0 and max_active >= 1, got {beam}, {max_active}")
        self.beam = float(beam)
        self.max_active = int(max_active)
        # One normalization for all entries (the number-spelling pattern never crosses a line
        # break), then the trie from the sorted words: a word shares with the one before it
        # exactly their common prefix, so the path of that prefix is reused and the rest is new.
        # Node 0 is the root, "between words", whose token is the space token.
        index = {symbol: i for i, symbol in enumerate(tokenizer.VOCAB)}
        parent, char, terminal = [0], [tokenizer.SPACE], []
        path, previous = [0], ""
        for word in sorted(set(tokenizer.normalize_text("\n".join(words)).split())):
            shared = 0
            for a, b in zip(word, previous, strict=False):
                if a != b:
                    break
                shared += 1
            del path[shared + 1 :]
            for symbol in word[shared:]:
                parent.append(path[-1])
                char.append(index[symbol])
                path.append(len(parent) - 1)
            terminal.append(path[-1])
            previous = word
        self.num_words = len(terminal)
        nodes = len(parent)
        self._char = np.asarray(char, dtype=np.int64)
        self._terminal = np.zeros(nodes, dtype=bool)
        self._terminal[terminal] = True
        # _child[node, token]: the node's child by that token, 0 for none (the root is no child).
        self._child = np.zeros((nodes, tokenizer.VOCAB_SIZE), dtype=np.int32)
        self._child[parent[1:], char[1:]] = np.arange(1, nodes, dtype=np.int32)
        # Whether a node repeats its parent's letter (the second "l" of "ll"): CTC merges
        # repeats, so it is entered only after a blank.
        self._doubled = np.zeros(nodes, dtype=bool)
        self._doubled[1:] = self._char[1:] == self._char[parent[1:]]
        self._local = threading.local()

    def __len__(self) -> int:
        return self.num_words

    def _scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's per-node (token, blank) scores of the frame being built.

        _NEG outside the nodes in use, and left so after every frame. Kept per thread, so that
        threads may share one Lexicon (as they share a Recognizer), and not allocated per call:
        two fresh arrays of the bundled vocabulary's 82,000 nodes cost about 0.5 ms, a sixth of
        a search on a 1 s clip.
        """
        arrays: tuple[np.ndarray, np.ndarray] | None = getattr(self._local, "scratch", None)
        if arrays is None:
            nodes = len(self._char)
            arrays = (np.full(nodes, _NEG, np.float32), np.full(nodes, _NEG, np.float32))
            self._local.scratch = arrays
        return arrays

    def best_log_prob(self, matrix: np.ndarray) -> float:
        """Log-probability of the best CTC path that spells a sequence of lexicon words.

        The empty sequence (all blanks) counts. Pruning makes this a lower bound of the exact
        best, which it equals unless the best path fell more than ``beam`` behind on the way.

        Args:
            matrix: (frames, vocab) float32 log-probabilities of one utterance.

        Returns:
            The log-probability; -inf for zero frames.
        """
        if matrix.shape[0] == 0:
            return float("-inf")
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        blank, space, beam = tokenizer.BLANK, tokenizer.SPACE, self.beam
        char_of, child_of, terminal_of = self._char, self._child, self._terminal
        doubled_of = self._doubled
        scratch_token, scratch_blank = self._scratch()
        # A frame where every token is more than the beam below the blank changes nothing but a
        # common offset: any path that emits a token there falls out of the beam, and a blank
        # after either ending keeps every node's rank. Such frames need no search.
        others = np.delete(matrix, blank, axis=1).max(axis=1)
        plain_blank = others < matrix[:, blank] - beam
        # Per active node (the root first, always): its token, whether a word ends there, and
        # the best paths ending in a blank after its prefix (ends_blank) and in its last token
        # (ends_token; for the root, the space token after a word).
        active = np.zeros(1, dtype=np.int64)
        chars = char_of[active]
        ends_word = terminal_of[active]
        ends_blank = np.zeros(1, dtype=np.float32)
        ends_token = np.full(1, _NEG, dtype=np.float32)
        top = np.float32(0.0)  # the best score of the previous frame
        for frame, skip, best_letter in zip(matrix, plain_blank, others, strict=True):
            either = np.maximum(ends_blank, ends_token)
            if skip:
                ends_blank, ends_token = either + frame[blank], np.full_like(ends_token, _NEG)
                top += frame[blank]
                continue
            stay_blank = either + frame[blank]
            stay_token = ends_token + frame[chars]
            # Nothing below floor survives the pruning (the frame's best is at least the best
            # stay), so children are only tried from nodes that can reach it with the frame's
            # best token, and by tokens that can reach it from the best node.
            floor = max(stay_blank.max(), stay_token.max()) - beam
            tokens = np.nonzero(frame >= floor - top)[0]
            hot = np.nonzero(either >= floor - best_letter)[0]
            children = child_of[active[hot, None], tokens]
            rows, columns = np.nonzero(children)
            children, rows = children[rows, columns], hot[rows]
            # Enter a child after a blank, or straight after a different last token.
            enter = np.where(doubled_of[children], ends_blank[rows], either[rows])
            enter += frame[tokens[columns]]
            # A word ends: the space token takes the path back to the root.
            space_score = np.max(either, where=ends_word, initial=_NEG) + frame[space]
            stay_token[0] = max(stay_token[0], space_score)
            # Merge: a child may be active already (each node has one parent, so it is entered
            # at most once per frame).
            scratch_token[active] = stay_token
            scratch_blank[active] = stay_blank
            fresh = children[scratch_blank[children] == _NEG]
            scratch_token[children] = np.maximum(scratch_token[children], enter)
            nodes = np.concatenate((active, fresh))
            new_token, new_blank = scratch_token[nodes], scratch_blank[nodes]
            scratch_token[nodes] = _NEG
            scratch_blank[nodes] = _NEG
            best = np.maximum(new_blank, new_token)
            top = best.max()
            keep = best >= top - beam
            if np.count_nonzero(keep) > self.max_active:
                keep = np.zeros(len(best), dtype=bool)
                keep[np.argpartition(-best, self.max_active - 1)[: self.max_active]] = True
            # The root always stays: silence is always an answer, and new words start there.
            keep[0] = True
            active, ends_blank, ends_token = nodes[keep], new_blank[keep], new_token[keep]
            chars, ends_word = char_of[active], terminal_of[active]
        # A path ends right after a word (a space there would be a trailing space, which no
        # phrase has), or is silence throughout: the root also holds paths that ended a word
        # with a space, so the all-blank path is summed on its own.
        words_end = np.max(np.maximum(ends_blank, ends_token), where=ends_word, initial=_NEG)
        return float(max(words_end, matrix[:, blank].sum(dtype=np.float64)))
