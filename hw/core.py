"""The decode-step core: framing, the score datapath of docs/interface.md §1, the credits that stall the input,
and the counters and error bits the registers show.

    i ─► Unpack ─► FloatToFixed ×P ─┬─► OnlineLogSumExp ─► LSE FIFO ─┐
          │        FloatToFixed(s) ─┴─► BeamTopK ───────────────────┴─► ScoreNormaliser ─► GlobalTopK ─► o
          └─ header: beam score                                        (drops a step with a framing error)

Everything behind Unpack is valid-only. Two credits keep it from overflowing, both checked at the input beat
that would need the space: a row's closing beat waits while BeamTopK's finished-row buffers are all promised, a
step's closing beat waits while GlobalTopK's finished-step buffers are. So m_axis may stall forever and nothing
is lost: the input stops instead.

A step that Unpack closed early or late is still carried to its end through the datapath (so every block sees
whole rows and steps), and its results are dropped at the output. CTRL clear resets everything behind Unpack;
Unpack itself drains the rest of the step it was in.
"""
from amaranth.hdl import Cat, Const, DomainRenamer, Module, Mux, ResetInserter, ResetSignal, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .beam_topk import BeamTopK
from .float_to_fixed import FloatToFixed
from .global_topk import GlobalTopK
from .interface import RESULT_FIELDS, SCORE_BITS, CoreConfig
from .logsumexp import OnlineLogSumExp
from .normalise import ScoreNormaliser
from .pipelined_arith import (BURST, SumStyle, burst_domain, counter, delayed, delayed_together, pipelined_sum,
                              sum_latency)
from .unpack import Unpack, data_beat_layout, input_beat_layout

COUNTER_BITS = 32

# One m_axis beat (docs/interface.md §2): fields in RESULT_FIELDS' order, lowest bits first.
RESULT_LAYOUT = data.StructLayout({name: signed(width) if name == "score" else width
                                   for name, (_, width) in sorted(RESULT_FIELDS.items(), key=lambda f: f[1][0])})
OUTPUT_LAYOUT = data.StructLayout({"result": RESULT_LAYOUT, "last": 1})


