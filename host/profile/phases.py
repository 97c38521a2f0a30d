"""The profiler a model's session reports its phases to, and the columns of a token's split.

A NumPy runtime session takes `profiler=` and wraps each phase of its forward pass in `profiler.phase(name)`;
the timer below adds up wall time (time.perf_counter) per name. Phases do not nest: each is one stretch of work.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

# The NumPy runtime's phase names (its own PHASES tuple when installed; these are the names it promises).
PHASES = ("embedding", "attn_proj", "attn_scores", "attn_weighted_sum", "mlp", "head", "cache_reorder")

# What the profile's table shows, in order: column -> the timer names added into it. "model_other" is the
# forward's time outside every phase; the host's bookkeeping is two columns: the runtime's KV-cache reorder and
# the decoder's own time between the model and the step (candidates, hypotheses, processors).
COLUMNS = {
    "embedding": ("embedding",),
    "attn_proj": ("attn_proj",),
    "attn_scores": ("attn_scores",),
    "attn_weighted_sum": ("attn_weighted_sum",),
    "mlp": ("mlp",),
    "head": ("head",),
    "model_other": ("model_other",),
    "step": ("step",),
    "cache_reorder": ("cache_reorder",),
    "decoder": ("decoder",),
}
COLUMN_LABELS = {
    "embedding": "embedding", "attn_proj": "attn projections", "attn_scores": "attn scores+softmax",
    "attn_weighted_sum": "attn weighted sum", "mlp": "MLP", "head": "output head",
    "model_other": "model, outside phases", "step": "step", "cache_reorder": "host: cache reorder",
    "decoder": "host: decoder",
}


class PhaseTimer:
    """Adds up wall time per phase name; `clock` is injectable so the arithmetic can be tested exactly."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.enabled = True

    def add(self, name: str, seconds: float) -> None:
        if self.enabled:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1

    @contextmanager
    def phase(self, name: str):
        t0 = self.clock()
        try:
            yield
        finally:
            self.add(name, self.clock() - t0)

    def in_phases(self, names=PHASES) -> float:
        return sum(self.seconds.get(n, 0.0) for n in names)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
