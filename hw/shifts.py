"""A variable left shift that never grows wider than the bits it keeps.

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
