"""cocotb testbench of BeamTopK: many rows in one run, every item compared with host/hwmodel/topk.beam_topk_items.

Configuration (JSON in BEAMSTREAM_BEAM_TOPK): cfg (CoreConfig fields), tag_bits, rows, seed, ready_rate, and
optionally vocab (every row that long, random keys: the log then shows the steady-state latency and credit waits).
The row's last beat waits while `row_buffers` rows await output, as the integrator's credits do.
"""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from beamstream.hw.beam_topk import BeamTopK
from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.topk import beam_topk_items
from beamstream.sim.topk_tb import Field, row_kinds

CFG = json.loads(os.environ["BEAMSTREAM_BEAM_TOPK"])


def make_rows(rng, cfg, n):
    """(keys of the row's V tokens, k, tag, gap_rate) per row."""
    lo, hi, span = cfg.key_neg_inf, cfg.key_max, cfg.lanes * cfg.k_max
    rows = []
    for kind in row_kinds(rng, n):
        k = {"k1": 1, "kmax": cfg.k_max}.get(kind, rng.randint(1, cfg.k_max))
        vocab = {"short": rng.randint(1, k), "long": rng.randint(2 * span, 4 * span + 3),
                 "empty": 1}.get(kind, rng.randint(1, 2 * span + 3))
        if "vocab" in CFG:
            kind, vocab = "random", CFG["vocab"]
        if kind == "ties":
            keys = [rng.choice([lo, hi, 0, 12345 % hi])] * vocab
        elif kind == "neg_inf":
            keys = [rng.choice([lo, lo, rng.randint(lo, hi)]) for _ in range(vocab)]
        elif kind == "few_values":
            keys = [rng.randint(-2, 1) for _ in range(vocab)]
        else:
            keys = [rng.randint(lo, hi) for _ in range(vocab)]
        gap_rate = 0.0 if "vocab" in CFG else rng.choice([0.0, 0.0, 0.0, 0.2])
        rows.append((keys, k, rng.randrange(1 << CFG["tag_bits"]), gap_rate))
    return rows


@cocotb.test()
async def rows_match_model(dut):
    rng = random.Random(CFG["seed"])
    cfg = CoreConfig(**CFG["cfg"])
    block = BeamTopK(cfg, CFG["tag_bits"])
    layout = block.o.p.shape()
    f_key, f_token, f_real, f_last, f_tag = (Field(layout, n) for n in ("key", "token", "real", "last", "tag"))
    P, L = cfg.lanes, cfg.logit_bits
    rows = make_rows(rng, cfg, CFG["rows"])

    # Beats per cycle: (valid, last, keys word, mask, base, tag, k).
    beats, last_beat_of_row = [], []
    for keys, k, tag, gap_rate in rows:
        n_beats = -(-len(keys) // P)
        for b in range(n_beats):
            word, mask = 0, 0
            for lane in range(P):
                token = b * P + lane
                key = keys[token] if token < len(keys) else rng.randint(cfg.key_neg_inf, cfg.key_max)
                word |= (key & ((1 << L) - 1)) << (lane * L)
                mask |= (token < len(keys)) << lane
            while rng.random() < gap_rate:
                beats.append(None)
            beats.append((1, int(b == n_beats - 1), word, mask, b * P, tag, k))
    expected = [beam_topk_items(keys, k, cfg.key_neg_inf) + (tag,) for keys, k, tag, _ in rows]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("valid", "last", "keys", "mask", "base", "tag", "k", "o__ready"):
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    got_rows, current, outstanding, done_pulses = [], [], 0, 0
    ready_rate = CFG.get("ready_rate", 0.7)
    cycle, i, row_end_cycle, latencies, credit_waits = 0, 0, {}, [], 0
    while len(got_rows) < len(rows):
        await FallingEdge(dut.clk)
        cycle += 1
        assert cycle < 50 * (len(beats) + 10 * cfg.k_max * len(rows)), "timeout: rows missing"
        beat = beats[i] if i < len(beats) else None
        if i < len(beats) and not (beat and beat[1] and outstanding >= block.row_buffers):
            i += 1
        else:
            credit_waits += beat is not None
            beat = None                                 # idle (or the last beat waits for a credit)
        if beat is None:
            beat = (0, 0, rng.getrandbits(P * L), rng.getrandbits(P), 0, 0, cfg.k_max)
        valid, last, word, mask, base, tag, k = beat
        if valid and last:
            outstanding += 1
            row_end_cycle[len(row_end_cycle)] = cycle
        dut.valid.value, dut.last.value, dut.keys.value, dut.mask.value = valid, last, word, mask
        dut.base.value, dut.tag.value, dut.k.value = base, tag, k
        ready = int(rng.random() < ready_rate)
        dut.o__ready.value = ready
        await ReadOnly()
        if int(dut.row_done.value):
            done_pulses += 1
            outstanding -= 1
        if ready and int(dut.o__valid.value):
            word = dut.o__payload.value.to_unsigned()
            if not current:
                latencies.append(cycle - row_end_cycle[len(got_rows)])
            current.append((f_key.get(word), f_token.get(word), f_real.get(word), f_last.get(word), f_tag.get(word)))
            if current[-1][3]:
                got_rows.append(current)
                current = []

    for r, (got, (keys, tokens, real, tag)) in enumerate(zip(got_rows, expected)):
        k = len(keys)
        where = f"row {r} (V={len(rows[r][0])}, k={k})"
        want = list(zip(keys.tolist(), tokens.tolist(), real.tolist(), [0] * (k - 1) + [1], [tag] * k))
        assert got == want, f"{where}: got {got}, want {want}"
    assert done_pulses == len(rows)
    dut._log.info(f"{len(rows)} rows, {len(beats)} input beats, {cycle} cycles; "
                  f"last beat to first item: min {min(latencies)} max {max(latencies)} cycles {latencies[:12]}, "
                  f"cycles a last beat waited for a credit: {credit_waits} (ready_rate {ready_rate})")
