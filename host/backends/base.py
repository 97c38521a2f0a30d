"""The Backend protocol: one decode step, whatever computes it (NumPy, the hardware model, RTL, a board)."""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np


class StepResult(NamedTuple):
    """The k best (score, beam, token) of one step, best first (docs/interface.md §1)."""
    scores: np.ndarray  # float64[k], log-probabilities (beam score + log_softmax)
    beams: np.ndarray   # int64[k]
    tokens: np.ndarray  # int64[k]


@runtime_checkable
class Backend(Protocol):
    name: str
    max_k: int | None          # largest k per step, None for unbounded
    formats: tuple[str, ...]   # logit formats it accepts on the wire ("fp32", "bf16", "fp16")

    def step(self, logits: np.ndarray, beam_scores: np.ndarray, k: int) -> StepResult: ...


def check_step(logits, beam_scores, k, *, max_beams=None, max_vocab=None, max_k=None):
    """Validate one step's inputs; return (logits float32[B,V], beam_scores float32[B], k).

    Every backend calls this first so that bad input gets the same clear ValueError everywhere.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D [beams, vocab], got shape {logits.shape}")
    if logits.dtype.kind != "f":
        raise ValueError(f"logits must be a floating-point array, got dtype {logits.dtype}")
    b, v = logits.shape
    if b < 1 or v < 1:
        raise ValueError(f"logits must have at least one beam and one token, got shape {logits.shape}")
    beam_scores = np.asarray(beam_scores)
    if beam_scores.shape != (b,):
        raise ValueError(f"beam_scores must have shape ({b},) to match logits, got {beam_scores.shape}")
    if beam_scores.dtype.kind not in "fiu":
        raise ValueError(f"beam_scores must be numeric, got dtype {beam_scores.dtype}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an int, got {k!r}")
    k = int(k)
    if not 1 <= k <= b * v:
        raise ValueError(f"k={k} must be in 1..beams*vocab ({b}*{v}={b * v})")
    if max_beams is not None and b > max_beams:
        raise ValueError(f"logits has {b} beams; this backend takes at most {max_beams}")
    if max_vocab is not None and v > max_vocab:
        raise ValueError(f"logits has vocab {v}; this backend takes at most {max_vocab}")
    if max_k is not None and k > max_k:
        raise ValueError(f"k={k} exceeds this backend's largest k ({max_k})")
    return (np.ascontiguousarray(logits, dtype=np.float32),
            np.ascontiguousarray(beam_scores, dtype=np.float32), k)
