"""Per-lane conversion of fp32 / bf16 / fp16 bits to saturating two's-complement fixed point.

Round half away from zero, saturate to +-(2^(out_bits-1) - 1); +inf saturates high; NaN and -inf give the -inf
code -2^(out_bits-1). Model: beamstream.hwmodel.numerics.float_to_fixed.

Three stages: decode and shift amount | one barrel shift of the mantissa to twice the output scale (as a window of
the output's width when the mantissa is wider) | round (w + 1) >> 1 on the sign-adjusted value, saturate, specials.
No valid flag: the caller's, delayed beside it, says which outputs count, so the registers have no reset.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interface import FLOAT_FIELDS
from .pipelined_arith import SumStyle
from .shifts import shift_left_capped, window


class FloatToFixed(wiring.Component):
    latency = 3

    def __init__(self, fmt: str, out_bits: int, frac_bits: int, *, sums: SumStyle = SumStyle.SHALLOW):
        if fmt not in FLOAT_FIELDS:
            raise ValueError(f"fmt={fmt!r} is not one of {sorted(FLOAT_FIELDS)}")
        if not (isinstance(out_bits, int) and 2 <= out_bits <= 32):
            raise ValueError(f"out_bits={out_bits!r} must be an int in 2..32")
        if not (isinstance(frac_bits, int) and 0 <= frac_bits < out_bits):
            raise ValueError(f"frac_bits={frac_bits!r} must be an int in 0..out_bits-1")
        self.fmt, self.out_bits, self.frac_bits, self.sums = fmt, out_bits, frac_bits, sums
        ebits, mbits = FLOAT_FIELDS[fmt]
        super().__init__({"i": In(1 + ebits + mbits), "o": Out(signed(out_bits))})

    def elaborate(self, platform):
        m = Module()
        ebits, mbits = FLOAT_FIELDS[self.fmt]
        O = self.out_bits
        bias = (1 << (ebits - 1)) - 1
        # w = floor(|x| * 2^(F+1)) = (mant << A) >> R with A = shift + 1 + R; R makes every right shift a slice.
        # A mantissa wider than the output takes w's O bits as the window at a_max - A of it above O + 1 zeros (mux
        # stages that narrow to O bits), a narrower one as (mant << A)[R:] (stages that start at its width).
        R = mbits + 2
        a_max = O + 1 + R
        by_window = mbits + 1 > O

        # Stage 1: fields, specials, A or a_max - A (shift = max(exp, 1) - bias - mbits + F, as a small add).
        exp = self.i[mbits:mbits + ebits]
        frac = self.i[:mbits]
        sign = Signal(name="s1_sign", reset_less=True)
        mant = Signal(mbits + 1, name="s1_mant", reset_less=True)
        amount = Signal(range(a_max + 1), name="s1_amount", reset_less=True)     # A, or a_max - A for the window
        too_big = Signal(name="s1_too_big", reset_less=True)   # shift > O: every nonzero mantissa saturates
        neg_inf = Signal(name="s1_neg_inf", reset_less=True)   # NaN or -inf
        pos_inf = Signal(name="s1_pos_inf", reset_less=True)
        a_raw = Signal(signed(ebits + 8))
        a_fixed = self.frac_bits - bias - mbits + 1 + R
        exp_or_1 = Mux(exp == 0, 1, exp)
        m.d.comb += a_raw.eq((a_max - a_fixed) - exp_or_1 if by_window else exp_or_1 + a_fixed)
        special = exp == (1 << ebits) - 1
        m.d.sync += [
            sign.eq(self.i[-1]),
            mant.eq(Mux(exp == 0, frac, frac | (1 << mbits))),
            amount.eq(Mux(a_raw > a_max, a_max, Mux(a_raw < 0, 0, a_raw))),
            too_big.eq(a_raw < 0 if by_window else a_raw > a_max),
            neg_inf.eq(special & ((frac != 0) | self.i[-1])),
            pos_inf.eq(special & (frac == 0) & ~self.i[-1]),
        ]

        # Stage 2: the barrel shift; keep w's low O bits and whether anything lies above them. A normal mantissa's
        # top bit is bit mbits, so bits reach past R + O = O + mbits + 2 exactly when A >= O + 2. A subnormal's
        # top bit is at most mbits - 1 and its A is F - bias + 4 < O + 3 (F < O, bias >= 15): it loses none.
        if by_window:
            shifted, beyond = window(Cat(Const(0, O + 1), mant), amount, O, self.sums), amount <= R - 1
        else:
            shifted, beyond = shift_left_capped(mant, amount, R + O, self.sums)[R:], amount >= O + 2
        lost = mant[mbits] & beyond
        w = Signal(O, name="s2_w", reset_less=True)
        high = Signal(name="s2_high", reset_less=True)
        sign2, neg_inf2, pos_inf2 = (Signal(name=f"s2_{n}", reset_less=True) for n in ("sign", "neg_inf", "pos_inf"))
        m.d.sync += [
            w.eq(shifted),
            high.eq(lost | too_big),
            sign2.eq(sign), neg_inf2.eq(neg_inf), pos_inf2.eq(pos_inf),
        ]

        # Stage 3: |x| rounds to (w + 1) >> 1; for x < 0 that is -((w + 1) >> 1) == (~w + 1) >> 1.
        top = (1 << (O - 1)) - 1
        signed_w = Signal(signed(O + 1))
        m.d.comb += signed_w.eq(Mux(sign2, -1 - w, w))
        rounded = (signed_w + 1) >> 1
        saturated = high | (w == (1 << O) - 1)
        out = Signal(signed(O), name="s3_out", reset_less=True)
        m.d.sync += out.eq(Mux(neg_inf2, -(1 << (O - 1)),
                           Mux(pos_inf2, top,
                           Mux(saturated, Mux(sign2, -top, top), rounded))))
        m.d.comb += self.o.eq(out)
        return m
