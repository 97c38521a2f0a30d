"""Exact integer sums split into shallow pipeline stages, for valid-only pipelines (no enables).

A plain wide `a + b` maps to about width/2.5 LUT6 levels on a generic mapping, so every wide sum here is a
carry-save (3:2) tree followed by a conditional-sum adder: each chunk is added for carry-in 0 and 1 in one stage,
and the next stage picks per chunk once the chunk carries are known. The result is the exact sum modulo 2^width,
so the bit-exact model needs nothing but the plain integer sum.

A second spelling, SumStyle.OPERATOR, writes the same sum as one `+`/`-` expression followed by the same number of
registers: the same value at the same cycle (once the pipeline has filled after a reset; nothing reads it
earlier), but a cycle simulator evaluates one machine-word add instead of a
carry-save tree split into bit ranges (the Verilated `sim` device builds this spelling; synthesis, the report and
the cocotb tests use SHALLOW; tests/test_sum_styles.py drives both with the same inputs for every sum the core
has and compares them cycle by cycle).
"""
from __future__ import annotations

import enum
from typing import NamedTuple

from amaranth.hdl import Array, Cat, Const, Mux, Signal, Value, signed, unsigned

TABLE_BITS = 6      # a constant times a 6-bit slice is one LUT6 per bit
CHUNK = 12          # carry-propagate chunk: a 12-bit add with carry-in is about 5 LUT6 levels
CSA_PER_STAGE = 3   # 3:2 compressor levels (about one LUT6 level each) between registers; up to 2 levels
                    # left over ride in front of the first carry-propagate stage


class SumStyle(enum.Enum):
    """How wide arithmetic is spelled: pipelined_sum with its Product terms, topk_chain.greater_than, the top-K
    chains' used-entry record and shifts.shift_left_capped.

    Both spellings give the same value after the same number of cycles.
    """
    SHALLOW = "shallow"     # carry-save trees, partial products, compare trees: few LUT levels between registers
    OPERATOR = "operator"   # `*`, `+`, `-`, `>`, then the same registers: fastest to simulate


# The device spelling's second clock domain. The blocks that work only around a row's end (the chains' readers, the
# merge tree, the normaliser, GlobalTopK, the result FIFO) idle for thousands of cycles per row, yet a cycle
# simulator evaluates all of a domain's logic at each of its edges. In SumStyle.OPERATOR they take this domain, and
# the Verilated device's harness ticks it only on the cycles the core's `burst_wake` says one of them has work;
# in the synthesised spelling they stay in sync.
BURST = "burst"


def burst_domain(style: SumStyle) -> str:
    """The domain of the blocks that work in bursts, in spelling `style`."""
    return BURST if style is SumStyle.OPERATOR else "sync"


def delayed(m, value, cycles: int, name: str, *, reset_less: bool = False):
    """`value` delayed by `cycles` registers (cycles >= 0).

    reset_less: for data that is read only where a valid flag (reset) says so. Such registers skip the reset and
    the datapath's clear, which a cycle simulator otherwise evaluates for each of them every cycle.
    """
    value = Value.cast(value)
    for i in range(cycles):
        r = Signal(value.shape(), name=f"{name}_d{i + 1}", reset_less=reset_less)
        m.d.sync += r.eq(value)
        value = r
    return value


def registered(m, value, name: str, *, reset_less: bool = False):
    return delayed(m, value, 1, name, reset_less=reset_less)


def delayed_together(m, values, cycles: int, name: str, *, reset_less: bool = False) -> list:
    """Each of `values` delayed by `cycles` registers, as one delay line of their concatenation: the same
    flip-flops, but one variable per stage instead of one per value and stage in a cycle simulator."""
    values = [Value.cast(v) for v in values]
    word = delayed(m, Cat(*values), cycles, name, reset_less=reset_less)
    out, at = [], 0
    for v in values:
        part = word[at:at + len(v)]
        out.append(part.as_signed() if v.shape().signed else part)
        at += len(v)
    return out


