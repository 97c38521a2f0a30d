"""A streaming 2-way merge of two sorted rows into their top k: the node of BeamTopK's merge tree.

Each input delivers exactly k items per row, best first, `last` on the k-th, each item echoing its row's k (the
TopKChain item layout). The node emits the best k of the 2k, then drops what is left of the row on both inputs
(both at once, one item per cycle each) and starts the next row. Rank: real before padding, larger key first,
equal keys by smaller index. Its output is a 2-slot queue whose `ready` to the inputs is registered, so a tree of
nodes keeps one comparison per LUT path instead of a ready chain through every level.
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .pipelined_arith import SumStyle
from .topk_chain import as_ordered, greater_than


def rank(item):
    """An unsigned value that orders items best-first: real, then key, then the smaller index."""
    return Cat(~item.index, as_ordered(item.key), item.real)


def goes_first(a, b, style: SumStyle = SumStyle.SHALLOW):
    """rank(a) >= rank(b). SumStyle.OPERATOR compares field by field: a simulator then assembles no rank words."""
    if style is SumStyle.OPERATOR:
        return Mux(a.real != b.real, a.real, Mux(a.key != b.key, a.key > b.key, a.index <= b.index))
    return greater_than(rank(a), rank(b), or_equal=True, style=style)


class MergeTwo(wiring.Component):
    def __init__(self, item_layout, *, sums: SumStyle = SumStyle.SHALLOW):
        self.item_layout = item_layout
        self.sums = sums
        super().__init__({
            "a": In(stream.Signature(item_layout)),
            "b": In(stream.Signature(item_layout)),
            "o": Out(stream.Signature(item_layout)),
        })
        #: an item is queued or a row is half merged; without it (and a valid input) no register changes
        self.busy = Signal()

    def elaborate(self, platform):
        m = Module()
        a, b, o = self.a, self.b, self.o

        spare = Signal(self.item_layout)                # second queue slot, behind o.payload
        spare_valid = Signal()
        emitted = Signal.like(a.p.k)                    # items of this row emitted so far
        draining = Signal()                             # the row's k are out: drop the inputs' leftovers
        a_done, b_done = Signal(), Signal()             # that input's row `last` was taken
        if self.sums is SumStyle.OPERATOR:                  # only the device spelling asks (pipelined_arith.BURST)
            m.d.comb += self.busy.eq(o.valid | spare_valid | draining | a_done | b_done)

        pick_a = goes_first(a.p, b.p, self.sums)
        emit = ~draining & a.valid & b.valid & ~spare_valid
        m.d.comb += [
            a.ready.eq(Mux(draining, ~a_done, emit & pick_a)),
            b.ready.eq(Mux(draining, ~b_done, emit & ~pick_a)),
        ]
        item = Signal(self.item_layout)
        m.d.comb += item.eq(Mux(pick_a, a.p, b.p))
        # From the chosen input's k, not from `item.k`: `item` is one vector, and a path through it back into itself
        # reads as a combinational loop to a simulator.
        out_last = emitted + 1 >= Mux(pick_a, a.p.k, b.p.k)
        m.d.comb += item.last.eq(out_last)              # overrides the input's flag

        a_done_now = a_done | (a.valid & a.ready & a.p.last)
        b_done_now = b_done | (b.valid & b.ready & b.p.last)
        with m.If(draining & a_done_now & b_done_now):
            m.d.sync += [draining.eq(0), a_done.eq(0), b_done.eq(0)]
        with m.Else():
            m.d.sync += [a_done.eq(a_done_now), b_done.eq(b_done_now)]
            with m.If(emit):
                m.d.sync += emitted.eq(Mux(out_last, 0, emitted + 1))
                with m.If(out_last):
                    m.d.sync += draining.eq(1)

        # The queue: o.payload is the head, `spare` holds one more while the consumer stalls.
        with m.If(~o.valid | o.ready):
            with m.If(spare_valid):
                m.d.sync += [o.p.eq(spare), spare_valid.eq(0)]
            with m.Else():
                m.d.sync += [o.p.eq(item), o.valid.eq(emit)]
        with m.Elif(emit):
            m.d.sync += [spare.eq(item), spare_valid.eq(1)]
        return m
