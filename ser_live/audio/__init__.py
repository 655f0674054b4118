"""Audio in: decoding, resampling and the live sources. 16 kHz mono float32 inside."""
from .io import SAMPLE_RATE, AudioLoadError, load_audio, to_internal

__all__ = ["SAMPLE_RATE", "AudioLoadError", "load_audio", "to_internal"]
