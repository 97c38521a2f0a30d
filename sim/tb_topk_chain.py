"""cocotb testbench of TopKChain: many rows in one run, every output compared with host/hwmodel/topk.chain_topk.

Configuration (JSON in BEAMSTREAM_TOPK_CHAIN): depth, key_bits, key_signed, index_width, rows, seed.
"""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from beamstream.hw.topk_chain import chain_item_layout
from beamstream.hwmodel.topk import chain_topk
from beamstream.sim.topk_tb import Field, row_kinds

CFG = json.loads(os.environ["BEAMSTREAM_TOPK_CHAIN"])


def make_rows(rng, depth, key_lo, key_hi, index_width, n):
    """(candidates, k, marker_alone, gap_rate) per row; candidates are (key, index) in arrival order."""
    rows = []
    for kind in row_kinds(rng, n):
        k = {"k1": 1, "kmax": depth}.get(kind, rng.randint(1, depth))
        length = {"short": rng.randint(0, max(0, k - 1)), "long": rng.randint(depth, 3 * depth + 2),
                  "empty": 0}.get(kind, rng.randint(1, 2 * depth + 1))
        if kind == "ties":
            keys = [rng.choice([key_lo, key_hi, (key_lo + key_hi) // 2])] * length
        elif kind == "neg_inf":
            keys = [rng.choice([key_lo, key_lo, rng.randint(key_lo, key_hi)]) for _ in range(length)]
        elif kind == "few_values":
            keys = [rng.randint(key_lo, key_lo + 3) for _ in range(length)]
        else:
            keys = [rng.randint(key_lo, key_hi) for _ in range(length)]
        cands = [(key, rng.randrange(1 << index_width)) for key in keys]
        marker_alone = length == 0 or rng.random() < 0.25
        rows.append((cands, k, marker_alone, rng.choice([0.0, 0.0, 0.1, 0.5])))
    return rows


@cocotb.test()
async def chain_rows_match_model(dut):
    rng = random.Random(CFG["seed"])
    depth, kw, iw = CFG["depth"], CFG["key_bits"], CFG["index_width"]
    key_lo, key_hi = (-(1 << (kw - 1)), (1 << (kw - 1)) - 1) if CFG["key_signed"] else (0, (1 << kw) - 1)
    layout = chain_item_layout(
        __import__("amaranth").hdl.signed(kw) if CFG["key_signed"] else kw, iw, depth)
    f_key, f_index, f_real, f_last, f_k = (Field(layout, n) for n in ("key", "index", "real", "last", "k"))
    rows = make_rows(rng, depth, key_lo, key_hi, iw, CFG["rows"])
    expected = [chain_topk([c[0] for c in cands], [c[1] for c in cands], k) + (k,) for cands, k, _, _ in rows]

    # Beats per cycle: (valid, key, index, last, k); a row's marker waits for the previous row_done (credit).
    beats = []
    for cands, k, marker_alone, gap_rate in rows:
        row = [(1, key, index, 0, k) for key, index in cands]
        if marker_alone:
            row.append((0, rng.randint(key_lo, key_hi), 0, 1, k))
        else:
            row[-1] = row[-1][:3] + (1, k)
        for beat in row:
            while rng.random() < gap_rate:
                beats.append((0, rng.randint(key_lo, key_hi), 0, 0, k))
            beats.append(beat)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("valid", "last", "key", "index", "k"):
        getattr(dut, name).value = 0
    dut.o__ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    got_rows, current, outstanding, done_pulses = [], [], 0, 0
    ready_rate = CFG.get("ready_rate", 0.7)
    cycles, i = 0, 0
    while len(got_rows) < len(rows):
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < 200 * (len(beats) + 10 * depth * len(rows)), "timeout: rows missing"
        if i < len(beats) and not (beats[i][3] and outstanding >= 1):
            valid, key, index, last, k = beats[i]
            i += 1
            outstanding += last
        else:
            valid, key, index, last, k = 0, rng.randint(key_lo, key_hi), 0, 0, rng.randint(0, depth)
        dut.valid.value, dut.last.value, dut.k.value = valid, last, k
        dut.key.value = key & ((1 << kw) - 1)
        dut.index.value = index
        ready = int(rng.random() < ready_rate)
        dut.o__ready.value = ready
        await ReadOnly()
        if int(dut.row_done.value):
            done_pulses += 1
            outstanding -= 1
        if ready and int(dut.o__valid.value):
            word = dut.o__payload.value.to_unsigned()
            current.append((f_key.get(word, CFG["key_signed"]), f_index.get(word), f_real.get(word),
                            f_last.get(word), f_k.get(word)))
            if current[-1][3]:
                got_rows.append(current)
                current = []

    for r, (got, (keys, indices, k)) in enumerate(zip(got_rows, expected)):
        where = f"row {r} (k={k}, {len(rows[r][0])} candidates)"
        assert len(got) == k, f"{where}: {len(got)} items, want {k}"
        assert [g[4] for g in got] == [k] * k, f"{where}: echoed k {[g[4] for g in got]}"
        assert [g[3] for g in got] == [0] * (k - 1) + [1], f"{where}: last flags"
        n = len(keys)
        assert [g[2] for g in got] == [1] * n + [0] * (k - n), f"{where}: real flags {[g[2] for g in got]}"
        assert [(g[0], g[1]) for g in got[:n]] == list(zip(keys.tolist(), indices.tolist())), \
            f"{where}: got {[(g[0], g[1]) for g in got[:n]]}, want {list(zip(keys.tolist(), indices.tolist()))}"
    assert done_pulses == len(rows)
    dut._log.info(f"{len(rows)} rows, {len(beats)} input beats, {cycles} cycles")
