"""Decoders with Hugging Face's semantics, each step through `backend.step` (any backend)."""
from .beam import beam_search
from .common import DecodeResult
from .sampling import greedy, sample

__all__ = ["beam_search", "greedy", "sample", "DecodeResult"]
