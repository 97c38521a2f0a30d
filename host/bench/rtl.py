"""`bench rtl`: the gateware's throughput from its own CYCLES register, V = 32000, per build configuration.

CYCLES counts from a step's first input beat to its last result beat. Each step runs on the Verilated core (the
`sim` backend) into an idle core with no gaps on s_axis and no backpressure on m_axis, and its results are checked
against the hwmodel first. Printed per build:
  logits/cycle   B*V / CYCLES (the ideal is P)
  of ideal       (B*V/P) / CYCLES
  per beam       cycles a beam costs beyond its ceil(V/P) data beats: (CYCLES(B=4) - CYCLES(B=1)) / 3 - ceil(V/P)
                 (the target is its header beat plus at most 4)
  tail           CYCLES(B=4) minus the step's input beats: the last result's distance from the last input beat
                 (the target is at most 4*K_MAX + 32)
"""
from __future__ import annotations

import numpy as np

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import scores_to_float, step_fixed

VOCAB, BEAMS = 32000, 4
SEED = 11
BUILDS = [CoreConfig(),                                           # the default build: P=4, fp32, K_MAX=16
          CoreConfig(lanes=1, fmt="fp32"),
          CoreConfig(lanes=2, fmt="bf16"),
          CoreConfig(lanes=8, fmt="fp16"),
          CoreConfig(k_max=1),                                     # the tail bound is tightest at small K_MAX
          CoreConfig(k_max=8)]


def step_cycles(backend, cfg: CoreConfig, beams: int, rng) -> int:
    """CYCLES of one checked step of [beams, VOCAB] with K = K_MAX."""
    logits = rng.normal(0.0, 4.0, (beams, VOCAB)).astype(np.float32)
    scores = -rng.exponential(4.0, beams).astype(np.float32)
    got = backend.step(logits, scores, cfg.k_max)
    want = step_fixed(logits, scores, cfg.k_max, cfg)
    if not (np.array_equal(got.beams, want[1]) and np.array_equal(got.tokens, want[2])
            and np.array_equal(got.scores, scores_to_float(want[0], cfg))):
        raise AssertionError(f"{cfg.slug()}: the core differs from the hwmodel on the bench step")
    return backend.last_cycles


def measure(cfg: CoreConfig) -> dict:
    from beamstream.backends.driver_backends import SimBackend

    backend = SimBackend(cfg)
    try:
        rng = np.random.default_rng(SEED)
        one, full = step_cycles(backend, cfg, 1, rng), step_cycles(backend, cfg, BEAMS, rng)
    finally:
        backend.close()
    data_beats = -(-VOCAB // cfg.lanes)
    return {"cycles": full, "logits_per_cycle": BEAMS * VOCAB / full,
            "of_ideal": BEAMS * VOCAB / cfg.lanes / full,
            "per_beam": (full - one) / (BEAMS - 1) - data_beats,
            "tail": full - BEAMS * cfg.beats_per_row(VOCAB)}


def run(args):
    builds = BUILDS[:1] if getattr(args, "quick", False) else BUILDS
    print(f"   V={VOCAB}, B={BEAMS}, K=K_MAX; no gaps, no backpressure; Verilated core (first use of a build "
          f"compiles it)", flush=True)
    print(f"   {'build':<34} {'cycles':>8} {'logits/cycle':>13} {'of ideal':>9} {'per beam':>9} {'tail':>6}"
          f" {'tail bound':>10}")
    for cfg in builds:
        try:
            r = measure(cfg)
        except RuntimeError as exc:
            print(f"   {cfg.slug():<34} unavailable: {str(exc).splitlines()[0]}", flush=True)
            continue
        print(f"   {cfg.slug():<34} {r['cycles']:>8} {r['logits_per_cycle']:>13.3f} {r['of_ideal']:>9.4f}"
              f" {r['per_beam']:>9.2f} {r['tail']:>6} {4 * cfg.k_max + 32:>10}", flush=True)
