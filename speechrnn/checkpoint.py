"""Checkpoints: one file rebuilds the model (configs, vocabulary, normalization, weights).

Files are written atomically (temporary file + rename), so a crash mid-write never leaves a broken
checkpoint, and read with ``torch.load(weights_only=True)``, so loading never runs pickled code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from speechrnn.model import AcousticModel, ModelConfig, config_to_dict, feature_config_from_dict
from speechrnn.tokenizer import VOCAB

FORMAT = "speechrnn-checkpoint"
FORMAT_VERSION = 1
ASSETS = Path(__file__).parent / "assets"
_REGISTRY = ASSETS / "models.json"  # {"name": {"file": ..., "sha256": ...}}
DEFAULT_MODEL = "default"

# How torch files begin: a zip archive (torch.save's format since 1.6) or a pickle (the legacy
# format, protocol 2 and up).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line, fit for a user."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    Args:
        obj: Anything ``torch.save`` accepts.
        path: Destination file; its folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp creates files readable by the owner only; give the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def model_state(model: AcousticModel, half_precision: bool = False) -> dict[str, Any]:
    """Everything needed to rebuild ``model``, as builtins and tensors.

    Args:
        model: The model.
        half_precision: Store floating-point weights as float16 (half the file size; they are
            converted back to float32 on load).

    Returns:
        A dict for :func:`atomic_save`, loadable with ``weights_only=True``.
    """
    state = {
        k: v.half() if half_precision and v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": config_to_dict(model.config),
        "feature_config": config_to_dict(model.feature_config),
        "vocab": list(VOCAB),
        "state_dict": state,
    }


def save_model(
    model: AcousticModel,
    path: str | Path,
    extra: dict[str, Any] | None = None,
    half_precision: bool = False,
) -> None:
    """Save a model (and optional training state in ``extra``) atomically.

    Args:
        model: The model.
        path: Destination file.
        extra: More entries to store (training state, metadata); builtins and tensors only.
        half_precision: Store weights as float16.
    """
    payload = model_state(model, half_precision)
    payload.update(extra or {})
    atomic_save(payload, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file safely.

    Args:
        path: A file written by :func:`save_model`.

    Returns:
        The stored dict.

    Raises:
        CheckpointError: Missing, unreadable or not a speechrnn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt files
        try:
            with path.open("rb") as handle:
                magic = handle.read(4)
        except OSError as unreadable:  # a permission or I/O error: torch's error says the same
            raise CheckpointError(f"{path}: cannot be read ({unreadable.strerror})") from None
        if not (magic.startswith(_ZIP_MAGIC) or magic.startswith(_PICKLE_MAGIC)):
            # torch's messages for a file that is no torch file at all say nothing useful (for a
            # text file, a bare number read as the legacy format's magic).
            reason = "not a PyTorch file"
        else:
            text = str(error).strip()
            detail = text.splitlines()[0] if text else type(error).__name__
            reason = f"a damaged or incomplete PyTorch file: {detail}"
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a speechrnn checkpoint")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer speechrnn; please upgrade")
    if list(payload.get("vocab", [])) != list(VOCAB):
        raise CheckpointError(f"{path}: vocabulary differs from this speechrnn's")
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> AcousticModel:
    """Rebuild the model stored in a checkpoint dict (from :func:`read_checkpoint`).

    Args:
        payload: The checkpoint dict.

    Returns:
        The model in eval mode, float32, on CPU.
    """
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        feature_config = feature_config_from_dict(payload["feature_config"])
        model = AcousticModel(config, feature_config)
        state = {
            k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()
        }
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise CheckpointError(f"checkpoint does not match the model: {message}") from None
    return model.eval()


def load_acoustic_model(path: str | Path) -> AcousticModel:
    """Load the acoustic model from a checkpoint file.

    Args:
        path: A file written by :func:`save_model` (a training checkpoint works too).

    Returns:
        The model in eval mode on CPU.
    """
    return model_from_checkpoint(read_checkpoint(path))


def _registry() -> dict[str, dict[str, str]]:
    if not _REGISTRY.is_file():
        return {}
    registry: dict[str, dict[str, str]] = json.loads(_REGISTRY.read_text())
    return registry


def available_models() -> list[str]:
    """Names of the models bundled with the package."""
    return sorted(name for name, entry in _registry().items() if (ASSETS / entry["file"]).is_file())


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(name_or_path: str | Path | None = None) -> Path:
    """Find the checkpoint for a bundled model name or a file path.

    Args:
        name_or_path: A bundled model name (see :func:`available_models`), a checkpoint path, or
            None for the bundled default model.

    Returns:
        The checkpoint path (bundled files are sha256-checked).

    Raises:
        CheckpointError: Unknown name, missing file or checksum mismatch.
    """
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    registry = _registry()
    if name in registry:
        path = ASSETS / registry[name]["file"]
        if not path.is_file():
            raise CheckpointError(f"bundled model {name!r} is missing from {ASSETS}")
        if sha256_of(path) != registry[name]["sha256"]:
            raise CheckpointError(f"bundled model {name!r} failed its sha256 check; reinstall")
        return path
    path = Path(name)
    if path.is_file():
        return path
    choices = ", ".join(available_models()) or "none bundled"
    raise CheckpointError(f"{name}: not a checkpoint file nor a bundled model ({choices})")
