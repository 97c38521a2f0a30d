"""Decoders with Hugging Face's semantics, each step through `backend.step` (any backend)."""
from .beam import beam_search
from .common import DecodeResult
from .mode import generate
from .sampling import greedy, sample

__all__ = ["beam_search", "greedy", "sample", "generate", "DecodeResult"]
