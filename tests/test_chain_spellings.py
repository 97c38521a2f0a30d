# amaranth: UnusedElaboratable=no
"""TopKChain's two spellings (hw/topk_chain.py) give the same outputs at every cycle.

Synthesis and the cocotb tests build the chain with SumStyle.SHALLOW (a thermometer code of used entries), the
Verilated `sim` device with SumStyle.OPERATOR (a count). Both are driven side by side in Amaranth's simulator with
one stream of rows: random, tied, few-valued and lowest keys, rows shorter than k and longer than the chain, markers
with and without a candidate, input gaps and output backpressure, the next marker as soon as the credit allows.
`o.valid`, the whole `o.payload` (padding included) and `row_done` must agree on every cycle.

The OPERATOR chain's reader is in the device's burst domain (hw/pipelined_arith.BURST): as in the Verilated
device, its clock ticks only on cycles where `reader_busy` asks, so the test also shows that skipping the others
changes nothing.
"""
import random

import pytest
from amaranth.hdl import Cat, ClockDomain, Module, signed, unsigned
from amaranth.sim import Simulator

from beamstream.hw.pipelined_arith import BURST, SumStyle
from beamstream.hw.topk_chain import TopKChain
from conftest import seeded

CYCLES = 3000


def run_side_by_side(depth, key_shape, index_width, seed):
    """Cycles on which the two spellings differed, as (cycle, shallow outputs, operator outputs); and the rows seen."""
    m = Module()
    m.domains.sync = sync = ClockDomain()
    m.domains.burst = burst = ClockDomain(BURST)
    m.submodules.shallow = a = TopKChain(key_shape, index_width, depth, sums=SumStyle.SHALLOW)
    m.submodules.operator = b = TopKChain(key_shape, index_width, depth, sums=SumStyle.OPERATOR)
    for name in ("valid", "key", "index", "last", "k"):
        m.d.comb += getattr(b, name).eq(getattr(a, name))
    m.d.comb += b.o.ready.eq(a.o.ready)
    shape = key_shape
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed else (0, (1 << shape.width) - 1)
    rng = random.Random(seed)
    diffs, rows = [], [0]

    async def bench(ctx):
        outstanding, kind = 0, "random"
        for cycle in range(CYCLES):
            if cycle % 150 == 0:
                kind = rng.choice(["random", "ties", "few", "lowest", "short_rows", "stalls"])
            if kind == "ties":
                key = rng.choice([lo, hi, (lo + hi) // 2])
            elif kind == "few":
                key = rng.randint(lo, lo + 2)
            elif kind == "lowest":
                key = lo if rng.random() < 0.8 else rng.randint(lo, hi)
            else:
                key = rng.randint(lo, hi)
            valid = int(rng.random() < (0.4 if kind == "short_rows" else 0.9))
            marker_rate = 0.3 if kind == "short_rows" else 2 / (3 * depth + 8)
            last = int(outstanding == 0 and rng.random() < marker_rate)     # a marker waits for the credit
            ctx.set(a.valid, valid)
            ctx.set(a.key, key)
            ctx.set(a.index, rng.randrange(1 << index_width))
            ctx.set(a.last, last)
            ctx.set(a.k, rng.randint(1, depth))
            ctx.set(a.o.ready, int(rng.random() < (0.15 if kind == "stalls" else 0.8)))
            outstanding += last
            got = [(ctx.get(x.o.valid), ctx.get(x.o.payload.as_value()), ctx.get(x.row_done)) for x in (a, b)]
            if got[0] != got[1]:
                diffs.append((cycle, *got))
            if got[0][2]:
                outstanding -= 1
                rows[0] += 1
            # Both clocks rise at once (one assignment), the burst clock only when the reader has work.
            ctx.set(Cat(sync.clk, burst.clk), 1 | ctx.get(b.reader_busy) << 1)
            ctx.set(Cat(sync.clk, burst.clk), 0)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return diffs, rows[0]


@pytest.mark.parametrize("depth,key_shape,index_width", [
    (1, signed(6), 5),
    (5, unsigned(4), 7),       # K not a power of two, narrow keys: ties everywhere
    (16, signed(20), 14),      # the default build's lanes
])
def test_both_spellings_agree_on_every_cycle(depth, key_shape, index_width):
    diffs, rows = run_side_by_side(depth, key_shape, index_width, seeded(depth))
    assert rows > 50, f"only {rows} rows finished in {CYCLES} cycles"
    assert not diffs, f"{len(diffs)} cycles differ, first (cycle, shallow, operator): {diffs[0]}"
