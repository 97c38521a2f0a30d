"""cocotb testbench of `beamstream_top`: every result bit-exact against the hwmodel, framing and config errors,
clear, the register map, CYCLES against its bound.

Driven by cocotbext-axi only (AxiStreamSource/Sink, AxiLiteMaster). The build configuration comes as JSON in
BEAMSTREAM_CONFIG; BEAMSTREAM_SEED (the suite's seed offset, default 0) shifts every random choice;
BEAMSTREAM_SOAK=1 adds the V=32000 soak; BEAMSTREAM_BENCH=<file> runs only the throughput measurement and
writes its numbers there as JSON.
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSink,
                           AxiStreamSource)

from beamstream.hw.interface import CORE_ID, CTRL_CLEAR, FORMATS, MODE_PER_ROW, CoreConfig, Reg, Status
from beamstream.hwmodel.core import pack_step, rows_fixed, step_buffer, step_fixed, unpack_results
from beamstream.sim.steps import make_logits

CFG = CoreConfig(**json.loads(os.environ.get("BEAMSTREAM_CONFIG", "{}")))
SEED = 1 + int(os.environ.get("BEAMSTREAM_SEED", "0"))   # the suite's seed offset (tests/conftest.py)
SOAK = os.environ.get("BEAMSTREAM_SOAK") == "1"
BENCH = os.environ.get("BEAMSTREAM_BENCH")
CLOCK_NS = 10
SOAK_SHAPE = (32000, 4)  # (V, B)


def cycles_bound(cfg: CoreConfig, vocab: int, beams: int) -> int:
    """CYCLES of a step streamed with no gaps into an idle core, at most (issue 4): every beam its beats plus 4,
    the last result 4*K_MAX + 32 after the last input beat."""
    return beams * (cfg.beats_per_row(vocab) + 4) + 4 * cfg.k_max + 32


def long_row_beats(cfg: CoreConfig) -> int:
    """Data beats per row from which the bound applies: a row must outlast the previous row's log-sum-exp
    latency (22-26 cycles) and its K items, which hold BeamTopK's one row buffer."""
    return 64 + 2 * cfg.k_max


# -- steps ---------------------------------------------------------------------------------------------------------
def make_step(rng, beams: int, vocab: int, kind: str):
    """float32 logits[B, V] and beam scores[B] of one of the kinds the issue lists."""
    return make_logits(rng, CFG, beams, vocab, kind)


KINDS = ("random", "wide", "ties", "coarse", "specials")


def shapes(cfg: CoreConfig):
    """(V, B, K) combinations: V = 1, V not a multiple of P, V = VOCAB_MAX; K = 1, K_MAX; B = 1, BEAMS_MAX."""
    vmax, bmax, kmax, p = cfg.vocab_max, cfg.beams_max, cfg.k_max, cfg.lanes
    odd = min(vmax, 2 * p + 1 if p > 1 else 3)
    out = [(1, 1, 1), (1, bmax, min(kmax, bmax)), (odd, 1, min(kmax, odd)), (odd, bmax, 1),
           (vmax, bmax, min(kmax, bmax * vmax)), (vmax, 1, min(kmax, vmax))]
    return list(dict.fromkeys(out))


# -- the harness ---------------------------------------------------------------------------------------------------
def random_pauses(rng, probability):
    while True:
        yield bool(rng.random() < probability)


class Harness:
    def __init__(self, dut):
        self.dut = dut
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_lite"), dut.clk, dut.rst)
        self.shape = None

    async def start(self):
        cocotb.start_soon(Clock(self.dut.clk, CLOCK_NS, unit="ns").start())
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def read(self, reg: Reg) -> int:
        return await self.axil.read_dword(int(reg))

    async def write(self, reg: Reg, value: int):
        await self.axil.write_dword(int(reg), value)

    async def configure(self, vocab, beams, k):
        for reg, value in ((Reg.VOCAB, vocab), (Reg.BEAMS, beams), (Reg.K, k)):
            await self.write(reg, value)

    async def clear(self):
        await self.write(Reg.CTRL, CTRL_CLEAR)

    async def idle_status(self) -> int:
        """STATUS once the core is no longer busy (the pending stream is sent and every result is out)."""
        for _ in range(100000):
            if self.source.empty() and self.source.idle():
                status = await self.read(Reg.STATUS)
                if not status & Status.BUSY:
                    return status
            await ClockCycles(self.dut.clk, 8)
        raise AssertionError("core still busy after 800000 cycles")

    def send(self, buffer: np.ndarray):
        self.source.send_nowait(AxiStreamFrame(buffer.tobytes()))

    def send_step(self, logits, scores):
        buf = step_buffer(CFG, *logits.shape)
        self.send(pack_step(logits, scores, CFG, buf))
        return buf

    async def set_mode(self, per_row: bool):
        await self.write(Reg.MODE, MODE_PER_ROW if per_row else 0)

    async def expect(self, logits, scores, k, what="", per_row=False):
        """Receive one step's results and compare them bit for bit with the model (B*k beats in per-row mode)."""
        timeout = 50 * logits.size + 20000
        frame = await with_timeout(self.sink.recv(), timeout * CLOCK_NS, "ns")
        words = np.frombuffer(bytes(frame.tdata), dtype="<u8")
        want = [a.reshape(-1) for a in rows_fixed(logits, scores, k, CFG)] if per_row else step_fixed(logits, scores, k, CFG)
        n = len(want[0])
        assert len(words) == n, f"{what}: {len(words)} result beats (TLAST on beat {len(words)}), expected {n}"
        got = unpack_results(words.copy())
        for name, g, w in zip(("scores", "beams", "tokens"), got, want):
            assert np.array_equal(g, w), f"{what}: {name} differ\n  got  {g.tolist()}\n  want {w.tolist()}"


