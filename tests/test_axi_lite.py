"""The register file alone, in Amaranth's simulator: write address and data in either order, strobes, reads.

The top-level testbench drives it with cocotbext-axi's AxiLiteMaster, which always offers AW and W together;
here each channel is driven on its own to cover the orders a Zynq interconnect may produce.
"""
from conftest import require

require("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from beamstream.hw.axi_lite import AxiLiteRegisters  # noqa: E402
from beamstream.hw.interface import CORE_ID, CoreConfig, Reg  # noqa: E402

CFG = CoreConfig(lanes=2, k_max=4, beams_max=3, vocab_max=1000, logit_bits=17, frac_bits=9)


def simulate(script):
    dut = AxiLiteRegisters(CFG)
    log = {}

    async def send(ctx, channel, **fields):
        ctx.set(channel.valid, 1)
        for name, value in fields.items():
            ctx.set(getattr(channel.p, name) if name != "payload" else channel.payload, value)
        await ctx.tick().until(channel.ready)
        ctx.set(channel.valid, 0)

    async def write(ctx, addr, data, strb=0xF, data_first=False):
        clears = 0
        if data_first:
            await send(ctx, dut.w, data=data, strb=strb)
            await ctx.tick().repeat(2)                   # address arrives later
            await send(ctx, dut.aw, payload=addr)
        else:
            await send(ctx, dut.aw, payload=addr)
            await ctx.tick().repeat(2)
            await send(ctx, dut.w, data=data, strb=strb)
        ctx.set(dut.b.ready, 1)
        before, pulses = ctx.get(dut.vocab), []
        for _ in range(10):
            *_, bvalid, resp, clear, written, vocab = await ctx.tick().sample(dut.b.valid, dut.b.payload, dut.clear,
                                                                              dut.config_written, dut.vocab)
            clears += clear
            if written:
                pulses.append(vocab != before or addr != Reg.VOCAB)
            if bvalid:
                assert resp == 0
                break
        else:
            raise AssertionError("no write response")
        ctx.set(dut.b.ready, 0)
        *_, clear, written = await ctx.tick().sample(dut.clear, dut.config_written)
        if "config_written" in log:      # per write: its cycles with config_written high (True: the value was new)
            log["config_written"].append(pulses + [True] * written)
        return clears + clear

    async def read(ctx, addr):
        await send(ctx, dut.ar, payload=addr)
        ctx.set(dut.r.ready, 1)
        for _ in range(10):
            *_, rvalid, data, resp = await ctx.tick().sample(dut.r.valid, dut.r.p.data, dut.r.p.resp)
            if rvalid:
                ctx.set(dut.r.ready, 0)
                assert resp == 0
                return data
        raise AssertionError("no read data")

    async def testbench(ctx):
        ctx.set(dut.status, 0b101)
        ctx.set(dut.cycles, 1234)
        ctx.set(dut.steps, 56)
        await script(ctx, write, read, log)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return log


def test_writes_in_either_order_with_strobes():
    async def script(ctx, write, read, log):
        await write(ctx, Reg.VOCAB, 0x12345678)
        await write(ctx, Reg.BEAMS, 3, data_first=True)
        await write(ctx, Reg.K, 0xAABBCCDD)
        await write(ctx, Reg.K, 0x00000004, strb=0b0001)  # only the low byte changes
        await write(ctx, Reg.ID, 0)                        # read-only: ignored
        log["regs"] = [await read(ctx, r) for r in (Reg.VOCAB, Reg.BEAMS, Reg.K, Reg.ID)]

    assert simulate(script)["regs"] == [0x12345678, 3, 0xAABBCC04, CORE_ID]


def test_reads_of_core_state_and_constants():
    async def script(ctx, write, read, log):
        log["regs"] = [await read(ctx, r) for r in (Reg.STATUS, Reg.CONFIG, Reg.VOCAB_MAX, Reg.CYCLES, Reg.STEPS,
                                                    Reg.WIDTHS)]
        log["unknown"] = await read(ctx, 0xFC)

    log = simulate(script)
    # CONFIG: P=2 | K_MAX=4 << 8 | BEAMS_MAX=3 << 16 | fp32 (0) << 24 | F=9 << 26; WIDTHS: L=17
    assert log["regs"] == [0b101, 2 | 4 << 8 | 3 << 16 | 9 << 26, 1000, 1234, 56, 17] and log["unknown"] == 0


def test_ctrl_clear_pulses_once_and_only_for_bit0():
    async def script(ctx, write, read, log):
        log["clear"] = await write(ctx, Reg.CTRL, 1, data_first=True)
        log["other_bit"] = await write(ctx, Reg.CTRL, 2)
        log["strobe_off"] = await write(ctx, Reg.CTRL, 1, strb=0b0010)

    assert simulate(script) == {"clear": 1, "other_bit": 0, "strobe_off": 0}


def test_config_written_pulses_once_with_each_vocab_beams_k_write():
    """Unpack's registered config check relies on it: one cycle high, the cycle the new value is visible."""
    async def script(ctx, write, read, log):
        log["config_written"] = []
        await write(ctx, Reg.VOCAB, 77)
        await write(ctx, Reg.BEAMS, 2, data_first=True)
        await write(ctx, Reg.K, 3)
        await write(ctx, Reg.MODE, 1)
        await write(ctx, Reg.CTRL, 1)
        await write(ctx, Reg.ID, 0)

    log = simulate(script)
    assert log["config_written"] == [[True], [True], [True], [], [], []]
