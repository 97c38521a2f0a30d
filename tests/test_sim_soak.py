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
from beamstream.sim.steps import KINDS, make_logits
from conftest import seeded

pytestmark = pytest.mark.rtl

BUILDS = [CoreConfig(lanes=4, k_max=16, beams_max=8, vocab_max=300),
          CoreConfig(lanes=1, k_max=1, beams_max=3, vocab_max=40),
          CoreConfig(lanes=8, k_max=8, beams_max=4, vocab_max=200, fmt="fp16"),
          CoreConfig(lanes=2, k_max=5, beams_max=5, vocab_max=100, fmt="bf16")]
SOAK_STEPS = 2600   # per build: 10,400 in all


def make_step(rng, cfg: CoreConfig, kind: str):
    """(logits float32[B, V], beam scores float32[B], k) of one kind, random shape and k."""
    beams = int(rng.integers(1, cfg.beams_max + 1))
    vocab = int(rng.integers(1, cfg.vocab_max + 1))
    k = int(rng.integers(1, min(cfg.k_max, beams * vocab) + 1))
    return (*make_logits(rng, cfg, beams, vocab, kind), k)


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