async def started(dut) -> Harness:
    h = Harness(dut)
    await h.start()
    return h


# -- tests ---------------------------------------------------------------------------------------------------------
@cocotb.test(skip=bool(BENCH))
async def register_map(dut):
    h = await started(dut)
    assert await h.read(Reg.ID) == CORE_ID
    build = {reg: await h.read(reg) for reg in (Reg.CONFIG, Reg.VOCAB_MAX, Reg.WIDTHS)}
    assert build[Reg.WIDTHS] == CFG.logit_bits       # docs/interface.md §3: [7:0] logit_bits, the rest zero
    assert build[Reg.CONFIG] == (CFG.lanes | CFG.k_max << 8 | CFG.beams_max << 16 | FORMATS[CFG.fmt] << 24
                                 | CFG.frac_bits << 26)
    assert CoreConfig.from_registers(build[Reg.CONFIG], build[Reg.VOCAB_MAX], build[Reg.WIDTHS]) == CFG
    assert await h.read(Reg.STATUS) == 0
    assert await h.read(Reg.STEPS) == 0
    await h.configure(CFG.vocab_max, CFG.beams_max, CFG.k_max)
    assert [await h.read(r) for r in (Reg.VOCAB, Reg.BEAMS, Reg.K)] == [CFG.vocab_max, CFG.beams_max, CFG.k_max]
    await h.write(Reg.ID, 0)                     # read-only: ignored
    await h.write(Reg.CONFIG, 0)
    await h.write(Reg.WIDTHS, 0)
    assert [await h.read(r) for r in (Reg.ID, Reg.CONFIG, Reg.WIDTHS)] == [CORE_ID, build[Reg.CONFIG],
                                                                          build[Reg.WIDTHS]]
    assert await h.read(Reg.MODE) == 0
    await h.write(Reg.MODE, 0xFFFF_FFFF)         # one bit; the others read zero
    assert await h.read(Reg.MODE) == MODE_PER_ROW
    await h.clear()                              # clear keeps MODE
    assert await h.read(Reg.MODE) == MODE_PER_ROW
    await h.set_mode(False)
    await h.axil.write(int(Reg.VOCAB), b"\x07")    # one byte lane: the others hold
    assert await h.read(Reg.VOCAB) == (CFG.vocab_max & ~0xFF) | 7
    await h.clear()                              # clear keeps VOCAB/BEAMS/K
    assert await h.read(Reg.BEAMS) == CFG.beams_max


async def run_batches(h: Harness, rng, steps_per_shape: int, pauses: bool, per_row: bool = False):
    """Every shape, a batch of back-to-back steps each; returns how many steps ran."""
    if pauses:
        h.source.set_pause_generator(random_pauses(rng, 0.3))
        h.sink.set_pause_generator(random_pauses(rng, 0.5))
    await h.set_mode(per_row)
    done = 0
    for vocab, beams, k in shapes(CFG):
        await h.configure(vocab, beams, k)
        steps = [make_step(rng, beams, vocab, KINDS[(done + n) % len(KINDS)]) for n in range(steps_per_shape)]
        for logits, scores in steps:
            h.send_step(logits, scores)
        for n, (logits, scores) in enumerate(steps):
            await h.expect(logits, scores, k, f"V={vocab} B={beams} K={k} step {n}", per_row)
        done += len(steps)
        assert await h.idle_status() == 0
    for stream in (h.source, h.sink):
        stream.clear_pause_generator()
        stream.pause = False        # clearing the generator leaves `pause` at its last value
    return done


