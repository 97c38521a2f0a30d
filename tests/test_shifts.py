"""hw/shifts.shift_left_capped and window against Python integers, in both spellings: every amount, random and
extreme values, several widths."""
import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from beamstream.hw.pipelined_arith import SumStyle
from beamstream.hw.shifts import shift_left_capped, window
from conftest import seeded


def _mismatches(spelled, value_bits: int, amount_bits: int, width: int, want):
    """[(value, amount, got, want)] where spelled(value, amount) differs from want(value, amount) mod 2**width, over
    every amount and random and extreme values."""
    value, amount = Signal(value_bits), Signal(amount_bits)
    m = Module()
    out = Signal(width)
    m.d.comb += out.eq(spelled(value, amount))
    rng = random.Random(seeded(value_bits * 100 + width))
    values = [0, 1, (1 << value_bits) - 1, 1 << (value_bits - 1)] + [rng.getrandbits(value_bits) for _ in range(40)]
    errors = []

    async def bench(ctx):
        for v in values:
            for a in range(1 << amount_bits):
                ctx.set(value, v)
                ctx.set(amount, a)
                got = ctx.get(out)
                if got != want(v, a) % (1 << width):
                    errors.append((v, a, got, want(v, a) % (1 << width)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return errors


@pytest.mark.parametrize("style", list(SumStyle))
@pytest.mark.parametrize("value_bits,amount_bits,width", [(24, 6, 45), (24, 6, 57), (53, 6, 53), (5, 3, 7), (4, 4, 4)])
def test_shift_left_capped_matches_integers(value_bits, amount_bits, width, style):
    """Both spellings (the mux stages synthesis takes, the operator the Verilated device takes)."""
    errors = _mismatches(lambda v, a: shift_left_capped(v, a, width, style), value_bits, amount_bits, width,
                         lambda v, a: v << a)
    assert not errors, f"(value, amount, got, want): {errors[:5]}"


@pytest.mark.parametrize("style", list(SumStyle))
@pytest.mark.parametrize("value_bits,offset_bits,width", [(70, 6, 17), (45, 6, 20), (57, 6, 32), (53, 6, 53),
                                                          (5, 3, 7), (9, 4, 1)])
def test_window_matches_integers(value_bits, offset_bits, width, style):
    """window(value, offset, width) == (value >> offset) mod 2**width at every offset, windows reaching past the
    value's top included (zeros come in)."""
    errors = _mismatches(lambda v, a: window(v, a, width, style), value_bits, offset_bits, width,
                         lambda v, a: v >> a)
    assert not errors, f"(value, offset, got, want): {errors[:5]}"


def test_a_value_wider_than_the_cap_is_refused():
    with pytest.raises(ValueError, match="wider than width"):
        shift_left_capped(Signal(8), Signal(3), 6)
