"""The step's top-k over all beams: one TopKChain on a composite key.

The key is (score, ~beam, ~token) concatenated, so a larger key is a better candidate under the step's tie rule
(equal scores: smaller beam, then smaller token) whatever order the candidates arrive in. Within a beam, scores
that saturate or are forced to -inf can tie while their keys differ, and such candidates arrive in key order,
not token order, so the arrival-order tie rule of the chain alone would not do.
"""
from amaranth.hdl import Cat, Module, Mux, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import SCORE_BITS, SCORE_NEG_INF
from .topk_chain import TopKChain


class GlobalTopK(wiring.Component):
    """Ports per docs/hw-contracts.md; `step_buffers` finished steps may await output."""

    step_buffers = TopKChain.row_buffers
    #: cycles from `step_last` to the step's first result on `o` (with `o.ready` high)
    latency = TopKChain.latency

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "valid": In(1),
            "score": In(signed(SCORE_BITS)),
            "beam": In(cfg.beam_bits),
            "token": In(cfg.token_bits),
            "step_last": In(1),
            "k": In(range(cfg.k_max + 1)),
            "o": Out(stream.Signature(data.StructLayout({
                "score": signed(SCORE_BITS), "beam": cfg.beam_bits, "token": cfg.token_bits, "last": 1}))),
            "step_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.chain = chain = TopKChain(signed(SCORE_BITS + cfg.beam_bits + cfg.token_bits), 0, cfg.k_max)
        m.d.comb += [
            chain.valid.eq(self.valid),
            chain.key.eq(Cat(~self.token, ~self.beam, self.score)),
            chain.last.eq(self.step_last),
            chain.k.eq(self.k),
        ]
        key = chain.o.p.key.as_unsigned()
        real = chain.o.p.real
        m.d.comb += [
            self.o.valid.eq(chain.o.valid),
            chain.o.ready.eq(self.o.ready),
            self.o.p.score.eq(Mux(real, key[-SCORE_BITS:], SCORE_NEG_INF)),
            self.o.p.beam.eq(Mux(real, ~key[cfg.token_bits:cfg.token_bits + cfg.beam_bits], 0)),
            self.o.p.token.eq(Mux(real, ~key[:cfg.token_bits], 0)),
            self.o.p.last.eq(chain.o.p.last),
            self.step_done.eq(self.o.valid & self.o.ready & self.o.p.last),
        ]
        return m
