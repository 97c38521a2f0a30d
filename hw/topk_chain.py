"""The top-K chain: a sorted list of K entries takes a stream of candidates, one per cycle, rows delimited by a marker.

Each cycle every entry compares the arriving candidate with the key it holds (`beats`: the entry is unused, or
the candidate's key is strictly larger). The list is sorted and its used entries come first, so the flags are
monotone: the candidate lands at the first flagged entry and each flagged entry below it takes its upper
neighbour's item (a 2:1 mux behind a clock enable); the K-th falls off. That is the sequential insertion "walk
down the sorted list, insert before the first smaller key" in one cycle, so after every cycle the list is the
sorted top K of the row so far. Equal keys leave in arrival order (a new candidate goes below equal keys); a caller
that wants another tie rule puts it in the key's low bits. An entry is idle unless the candidate reaches it: with
random keys that is a few cycles per row, so a simulator spends one compare per entry per cycle and little else.

Rows: the marker rides with (or, with valid=0, as) the row's last candidate. The cycle after it, the whole list is
copied into the shadow registers (a clock enable) and the list counts as empty (the record of used entries
restarts), so the next row streams in without a bubble. The reader starts at shadow 0 once they are loaded
and streams exactly k items per row, best first; `real` = 0 marks padding (the row had fewer than k candidates),
which ranks below every key; a padding item's key and index are whatever the entry last held.

One finished row is held (`row_buffers` = 1): the next marker may enter once `row_done` has pulsed for the
previous row. Entries read after that (a consumer discarding the rest of a row) may already hold the next row.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipelined_arith import SumStyle, burst_domain


def greater_than(a, b, *, or_equal=False, chunk=3, style=SumStyle.SHALLOW):
    """`a > b` (or `>=`) on two unsigned values as a balanced tree of small comparisons.

    Written out so the LUT depth is log(width) whatever the surrounding logic: left to itself, the generic
    comparator sometimes maps to a ripple through the whole width inside large designs. SumStyle.OPERATOR spells
    it as the plain operator instead (the same function; one machine compare in a Verilated model).
    """
    a, b = Value.cast(a), Value.cast(b)
    if style is SumStyle.OPERATOR:
        return a >= b if or_equal else a > b
    terms = [(a[i:i + chunk] > b[i:i + chunk], a[i:i + chunk] == b[i:i + chunk]) for i in range(0, len(a), chunk)]
    if or_equal:
        terms.insert(0, (Const(1), Const(0)))           # a tie below the lowest bit counts as greater
    while len(terms) > 1:                               # (greater, equal) pairs, high part wins unless equal
        merged = []
        for i in range(0, len(terms), 2):
            if i + 1 == len(terms):
                merged.append(terms[i])
            else:
                (gt_lo, eq_lo), (gt_hi, eq_hi) = terms[i], terms[i + 1]
                merged.append((gt_hi | (eq_hi & gt_lo), eq_hi & eq_lo))
        terms = merged
    return terms[0][0]


def as_ordered(value):
    """`value` as an unsigned value with the same order (a signed one gets its sign bit flipped)."""
    value = Value.cast(value)
    return Cat(value[:-1], ~value[-1]) if value.shape().signed else value


def mux_tree(items, sel):
    """items[sel] as a binary tree of 2:1 muxes on the bits of `sel`."""
    level = list(items)
    for bit in range(len(sel)):
        level = [Mux(sel[bit], level[i + 1], level[i]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def buffer_reader(m, o, new, k, depth: int, *, back_to_back: bool = False, domain: str = "sync"):
    """The reader of a finished buffer: its entries 0..k-1 on stream `o`, one per cycle while `o` is ready. `new`
    pulses when a buffer is finished; one more may wait for the reader. `k` must hold still during a reading.
    back_to_back: the next reading starts on the cycle the last entry loads (else the cycle after).
    Returns (ptr, load, is_last, start, busy): under m.If(load) the caller drives o's payload from entry `ptr`;
    without `busy` (a buffer waits, is being read, or an item is on `o`) and `new` no register of it changes."""
    pending = Signal()                              # a finished buffer waits for the reader
    active = Signal()
    ptr = Signal(range(max(depth, 2)))              # never zero bits wide, even for depth 1
    is_last = ptr + 1 >= k
    load = active & (~o.valid | o.ready)
    start = (~active | (load & is_last) if back_to_back else ~active) & (pending | new)
    m.d[domain] += pending.eq((pending | new) & ~start)
    with m.If(load):
        m.d[domain] += [o.valid.eq(1), ptr.eq(ptr + 1)]
        with m.If(is_last):
            m.d[domain] += active.eq(0)
    with m.Elif(o.ready):
        m.d[domain] += o.valid.eq(0)
    with m.If(start):                               # after the load: wins over its `active` and `ptr`
        m.d[domain] += [active.eq(1), ptr.eq(0)]
    return ptr, load, is_last, start, pending | active | o.valid


def chain_item_layout(key_shape, index_width, depth):
    """What the chain streams out: one of a row's k best, with its row's k echoed for downstream counters."""
    return data.StructLayout({
        "key": key_shape,
        "index": unsigned(index_width),
        "real": 1,                      # 0: padding, the row had fewer candidates than k
        "last": 1,                      # the row's k-th item
        "k": unsigned(Shape.cast(range(depth + 1)).width),
    })


class TopKChain(wiring.Component):
    """Top-`k` (runtime, 1..depth) of each row of (key, index) candidates, larger key first, ties in arrival order.

    Ports: `valid`, `key`, `index`, `last` (row-end marker; may come with valid=0), `k` (sampled with `last`)
    feed every entry combinationally; `o` streams each row's k items; `row_done` pulses when a row's last item is taken.
    """

    row_buffers = 1
    #: cycles from the marker entering to the row's first item on `o` (with `o.ready` high)
    latency = 3

    def __init__(self, key_shape, index_width, depth, *, sums: SumStyle = SumStyle.SHALLOW):
        self.key_shape = Shape.cast(key_shape)
        self.index_width = index_width
        self.depth = depth
        self.sums = sums
        self.item_layout = chain_item_layout(self.key_shape, index_width, depth)
        super().__init__({
            "valid": In(1),
            "key": In(self.key_shape),
            "index": In(index_width),
            "last": In(1),
            "k": In(range(depth + 1)),
            "o": Out(stream.Signature(self.item_layout)),
            "row_done": Out(1),
        })
        #: the shadows or the reader have work (they are in burst_domain(sums); read by the device spelling)
        self.reader_busy = Signal()

    def elaborate(self, platform):
        m = Module()
        burst = burst_domain(self.sums)
        # Keys are kept in unsigned order (sign bit flipped). Entry i holds the row's i-th best so far; the used
        # entries come first, and only the record of how many there are is reset, not keys and indices.
        order = self.key_shape.signed
        key = as_ordered(self.key)
        keys = [Signal(self.key_shape.width, name=f"e{i}_key", reset_less=True) for i in range(self.depth)]
        indices = [Signal(self.index_width, name=f"e{i}_index", reset_less=True) for i in range(self.depth)]
        new_row = Signal()                              # the row marker came last cycle: the list restarts empty
        m.d.sync += new_row.eq(self.last)
        # The record of used entries, two spellings of one thing (the same outputs at every cycle,
        # tests/test_chain_spellings.py): synthesis keeps a thermometer code (bit i: entry i is in use; one flip-flop
        # and one LUT input per entry), the Verilated device (SumStyle.OPERATOR) a count, one word to update.
        # beats[i] (beaten[i] as an expression): the candidate goes at or above entry i. Monotone in i (the list is
        # sorted, unused entries last), so the candidate lands at the first such entry and each entry below takes
        # its upper neighbour's.
        if self.sums is SumStyle.OPERATOR:
            used = Signal(range(self.depth + 1), name="fill")
            used_now = Mux(new_row, 0, used)
            used_next = Mux(self.valid & (used_now < self.depth), used_now + 1, used_now)
            # Without a candidate the count reads full and the key lowest, so that no entry is beaten: one test of
            # the valid flag per cycle instead of one per entry.
            used_seen, key_seen = Mux(self.valid, used_now, self.depth), Mux(self.valid, key, 0)
            beaten = [(used_seen <= i) | (key_seen > keys[i]) for i in range(self.depth)]
        else:
            used = Signal(self.depth, name="used")
            used_now = Mux(new_row, 0, used)
            used_next = Mux(self.valid, Cat(1, used_now[:-1]), used_now)    # one more in use, up to all
            beaten = [self.valid & (~used_now[i] | (key > keys[i])) for i in range(self.depth)]
        m.d.sync += used.eq(used_next)
        beats = [Signal(name=f"beats{i}") for i in range(self.depth)]
        for i in range(self.depth):
            m.d.comb += beats[i].eq(beaten[i])
            with m.If(beats[i]):
                if i == 0:
                    m.d.sync += [keys[i].eq(key), indices[i].eq(self.index)]
                else:
                    m.d.sync += [keys[i].eq(Mux(beats[i - 1], keys[i - 1], key)),
                                 indices[i].eq(Mux(beats[i - 1], indices[i - 1], self.index))]

        # The finished row: the list as the cycle after its marker finds it, copied at once (a clock enable).
        shadow_keys = [Signal.like(k, name=f"shadow{i}_key", reset_less=True) for i, k in enumerate(keys)]
        shadow_indices = [Signal.like(x, name=f"shadow{i}_index", reset_less=True) for i, x in enumerate(indices)]
        shadow_used = Signal.like(used, reset_less=True)
        with m.If(new_row):
            m.d[burst] += shadow_used.eq(used)
            m.d[burst] += [dst.eq(src) for dst, src in zip(shadow_keys + shadow_indices, keys + indices)]
        row_ready = new_row                             # the shadows are loaded at the end of this cycle

        # The reader: one row at a time, shadow 0 first, at most one entry per cycle.
        row_k = Signal.like(self.k)                     # k of the row whose marker entered last
        with m.If(self.last):
            m.d.sync += row_k.eq(self.k)
        cur_k = Signal.like(self.k)
        ptr, load, is_last, start, busy = buffer_reader(m, self.o, row_ready, cur_k, self.depth, domain=burst)
        if self.sums is SumStyle.OPERATOR:                  # only the device spelling asks (pipelined_arith.BURST)
            m.d.comb += self.reader_busy.eq(row_ready | busy)
        with m.If(start):
            m.d[burst] += cur_k.eq(row_k)

        entry_valid = ptr < shadow_used if self.sums is SumStyle.OPERATOR else mux_tree(shadow_used, ptr)
        entry_key, entry_index = mux_tree(shadow_keys, ptr), mux_tree(shadow_indices, ptr)
        if order:
            entry_key = Cat(entry_key[:-1], ~entry_key[-1])    # back from unsigned order
        with m.If(load):
            m.d[burst] += [
                self.o.payload.key.eq(entry_key),
                self.o.payload.index.eq(entry_index),
                self.o.payload.real.eq(entry_valid),
                self.o.payload.last.eq(is_last),
                self.o.payload.k.eq(cur_k),
            ]
        m.d.comb += self.row_done.eq(self.o.valid & self.o.ready & self.o.payload.last)
        return m
