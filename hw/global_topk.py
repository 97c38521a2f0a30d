"""The step's top-k over all beams: a sorted list that each candidate is inserted into in one cycle.

Entry i of the list holds the step's i-th best candidate so far as one rank word, `Cat(~token, ~beam, score)` with
the score in unsigned order: a larger word is a better candidate under the step's rule (larger score, then smaller
beam, then smaller token), whatever order the candidates arrive in. Within a beam, scores that saturate or are
forced to -inf can tie while their keys differ, and such candidates arrive in key order, not token order, so the
rank word carries the whole rule. Every entry compares the arriving candidate with itself (a balanced compare tree,
hw/topk_chain.greater_than); the entries it beats shift down one place and it lands in the first of them. The list
is updated only on a cycle with a candidate: the block does its work on a row's k cycles and holds still for the
rest of it.

On `step_last` the list with that cycle's candidate in it is copied into the output buffer (a clock enable) and
the list restarts empty, so the next step's first candidate may arrive on the next cycle. The reader streams the
buffer's first k entries best first, padding (SCORE_NEG_INF, 0, 0) where the step had fewer than k candidates.
One finished step is held (`step_buffers` = 1): the next `step_last` may come once `step_done` has pulsed, or,
while `o.ready` stays high, k cycles after the previous one (the reader reads the buffer's last entry on the cycle
the next step overwrites it, and the next reading starts after that). `end`, sampled with `step_last`, comes back
on that step's items (the core marks there whether a unit of results ends its step).
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import SCORE_BITS, SCORE_NEG_INF
from .pipelined_arith import SumStyle
from .topk_chain import as_ordered, buffer_reader, greater_than, mux_tree


class GlobalTopK(wiring.Component):
    """Ports per docs/hw-contracts.md; `step_buffers` finished steps may await output."""

    step_buffers = 1
    #: cycles from `step_last` to the step's first result on `o` (with `o.ready` high)
    latency = 2

    def __init__(self, cfg, *, sums: SumStyle = SumStyle.SHALLOW):
        self.cfg = cfg
        self.sums = sums
        super().__init__({
            "valid": In(1),
            "score": In(signed(SCORE_BITS)),
            "beam": In(cfg.beam_bits),
            "token": In(cfg.token_bits),
            "step_last": In(1),
            "k": In(range(cfg.k_max + 1)),
            "end": In(1),
            "o": Out(stream.Signature(data.StructLayout({
                "score": signed(SCORE_BITS), "beam": cfg.beam_bits, "token": cfg.token_bits, "last": 1,
                "end": 1}))),
            "step_done": Out(1),
        })
        #: a candidate or a step's end arrives, or the reader has work; without it no register changes
        self.busy = Signal()

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        depth = cfg.k_max
        rank_bits = cfg.token_bits + cfg.beam_bits + SCORE_BITS
        # An empty entry holds the padding's rank word, (SCORE_NEG_INF, beam 0, token 0): it starts and restarts
        # so (a synchronous set/reset of its flip-flops), and a shift down only moves padding into empty entries.
        # So the reader needs no valid bit; a real candidate with that word reads the same as padding anyway.
        low_bits = cfg.token_bits + cfg.beam_bits
        pad = ((SCORE_NEG_INF % (1 << SCORE_BITS)) ^ (1 << (SCORE_BITS - 1))) << low_bits | ((1 << low_bits) - 1)
        valid = [Signal(name=f"e{i}_valid") for i in range(depth)]
        rank = [Signal(rank_bits, name=f"e{i}_rank", init=pad) for i in range(depth)]
        out_rank = [Signal(rank_bits, name=f"out{i}_rank", reset_less=True) for i in range(depth)]

        x = Signal(rank_bits)
        m.d.comb += x.eq(Cat(~self.token, ~self.beam, as_ordered(self.score)))
        # beats[i]: there is a candidate and it belongs before entry i (monotone in i: the list is sorted). With no
        # candidate the next list is the list itself, so the list and the output buffer load the same next-list
        # logic (one LUT per bit and entry, not one each).
        beats = [self.valid & (~v | greater_than(x, r, style=self.sums)) for v, r in zip(valid, rank)]
        new_valid, new_rank = [], []
        for i in range(depth):
            if i == 0:
                nv, nr = Mux(beats[0], 1, valid[0]), Mux(beats[0], x, rank[0])
            else:
                nv = Mux(beats[i], Mux(beats[i - 1], valid[i - 1], 1), valid[i])
                nr = Mux(beats[i], Mux(beats[i - 1], rank[i - 1], x), rank[i])
            new_valid.append(nv)
            new_rank.append(nr)
        with m.If(self.step_last):
            m.d.sync += [v.eq(0) for v in valid] + [r.eq(pad) for r in rank]
            m.d.sync += [o.eq(n) for o, n in zip(out_rank, new_rank)]
        with m.Elif(self.valid):
            m.d.sync += [v.eq(n) for v, n in zip(valid, new_valid)] + [r.eq(n) for r, n in zip(rank, new_rank)]

        # The reader: the buffer's first k entries, entry 0 first, one per cycle.
        step_k = Signal.like(self.k)
        step_end = Signal()
        # The next reading starts on the cycle the last entry is loaded, so units k cycles apart never queue up.
        ptr, load, is_last, _, reading = buffer_reader(m, self.o, self.step_last, step_k, depth, back_to_back=True)
        if self.sums is SumStyle.OPERATOR:
            m.d.comb += self.busy.eq(self.valid | self.step_last | reading)
        entry_rank = mux_tree(out_rank, ptr)
        score_bits = entry_rank[-SCORE_BITS:]           # in unsigned order
        with m.If(self.step_last):
            m.d.sync += [step_k.eq(self.k), step_end.eq(self.end)]
        with m.If(load):
            m.d.sync += [
                self.o.p.score.eq(Cat(score_bits[:-1], ~score_bits[-1]).as_signed()),
                self.o.p.beam.eq(~entry_rank[cfg.token_bits:cfg.token_bits + cfg.beam_bits]),
                self.o.p.token.eq(~entry_rank[:cfg.token_bits]),
                self.o.p.last.eq(is_last),
                self.o.p.end.eq(step_end),
            ]
        m.d.comb += self.step_done.eq(self.o.valid & self.o.ready & self.o.p.last)
        return m