class Core(wiring.Component):
    """Steps in on `i` (s_axis beats), results out on `o` (m_axis beats); register values and state on the side."""

    def __init__(self, cfg: CoreConfig, *, sums: SumStyle = SumStyle.SHALLOW):
        self._cfg = cfg
        self._sums = sums
        device = {"burst_wake": Out(1)} if sums is SumStyle.OPERATOR else {}    # see pipelined_arith.BURST
        super().__init__({
            "i": In(stream.Signature(input_beat_layout(cfg))),
            "o": Out(stream.Signature(OUTPUT_LAYOUT)),
            "vocab": In(32),
            "beams": In(32),
            "k": In(32),
            "clear": In(1),
            "config_written": In(1),     # VOCAB, BEAMS or K changed at this cycle's start
            "per_row": In(1),            # MODE bit: each row's k best instead of the step's (taken at a step's start)
            "busy": Out(1),
            "framing_error": Out(1),     # sticky until clear
            "config_error": Out(1),
            "cycles": Out(COUNTER_BITS),
            "steps": Out(COUNTER_BITS),
            **device,
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.unpack = unpack = Unpack(cfg)
        wiring.connect(m, wiring.flipped(self.i), unpack.i)
        m.d.comb += [unpack.clear.eq(self.clear), unpack.vocab.eq(self.vocab), unpack.beams.eq(self.beams),
                     unpack.k.eq(self.k), unpack.config_written.eq(self.config_written)]

        # Everything behind Unpack restarts empty on clear.
        dp = Module()
        burst = burst_domain(self._sums)
        m.submodules.datapath = ResetInserter({"sync": self.clear, burst: self.clear})(dp)
        in_burst = DomainRenamer(burst)
        beat = unpack.beat

        # Fixed point: logits lane by lane, the beam score from the header; both aligned to `align` cycles.
        lane_width = cfg.lane_width
        lanes = [FloatToFixed(cfg.fmt, cfg.logit_bits, cfg.frac_bits, sums=self._sums) for _ in range(cfg.lanes)]
        score_conv = FloatToFixed("fp32", SCORE_BITS, cfg.frac_bits, sums=self._sums)
        align = max(lanes[0].latency, score_conv.latency)
        keys = Signal(data.ArrayLayout(signed(cfg.logit_bits), cfg.lanes))
        for n, conv in enumerate(lanes):
            dp.submodules[f"to_fixed{n}"] = conv
            dp.d.comb += conv.i.eq(beat.lanes[n * lane_width:(n + 1) * lane_width])
            dp.d.comb += keys[n].eq(delayed(dp, conv.o, align - conv.latency, f"key{n}"))
        dp.submodules.score_to_fixed = score_conv
        dp.d.comb += score_conv.i.eq(unpack.header_score)
        header_score = delayed(dp, score_conv.o, align - score_conv.latency, "header_score", reset_less=True)
        # The beat's fields but its raw lanes (its low bits, which the converters have taken) come along.
        beat_layout = data_beat_layout(cfg)
        assert beat_layout["lanes"].offset == 0
        header_valid, beat_valid, beat_fields = delayed_together(
            dp, [unpack.header_valid, unpack.beat_valid, beat.as_value()[cfg.beat_bits:]], align, "beat")
        aligned = data.View(beat_layout, Cat(Const(0, cfg.beat_bits), beat_fields))
        row_score = Signal(signed(SCORE_BITS))
        with dp.If(header_valid):
            dp.d.sync += row_score.eq(header_score)

        # Per row: log-sum-exp into a FIFO, top-K of raw keys; the tag carries what the normaliser needs.
        dp.submodules.lse = lse = OnlineLogSumExp(cfg, sums=self._sums)
        dp.d.comb += [lse.valid.eq(beat_valid), lse.first.eq(aligned.first), lse.last.eq(aligned.last),
                      lse.keys.eq(keys), lse.mask.eq(aligned.mask)]
        # The mode of the step being received, latched with its first beat; it travels with the step's rows.
        step_per_row = Signal()
        with dp.If(unpack.step_start):
            dp.d.sync += step_per_row.eq(self.per_row)
        tag_layout = data.StructLayout({"beam": cfg.beam_bits, "score": signed(SCORE_BITS), "step_last": 1,
                                        "per_row": 1})
        dp.submodules.beam_topk = beam_topk = BeamTopK(cfg, tag_layout.size, sums=self._sums)
        tag = Signal(tag_layout)
        dp.d.comb += [tag.beam.eq(aligned.beam), tag.score.eq(row_score), tag.step_last.eq(aligned.step_last),
                      tag.per_row.eq(delayed(dp, step_per_row, align, "per_row"))]
        dp.d.comb += [beam_topk.valid.eq(beat_valid), beam_topk.last.eq(aligned.last), beam_topk.keys.eq(keys),
                      beam_topk.mask.eq(aligned.mask), beam_topk.base.eq(aligned.base), beam_topk.tag.eq(tag),
                      beam_topk.k.eq(unpack.step_k)]
        lse_layout = data.StructLayout({"lse": signed(SCORE_BITS), "neg_inf": 1})
        # A row's lse waits here for its top-K items; rows in flight are bounded by the row credits.
        dp.submodules.lse_fifo = lse_fifo = fifo.SyncFIFOBuffered(width=lse_layout.size,
                                                                   depth=beam_topk.row_buffers)
        lse_in = Signal(lse_layout)
        dp.d.comb += [lse_in.lse.eq(lse.o_lse), lse_in.neg_inf.eq(lse.o_neg_inf),
                      lse_fifo.w_data.eq(lse_in), lse_fifo.w_en.eq(lse.o_valid)]

        # Normalise each item of a row once its lse is known.
        item = beam_topk.o.p
        item_tag = data.View(tag_layout, item.tag)
        row_lse = data.View(lse_layout, lse_fifo.r_data)
        take = Signal()
        dp.d.comb += [take.eq(beam_topk.o.valid & lse_fifo.r_rdy), beam_topk.o.ready.eq(lse_fifo.r_rdy),
                      lse_fifo.r_en.eq(take & item.last)]
        normalise = ScoreNormaliser(cfg, sums=self._sums)
        dp.submodules.normalise = in_burst(normalise)
        dp.d.comb += [normalise.key.eq(item.key), normalise.beam_score.eq(item_tag.score),
                      normalise.lse.eq(row_lse.lse), normalise.neg_inf.eq(row_lse.neg_inf)]
        # GlobalTopK returns the k best of each unit it is given: a step, or in per-row mode each row.
        candidate_layout = data.StructLayout({"valid": 1, "beam": cfg.beam_bits, "token": cfg.token_bits,
                                              "unit_last": 1, "step_last": 1})
        candidate = Signal(candidate_layout)
        row_done = take & item.last
        dp.d.comb += [candidate.valid.eq(take & item.real), candidate.beam.eq(item_tag.beam),
                      candidate.token.eq(item.token), candidate.step_last.eq(row_done & item_tag.step_last),
                      candidate.unit_last.eq(row_done & (item_tag.step_last | item_tag.per_row))]
        burst_regs = dp
        if burst == BURST:
            burst_regs = Module()
            dp.submodules.burst_regs = in_burst(burst_regs)
            # Cycles an item taken still travels the normaliser and the candidate's delay line.
            in_flight = Signal(range(normalise.latency + 1))
            burst_regs.d.sync += in_flight.eq(Mux(take, normalise.latency, Mux(in_flight != 0, in_flight - 1, 0)))
        candidate = data.View(candidate_layout, delayed(burst_regs, candidate, normalise.latency, "candidate"))

        global_topk = GlobalTopK(cfg, sums=self._sums)
        dp.submodules.global_topk = in_burst(global_topk)
        dp.d.comb += [global_topk.valid.eq(candidate.valid), global_topk.score.eq(normalise.score),
                      global_topk.beam.eq(candidate.beam), global_topk.token.eq(candidate.token),
                      global_topk.step_last.eq(candidate.unit_last), global_topk.k.eq(unpack.step_k),
                      global_topk.end.eq(candidate.step_last)]
        # Every result waits here until its step has closed (the step FIFO says whether to drop it): in per-row mode
        # a step's rows leave GlobalTopK one by one, before the step's last beat is in. The credits below keep at
        # most BEAMS_MAX units (rows or steps) between their closing beat and m_axis, so it never fills, GlobalTopK
        # never waits and its markers come at least k cycles apart (each unit has k items or more).
        fifo_layout = data.StructLayout({"result": RESULT_LAYOUT, "last": 1, "unit_last": 1})
        results = fifo.SyncFIFOBuffered(width=fifo_layout.size, depth=cfg.beams_max * cfg.k_max)
        dp.submodules.results = in_burst(results)
        result_in = Signal(fifo_layout)
        dp.d.comb += [result_in.result.score.eq(global_topk.o.p.score), result_in.result.beam.eq(global_topk.o.p.beam),
                      result_in.result.token.eq(global_topk.o.p.token),
                      result_in.last.eq(global_topk.o.p.last & global_topk.o.p.end),
                      result_in.unit_last.eq(global_topk.o.p.last),
                      results.w_data.eq(result_in), results.w_en.eq(global_topk.o.valid),
                      global_topk.o.ready.eq(results.w_rdy)]

        # Steps in flight, in order: whether to drop its results, and the cycle its first beat came in.
        now = counter(dp, COUNTER_BITS, 1, "now", style=self._sums)
        step_start = Signal(COUNTER_BITS)
        with dp.If(unpack.step_start):
            dp.d.sync += step_start.eq(now)
        step_layout = data.StructLayout({"drop": 1, "start": COUNTER_BITS})
        dp.submodules.step_fifo = step_fifo = fifo.SyncFIFOBuffered(width=step_layout.size,
                                                                     depth=global_topk.step_buffers)
        step_in = Signal(step_layout)
        step_closed = Signal()
        dp.d.comb += [step_closed.eq(unpack.beat_valid & beat.step_last),
                      step_in.drop.eq(beat.drop), step_in.start.eq(step_start),
                      step_fifo.w_data.eq(step_in), step_fifo.w_en.eq(step_closed)]
        head = data.View(step_layout, step_fifo.r_data)
        result = data.View(fifo_layout, results.r_data)
        dp.d.comb += [self.o.valid.eq(results.r_rdy & step_fifo.r_rdy & ~head.drop),
                      results.r_en.eq(step_fifo.r_rdy & (self.o.ready | head.drop)),
                      self.o.p.result.eq(result.result), self.o.p.last.eq(result.last)]
        step_done = Signal()
        dp.d.comb += [step_done.eq(results.r_rdy & results.r_en & result.last), step_fifo.r_en.eq(step_done)]
        # CYCLES = now - start + 1 at the step's last result, a 32-bit difference: a shallow pipelined sum, computed
        # every cycle and `lat` cycles late, so `lat` is added in. The head of the step FIFO is the same step for
        # far longer than `lat` cycles before its last result (the results follow a whole pipeline's latency).
        terms = [(now, 1), (head.start, -1), (1, 1)]
        lat = sum_latency(terms, COUNTER_BITS)
        elapsed, _ = pipelined_sum(dp, terms[:2] + [(1 + lat, 1)], COUNTER_BITS, "elapsed", style=self._sums)
        delivered = step_done & ~head.drop
        with dp.If(delivered):
            dp.d.sync += self.cycles.eq(elapsed)
        dp.d.comb += self.steps.eq(counter(dp, COUNTER_BITS, delivered, "steps_delivered", style=self._sums))

        # Credits, counted from the input beat that closes a row / unit (its registered copy is `*_closed`). A unit
        # is a step, or in per-row mode a row; at most BEAMS_MAX units are held between their closing beat and
        # m_axis (the result FIFO's size), one step's closing beat at a time (the step FIFO's). A step has at most
        # BEAMS_MAX rows, so its rows never wait for its own results. The mode register counts as well as the
        # step's: a step about to start in per-row mode only waits, safely, where it might not have had to.
        rows_in_flight = Signal(range(beam_topk.row_buffers + 1))
        units_held = Signal(range(cfg.beams_max + 1))
        steps_in_flight = Signal(range(global_topk.step_buffers + 1))
        row_closed = unpack.beat_valid & beat.last
        unit_closed = row_closed & (beat.step_last | step_per_row)
        unit_done = results.r_rdy & results.r_en & result.unit_last
        dp.d.sync += [rows_in_flight.eq(rows_in_flight + row_closed - row_done),
                      units_held.eq(units_held + unit_closed - unit_done),
                      steps_in_flight.eq(steps_in_flight + step_closed - step_done)]
        unit_credit = units_held + unit_closed < cfg.beams_max
        step_credit = steps_in_flight + step_closed < global_topk.step_buffers
        dp.d.comb += [unpack.row_credit.eq((rows_in_flight + row_closed < beam_topk.row_buffers)
                                           & (unit_credit | ~(step_per_row | self.per_row))),
                      unpack.step_credit.eq(step_credit & unit_credit),
                      unpack.datapath_empty.eq((steps_in_flight == 0) & ~step_closed)]

        with dp.If(unpack.framing_error):
            dp.d.sync += self.framing_error.eq(1)
        with dp.If(unpack.config_error):
            dp.d.sync += self.config_error.eq(1)
        dp.d.comb += self.busy.eq(unpack.busy | (steps_in_flight != 0) | step_closed)
        if burst == BURST:
            # A burst edge may be skipped when none of its blocks has work: then none of their registers would
            # change (the data registers of valid-only pipelines excepted, which nothing reads until their valid
            # flag comes back, and it comes back only from a cycle with a burst edge).
            dp.d.comb += self.burst_wake.eq(ResetSignal() | self.clear | beam_topk.busy | (in_flight != 0)
                                            | global_topk.busy | (results.level != 0))
        return m
