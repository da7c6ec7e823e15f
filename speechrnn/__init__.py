"""speechrnn: offline, CPU-first speech-to-text and command recognition (BiGRU + CTC).

Example:
    >>> import speechrnn
    >>> model = speechrnn.load_model()                      # the bundled default model
    >>> result = model.transcribe("clip.wav")              # free dictation
    >>> result = model.transcribe("clip.wav", commands=["yes", "no", "stop"])
    >>> result.command, result.confidence
"""

from speechrnn.audio import SAMPLE_RATE, AudioError, load_audio
from speechrnn.checkpoint import CheckpointError, available_models
from speechrnn.streaming import StreamingRecognizer
from speechrnn.transcribe import Recognizer, Result, Word, load_model

__version__ = "0.1.0"

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "CheckpointError",
    "Recognizer",
    "Result",
    "StreamingRecognizer",
    "Word",
    "__version__",
    "available_models",
    "load_audio",
    "load_model",
]
