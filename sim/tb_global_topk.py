"""cocotb testbench of GlobalTopK: many steps in one run, every result compared with
host/hwmodel/topk.global_topk_items.

Configuration (JSON in BEAMSTREAM_GLOBAL_TOPK): cfg (CoreConfig fields), steps, seed, ready_rate.
A step's `step_last` waits while `step_buffers` steps await output, as the integrator's credits do.
"""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from beamstream.hw.interface import SCORE_BITS, SCORE_NEG_INF, CoreConfig
from beamstream.hw.global_topk import GlobalTopK
from beamstream.hwmodel.topk import global_topk_items
from beamstream.sim.topk_tb import Field, row_kinds

CFG = json.loads(os.environ["BEAMSTREAM_GLOBAL_TOPK"])
SCORE_MAX = (1 << (SCORE_BITS - 1)) - 1


def make_steps(rng, cfg, n):
    """(candidates [(score, beam, token)] in arrival order, k, marker_alone, gap_rate) per step."""
    steps = []
    for kind in row_kinds(rng, n):
        k = {"k1": 1, "kmax": cfg.k_max}.get(kind, rng.randint(1, cfg.k_max))
        count = {"short": rng.randint(0, k - 1), "long": rng.randint(3 * cfg.k_max, 5 * cfg.k_max),
                 "empty": 0}.get(kind, rng.randint(1, 3 * cfg.k_max + 2))
        pairs = set()
        while len(pairs) < count:
            pairs.add((rng.randrange(cfg.beams_max), rng.randrange(cfg.vocab_max)))
        pairs = sorted(pairs)                           # beams in order, as the core sends them ...
        if rng.random() < 0.5:
            rng.shuffle(pairs)                          # ... or any order: the rank does not depend on it
        if kind == "ties":
            value = rng.choice([SCORE_NEG_INF, -SCORE_MAX, SCORE_MAX, 0, -77])
            scores = [value] * count
        elif kind == "neg_inf":
            scores = [rng.choice([SCORE_NEG_INF, SCORE_NEG_INF, -SCORE_MAX, rng.randint(-SCORE_MAX, 0)])
                      for _ in range(count)]
        elif kind == "few_values":
            scores = [rng.randint(-2, 1) for _ in range(count)]
        else:
            scores = [rng.randint(SCORE_NEG_INF, SCORE_MAX) for _ in range(count)]
        cands = [(s, b, t) for s, (b, t) in zip(scores, pairs)]
        steps.append((cands, k, count == 0 or rng.random() < 0.3, rng.choice([0.0, 0.0, 0.3])))
    return steps


@cocotb.test()
async def steps_match_model(dut):
    rng = random.Random(CFG["seed"])
    cfg = CoreConfig(**CFG["cfg"])
    block = GlobalTopK(cfg)
    layout = block.o.p.shape()
    f_score, f_beam, f_token, f_last = (Field(layout, n) for n in ("score", "beam", "token", "last"))
    steps = make_steps(rng, cfg, CFG["steps"])
    expected = []
    for cands, k, _, _ in steps:
        s, b, t = global_topk_items([c[0] for c in cands], [c[1] for c in cands], [c[2] for c in cands], k)
        expected.append(list(zip(s.tolist(), b.tolist(), t.tolist(), [0] * (k - 1) + [1])))

    # Cycles: (valid, score, beam, token, step_last, k) or None for an idle cycle.
    beats = []
    for cands, k, marker_alone, gap_rate in steps:
        step = [(1, s, b, t, 0, k) for s, b, t in cands]
        if marker_alone:
            step.append((0, rng.randint(SCORE_NEG_INF, SCORE_MAX), 0, 0, 1, k))
        else:
            step[-1] = step[-1][:4] + (1, k)
        for beat in step:
            while rng.random() < gap_rate:
                beats.append(None)
            beats.append(beat)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("valid", "score", "beam", "token", "step_last", "k", "o__ready"):
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    got_steps, current, outstanding, done_pulses = [], [], 0, 0
    ready_rate, stall = CFG.get("ready_rate", 0.7), 0
    cycle, i = 0, 0
    while len(got_steps) < len(steps):
        await FallingEdge(dut.clk)
        cycle += 1
        assert cycle < 100 * (len(beats) + 10 * cfg.k_max * len(steps)), "timeout: steps missing"
        beat = beats[i] if i < len(beats) else None
        if i < len(beats) and not (beat and beat[4] and outstanding >= block.step_buffers):
            i += 1
        else:
            beat = None
        if beat is None:
            beat = (0, rng.randint(SCORE_NEG_INF, SCORE_MAX), rng.randrange(cfg.beams_max),
                    rng.randrange(cfg.vocab_max), 0, cfg.k_max)
        valid, score, beam, token, last, k = beat
        outstanding += last
        dut.valid.value, dut.score.value, dut.beam.value = valid, score & ((1 << SCORE_BITS) - 1), beam
        dut.token.value, dut.step_last.value, dut.k.value = token, last, k
        if stall == 0 and rng.random() < 0.01:
            stall = rng.randint(20, 80)                 # m_axis holds off for a while
        stall = max(0, stall - 1)
        ready = int(stall == 0 and rng.random() < ready_rate)
        dut.o__ready.value = ready
        await ReadOnly()
        if int(dut.step_done.value):
            done_pulses += 1
            outstanding -= 1
        if ready and int(dut.o__valid.value):
            word = dut.o__payload.value.to_unsigned()
            current.append((f_score.get(word), f_beam.get(word), f_token.get(word), f_last.get(word)))
            if current[-1][3]:
                got_steps.append(current)
                current = []

    for n, (got, want) in enumerate(zip(got_steps, expected)):
        assert got == want, f"step {n} ({len(steps[n][0])} candidates, k={len(want)}): got {got}, want {want}"
    assert done_pulses == len(steps)
    dut._log.info(f"{len(steps)} steps, {len(beats)} input cycles, {cycle} cycles")
