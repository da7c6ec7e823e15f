"""README's two set-up-and-go commands stay true: CI runs the test command verbatim, and the
first command names files that exist and prints what README says."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def _readme_sample() -> Path:
    """The audio file README's first command transcribes."""
    sample = re.search(r"(speechrnn/assets/\S+\.wav)", _readme_commands()[0])
    assert sample is not None
    return ROOT / sample.group(1)


def test_readme_opens_with_exactly_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)  # one line each: copy, paste, go


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines


def test_first_command_transcribes_the_bundled_sample() -> None:
    assert "speechrnn transcribe" in _readme_commands()[0]
    assert _readme_sample().is_file()
    assert (ROOT / "scripts" / "setup.sh").is_file()


def test_bundled_model_transcribes_the_bundled_sample_correctly() -> None:
    # The README promises this output; the sample is a real speaker (CMU Sphinx test data).
    import speechrnn

    readme = (ROOT / "README.md").read_text()
    model = speechrnn.load_model()
    # README states the bundled model's calibrated command threshold; they must agree.
    stated = re.search(r"which is (-?[0-9.]+) for the\s+bundled model", readme)
    assert stated is not None
    assert model.language_model is not None
    assert model.command_threshold == float(stated.group(1))
    assert model.transcribe(_readme_sample()).text == "go forward ten meters"
    assert "`go forward ten meters`" in readme
