"""Random and adversarial decode steps for the testbenches and the sim-device soak (NumPy only)."""
from __future__ import annotations

import numpy as np

from beamstream.hw.interface import CoreConfig

KINDS = ("random", "wide", "ties", "coarse", "specials", "saturating")


def make_logits(rng, cfg: CoreConfig, beams: int, vocab: int, kind: str):
    """float32 logits[B, V] and beam scores[B] of one kind, sized to `cfg`'s key range."""
    span = 2.0 ** (cfg.logit_bits - cfg.frac_bits - 1)      # the keys' range: beyond it they saturate
    scores = -rng.exponential(4.0, beams)
    if kind == "random":
        logits = rng.normal(0.0, span / 8, (beams, vocab))
    elif kind == "wide":                                    # past the key range on both sides
        logits = rng.uniform(-2 * span, 2 * span, (beams, vocab))
    elif kind == "ties":                                    # all-equal rows, some rows equal to each other
        logits = np.repeat(rng.choice([0.0, 1.5, -3.25], beams)[:, None], vocab, axis=1)
        scores = rng.choice([0.0, -1.0], beams)
    elif kind == "coarse":                                  # many equal keys across rows and within rows
        logits = rng.integers(-2, 3, (beams, vocab)) * 0.5
        scores = rng.integers(-2, 1, beams).astype(np.float64)
    elif kind == "specials":                                # NaN, +inf, -inf, all -inf rows, -inf beam scores
        logits = rng.normal(0.0, 2.0, (beams, vocab))
        special = rng.choice([np.nan, np.inf, -np.inf], (beams, vocab))
        logits = np.where(rng.random((beams, vocab)) < 0.3, special, logits)
        logits[rng.random(beams) < 0.3] = -np.inf
        scores[rng.random(beams) < 0.2] = -np.inf
        scores[rng.random(beams) < 0.1] = np.nan
    elif kind == "saturating":   # beam scores at the ends of the 32-bit score range: whole rows tie at ±SCORE_MAX
        logits = rng.normal(0.0, span / 4, (beams, vocab))
        limit = 2.0 ** (31 - cfg.frac_bits)
        scores = rng.choice([-1.0, 1.0], beams) * limit * rng.uniform(0.9999, 1.5, beams)
    else:
        raise ValueError(f"unknown step kind {kind!r}")
    return logits.astype(np.float32), scores.astype(np.float32)
