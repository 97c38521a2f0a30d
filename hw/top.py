"""`beamstream_top`: the core and its registers behind flat AXI ports (the only place with AXI names).

Ports are fixed by docs/hw-contracts.md: Vivado infers the s_axis / m_axis / s_axi_lite interfaces from these
names, and cocotbext-axi finds them with `from_prefix`. `clk` and `rst` (active high) come from Amaranth's sync
domain; a Vivado wrapper inverts `aresetn`.
"""
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi_lite import AxiLiteRegisters
from .core import OUTPUT_LAYOUT, Core
from .interface import REG_ADDR_BITS, CoreConfig
from .pipelined_arith import BURST, SumStyle

TOP_NAME = "beamstream_top"


class BeamstreamTop(wiring.Component):
    def __init__(self, cfg: CoreConfig, *, sums: SumStyle = SumStyle.SHALLOW):
        self._cfg = cfg
        self._sums = sums
        result_bits = OUTPUT_LAYOUT["result"].shape.size
        # The Verilated device's spelling has a second clock, ticked by its harness when `burst_wake` asks
        # (pipelined_arith.BURST); the synthesised top has the AXI ports only.
        device = {"burst_clk": In(1), "burst_wake": Out(1)} if sums is SumStyle.OPERATOR else {}
        super().__init__({
            "s_axis_tdata": In(cfg.beat_bits),
            "s_axis_tkeep": In(cfg.beat_bits // 8),   # accepted and ignored: rows are delimited by count
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(result_bits),
            "m_axis_tkeep": Out(result_bits // 8),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            "s_axi_lite_awaddr": In(REG_ADDR_BITS),
            "s_axi_lite_awprot": In(3),               # accepted and ignored: no protected registers
            "s_axi_lite_awvalid": In(1),
            "s_axi_lite_awready": Out(1),
            "s_axi_lite_wdata": In(32),
            "s_axi_lite_wstrb": In(4),
            "s_axi_lite_wvalid": In(1),
            "s_axi_lite_wready": Out(1),
            "s_axi_lite_bresp": Out(2),
            "s_axi_lite_bvalid": Out(1),
            "s_axi_lite_bready": In(1),
            "s_axi_lite_araddr": In(REG_ADDR_BITS),
            "s_axi_lite_arprot": In(3),
            "s_axi_lite_arvalid": In(1),
            "s_axi_lite_arready": Out(1),
            "s_axi_lite_rdata": Out(32),
            "s_axi_lite_rresp": Out(2),
            "s_axi_lite_rvalid": Out(1),
            "s_axi_lite_rready": In(1),
            **device,
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(self._cfg, sums=self._sums)
        m.submodules.registers = regs = AxiLiteRegisters(self._cfg)
        if self._sums is SumStyle.OPERATOR:
            m.domains.burst = ClockDomain(BURST)
            m.d.comb += [ClockSignal(BURST).eq(self.burst_clk), ResetSignal(BURST).eq(ResetSignal()),
                         self.burst_wake.eq(core.burst_wake)]

        m.d.comb += [
            core.i.valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(core.i.ready),
            core.i.p.data.eq(self.s_axis_tdata), core.i.p.last.eq(self.s_axis_tlast),
            self.m_axis_tvalid.eq(core.o.valid), core.o.ready.eq(self.m_axis_tready),
            self.m_axis_tdata.eq(core.o.p.result), self.m_axis_tlast.eq(core.o.p.last),
            self.m_axis_tkeep.eq(-1),
        ]
        m.d.comb += [
            regs.aw.valid.eq(self.s_axi_lite_awvalid), self.s_axi_lite_awready.eq(regs.aw.ready),
            regs.aw.payload.eq(self.s_axi_lite_awaddr),
            regs.w.valid.eq(self.s_axi_lite_wvalid), self.s_axi_lite_wready.eq(regs.w.ready),
            regs.w.p.data.eq(self.s_axi_lite_wdata), regs.w.p.strb.eq(self.s_axi_lite_wstrb),
            self.s_axi_lite_bvalid.eq(regs.b.valid), regs.b.ready.eq(self.s_axi_lite_bready),
            self.s_axi_lite_bresp.eq(regs.b.payload),
            regs.ar.valid.eq(self.s_axi_lite_arvalid), self.s_axi_lite_arready.eq(regs.ar.ready),
            regs.ar.payload.eq(self.s_axi_lite_araddr),
            self.s_axi_lite_rvalid.eq(regs.r.valid), regs.r.ready.eq(self.s_axi_lite_rready),
            self.s_axi_lite_rdata.eq(regs.r.p.data), self.s_axi_lite_rresp.eq(regs.r.p.resp),
        ]
        m.d.comb += [
            core.vocab.eq(regs.vocab), core.beams.eq(regs.beams), core.k.eq(regs.k), core.clear.eq(regs.clear),
            core.per_row.eq(regs.per_row), core.config_written.eq(regs.config_written),
            regs.status.eq(Cat(core.busy, core.framing_error, core.config_error)),  # registers.Status bits
            regs.cycles.eq(core.cycles), regs.steps.eq(core.steps),
        ]
        return m
