"""Variable shifts that never grow wider than the bits they keep.

Amaranth's `value << amount` is len(value) + 2**len(amount) - 1 bits wide (87 bits for a 24-bit mantissa and a
6-bit amount), which a simulator evaluates as multi-word arithmetic every cycle. Written as one 2:1 mux stage per
bit of `amount`, each stage cut to `width` bits, it is the same barrel shifter in LUTs and one machine word in a
Verilated model. The Verilated `sim` device takes the operator instead (SumStyle.OPERATOR): its Yosys pre-pass
narrows the wide `<<` to the `width` bits kept, and one shift instruction beats six mux stages (3% of the device's
instructions per cycle).
"""
from amaranth.hdl import Cat, Const, Mux, Value

from .pipelined_arith import SumStyle


def shift_left_capped(value, amount, width: int, style: SumStyle = SumStyle.SHALLOW):
    """(value << amount) mod 2**width."""
    v = Value.cast(value).as_unsigned()
    if len(v) > width:
        raise ValueError(f"value is {len(v)} bits, wider than width={width}")
    if style is SumStyle.OPERATOR:
        return (v << amount)[:width]
    v = Cat(v, Const(0, width - len(v)))
    for i in range(len(amount)):
        step = 1 << i
        moved = Cat(Const(0, step), v)[:width] if step < width else Const(0, width)
        v = Mux(amount[i], moved, v)
    return v


def window(value, offset, width: int, style: SumStyle = SumStyle.SHALLOW):
    """value[offset:offset + width] for a variable `offset`, zeros past value's top.

    Mux stages with the largest step first, each keeping only the bits the smaller steps after it can still reach
    (width + step - 1 of them): about width * len(offset) muxes where a full shifter (Yosys's map of `>>`, which
    takes the smallest step first) has len(value) * len(offset). For a 17-bit window of 70 bits: 74 LUT instead
    of 185 (yosys 0.23 synth_xilinx). OPERATOR spells it `(value >> offset)`, one machine shift.
    """
    v = Value.cast(value).as_unsigned()
    if style is SumStyle.OPERATOR:
        return (v >> offset)[:width]
    for i in reversed(range(len(offset))):
        step = 1 << i
        keep = width + step - 1
        padded = Cat(v, Const(0, max(0, step + keep - len(v))))
        v = Mux(offset[i], padded[step:step + keep], padded[:keep])
    return Cat(v, Const(0, max(0, width - len(v))))[:width]
