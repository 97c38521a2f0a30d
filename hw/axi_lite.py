"""The control/status registers of docs/interface.md §3 behind an AXI4-Lite slave.

The five AXI4-Lite channels are plain valid/ready streams here; hw/top.py gives them their AXI port names.
Write address and write data may arrive in either order (each is held until the other comes); one write and
one read are in flight at a time, which is all a PYNQ MMIO or cocotbext-axi master asks for.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import CORE_ID, CTRL_CLEAR, MODE_PER_ROW, REG_ADDR_BITS, CoreConfig, Reg

RESP_OKAY = 0


class AxiLiteRegisters(wiring.Component):
    """Register file: VOCAB/BEAMS/K hold until written; CTRL bit0 pulses `clear`; the rest reads core state."""

    def __init__(self, cfg: CoreConfig):
        self._cfg = cfg
        super().__init__({
            "aw": In(stream.Signature(REG_ADDR_BITS)),
            "w": In(stream.Signature(data.StructLayout({"data": 32, "strb": 4}))),
            "b": Out(stream.Signature(2)),
            "ar": In(stream.Signature(REG_ADDR_BITS)),
            "r": Out(stream.Signature(data.StructLayout({"data": 32, "resp": 2}))),
            "vocab": Out(32),
            "beams": Out(32),
            "k": Out(32),
            "per_row": Out(1),           # MODE bit0
            "clear": Out(1),
            "config_written": Out(1),    # VOCAB, BEAMS or K took a write at this cycle's start
            "status": In(3),
            "cycles": In(32),
            "steps": In(32),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        writable = {Reg.VOCAB: self.vocab, Reg.BEAMS: self.beams, Reg.K: self.k}
        readable = {Reg.STATUS: self.status, **writable, **cfg.build_registers(), Reg.CYCLES: self.cycles,
                    Reg.STEPS: self.steps, Reg.ID: CORE_ID, Reg.MODE: self.per_row}

        # Write: hold address and data until both are here, then write and answer on B.
        aw_addr, aw_full = Signal(REG_ADDR_BITS), Signal()
        w_data, w_strb, w_full = Signal(32), Signal(4), Signal()
        m.d.comb += [self.aw.ready.eq(~aw_full), self.w.ready.eq(~w_full), self.b.payload.eq(RESP_OKAY)]
        with m.If(self.aw.valid & self.aw.ready):
            m.d.sync += [aw_addr.eq(self.aw.payload), aw_full.eq(1)]
        with m.If(self.w.valid & self.w.ready):
            m.d.sync += [w_data.eq(self.w.p.data), w_strb.eq(self.w.p.strb), w_full.eq(1)]
        m.d.sync += [self.clear.eq(0), self.config_written.eq(0)]
        with m.If(aw_full & w_full & ~self.b.valid):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), self.b.valid.eq(1)]
            word = aw_addr[2:]
            with m.Switch(word):
                with m.Case(Reg.CTRL >> 2):
                    m.d.sync += self.clear.eq(w_strb[0] & (w_data & CTRL_CLEAR).any())
                with m.Case(Reg.MODE >> 2):             # one bit; the others read zero
                    with m.If(w_strb[0]):
                        m.d.sync += self.per_row.eq((w_data & MODE_PER_ROW).any())
                for offset, reg in writable.items():
                    with m.Case(offset >> 2):
                        m.d.sync += self.config_written.eq(1)
                        for byte in range(4):
                            with m.If(w_strb[byte]):
                                m.d.sync += reg[8 * byte:8 * byte + 8].eq(w_data[8 * byte:8 * byte + 8])
        with m.If(self.b.valid & self.b.ready):
            m.d.sync += self.b.valid.eq(0)

        # Read: one outstanding; unknown offsets read as zero.
        m.d.comb += self.ar.ready.eq(~self.r.valid)
        with m.If(self.ar.valid & self.ar.ready):
            m.d.sync += [self.r.valid.eq(1), self.r.p.resp.eq(RESP_OKAY), self.r.p.data.eq(0)]
            with m.Switch(self.ar.payload[2:]):
                for offset, value in readable.items():
                    with m.Case(offset >> 2):
                        m.d.sync += self.r.p.data.eq(value)
        with m.Elif(self.r.valid & self.r.ready):
            m.d.sync += self.r.valid.eq(0)
        return m
