# amaranth: UnusedElaboratable=no
"""The two spellings of hw/pipelined_arith.SumStyle give the same values: pipelined sums at the same cycle, the
merge nodes' compare, and FloatToFixed (its shift).

The Verilated `sim` device builds the core with SumStyle.OPERATOR; synthesis and the cocotb tests use SHALLOW.
Every pipelined sum the core instantiates (log-sum-exp and normaliser, recorded while elaborating them) is rebuilt
in both spellings side by side and driven with the same stream of random and extreme input values; the outputs must
agree on every cycle once the pipeline is full. The compare is checked the same way at the merge's rank width. (A SAT proof with Yosys was tried: the 46-bit carry-save tree of the
u = key * log2(e) product did not finish in ten minutes.)
"""
import random

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.sim import Simulator

import beamstream.hw.logsumexp as lse_module
import beamstream.hw.normalise as norm_module
from beamstream.hw import pipelined_arith
from beamstream.hw.beam_topk import BeamTopK
from beamstream.hw.interface import CoreConfig
from beamstream.hw.merge import goes_first, rank
from beamstream.hw.pipelined_arith import SumStyle
from beamstream.hw.topk_chain import greater_than
from conftest import seeded

CONFIGS = [CoreConfig(), CoreConfig(fmt="bf16", lanes=8, k_max=4, vocab_max=151936),
           CoreConfig(lanes=1, logit_bits=16, frac_bits=8, vocab_max=1024)]
CYCLES = 600


def recorded_sums(cfg):
    """(name, terms, width, registered_output) of every pipelined_sum call made while elaborating the core's sums."""
    calls = []

    def record(m, terms, width, name, *, registered_output=True, style=SumStyle.SHALLOW):
        calls.append((name, list(terms), width, registered_output))
        return pipelined_arith.pipelined_sum(m, terms, width, name, registered_output=registered_output, style=style)

    saved = lse_module.pipelined_sum, norm_module.pipelined_sum
    lse_module.pipelined_sum = norm_module.pipelined_sum = record
    try:
        Fragment.get(lse_module.OnlineLogSumExp(cfg), None)
        Fragment.get(norm_module.ScoreNormaliser(cfg), None)
    finally:
        lse_module.pipelined_sum, norm_module.pipelined_sum = saved
    return calls


def _input_signals(terms):
    """(the signals the terms read, sorted by name; {id(triple): (triple, a)} of the Products given 3 * a)."""
    found, triples = {}, {}
    for term, _ in terms:
        if isinstance(term, pipelined_arith.Product) and term.triple is not None:
            triples[id(term.triple)] = (term.triple, term.a)
        if isinstance(term, pipelined_arith.Product):
            term = term.value()
        if not isinstance(term, int):
            for s in term._rhs_signals():
                found[id(s)] = s
    return sorted((s for s in found.values() if id(s) not in triples), key=lambda s: s.name), triples


def _value(rng, signal):
    width = len(signal)
    pick = rng.random()
    if pick < 0.1:
        return (1 << width) - 1                    # all ones (-1 when signed)
    if pick < 0.2:
        return 1 << (width - 1)                    # the sign bit alone (most negative when signed)
    if pick < 0.3:
        return (1 << (width - 1)) - 1              # most positive
    if pick < 0.35:
        return 0
    return rng.getrandbits(width)


