"""Per-beam top-k of raw keys: one TopKChain per lane, then a tree of 2-way streaming merges.

Lane j of every beat feeds chain j (its tokens are base + j, in increasing order, so the chain's arrival-order
tie rule is "smaller token first"). When a row's last beat has passed, each chain streams its k best, the merge
tree (hw/merge.py) combines the P sorted lists into the row's k best while the next row already streams into the
chains. The tree's leaves read the chains' shadow registers, so the whole row costs no input cycle beyond its
beats, and the first item leaves `latency` cycles after the last beat.
"""
from amaranth.hdl import Cat, Const, DomainRenamer, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .merge import MergeTwo
from .pipelined_arith import SumStyle, burst_domain
from .topk_chain import TopKChain, chain_item_layout


class BeamTopK(wiring.Component):
    """Ports per the contract in docs/hw-contracts.md; `row_buffers` finished rows may await output."""

    row_buffers = TopKChain.row_buffers

    def __init__(self, cfg, tag_bits, *, sums: SumStyle = SumStyle.SHALLOW):
        self.cfg = cfg
        self.sums = sums
        self.tag_bits = tag_bits
        key = signed(cfg.logit_bits)
        # Power-of-two P: the chain keeps the beat number only; the lane number completes the token on the way out.
        self.lane_bits = (cfg.lanes - 1).bit_length() if cfg.lanes & (cfg.lanes - 1) == 0 else 0
        self.tree_layout = chain_item_layout(key, cfg.token_bits, cfg.k_max)
        self.merge_levels = (cfg.lanes - 1).bit_length()
        #: cycles from a row's last beat to its first item on `o` (with `o.ready` high)
        self.latency = TopKChain.latency + self.merge_levels
        super().__init__({
            "valid": In(1),
            "last": In(1),
            "keys": In(data.ArrayLayout(key, cfg.lanes)),
            "mask": In(cfg.lanes),
            "base": In(cfg.token_bits),
            "tag": In(tag_bits),
            "k": In(range(cfg.k_max + 1)),
            "o": Out(stream.Signature(data.StructLayout({
                "key": key, "token": cfg.token_bits, "real": 1, "last": 1, "tag": tag_bits}))),
            "row_done": Out(1),
        })
        #: a chain's reader or a merge node has work (all in burst_domain(sums))
        self.busy = Signal()

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        streams = []
        busy = []
        for lane in range(cfg.lanes):
            chain = TopKChain(signed(cfg.logit_bits), cfg.token_bits - self.lane_bits, cfg.k_max, sums=self.sums)
            m.submodules[f"chain{lane}"] = chain
            if self.lane_bits:
                beat_index = self.base[self.lane_bits:]
            else:
                beat_index = self.base + lane
            busy.append(chain.reader_busy)
            m.d.comb += [
                chain.valid.eq(self.valid & self.mask[lane]),
                chain.key.eq(self.keys[lane]),
                chain.index.eq(beat_index),
                chain.last.eq(self.valid & self.last),
                chain.k.eq(self.k),
            ]
            # The chain's items with the full token, as the merge tree ranks them.
            leaf = stream.Signature(self.tree_layout).create(path=(f"lane{lane}",))
            token = Cat(Const(lane, self.lane_bits), chain.o.p.index) if self.lane_bits else chain.o.p.index
            m.d.comb += [
                leaf.valid.eq(chain.o.valid),
                chain.o.ready.eq(leaf.ready),
                leaf.p.key.eq(chain.o.p.key),
                leaf.p.index.eq(token),
                leaf.p.real.eq(chain.o.p.real),
                leaf.p.last.eq(chain.o.p.last),
                leaf.p.k.eq(chain.o.p.k),
            ]
            streams.append(leaf)

        # Pair streams level by level; an odd one out moves up a level unmerged.
        n = 0
        while len(streams) > 1:
            paired = []
            for a, b in zip(streams[0::2], streams[1::2]):
                node = MergeTwo(self.tree_layout, sums=self.sums)
                m.submodules[f"merge{n}"] = DomainRenamer(burst_domain(self.sums))(node)
                busy.append(node.busy)
                n += 1
                wiring.connect(m, a, node.a)
                wiring.connect(m, b, node.b)
                paired.append(node.o)
            streams = paired + streams[len(paired) * 2:]
        root = streams[0]
        if self.sums is SumStyle.OPERATOR:
            m.d.comb += self.busy.eq(Cat(*busy).any())

        # The tag of the row whose last beat came last: the next one comes only after this row's row_done.
        tag = Signal(self.tag_bits)
        with m.If(self.valid & self.last):
            m.d.sync += tag.eq(self.tag)
        m.d.comb += [
            self.o.valid.eq(root.valid),
            root.ready.eq(self.o.ready),
            self.o.p.key.eq(Mux(root.p.real, root.p.key, cfg.key_neg_inf)),
            self.o.p.token.eq(Mux(root.p.real, root.p.index, 0)),
            self.o.p.real.eq(root.p.real),
            self.o.p.last.eq(root.p.last),
            self.o.p.tag.eq(tag),
            self.row_done.eq(self.o.valid & self.o.ready & self.o.p.last),
        ]
        return m
