"""The `sim` device (Verilated core behind the Driver) against the hwmodel, step after step, both modes mixed.

Random and adversarial steps (wide-range, all-equal, coarse ties, NaN/±inf, saturating beam scores, V < K in
per-row mode), random shapes and K, the mode switching between steps (MODE is written only when it changes), every
result compared bit for bit with `step_fixed` / `rows_fixed`. The default run is short; the slow soak runs
>= 10,000 steps over four builds and prints the count: zero mismatches, zero hangs (a hang would surface as the
harness's idle limit, i.e. a DeviceError naming the missing beats).
"""
import time

import numpy as np
import pytest

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import rows_fixed, scores_to_float, step_fixed
from conftest import seeded

pytestmark = pytest.mark.rtl

BUILDS = [CoreConfig(lanes=4, k_max=16, beams_max=8, vocab_max=300),
          CoreConfig(lanes=1, k_max=1, beams_max=3, vocab_max=40),
          CoreConfig(lanes=8, k_max=8, beams_max=4, vocab_max=200, fmt="fp16"),
          CoreConfig(lanes=2, k_max=5, beams_max=5, vocab_max=100, fmt="bf16")]
SOAK_STEPS = 2600   # per build: 10,400 in all
KINDS = ("random", "wide", "ties", "coarse", "specials", "saturating")


def make_step(rng, cfg: CoreConfig, kind: str):
    """(logits float32[B, V], beam scores float32[B], k) of one kind, random shape and k."""
    beams = int(rng.integers(1, cfg.beams_max + 1))
    vocab = int(rng.integers(1, cfg.vocab_max + 1))
    k = int(rng.integers(1, min(cfg.k_max, beams * vocab) + 1))
    span = 2.0 ** (cfg.logit_bits - cfg.frac_bits - 1)          # keys saturate beyond it
    scores = -rng.exponential(4.0, beams)
    if kind == "random":
        logits = rng.normal(0.0, span / 8, (beams, vocab))
    elif kind == "wide":
        logits = rng.uniform(-2 * span, 2 * span, (beams, vocab))
    elif kind == "ties":
        logits = np.repeat(rng.choice([0.0, 1.5, -3.25], beams)[:, None], vocab, axis=1)
        scores = rng.choice([0.0, -1.0], beams)
    elif kind == "coarse":
        logits = rng.integers(-2, 3, (beams, vocab)) * 0.5
        scores = rng.integers(-2, 1, beams).astype(np.float64)
    elif kind == "specials":
        logits = rng.normal(0.0, 2.0, (beams, vocab))
        special = rng.choice([np.nan, np.inf, -np.inf], (beams, vocab))
        logits = np.where(rng.random((beams, vocab)) < 0.3, special, logits)
        logits[rng.random(beams) < 0.3] = -np.inf
        scores[rng.random(beams) < 0.2] = -np.inf
        scores[rng.random(beams) < 0.1] = np.nan
    else:   # saturating: beam scores at the ends of the 32-bit score range, so whole rows tie at ±SCORE_MAX
        logits = rng.normal(0.0, span / 4, (beams, vocab))
        limit = 2.0 ** (31 - cfg.frac_bits)
        scores = rng.choice([-1.0, 1.0], beams) * limit * rng.uniform(0.9999, 1.5, beams)
    return logits.astype(np.float32), scores.astype(np.float32), k


def check_steps(backend, cfg: CoreConfig, rng, steps: int) -> int:
    """Run `steps` random steps, per-row or global at random; raise on the first mismatch; return the count."""
    for n in range(steps):
        kind = KINDS[n % len(KINDS)]
        logits, scores, k = make_step(rng, cfg, kind)
        per_row = bool(rng.random() < 0.5)
        what = f"{cfg.slug()} step {n} ({kind}, B={logits.shape[0]} V={logits.shape[1]} K={k}, per_row={per_row})"
        if per_row:
            got = backend.step_rows(logits, scores, k)
            want, _, want_tokens = rows_fixed(logits, scores, k, cfg)
            assert np.array_equal(got.tokens, want_tokens), f"{what}: tokens {got.tokens} != {want_tokens}"
        else:
            got = backend.step(logits, scores, k)
            want, want_beams, want_tokens = step_fixed(logits, scores, k, cfg)
            assert np.array_equal(got.beams, want_beams), f"{what}: beams {got.beams} != {want_beams}"
            assert np.array_equal(got.tokens, want_tokens), f"{what}: tokens {got.tokens} != {want_tokens}"
        assert np.array_equal(got.scores, scores_to_float(want, cfg)), f"{what}: scores {got.scores} != {want}"
    return steps


def run_build(cfg: CoreConfig, steps: int, seed: int) -> int:
    from beamstream.backends.driver_backends import SimBackend

    backend = SimBackend(cfg)
    try:
        return check_steps(backend, cfg, np.random.default_rng(seeded(seed)), steps)
    finally:
        backend.close()


def test_both_modes_match_the_model():
    assert run_build(BUILDS[1], 120, seed=1) == 120


@pytest.mark.slow
def test_soak_many_steps_over_builds():
    start, done = time.perf_counter(), 0
    for n, cfg in enumerate(BUILDS):
        done += run_build(cfg, SOAK_STEPS, seed=100 + n)
    print(f"\nsoak: {done} steps over {len(BUILDS)} builds, both modes, 0 mismatches, 0 hangs, "
          f"{time.perf_counter() - start:.0f} s")
    assert done >= 10_000
