"""cocotb testbench of ScoreNormaliser: one input per cycle, every score compared with hwmodel.numerics.normalise.

Configuration (JSON in BEAMSTREAM_NORMALISE): cfg (CoreConfig fields), latency, count, seed.
"""
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from beamstream.hw.interface import SCORE_NEG_INF, CoreConfig
from beamstream.hwmodel.numerics import normalise

CFG = json.loads(os.environ["BEAMSTREAM_NORMALISE"])


def operands(rng, cfg, n):
    """(key, beam_score, lse, neg_inf): ordinary values, -inf codes, and sums that saturate either way."""
    top = (1 << 31) - 1
    key = rng.integers(cfg.key_neg_inf, cfg.key_max + 1, n)
    key = np.where(rng.random(n) < 0.1, rng.choice([cfg.key_neg_inf, cfg.key_max, -cfg.key_max], n), key)
    s = np.select([rng.random(n) < 0.1, rng.random(n) < 0.3],
                  [np.full(n, SCORE_NEG_INF), rng.choice([top, -top, top - 5, -top + 5], n)],
                  rng.integers(-(1 << 24), 1, n))
    lse = np.where(rng.random(n) < 0.3, rng.choice([top, -top, SCORE_NEG_INF, 0], n),
                   rng.integers(-(1 << 21), 1 << 21, n))
    neg_inf = rng.random(n) < 0.05
    return key, s, lse, neg_inf


@cocotb.test()
async def scores_match_model(dut):
    rng = np.random.default_rng(CFG["seed"])
    cfg = CoreConfig(**CFG["cfg"])
    latency = CFG["latency"]
    key, s, lse, neg_inf = operands(rng, cfg, CFG["count"])
    expected = normalise(key[:, None], s, lse, neg_inf, cfg)[:, 0]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    errors = []
    for cycle in range(len(key) + latency):
        if cycle < len(key):
            dut.key.value = int(key[cycle])
            dut.beam_score.value = int(s[cycle])
            dut.lse.value = int(lse[cycle])
            dut.neg_inf.value = int(neg_inf[cycle])
        await FallingEdge(dut.clk)
        j = cycle - (latency - 1)
        if 0 <= j < len(key):
            got = dut.score.value.to_signed()
            if got != expected[j]:
                errors.append(f"key {key[j]} s {s[j]} lse {lse[j]} neg_inf {neg_inf[j]}: "
                              f"got {got}, model {int(expected[j])}")
    assert not errors, f"{len(errors)} of {len(key)} differ; first: " + "; ".join(errors[:8])
