"""The `hwmodel` backend: one decode step exactly as the core computes it (bit-exact NumPy model)."""
from __future__ import annotations

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import scores_to_float, step_fixed

from .base import StepResult, check_step


class HwModelBackend:
    """Scores are the core's fixed-point scores as float64 (score / 2^F, -inf kept); k is limited to K_MAX."""

    name = "hwmodel"

    def __init__(self, config: CoreConfig | None = None):
        config = CoreConfig() if config is None else config
        if not isinstance(config, CoreConfig):
            raise ValueError(f"config must be a CoreConfig, got {config!r}")
        self.config = config
        self.max_k = config.k_max
        self.formats = (config.fmt,)

    def __repr__(self):
        return f"HwModelBackend({self.config!r})"

    def step(self, logits, beam_scores, k) -> StepResult:
        cfg = self.config
        x, s, k = check_step(logits, beam_scores, k, max_beams=cfg.beams_max, max_vocab=cfg.vocab_max,
                             max_k=cfg.k_max)
        scores, beams, tokens = step_fixed(x, s, k, cfg)
        return StepResult(scores_to_float(scores, cfg), beams, tokens)