@cocotb.test(skip=bool(BENCH))
async def random_steps_back_to_back(dut):
    h = await started(dut)
    done = await run_batches(h, np.random.default_rng(SEED), steps_per_shape=6, pauses=False)
    assert await h.read(Reg.STEPS) == done


@cocotb.test(skip=bool(BENCH))
async def random_steps_with_gaps_and_backpressure(dut):
    h = await started(dut)
    done = await run_batches(h, np.random.default_rng(SEED + 1), steps_per_shape=4, pauses=True)
    assert await h.read(Reg.STEPS) == done


@cocotb.test(skip=bool(BENCH))
async def per_row_steps(dut):
    """Per-row mode: back to back, then with gaps and backpressure; then the mode switched between steps while
    the previous step's results are still in flight (MODE is taken with a step's first beat)."""
    h = await started(dut)
    rng = np.random.default_rng(SEED + 8)
    done = await run_batches(h, rng, steps_per_shape=3, pauses=False, per_row=True)
    done += await run_batches(h, rng, steps_per_shape=2, pauses=True, per_row=True)
    vocab, beams = min(CFG.vocab_max, 3 * CFG.lanes + 2), CFG.beams_max
    k = min(CFG.k_max, beams * vocab)
    await h.configure(vocab, beams, k)
    modes = [bool(m) for m in rng.integers(0, 2, 8)]
    steps = [make_step(rng, beams, vocab, KINDS[n % len(KINDS)]) for n in range(len(modes))]
    for per_row, step in zip(modes, steps):
        await h.set_mode(per_row)
        h.send_step(*step)
        for _ in range(50 * step[0].size + 20000):          # every beat taken: the next MODE is the next step's
            if h.source.empty() and h.source.idle():
                break
            await RisingEdge(dut.clk)
        else:
            raise AssertionError(f"mode switch: the core stopped taking the step (per_row={per_row})")
    for n, (per_row, step) in enumerate(zip(modes, steps)):
        await h.expect(*step, k, f"mode switch, step {n}", per_row)
    assert await h.idle_status() == 0
    assert await h.read(Reg.STEPS) == done + len(steps)
    await h.set_mode(False)


def framed(cfg, logits, scores, cut: int):
    """The step's beats with `cut` beats removed (cut > 0: TLAST early) or -cut extra beats (TLAST late)."""
    lanes = pack_step(logits, scores, cfg, step_buffer(cfg, *logits.shape)).reshape(-1, cfg.lanes)
    if cut > 0:
        return lanes[:-cut]
    return np.concatenate([lanes, np.full((-cut, cfg.lanes), 0x3F80, lanes.dtype)])


@cocotb.test(skip=bool(BENCH))
async def framing_errors(dut):
    h = await started(dut)
    rng = np.random.default_rng(SEED + 2)
    vocab, beams = min(CFG.vocab_max, 2 * CFG.lanes + 1), CFG.beams_max
    k = min(CFG.k_max, beams * vocab)
    await h.configure(vocab, beams, k)
    beats = beams * CFG.beats_per_row(vocab)
    # TLAST one beat early, on the last row's header, on the first beat; one beat late, a row late
    cuts = [c for c in dict.fromkeys([1, CFG.beats_per_row(vocab) - 1, beats - 1, -1, -CFG.beats_per_row(vocab)])
            if c != 0 and c < beats]
    for per_row, cut in [(per_row, cut) for per_row in (False, True) for cut in cuts]:
        await h.set_mode(per_row)
        h.sink.set_pause_generator(random_pauses(rng, 0.3))
        bad = make_step(rng, beams, vocab, "random")
        good = make_step(rng, beams, vocab, "random")
        h.send(framed(CFG, *bad, cut))
        h.send_step(*good)                                   # back to back behind the bad one
        await h.expect(*good, k, f"step after a framing error (cut {cut}, per_row={per_row})", per_row)
        status = await h.idle_status()
        assert status == Status.FRAMING_ERROR, f"cut {cut}: STATUS {status:#x}"
        assert h.sink.empty(), f"cut {cut}: results of the bad step came out"
        assert await h.read(Reg.STEPS) == 1
        await h.clear()
        assert await h.read(Reg.STATUS) == 0 and await h.read(Reg.STEPS) == 0


