"""score = sat32(key + beam_score - lse), or SCORE_NEG_INF when the key, the beam score or the row is -inf.

Model: beamstream.hwmodel.numerics.normalise. One pipelined three-term sum, then saturation and the -inf rules.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interface import SCORE_BITS, SCORE_MAX, SCORE_NEG_INF
from .pipelined_arith import SumStyle, delayed, pipelined_sum, sum_latency

SUM_BITS = SCORE_BITS + 3   # |key + s - lse| < 3 * 2^31


class ScoreNormaliser(wiring.Component):
    def __init__(self, cfg, *, sums: SumStyle = SumStyle.SHALLOW):
        self.cfg = cfg
        self.sums = sums
        super().__init__({
            "key": In(signed(cfg.logit_bits)), "beam_score": In(signed(SCORE_BITS)), "lse": In(signed(SCORE_BITS)),
            "neg_inf": In(1), "score": Out(signed(SCORE_BITS)),
        })
        self._lat_sum = sum_latency(self._terms(), SUM_BITS)
        self.latency = self._lat_sum + 1

    def _terms(self):
        return [(self.key, 1), (self.beam_score, 1), (self.lse, -1)]

    def elaborate(self, platform):
        m = Module()
        raw, lat = pipelined_sum(m, self._terms(), SUM_BITS, "norm_raw", style=self.sums)
        assert lat == self._lat_sum
        dead = (self.key == self.cfg.key_neg_inf) | (self.beam_score == SCORE_NEG_INF) | self.neg_inf
        dead = delayed(m, dead, lat, "norm_dead", reset_less=True)     # data: the caller's valid is delayed beside it
        # raw = high * 2^31 + low: above SCORE_MAX iff high >= 1, below -SCORE_MAX iff raw <= -2^31 (no wide compare)
        high, low = raw[SCORE_BITS - 1:].as_signed(), raw[:SCORE_BITS - 1]
        too_big = high > 0
        too_small = (high < -1) | ((high == -1) & (low == 0))
        score = Signal(signed(SCORE_BITS), name="norm_score", reset_less=True)
        m.d.sync += score.eq(Mux(dead, SCORE_NEG_INF,
                             Mux(too_big, SCORE_MAX,
                             Mux(too_small, -SCORE_MAX, raw))))
        m.d.comb += self.score.eq(score)
        return m
