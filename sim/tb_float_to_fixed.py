"""cocotb testbench of FloatToFixed: one input per cycle, every output compared with hwmodel.numerics.float_to_fixed.

Configuration (JSON in BEAMSTREAM_FLOAT_TO_FIXED): fmt, out_bits, frac_bits, latency, count, seed.
"""
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from beamstream.hw.interface import FLOAT_FIELDS
from beamstream.hwmodel.numerics import float_to_fixed

CFG = json.loads(os.environ["BEAMSTREAM_FLOAT_TO_FIXED"])


def float_patterns(rng, fmt, out_bits, frac_bits, count):
    """Raw bit patterns: specials, subnormals, exact rounding ties, the saturation edge, and random words."""
    ebits, mbits = FLOAT_FIELDS[fmt]
    bias, emax, sign = (1 << (ebits - 1)) - 1, (1 << ebits) - 1, 1 << (ebits + mbits)

    def word(s, e, f):
        return s * sign | e << mbits | f

    fixed = []
    for s in (0, 1):
        fixed += [word(s, 0, 0), word(s, emax, 0), word(s, emax, 1), word(s, emax, 1 << (mbits - 1)),
                  word(s, emax, (1 << mbits) - 1), word(s, 0, 1), word(s, 0, (1 << mbits) - 1), word(s, 1, 0),
                  word(s, emax - 1, (1 << mbits) - 1)]
    # value * 2^F = mant * 2^(e - bias - mbits + F): shift -1 puts an exact .5 tie in the last mantissa bit
    e_tie = bias + mbits - frac_bits - 1
    e_sat = bias + out_bits - 1 - frac_bits        # 2^(out_bits-1-F): the saturation edge
    n = count - len(fixed)
    s = rng.integers(0, 2, n)
    f = rng.integers(0, 1 << mbits, n)
    kinds = rng.integers(0, 4, n)
    e = np.select([kinds == 0, kinds == 1, kinds == 2],
                  [np.full(n, e_tie), rng.integers(e_sat - 3, e_sat + 2, n),
                   rng.integers(max(0, e_tie - mbits - 2), e_sat + 1, n)],
                  rng.integers(0, emax + 1, n))
    e = np.clip(e, 0, emax)
    f = np.where(kinds == 0, f | 1, f)
    return np.array(fixed + [word(int(a), int(b), int(c)) for a, b, c in zip(s, e, f)], dtype=np.int64)


@cocotb.test()
async def conversions_match_model(dut):
    rng = np.random.default_rng(CFG["seed"])
    fmt, out_bits, frac_bits, latency = CFG["fmt"], CFG["out_bits"], CFG["frac_bits"], CFG["latency"]
    bits = float_patterns(rng, fmt, out_bits, frac_bits, CFG["count"])
    expected = float_to_fixed(bits, fmt, out_bits, frac_bits)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    errors = []
    for cycle in range(len(bits) + latency):
        if cycle < len(bits):
            dut.i.value = int(bits[cycle])
        await FallingEdge(dut.clk)
        j = cycle - (latency - 1)
        if 0 <= j < len(bits):
            got = dut.o.value.to_signed()
            if got != expected[j]:
                errors.append(f"bits {int(bits[j]):#x}: got {got}, model {int(expected[j])}")
    assert not errors, f"{len(errors)} of {len(bits)} differ; first: " + "; ".join(errors[:8])