def run_clocked(m, bench):
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def assert_spellings_agree(name, terms, width, registered_output, seed):
    m = Module()
    shallow, latency = pipelined_arith.pipelined_sum(m, terms, width, "shallow", registered_output=registered_output)
    operator, latency_op = pipelined_arith.pipelined_sum(m, terms, width, "operator",
                                                         registered_output=registered_output, style=SumStyle.OPERATOR)
    assert latency == latency_op, f"{name}: latency {latency} vs {latency_op}"
    inputs, triples = _input_signals(terms)
    # A Product's triple is 3 * a, as in the core (both come from one table index): a only as large as that fits.
    a_limit = {id(a): ((1 << len(triple)) - 1) // 3 + 1 for triple, a in triples.values()}
    rng = random.Random(seeded(seed))
    mismatches = []

    async def bench(ctx):
        for cycle in range(CYCLES + latency):
            for s in inputs:
                ctx.set(s, _value(rng, s) % a_limit.get(id(s), 1 << len(s)))
            for triple, a in triples.values():
                ctx.set(triple, 3 * ctx.get(a))
            if cycle >= latency:
                a, b = ctx.get(shallow), ctx.get(operator)
                if a != b:
                    mismatches.append((cycle, a, b))
            await ctx.tick()

    run_clocked(m, bench)
    assert not mismatches, f"{name}: shallow and operator spellings differ at (cycle, shallow, operator) {mismatches[:5]}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_every_core_sum_has_the_same_value_in_both_spellings(cfg):
    calls = recorded_sums(cfg)
    names = {name for name, *_ in calls}
    assert {"u_prod0", "exp_interp0", "beat_sum", "acc_new", "acc_total", "ln_sum", "norm_raw"} <= names
    for n, (name, terms, width, registered_output) in enumerate(calls):
        assert_spellings_agree(name, terms, width, registered_output, seed=n)


def test_a_wrong_spelling_is_caught():
    """The comparison above fails when the OPERATOR spelling is off in a single bit (+32)."""
    calls = recorded_sums(CoreConfig())
    name, terms, width, registered_output = next(c for c in calls if c[0] == "u_prod0")
    real = pipelined_arith._operator_sum
    pipelined_arith._operator_sum = lambda m, t, signals, constant, *rest: real(m, t, signals, constant + 32, *rest)
    try:
        with pytest.raises(AssertionError, match="differ"):
            assert_spellings_agree(name, terms, width, registered_output, seed=1)
    finally:
        pipelined_arith._operator_sum = real


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_the_merge_compare_has_the_same_value_in_both_spellings(cfg):
    from amaranth.hdl import Signal

    width = len(rank(Signal(BeamTopK(cfg, 1).tree_layout)))
    a, b = Signal(width), Signal(width)
    m = Module()
    outs = {}
    for or_equal in (False, True):
        for style in SumStyle:
            outs[or_equal, style] = s = Signal(name=f"gt_{int(or_equal)}_{style.value}")
            m.d.comb += s.eq(greater_than(a, b, or_equal=or_equal, style=style))
    rng = random.Random(seeded(width))
    extremes = [0, 1, (1 << width) - 1, 1 << (width - 1), (1 << (width - 1)) - 1]
    pairs = [(x, y) for x in extremes for y in extremes]
    for _ in range(3000):
        x = rng.getrandbits(width)
        pairs.append((x, x))                                        # equal: only >= is true
        pairs.append((x, x ^ (1 << rng.randrange(width))))          # one bit apart, anywhere
        pairs.append((x, rng.getrandbits(width)))
    errors = []

    async def bench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            for or_equal in (False, True):
                want = x >= y if or_equal else x > y
                got = {style: ctx.get(outs[or_equal, style]) for style in SumStyle}
                if any(v != want for v in got.values()):
                    errors.append((x, y, or_equal, got))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not errors, f"(a, b, or_equal, results) {errors[:3]}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_the_merge_picks_the_same_item_in_both_spellings(cfg):
    """goes_first in both spellings against the rule in plain Python (real first, larger key, smaller index),
    on items drawn so that reals, keys and indices tie often, extremes included."""
    from amaranth.hdl import Signal

    layout = BeamTopK(cfg, 1).tree_layout
    a, b = Signal(layout), Signal(layout)
    m = Module()
    outs = {}
    for style in SumStyle:
        outs[style] = s = Signal(name=f"first_{style.value}")
        m.d.comb += s.eq(goes_first(a, b, style))
    key_bits, index_bits = layout["key"].shape.width, layout["index"].shape.width
    keys = [-(1 << (key_bits - 1)), -(1 << (key_bits - 1)) + 1, -1, 0, 1, (1 << (key_bits - 1)) - 1]
    indices = [0, 1, (1 << index_bits) - 1]
    rng = random.Random(seeded(key_bits * 64 + index_bits))

    def item():
        return (rng.getrandbits(1), rng.choice(keys) if rng.random() < 0.5 else rng.randrange(-8, 8),
                rng.choice(indices) if rng.random() < 0.3 else rng.randrange(4))

    pairs = [(item(), item()) for _ in range(4000)]
    pairs += [(x, x) for x, _ in pairs[:200]]
    errors = []

    async def bench(ctx):
        for x, y in pairs:
            for sig, (real, key, index) in ((a, x), (b, y)):
                ctx.set(sig.real, real)
                ctx.set(sig.key, key)
                ctx.set(sig.index, index)
            want = (x[0], x[1], -x[2]) >= (y[0], y[1], -y[2])
            got = {style: ctx.get(outs[style]) for style in SumStyle}
            if any(v != want for v in got.values()):
                errors.append((x, y, got))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not errors, f"(a, b, results) {errors[:3]}"


@pytest.mark.parametrize("width", [pipelined_arith.CHUNK + 1, 35, 54])
def test_carries_that_ripple_through_whole_chunks_are_exact(width):
    """The two-stage adder against the plain integer sum, on operands built so carries cross chunks: per chunk b is
    ~a (a carry-in ripples through), random, or ~a plus one (a carry is made there), and a - b, a + b + c too."""
    from amaranth.hdl import Signal

    a, b, c = Signal(width), Signal(width), Signal(width)
    m = Module()
    outs = {"a+b": [(a, 1), (b, 1)], "a-b": [(a, 1), (b, -1)], "a+b+c": [(a, 1), (b, 1), (c, 1)]}
    built = {key: pipelined_arith.pipelined_sum(m, terms, width, key.replace("+", "p").replace("-", "m"))
             for key, terms in outs.items()}
    chunk, mask = pipelined_arith.CHUNK, (1 << width) - 1
    rng = random.Random(seeded(width))

    def operands():
        x = rng.getrandbits(width)
        y = 0
        for lo in range(0, width, chunk):
            part = (x >> lo) & ((1 << chunk) - 1)
            y |= rng.choice([~part, ~part, rng.getrandbits(chunk), ~part + 1]) % (1 << chunk) << lo
        y &= mask
        return x, rng.choice([y, (-x) & mask, (-x - 1) & mask]), rng.choice([0, 1, mask, rng.getrandbits(width)])

    stimuli = [operands() for _ in range(1500)]
    latency = max(lat for _, lat in built.values())
    assert all(lat == latency for _, lat in built.values())
    errors = []

    def signed(v):
        v &= mask
        return v - (1 << width) if v >> (width - 1) else v

    async def bench(ctx):
        for cycle in range(len(stimuli) + latency):
            if cycle < len(stimuli):
                for s, v in zip((a, b, c), stimuli[cycle]):
                    ctx.set(s, v)
            if cycle >= latency:
                x, y, z = stimuli[cycle - latency]
                want = {"a+b": signed(x + y), "a-b": signed(x - y), "a+b+c": signed(x + y + z)}
                for key, (value, _) in built.items():
                    if ctx.get(value) != want[key]:
                        errors.append((key, x, y, z, ctx.get(value), want[key]))
            await ctx.tick()

    run_clocked(m, bench)
    assert not errors, f"(sum, a, b, c, got, want) {errors[:3]}"


@pytest.mark.parametrize("width", [5, 8])
def test_the_counter_counts_exactly_in_both_spellings(width):
    """pipelined_arith.counter against a plain count modulo 2^width, through many wraps of both halves, with `inc`
    random, held high for long runs (the half-carry flag) and low."""
    from amaranth.hdl import Signal

    inc = Signal()
    m = Module()
    values = {style: pipelined_arith.counter(m, width, inc, f"count_{style.value}", style=style) for style in SumStyle}
    rng = random.Random(seeded(width))
    pattern = [rng.random() < 0.7 for _ in range(3000)] + [True] * (3 << width) + [False] * 5
    errors = []

    async def bench(ctx):
        count = 0
        for cycle, step in enumerate(pattern):
            got = {style: ctx.get(v) for style, v in values.items()}
            if any(g != count for g in got.values()):
                errors.append((cycle, count, got))
            ctx.set(inc, step)
            await ctx.tick()
            count = (count + step) % (1 << width)

    run_clocked(m, bench)
    assert not errors, f"(cycle, want, got) {errors[:3]}"


@pytest.mark.parametrize("with_constant", [True, False])
def test_narrow_signed_and_negated_terms_sum_exactly(with_constant):
    """Signed and unsigned terms narrower than the sum, added and subtracted, shifted by a constant Product, with and
    without a constant vector (without one, terms are extended to the full width instead), against the integers."""
    from amaranth.hdl import Signal, signed

    width = 30
    a, b, c = Signal(signed(9)), Signal(7), Signal(signed(12))
    terms = [(a, 1), (b, -1), (c, -1)] + pipelined_arith.constant_product_terms(a, 11, 3)
    if with_constant:
        terms.append((5, 1))
    else:
        terms = [(a, 1), (c, 1)] + pipelined_arith.constant_product_terms(b, 5, 2)   # no negative digit
    m = Module()
    total, latency = pipelined_arith.pipelined_sum(m, terms, width, "narrow")
    rng = random.Random(seeded(7))
    stimuli = [(rng.randrange(-256, 256), rng.randrange(128), rng.randrange(-2048, 2048)) for _ in range(400)]
    stimuli += [(x, y, z) for x in (-256, 255, 0) for y in (0, 127) for z in (-2048, 2047)]
    errors = []

    def want(x, y, z):
        if with_constant:
            return x - y - z + x * 11 * 8 + 5
        return x + z + y * 5 * 4

    async def bench(ctx):
        for cycle in range(len(stimuli) + latency):
            if cycle < len(stimuli):
                for s, v in zip((a, b, c), stimuli[cycle]):
                    ctx.set(s, v)
            if cycle >= latency and ctx.get(total) != want(*stimuli[cycle - latency]):
                errors.append((stimuli[cycle - latency], ctx.get(total), want(*stimuli[cycle - latency])))
            await ctx.tick()

    run_clocked(m, bench)
    assert not errors, f"(a, b, c), got, want: {errors[:3]}"


@pytest.mark.parametrize("bits,is_signed", [(20, True), (13, True), (7, True), (12, False), (6, False)])
def test_constant_products_by_slice_tables_are_exact(bits, is_signed):
    """a * constant summed from tables of its 6-bit slices (the top slice signed when a is, a 1-bit top slice
    included), minus a second such product, against the integers: every value of a up to 13 bits, random and extreme
    ones above."""
    from amaranth.hdl import Signal, signed

    a = Signal(signed(bits) if is_signed else bits)
    big, small = 24204406, 11629080 >> 9          # log2(e) and ln(2) constants of the default build, many digits
    for constant in (big, small):
        product = pipelined_arith.Product(a, constant)
        assert len(product.partial_terms(1)) == -(-bits // pipelined_arith.TABLE_BITS), "not the table spelling"
    terms = pipelined_arith.constant_product_terms(a, big, 3) + [(pipelined_arith.Product(a, small), -1)]
    width = bits + 30
    m = Module()
    total, latency = pipelined_arith.pipelined_sum(m, terms, width, "tables")
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if is_signed else (0, 1 << bits)
    rng = random.Random(seeded(bits))
    stimuli = list(range(lo, hi)) if bits <= 13 else [lo, hi - 1, 0, -1] + [rng.randrange(lo, hi) for _ in range(3000)]
    errors = []

    async def bench(ctx):
        for cycle in range(len(stimuli) + latency):
            if cycle < len(stimuli):
                ctx.set(a, stimuli[cycle])
            if cycle >= latency:
                x = stimuli[cycle - latency]
                if ctx.get(total) != x * big * 8 - x * small:
                    errors.append((x, ctx.get(total), x * big * 8 - x * small))
            await ctx.tick()

    run_clocked(m, bench)
    assert not errors, f"(a, got, want): {errors[:3]}"


@pytest.mark.parametrize("fmt,out_bits,frac_bits", [("fp32", 20, 12), ("fp32", 32, 12), ("bf16", 20, 12),
                                                    ("fp16", 8, 3)])
def test_float_to_fixed_has_the_same_value_in_both_spellings(fmt, out_bits, frac_bits):
    """FloatToFixed's shift (a window when the mantissa is wider than the output, else a capped left shift) in both
    spellings, on random words and a stride through every exponent, cycle by cycle."""
    from beamstream.hw.float_to_fixed import FloatToFixed

    m = Module()
    m.submodules.shallow = shallow = FloatToFixed(fmt, out_bits, frac_bits)
    m.submodules.operator = operator = FloatToFixed(fmt, out_bits, frac_bits, sums=SumStyle.OPERATOR)
    m.d.comb += operator.i.eq(shallow.i)
    bits = len(shallow.i)
    rng = random.Random(seeded(bits + out_bits))
    words = [rng.getrandbits(bits) for _ in range(2000)] + list(range(0, 1 << bits, (1 << bits) // 4000 or 1))
    errors = []

    async def bench(ctx):
        for word in words:
            ctx.set(shallow.i, word)
            await ctx.tick()
            if ctx.get(shallow.o) != ctx.get(operator.o):
                errors.append((hex(word), ctx.get(shallow.o), ctx.get(operator.o)))

    run_clocked(m, bench)
    assert not errors, f"(word, shallow, operator) {errors[:3]}"


@pytest.mark.parametrize("a_bits,b_bits,sign", [(14, 10, -1), (17, 10, 1), (5, 7, 1), (3, 1, -1)])
def test_variable_products_by_two_bit_digits_are_exact(a_bits, b_bits, sign):
    """sign * a * b summed from one pick of 0, a, 2a, 3a per two bits of b (an odd top digit included), given
    3 * a as a signal, beside a constant, against the integers; every pair of values when that is few, else random
    and extreme ones."""
    from amaranth.hdl import Signal

    a, b, triple = Signal(a_bits), Signal(b_bits), Signal(a_bits + 2)
    terms = pipelined_arith.variable_product_terms(a, b, sign, 3, triple=triple) + [(1 << (a_bits + b_bits), 1)]
    product = terms[0][0]
    assert len(product.partial_terms(sign)) == -(-b_bits // 2), "not the two-bit spelling"
    width = a_bits + b_bits + 6
    m = Module()
    total, latency = pipelined_arith.pipelined_sum(m, terms, width, "digits")
    rng = random.Random(seeded(a_bits * 100 + b_bits))
    if a_bits + b_bits <= 12:
        stimuli = [(x, y) for x in range(1 << a_bits) for y in range(1 << b_bits)]
    else:
        ends = [0, 1, (1 << a_bits) - 1], [0, 1, (1 << b_bits) - 1]
        stimuli = [(x, y) for x in ends[0] for y in ends[1]]
        stimuli += [(rng.getrandbits(a_bits), rng.getrandbits(b_bits)) for _ in range(3000)]
    errors = []

    def want(x, y):
        return sign * x * y * 8 + (1 << (a_bits + b_bits))

    async def bench(ctx):
        for cycle in range(len(stimuli) + latency):
            if cycle < len(stimuli):
                x, y = stimuli[cycle]
                ctx.set(a, x)
                ctx.set(b, y)
                ctx.set(triple, 3 * x)
            if cycle >= latency and ctx.get(total) != want(*stimuli[cycle - latency]):
                errors.append((stimuli[cycle - latency], ctx.get(total), want(*stimuli[cycle - latency])))
            await ctx.tick()

    run_clocked(m, bench)
    assert not errors, f"(a, b), got, want: {errors[:3]}"