class Product(NamedTuple):
    """a * b * 2^scale as one term of pipelined_sum, b a positive int or an unsigned value (then a is unsigned too).

    SHALLOW adds its partial products (for a constant, b's canonical signed digits, or a table of slice * b per
    TABLE_BITS-bit slice of a when that makes fewer terms; for a variable b, one gated copy of a per bit, or, given
    `triple` == 3 * a (from a table beside a's), one pick of 0, a, 2a, 3a per two bits); OPERATOR multiplies.
    """
    a: Value
    b: object
    scale: int = 0
    triple: Value = None

    def partial_terms(self, sign: int):
        """[(value, sign, shift)]: the partial products, each `value << shift`."""
        if isinstance(self.b, int):
            a = Value.cast(self.a)
            if -(-len(a) // TABLE_BITS) < len(csd_digits(self.b)):
                return [(table, sign, lo + self.scale) for table, lo in _slice_tables(a, self.b)]
            return [(a, sign * digit, shift + self.scale) for shift, digit in csd_digits(self.b)]
        if self.triple is not None:
            multiples = [Const(0, 1), self.a, Cat(Const(0, 1), self.a), self.triple]
            digits = [self.b[k:k + 2] for k in range(0, len(self.b), 2)]     # a 1-bit top digit picks 0 or a
            return [(Array(multiples[:1 << len(d)])[d], sign, 2 * j + self.scale) for j, d in enumerate(digits)]
        return [(Mux(self.b[i], self.a, 0), sign, i + self.scale) for i in range(len(self.b))]

    def value(self):
        return (self.a * self.b) << self.scale


def _slice_tables(a: Value, constant: int):
    """[(slice * constant, lo)] over a's TABLE_BITS-bit slices (the top one signed when a is): each bit of a table is
    one LUT6 of its slice, and sum(slice * constant << lo) == a * constant."""
    out = []
    for lo in range(0, len(a), TABLE_BITS):
        part = a[lo:lo + TABLE_BITS]
        top_signed = a.shape().signed and lo + TABLE_BITS >= len(a)
        n = len(part)
        values = [(v - (1 << n) if top_signed and v >> (n - 1) else v) * constant for v in range(1 << n)]
        bits = max(abs(v) for v in values).bit_length()
        shape = signed(bits + 1) if top_signed else unsigned(bits)
        out.append((Array(Const(v, shape) for v in values)[part], lo))
    return out


def _partial_terms(terms):
    """`terms` as (value, sign, shift), every Product replaced by its partial products: what SHALLOW adds."""
    out = []
    for i, (term, sign) in enumerate(terms):
        if sign not in (1, -1):
            raise ValueError(f"terms[{i}]: sign must be +1 or -1, got {sign!r}")
        out.extend(term.partial_terms(sign) if isinstance(term, Product) else [(term, sign, 0)])
    return out


def _has_constant_vector(terms, width: int) -> bool:
    """Whether SHALLOW adds a constant vector: the integer terms and the +1 of each negated term do not cancel."""
    constant = sum(sign * t << shift if isinstance(t, int) else (1 if sign < 0 else 0) for t, sign, shift in terms)
    return bool(constant % (1 << width)) or all(isinstance(t, int) for t, _, _ in terms)


def _vector_count(terms, width: int) -> int:
    terms = _partial_terms(terms)
    n = sum(1 for t, _, _ in terms if not isinstance(t, int))
    return n + _has_constant_vector(terms, width)


def sum_latency(terms, width: int, *, registered_output: bool = True) -> int:
    """Latency pipelined_sum will have for these terms (terms only need to be of the same kinds)."""
    n, level, latency = _vector_count(terms, width), 0, 0
    while n > 2:
        n = 2 * (n // 3) + n % 3
        level += 1
        if level % CSA_PER_STAGE == 0:
            latency += 1
    two_stage = n == 2 and width > CHUNK
    return latency + (2 if two_stage else 1) - (0 if registered_output else 1)


def pipelined_sum(m, terms, width: int, name: str, *, registered_output: bool = True,
                  style: SumStyle = SumStyle.SHALLOW):
    """Exact sum of `terms` as signed(width); returns (value, latency in cycles).

    `terms` is a list of (value, sign) with sign +1 or -1; a value is an Amaranth value (extended by its own
    signedness) or a Python int. The caller guarantees that the true sum fits signed(width). With
    registered_output=False the last stage is left combinational (for a loop that registers it itself), and
    the latency counts the registers before it. `style` picks the spelling (SumStyle); value and latency do not
    depend on it. Its registers have no reset (valid-only pipelines: the caller's valid flag has one).
    """
    if style is SumStyle.OPERATOR:
        signals, constant = _term_signals(m, terms, width, name)
        return _operator_sum(m, terms, signals, constant, width, name, registered_output)
    vectors = _narrow_vectors(m, _partial_terms(terms), width, name)

    latency = 0
    level = 0
    while len(vectors) > 2:
        nxt = []
        for g in range(0, len(vectors) - 2, 3):
            a, b, c = vectors[g:g + 3]
            nxt.append((a ^ b ^ c)[:width])
            nxt.append(Cat(Const(0, 1), (a & b) | (a & c) | (b & c))[:width])
        nxt.extend(vectors[len(vectors) - len(vectors) % 3:] if len(vectors) % 3 else [])
        vectors = nxt
        level += 1
        if level % CSA_PER_STAGE == 0:
            vectors = [registered(m, v, f"{name}_csa{level}_{j}", reset_less=True) for j, v in enumerate(vectors)]
            latency += 1

    bounds = list(range(0, width, CHUNK)) + [width]
    if len(vectors) == 1 or len(bounds) == 2:
        total = vectors[0] if len(vectors) == 1 else (vectors[0] + vectors[1])[:width]
    else:
        # Conditional sum: one stage adds every chunk for both carry-ins, the next ripples chunk carries and picks.
        a, b = vectors
        sums0, sums1 = [], []
        for j, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            s0 = Signal(hi - lo + 1, name=f"{name}_c{j}_s0", reset_less=True)
            s1 = Signal(hi - lo + 1, name=f"{name}_c{j}_s1", reset_less=True)
            m.d.sync += [s0.eq(a[lo:hi] + b[lo:hi]), s1.eq(a[lo:hi] + b[lo:hi] + 1)]
            sums0.append(s0)
            sums1.append(s1)
        latency += 1
        carry = Const(0, 1)
        parts = []
        for s0, s1 in zip(sums0, sums1):
            parts.append(Mux(carry, s1[:-1], s0[:-1]))
            carry = Mux(carry, s1[-1], s0[-1])
        total = Cat(*parts)
    result = Signal(signed(width), name=name, reset_less=True)
    if registered_output:
        m.d.sync += result.eq(total)
        latency += 1
    else:
        m.d.comb += result.eq(total)
    assert latency == sum_latency(terms, width, registered_output=registered_output)
    return result, latency


def _narrow_vectors(m, terms, width: int, name: str):
    """The vectors SHALLOW compresses, each term only as wide as its own bits, the constant among them.

    A term that is not full width is not sign-extended (or, negated, filled with ones) across the sum: a signed
    value is its bits with the sign bit flipped, minus 2^(n-1); a negated one is its n bits inverted, plus
    1 - 2^n. Those constants all go into the one constant vector, so the columns above a term stay empty and the
    carry-save tree holds only real bits. Without a constant vector to hold them (_has_constant_vector), terms are
    extended to the full width instead.
    """
    narrow = _has_constant_vector(terms, width)
    vectors, constant = [], 0
    for i, (term, sign, shift) in enumerate(terms):
        if isinstance(term, int):
            constant += sign * term << shift
            continue
        value = Value.cast(term)
        n = len(value)
        v = Signal(width, name=f"{name}_t{i}")
        if narrow and n + shift < width:
            bits = Cat(value[:-1], ~value[-1]) if value.shape().signed else value
            offset = -(1 << (n - 1)) if value.shape().signed else 0      # value = bits + offset
            if sign < 0:
                bits, offset = ~bits, -offset + 1 - (1 << n)               # -(bits + offset) = ~bits + 1 - 2^n - offset
            constant += offset << shift
            m.d.comb += v.eq(bits << shift)
        else:
            m.d.comb += v.eq(value << shift)
            if sign < 0:
                v, constant = ~v, constant + 1      # -v == ~v + 1 modulo 2^width
        vectors.append(v)
    if narrow:
        vectors.append(Const(constant % (1 << width), width))
    return vectors


def _term_signals(m, terms, width: int, name: str):
    """([(width-bit signal, sign)] of the value terms, sum of the integer terms)."""
    signals, constant = [], 0
    for i, (term, sign) in enumerate(terms):
        if sign not in (1, -1):
            raise ValueError(f"terms[{i}]: sign must be +1 or -1, got {sign!r}")
        if isinstance(term, int):
            constant += sign * term
            continue
        v = Signal(width, name=f"{name}_t{i}")
        m.d.comb += v.eq(term.value() if isinstance(term, Product) else term)
        signals.append((v, sign))
    return signals, constant


def _operator_sum(m, terms, signals, constant: int, width: int, name: str, registered_output: bool):
    """pipelined_sum spelled as a plain sum modulo 2^width, then the latency SHALLOW has, as registers."""
    total = Const(0, width)
    for v, sign in signals:
        total = (total + v if sign > 0 else total - v)[:width]
    constant %= 1 << width
    if constant:
        total = (total + constant)[:width]
    latency = sum_latency(terms, width, registered_output=registered_output)
    value = Signal(signed(width), name=f"{name}_sum")
    m.d.comb += value.eq(total)
    value = delayed(m, value, latency, name, reset_less=True)
    result = Signal(signed(width), name=name)
    m.d.comb += result.eq(value)
    return result, latency


def counter(m, width: int, inc, name: str, *, style: SumStyle = SumStyle.SHALLOW):
    """A width-bit register that adds the 1-bit `inc` every cycle (wrapping), reset to 0.

    SHALLOW keeps it as two halves: the carry into the upper one comes from a flag kept a cycle ahead (the lower half
    is all ones), so no path crosses the whole width. OPERATOR is the plain `+ inc`; the value is the same.
    """
    if style is SumStyle.OPERATOR:
        value = Signal(width, name=name)
        m.d.sync += value.eq(value + inc)
        return value
    low_bits = width // 2
    low = Signal(low_bits, name=f"{name}_lo")
    high = Signal(width - low_bits, name=f"{name}_hi")
    low_full = Signal(name=f"{name}_lo_full")
    with m.If(inc):
        m.d.sync += [low.eq(low + 1), low_full.eq(low == (1 << low_bits) - 2)]
        with m.If(low_full):
            m.d.sync += high.eq(high + 1)
    return Cat(low, high)


def csd_digits(constant: int) -> list[tuple[int, int]]:
    """Canonical signed-digit form of a positive constant: [(shift, sign)] with constant = sum(sign << shift)."""
    if constant <= 0:
        raise ValueError(f"constant={constant} must be positive")
    digits, shift = [], 0
    while constant:
        if constant & 1:
            sign = 2 - (constant & 3)       # ...01 -> +1, ...11 -> -1
            digits.append((shift, sign))
            constant -= sign
        constant >>= 1
        shift += 1
    return digits


def constant_product_terms(value, constant: int, scale: int = 0):
    """Terms of value * constant * 2^scale for pipelined_sum (shift-and-add of the CSD digits when SHALLOW)."""
    csd_digits(constant)        # refuses a constant that is not positive, here rather than at elaboration
    return [(Product(value, constant, scale), 1)]


def variable_product_terms(a, b, sign: int = 1, scale: int = 0, triple=None):
    """Terms of sign * a * b * 2^scale for unsigned a and b (one partial product per bit of b when SHALLOW, per two
    bits when the caller has `triple` == 3 * a)."""
    return [(Product(a, b, scale, triple), sign)]
