"""cocotb: wall-clock rate of one step through beamstream_top on the cocotb path, for beamstream.bench.sim.

The reference the Verilated device (beamstream.transports.verilated) is compared with: the same step, streamed by
cocotbext-axi's AxiStreamSource and collected by AxiStreamSink, with Python in the loop every cycle. The results
are checked against the hwmodel so the timed run is a correct one. Configuration and step shape come as JSON in
BEAMSTREAM_RATE (config, vocab, beams, k, seed); the timing is written as JSON to the file BEAMSTREAM_RATE_OUT.
"""
from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from beamstream.hw.interface import CoreConfig, Reg
from beamstream.hwmodel.core import pack_step, step_buffer, step_fixed, unpack_results


@cocotb.test()
async def step_rate(dut):
    job = json.loads(os.environ["BEAMSTREAM_RATE"])
    cfg = CoreConfig(**job["config"])
    vocab, beams, k = job["vocab"], job["beams"], job["k"]
    rng = np.random.default_rng(job["seed"])
    logits = rng.normal(0.0, 4.0, (beams, vocab)).astype(np.float32)
    scores = -rng.exponential(4.0, beams).astype(np.float32)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_lite"), dut.clk, dut.rst)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    build = [await axil.read_dword(int(reg)) for reg in (Reg.CONFIG, Reg.VOCAB_MAX, Reg.WIDTHS)]
    assert CoreConfig.from_registers(*build) == cfg, f"the build registers read {build}, not those of {cfg}"
    for reg, value in ((Reg.VOCAB, vocab), (Reg.BEAMS, beams), (Reg.K, k)):
        await axil.write_dword(int(reg), value)
    payload = pack_step(logits, scores, cfg, step_buffer(cfg, beams, vocab)).tobytes()

    start = time.perf_counter()
    await source.send(AxiStreamFrame(payload))
    frame = await sink.recv()
    seconds = time.perf_counter() - start

    got = unpack_results(np.frombuffer(bytes(frame.tdata), "<u8"))
    want = step_fixed(logits, scores, k, cfg)
    for name, a, b in zip(("scores", "beams", "tokens"), got, want):
        assert np.array_equal(a, b), f"cocotb path: {name} differ from the hwmodel"
    with open(os.environ["BEAMSTREAM_RATE_OUT"], "w") as f:
        json.dump({"seconds": seconds, "logits": beams * vocab, "cycles": await axil.read_dword(int(Reg.CYCLES))}, f)
