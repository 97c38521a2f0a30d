"""cocotb testbench of OnlineLogSumExp: many rows streamed in one run, every (lse, neg_inf) compared bit-exactly
with hwmodel.numerics.row_lse, and each result required exactly `latency` cycles after its row's last beat.

Configuration (JSON in BEAMSTREAM_LOGSUMEXP): cfg (CoreConfig fields), latency, rows, max_vocab, seed.
"""
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.numerics import logits_to_keys, row_lse

CFG = json.loads(os.environ["BEAMSTREAM_LOGSUMEXP"])
KINDS = ("random", "wide", "dominant", "equal", "rising", "neg_inf_lanes", "all_neg_inf", "extreme", "one_beat")


def make_row(rng, cfg, kind, max_vocab):
    P = cfg.lanes
    V = int(rng.integers(1, P + 1)) if kind == "one_beat" else int(rng.integers(1, max_vocab + 1))
    x = rng.standard_normal(V) * {"random": 3.0, "wide": 60.0}.get(kind, 1.0)
    if kind == "dominant":
        x[rng.integers(V)] = 40.0
    elif kind == "equal":
        x[:] = rng.uniform(-100, 100)
    elif kind == "rising":            # the running maximum moves on almost every beat
        x = np.sort(rng.uniform(-120, 120, V))
    elif kind == "extreme":
        x = rng.choice([np.inf, -np.inf, np.nan, 1e30, -1e30, 127.9, -127.9], V)
    keys = logits_to_keys(x.astype(np.float32), cfg)
    if kind == "neg_inf_lanes":
        keys[rng.random(V) < 0.7] = cfg.key_neg_inf
    elif kind == "all_neg_inf":
        keys[:] = cfg.key_neg_inf
    return keys


@cocotb.test()
async def rows_match_model(dut):
    rng = np.random.default_rng(CFG["seed"])
    cfg = CoreConfig(**CFG["cfg"])
    P, L, latency = cfg.lanes, cfg.logit_bits, CFG["latency"]
    rows = [make_row(rng, cfg, KINDS[n % len(KINDS)], CFG["max_vocab"]) for n in range(CFG["rows"])]
    expected = [row_lse(keys, cfg) for keys in rows]

    # Per cycle: None (idle, garbage on the data ports) or (keys[P], mask, first, last, row index).
    cycles = []
    for n, keys in enumerate(rows):
        gap_rate = (0.0, 0.0, 0.3)[n % 3]           # back to back, or with random idle cycles
        beats = -(-len(keys) // P)
        for b in range(beats):
            while rng.random() < gap_rate:
                cycles.append(None)
            lane_keys = rng.integers(-(1 << (L - 1)), 1 << (L - 1), P)   # pad lanes hold junk: mask must drop it
            mask = 0
            for i in range(P):
                if b * P + i < len(keys):
                    lane_keys[i] = keys[b * P + i]
                    mask |= 1 << i
            cycles.append((lane_keys, mask, b == 0, b == beats - 1, n))

    def pack(lane_keys):
        return sum((int(k) & ((1 << L) - 1)) << (i * L) for i, k in enumerate(lane_keys))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.valid.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0

    due = {}          # output cycle -> row whose result must appear then
    errors, seen = [], 0
    for cycle in range(len(cycles) + latency + 2):
        beat = cycles[cycle] if cycle < len(cycles) else None
        if beat is None:
            dut.valid.value = 0
            dut.first.value = int(rng.integers(2))
            dut.last.value = int(rng.integers(2))
            dut.keys.value = pack(rng.integers(-(1 << (L - 1)), 1 << (L - 1), P))
            dut.mask.value = int(rng.integers(1 << P))
        else:
            lane_keys, mask, first, last, n = beat
            dut.valid.value = 1
            dut.first.value = int(first)
            dut.last.value = int(last)
            dut.keys.value = pack(lane_keys)
            dut.mask.value = mask
            if last:
                due[cycle + latency - 1] = n
        await FallingEdge(dut.clk)
        if int(dut.o_valid.value):
            if cycle not in due:
                errors.append(f"cycle {cycle}: o_valid with no row due")
                continue
            n = due.pop(cycle)
            seen += 1
            got = (dut.o_lse.value.to_signed(), bool(int(dut.o_neg_inf.value)))
            want = (expected[n][0], expected[n][1])
            if got != want:
                errors.append(f"row {n} (V={len(rows[n])}, {KINDS[n % len(KINDS)]}): got {got}, model {want}")
        elif cycle in due:
            errors.append(f"cycle {cycle}: row {due.pop(cycle)} result missing")
    assert not errors and seen == len(rows), (
        f"{len(errors)} errors, {seen} of {len(rows)} rows seen; first: " + "; ".join(errors[:8]))