@cocotb.test(skip=bool(BENCH))
async def config_errors(dut):
    h = await started(dut)
    rng = np.random.default_rng(SEED + 3)
    vmax, bmax, kmax = CFG.vocab_max, CFG.beams_max, CFG.k_max
    bad_configs = [(0, 1, 1), (vmax + 1, 1, 1), (1, 0, 1), (1, bmax + 1, 1), (1, 1, 0), (vmax, 1, kmax + 1)]
    if kmax > 1:
        bad_configs.append((1, 1, 2))                        # K > B*V
    for vocab, beams, k in bad_configs:
        await h.configure(vocab, beams, k)
        h.send_step(*make_step(rng, max(1, min(beams, bmax)), max(1, min(vocab, vmax)), "random"))
        status = await h.idle_status()
        assert status == Status.CONFIG_ERROR, f"V={vocab} B={beams} K={k}: STATUS {status:#x}"
        assert h.sink.empty()
        good_shape = (min(vmax, 3), 1, 1)
        await h.configure(*good_shape)
        good = make_step(rng, 1, good_shape[0], "random")
        h.send_step(*good)
        await h.expect(*good, 1, f"step after config V={vocab} B={beams} K={k}")
        assert await h.read(Reg.STATUS) & Status.CONFIG_ERROR    # sticky
        await h.clear()
        assert await h.read(Reg.STATUS) == 0


@cocotb.test(skip=bool(BENCH))
async def clear_mid_step(dut):
    h = await started(dut)
    rng = np.random.default_rng(SEED + 4)
    vocab, beams = CFG.vocab_max, CFG.beams_max
    k = min(CFG.k_max, beams * vocab)
    await h.configure(vocab, beams, k)
    total = beams * CFG.beats_per_row(vocab)
    # The source pauses a beat or two after the count is reached: leave room so the clear lands mid-step.
    for per_row in (False, True):
        await h.set_mode(per_row)
        for taken_before_clear in [t for t in dict.fromkeys([1, total // 2, total - 4]) if 1 <= t <= total - 4]:
            h.send_step(*make_step(rng, beams, vocab, "random"))
            taken = 0
            while taken < taken_before_clear:
                await RisingEdge(dut.clk)
                taken += int(dut.s_axis_tvalid.value) & int(dut.s_axis_tready.value)
            h.source.pause = True                                # the rest of the step waits behind the clear
            await h.clear()
            h.source.pause = False
            good = make_step(rng, beams, vocab, "specials")
            h.send_step(*good)
            await h.expect(*good, k, f"step after a clear at beat {taken_before_clear}", per_row)
            assert await h.idle_status() == 0
            assert h.sink.empty() and await h.read(Reg.STEPS) == 1
            await h.clear()


async def measure(h: Harness, rng, vocab, beams, k, steps=1):
    """CYCLES of `steps` steps streamed with no gaps into an idle core (bit-exact checked); the last one's count."""
    await h.configure(vocab, beams, k)
    batch = [make_step(rng, beams, vocab, "random") for _ in range(steps)]
    for step in batch:
        h.send_step(*step)
    for n, step in enumerate(batch):
        await h.expect(*step, k, f"V={vocab} B={beams} K={k} step {n}")
    assert await h.idle_status() == 0
    return await h.read(Reg.CYCLES)


@cocotb.test(skip=bool(BENCH))
async def cycles_within_bound(dut):
    h = await started(dut)
    rng = np.random.default_rng(SEED + 5)
    for vocab, beams, k in shapes(CFG):
        cycles = await measure(h, rng, vocab, beams, k)
        beats = beams * CFG.beats_per_row(vocab)
        assert beats + k <= cycles, f"V={vocab} B={beams} K={k}: CYCLES={cycles} below {beats} beats + {k} results"
        if -(-vocab // CFG.lanes) >= long_row_beats(CFG):
            bound = cycles_bound(CFG, vocab, beams)
            assert cycles <= bound, f"V={vocab} B={beams} K={k}: CYCLES={cycles} > bound {bound}"


@cocotb.test(skip=not SOAK or bool(BENCH))
async def soak(dut):
    h = await started(dut)
    rng = np.random.default_rng(SEED + 6)
    vocab, beams = SOAK_SHAPE
    cycles = await measure(h, rng, vocab, beams, CFG.k_max, steps=3)
    assert cycles <= cycles_bound(CFG, vocab, beams), f"CYCLES={cycles} > {cycles_bound(CFG, vocab, beams)}"


@cocotb.test(skip=not BENCH)
async def bench(dut):
    """CYCLES of one step of each requested shape, written as JSON for beamstream.bench.rtl."""
    h = await started(dut)
    rng = np.random.default_rng(SEED + 7)
    rows = []
    for vocab, beams, k in json.loads(os.environ["BEAMSTREAM_BENCH_SHAPES"]):
        cycles = await measure(h, rng, vocab, beams, k)
        rows.append({"vocab": vocab, "beams": beams, "k": k, "cycles": cycles})
    with open(BENCH, "w") as f:
        json.dump(rows, f)
