"""The systolic top-K chain: K cells sort a stream of candidates, one per cycle, rows delimited by a marker.

Each cycle every cell compares the candidate handed down by its upper neighbour with the one it holds, keeps the
better and hands the other one down (registered), so a cell only ever talks to its neighbours and the logic depth
does not grow with K. Cell i sees candidate t at cycle t + i, after every earlier candidate: the chain computes
exactly the sequential insertion "walk down the sorted list, swap where the newcomer is better".

Ties without comparing indices: in sequential insertion a *fresh* candidate (never held by a cell) is newer than
everything in the list, so it displaces only a strictly smaller key and lands after equal keys; once it has been
placed, the item it pushed out (*displaced*) ranks before everything below it, so a displaced item always displaces.
Equal keys therefore leave in arrival order; a caller that wants another tie rule puts it in the key's low bits.

Rows: the marker rides with (or, with valid=0, as) the row's last candidate. The cycle after it passed cell i,
the cell copies its final value into its shadow register (a clock enable, no mux) and treats itself as empty for
the next row, which streams in without a bubble. Shadow j holds the row's j-th best from 2 + j cycles after the
marker entered, so a reader that starts at shadow 0 once the marker has left cell 0 and advances at most one entry
per cycle never overtakes the loading wave. It streams exactly k items per row, best first; `real` = 0 marks
empty cells (the row had fewer than k candidates), which rank below every key.

One finished row is held (`row_buffers` = 1): the next marker may enter once `row_done` has pulsed for the
previous row. Entries read after that (a consumer discarding the rest of a row) may already hold the next row.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipelined_arith import SumStyle


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
    feed cell 0 combinationally; `o` streams each row's k items; `row_done` pulses when a row's last item is taken.
    """

    row_buffers = 1
    #: cycles from the marker entering to the row's first item on `o` (with `o.ready` high)
    latency = 3

    def __init__(self, key_shape, index_width, depth):
        self.key_shape = Shape.cast(key_shape)
        self.index_width = index_width
        self.depth = depth
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

    def elaborate(self, platform):
        m = Module()
        # Each field of a held item is a signal of its own and keys are kept in unsigned order (sign bit flipped):
        # the same LUTs, but a simulator updates plain words instead of masking fields in and out of one vector.
        # Only the valid bits are reset; keys and indices are never read unless their valid bit is set.
        order = self.key_shape.signed

        def item(name):
            return (Signal(name=f"{name}_valid"), Signal(self.key_shape.width, name=f"{name}_key", reset_less=True),
                    Signal(self.index_width, name=f"{name}_index", reset_less=True))

        # What enters cell i: the chain input for cell 0, the upper neighbour's handed-down item otherwise.
        p_valid, p_key, p_index, p_disp, p_mark = self.valid, as_ordered(self.key), self.index, 0, self.last
        shadows = []
        for i in range(self.depth):
            s_valid, s_key, s_index = item(f"s{i}")     # the item the cell holds
            q_valid, q_key, q_index = item(f"q{i}")     # the item it hands down
            q_disp = Signal(name=f"q{i}_disp")          # ... which was held by this cell (displaced)
            q_mark = Signal(name=f"q{i}_mark")          # the row marker passed here last cycle
            shadow = item(f"shadow{i}")

            occupied = s_valid & ~q_mark                # a new row sees the cell empty
            take = p_valid & (p_disp | ~occupied | (p_key > s_key))
            with m.If(take):
                m.d.sync += [s_key.eq(p_key), s_index.eq(p_index)]
            m.d.sync += [
                s_valid.eq(take | occupied),
                q_key.eq(Mux(take, s_key, p_key)),
                q_index.eq(Mux(take, s_index, p_index)),
                q_valid.eq(Mux(take, occupied, p_valid)),
                q_disp.eq(take),
                q_mark.eq(p_mark),
            ]
            with m.If(q_mark):
                m.d.sync += [dst.eq(src) for dst, src in zip(shadow, (s_valid, s_key, s_index))]
            shadows.append(shadow)
            p_valid, p_key, p_index, p_disp, p_mark = q_valid, q_key, q_index, q_disp, q_mark
            if i == 0:
                row_ready = q_mark                      # shadow 0 is loaded at the end of this cycle

        # The reader: one row at a time, shadow 0 first, at most one entry per cycle.
        row_k = Signal.like(self.k)                     # k of the row whose marker entered last
        with m.If(self.last):
            m.d.sync += row_k.eq(self.k)
        pending = Signal()                              # a finished row waits for the reader
        active = Signal()
        ptr = Signal(range(max(self.depth, 2)))        # never zero bits wide, even for depth 1
        cur_k = Signal.like(self.k)
        start = ~active & (pending | row_ready)
        m.d.sync += pending.eq((pending | row_ready) & ~start)
        with m.If(start):
            m.d.sync += [active.eq(1), ptr.eq(0), cur_k.eq(row_k)]

        entry_valid, entry_key, entry_index = (mux_tree([shadow[f] for shadow in shadows], ptr) for f in range(3))
        if order:
            entry_key = Cat(entry_key[:-1], ~entry_key[-1])    # back from unsigned order
        is_last = ptr + 1 >= cur_k
        load = active & (~self.o.valid | self.o.ready)
        with m.If(load):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.key.eq(entry_key),
                self.o.payload.index.eq(entry_index),
                self.o.payload.real.eq(entry_valid),
                self.o.payload.last.eq(is_last),
                self.o.payload.k.eq(cur_k),
                ptr.eq(ptr + 1),
            ]
            with m.If(is_last):
                m.d.sync += active.eq(0)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.comb += self.row_done.eq(self.o.valid & self.o.ready & self.o.payload.last)
        return m
