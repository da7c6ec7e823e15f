"""benchmarks/command_variants.py with tiny untrained models and a tiny LM: each variant's change,
that it is undone after the benchmark script, the shift's target, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import command_variants
import pytest
import torch
from command_variants import (
    dct_rows,
    feature_target,
    install,
    likeliest_words,
    parse_variant,
    shifted_log_probs,
)

from speechrnn import decoding, transcribe
from speechrnn.audio import save_audio
from speechrnn.lm import WordLM
from speechrnn.model import AcousticModel, ModelConfig
from speechrnn.transcribe import NUMBER_WORDS, Recognizer

TINY = ModelConfig(hidden_size=16, num_layers=1, conv_channels=16, dropout=0.0)


def _lm() -> WordLM:
    return WordLM.train(["go go go stop", "go left", "stop now", "yes"])


def test_likeliest_words_rank_by_unigram_then_spelling() -> None:
    lm = _lm()
    ranked = likeliest_words(lm, 10)
    assert ranked[:2] == ["go", "stop"]  # 4 and 2 of the 8 words
    assert ranked[2:] == sorted(ranked[2:])  # the rest are said once each: by spelling
    assert likeliest_words(lm, 1) == ["go"]


def test_parse_variant() -> None:
    for name in ("vocab:5000", "half-lexical", "shift:half", "shift:smooth", "none"):
        assert parse_variant(name) == name
    for bad in ("vocab:", "vocab:0", "vocab:x", "shift", "lh"):
        with pytest.raises(ValueError, match="unknown variant"):
            parse_variant(bad)


def test_vocab_and_half_lexical_are_installed_and_undone() -> None:
    original = (transcribe.background_lexicon, decoding._lexical_score, Recognizer.log_probs)
    restore = install("vocab:1", None)
    lexicon = transcribe.background_lexicon(_lm())
    assert lexicon is not None
    assert lexicon.num_words == len({"go", *NUMBER_WORDS})
    restore()
    restore = install("half-lexical", None)
    assert decoding._lexical_score((1, 2), -1.0, -5.0) == pytest.approx(-1.0)  # -2.0 halved
    restore()
    assert (
        transcribe.background_lexicon,
        decoding._lexical_score,
        Recognizer.log_probs,
    ) == original


def test_dct_rows_are_orthonormal() -> None:
    rows = dct_rows(80, 4)
    assert torch.allclose(rows @ rows.T, torch.eye(4), atol=1e-5)
    assert torch.allclose(rows[0], torch.full((80,), 80**-0.5))  # the first is the level


def _recognizer() -> Recognizer:
    torch.manual_seed(0)
    return Recognizer(AcousticModel(TINY).eval())


def test_a_clip_already_at_the_target_is_not_moved() -> None:
    recognizer = _recognizer()
    waveform = torch.randn(8000, generator=torch.Generator().manual_seed(1)) * 0.1
    target = recognizer.model.features(waveform).mean(0)
    for smooth in (False, True):
        shifted = shifted_log_probs(target, smooth)(recognizer, waveform)
        assert torch.allclose(shifted, recognizer.log_probs(waveform), atol=1e-5)
    moved = shifted_log_probs(target + 3.0, smooth=False)(recognizer, waveform)
    assert not torch.allclose(moved, recognizer.log_probs(waveform), atol=1e-3)


def test_feature_target_is_the_mean_of_clip_means(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recognizer = _recognizer()
    monkeypatch.setattr(command_variants, "load_model", lambda: recognizer)
    lines = []
    for i in range(3):
        save_audio(tmp_path / f"{i}.wav", torch.randn(4000) * 0.1 * (i + 1))
        lines.append(json.dumps({"audio": f"{i}.wav", "text": "x"}))
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    target = feature_target(tmp_path / "train.jsonl", clips=2, seed=0)
    assert target.shape == (recognizer.model.feature_config.n_mels,)
    everything = feature_target(tmp_path / "train.jsonl", clips=3, seed=0)
    assert not torch.allclose(target, everything)  # two clips of three differ from all three


def _script(tmp_path: Path) -> Path:
    """A stand-in benchmark: writes the background vocabulary's size for a tiny LM."""
    script = tmp_path / "bench.py"
    script.write_text(
        "import sys\n"
        "from speechrnn import transcribe\n"
        "from speechrnn.lm import WordLM\n"
        "lm = WordLM.train(['go go go stop', 'go left', 'stop now', 'yes'])\n"
        "open(sys.argv[1], 'w').write(str(transcribe.background_lexicon(lm).num_words))\n"
    )
    return script


def test_main_runs_the_script_with_the_variant_then_restores(tmp_path: Path) -> None:
    script, out = _script(tmp_path), tmp_path / "out.txt"
    original = transcribe.background_lexicon
    assert command_variants.main(["--variant", "vocab:2", str(script), str(out)]) == 0
    assert int(out.read_text()) == 2 + len(set(NUMBER_WORDS) - {"go", "stop"})
    assert transcribe.background_lexicon is original
    assert command_variants.main(["--variant", "none", str(script), str(out)]) == 0
    assert int(out.read_text()) == len({"go", "stop", "left", "now", "yes", *NUMBER_WORDS})


def test_main_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path)
    cases = [
        (["--variant", "lh", str(script)], "unknown variant"),
        (["--variant", "none", str(tmp_path / "nope.py")], "no such benchmark script"),
        (["--variant", "shift:half", str(script)], "need --target-manifest"),
        (["--variant", "shift:half", "--target-manifest", str(tmp_path / "m.jsonl"), str(script)],
         "no such manifest"),
    ]  # fmt: skip
    for argv, message in cases:
        assert command_variants.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1]
