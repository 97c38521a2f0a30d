"""Framing of the logits stream: a step is BEAMS rows, a row is one header beat then ceil(V/P) data beats.

Rows are delimited by count (docs/interface.md §2), so TLAST only checks the framing: it must come on the step's
last beat.
A step whose TLAST comes early is closed at that beat; one whose TLAST is missing on its last beat is closed
there and the stream is drained up to the next TLAST. Either way the step is marked `drop` (no results) and the
framing error pulses. A step started with an invalid VOCAB/BEAMS/K is drained without entering the datapath.

Every beat that closes a row (or the step) waits for a row credit (and a step credit) from the core, the only
place where the valid-only datapath behind this block can push back on the stream.
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import CoreConfig


def input_beat_layout(cfg: CoreConfig) -> data.StructLayout:
    """One s_axis beat as the core sees it (TKEEP is not needed: rows are counted)."""
    return data.StructLayout({"data": cfg.beat_bits, "last": 1})


def data_beat_layout(cfg: CoreConfig) -> data.StructLayout:
    """One data beat of a row, with everything the blocks behind need to know about its place in the step."""
    return data.StructLayout({
        "lanes": cfg.beat_bits,          # P raw logits, lane i in bits [i*W, (i+1)*W)
        "mask": cfg.lanes,               # 1 = the lane holds a token < V
        "base": cfg.token_bits,          # token of lane 0
        "beam": cfg.beam_bits,
        "first": 1,                      # first data beat of its row
        "last": 1,                       # last data beat of its row
        "step_last": 1,                  # last beat of the step (closes the step in the datapath)
        "drop": 1,                       # the step this beat closes has a framing error: no results
    })


class _State(enum.Enum):
    HEADER = 0   # the next beat is a row's header
    DATA = 1     # the next beat is a data beat of row `beam`
    DRAIN = 2    # discard beats up to and including the next TLAST


class Unpack(wiring.Component):
    """Header/data framing FSM with TLAST checks, step configuration latch and credit stalls.

    Outputs are registered: `beat_valid`/`beat` one cycle after a data beat (or a synthetic closing beat) is taken,
    `header_valid`/`header_score` one cycle after a header beat. `step_start` is combinational: it marks the cycle
    in which a valid step's first beat is taken (the core timestamps it).
    """

    def __init__(self, cfg: CoreConfig):
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(input_beat_layout(cfg))),
            "clear": In(1),            # drop the current step: drain what is left of it
            "vocab": In(32),           # register values; latched when a step starts
            "beams": In(32),
            "k": In(32),
            "row_credit": In(1),       # the datapath can take one more finished row
            "step_credit": In(1),      # ... and one more finished step
            "datapath_empty": In(1),   # no step in flight (K may change only then)
            "config_written": In(1),   # VOCAB, BEAMS or K changed at this cycle's start
            "step_k": Out(range(cfg.k_max + 1)),
            "header_valid": Out(1),
            "header_score": Out(32),   # the beam score's fp32 bits
            "beat_valid": Out(1),
            "beat": Out(data_beat_layout(cfg)),
            "step_start": Out(1),
            "framing_error": Out(1),   # pulses
            "config_error": Out(1),
            "busy": Out(1),            # inside a step (or draining one)
        })

    def config_ok(self):
        """VOCAB, BEAMS and K registers describe a step this build can run (docs/interface.md §3)."""
        cfg = self._cfg
        v, b, k = self.vocab, self.beams, self.k
        # K <= B*V only matters where the other checks pass: then K fits k_bits and B fits b_bits, and a product is
        # only needed when V < K, so V fits k_bits too. Narrow operands keep this path (register values to the
        # stream's ready) a few LUTs deep.
        k_bits, b_bits = cfg.k_max.bit_length(), cfg.beams_max.bit_length()
        kk, vv = k[:k_bits], v[:k_bits]
        v_ge_k = (v[k_bits:] != 0) | (vv >= kk)
        k_fits = v_ge_k | (b[:b_bits] * vv >= kk)
        return ((v >= 1) & (v <= cfg.vocab_max) & (b >= 1) & (b <= cfg.beams_max)
                & (k >= 1) & (k <= cfg.k_max) & k_fits)

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()

        state = Signal(_State)
        in_step = Signal()                                # a valid step has started and not yet ended
        beam = Signal(cfg.beam_bits)
        step_beams = Signal(range(cfg.beams_max + 1))
        step_vocab = Signal(range(cfg.vocab_max + 1))
        left = Signal(range(cfg.vocab_max + 1))           # tokens of the row not yet streamed
        row_end = Signal(init=1)                          # left <= P: registered, off the ready path
        base = Signal(cfg.token_bits)
        first = Signal()

        # The check is registered (its compares and product stay off the stream's ready path), so it is a cycle
        # old: a step may not start on the cycle after reset or after a write to VOCAB, BEAMS or K.
        config_ok = Signal()
        checked = Signal()
        config_stale = self.config_written | ~checked
        # The registers change only with config_written, so the check is redone only then (and after reset).
        with m.If(config_stale):
            m.d.sync += [config_ok.eq(self.config_ok()), checked.eq(1)]
        starting = (state == _State.HEADER) & ~in_step
        taken = self.i.valid & self.i.ready
        tlast = self.i.p.last

        step_end = row_end & (beam == step_beams - 1)
        # Which beats close a row / the step (and so need credits): the row's last data beat, any TLAST, and a
        # header carrying TLAST (unless it starts a step that is rejected outright).
        closes_row = Signal()
        closes_step = Signal()
        with m.Switch(state):
            with m.Case(_State.HEADER):
                m.d.comb += closes_row.eq(tlast & ~(starting & ~config_ok))
                m.d.comb += closes_step.eq(closes_row)
            with m.Case(_State.DATA):
                m.d.comb += closes_row.eq(row_end | tlast)
                m.d.comb += closes_step.eq(step_end | tlast)
        # BeamTopK and GlobalTopK take one K per step: a step with another K waits until the datapath is empty.
        k_change_wait = starting & (self.k != self.step_k) & ~self.datapath_empty
        m.d.comb += self.i.ready.eq(~self.clear & ~(closes_row & ~self.row_credit)
                                    & ~(closes_step & ~self.step_credit) & ~k_change_wait
                                    & ~(starting & config_stale))
        m.d.comb += self.busy.eq(~starting)

        m.d.sync += [self.header_valid.eq(0), self.beat_valid.eq(0),
                     self.framing_error.eq(0), self.config_error.eq(0)]
        beat = self.beat

        def emit_beat(*, mask, first, last, step_last, drop):
            m.d.sync += [self.beat_valid.eq(1), beat.lanes.eq(self.i.p.data), beat.mask.eq(mask),
                         beat.base.eq(base), beat.beam.eq(beam), beat.first.eq(first), beat.last.eq(last),
                         beat.step_last.eq(step_last), beat.drop.eq(drop)]

        with m.If(self.clear):
            # Drop the current step: whatever is left of it on the stream is drained without an error.
            m.d.sync += in_step.eq(0)
            with m.If(~starting):
                m.d.sync += state.eq(_State.DRAIN)
        with m.Elif(taken):
            with m.Switch(state):
                with m.Case(_State.HEADER):
                    with m.If(starting & ~config_ok):
                        m.d.sync += self.config_error.eq(1)
                        with m.If(~tlast):
                            m.d.sync += state.eq(_State.DRAIN)
                    with m.Else():
                        with m.If(starting):
                            m.d.comb += self.step_start.eq(1)
                            m.d.sync += [in_step.eq(1), beam.eq(0), step_beams.eq(self.beams),
                                         step_vocab.eq(self.vocab), self.step_k.eq(self.k)]
                        m.d.sync += [self.header_valid.eq(1), self.header_score.eq(self.i.p.data[:32]),
                                     left.eq(Mux(starting, self.vocab, step_vocab)), base.eq(0), first.eq(1),
                                     row_end.eq(Mux(starting, self.vocab, step_vocab) <= cfg.lanes)]
                        with m.If(tlast):
                            # TLAST on a header: close the step with an empty row so the datapath sees its end.
                            emit_beat(mask=0, first=1, last=1, step_last=1, drop=1)
                            m.d.sync += [self.framing_error.eq(1), in_step.eq(0)]
                        with m.Else():
                            m.d.sync += state.eq(_State.DATA)
                with m.Case(_State.DATA):
                    lane_mask = Cat(left > i for i in range(cfg.lanes))
                    closes = step_end | tlast
                    drop = step_end != tlast
                    emit_beat(mask=lane_mask, first=first, last=row_end | tlast, step_last=closes, drop=drop)
                    m.d.sync += [left.eq(left - cfg.lanes), base.eq(base + cfg.lanes), first.eq(0),
                                 row_end.eq(left <= 2 * cfg.lanes)]       # left > P here, unless the row ends
                    with m.If(closes):
                        m.d.sync += in_step.eq(0)
                        m.d.sync += self.framing_error.eq(drop)
                        # A missing TLAST: the rest of the transfer belongs to this step; drain it.
                        m.d.sync += state.eq(Mux(tlast, _State.HEADER, _State.DRAIN))
                    with m.Elif(row_end):
                        m.d.sync += [beam.eq(beam + 1), state.eq(_State.HEADER)]
                with m.Case(_State.DRAIN):
                    with m.If(tlast):
                        m.d.sync += state.eq(_State.HEADER)
        return m
