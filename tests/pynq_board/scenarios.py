"""FOR TESTS ONLY: the board code on the real pynq package over the simulated board, run inside a pynq venv.

    python -m pynq_board.scenarios <overlay folder>     (with BEAMSTREAM_SIMULATED_BOARD set: see activate.py)

Runs every scenario below and prints one JSON object: {"versions": {...}, "results": {name: "ok" or the
traceback}}. tests/test_pynq_board.py runs this once per venv and asserts each scenario passed. Each scenario
checks the board code against the hwmodel (an independent NumPy model of the core) or against PG021's registers.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from beamstream.backends.driver_backends import PynqBackend
from beamstream.backends.hwmodel_backend import HwModelBackend
from beamstream.driver import DeviceError
from beamstream.hw.interface import Reg
from beamstream.transports import pynq as transport_module

from .overlay import write_overlay

HALTED = 0x1    # DMASR bit 0
# Imported by the pytest side (for the scenario names) without pynq; inside the venv main() sets these.
pynq = board = None

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def random_step(rng, beams, vocab):
    return rng.normal(0.0, 3.0, (beams, vocab)).astype(np.float32), -rng.exponential(2.0, beams).astype(np.float32)


def assert_same(got, want, what=""):
    for name, a, b in zip(("scores", "beams", "tokens"), got, want):
        assert np.array_equal(a, b), f"{what} {name}: board {a} != hwmodel {b}"


class Context:
    def __init__(self, folder: Path):
        self.config = board.core.config
        self.folder = folder
        self.bitstream = write_overlay(folder / "overlay", self.config.beat_bits)
        self.model = HwModelBackend(self.config)
        self.rng = np.random.default_rng(int(os.environ.get("BEAMSTREAM_SEED", "12")))

    def backend(self):
        return PynqBackend(bitstream=self.bitstream)

    def step_checked(self, backend, beams=4, vocab=3000, k=8):
        step = random_step(self.rng, beams, vocab)
        assert_same(backend.step(*step, k), self.model.step(*step, k), f"B={beams} V={vocab} K={k}")


@scenario
def steps_equal_the_hwmodel(ctx: Context):
    backend = ctx.backend()
    for beams, vocab, k in [(1, 7, 1), (4, 5000, 8), (8, 1001, 16), (4, 5000, 8), (2, 50257, 4), (3, 4, 12)]:
        ctx.step_checked(backend, beams, vocab, k)
    assert backend.last_cycles >= 2 * ctx.config.beats_per_row(4)
    backend.close()


@scenario
def pynq_builds_the_overlay_from_the_hwh(ctx: Context):
    from pynq.lib.dma import DMA
    backend = ctx.backend()
    transport = backend.driver.transport
    overlay = transport.overlay
    assert isinstance(overlay, pynq.Overlay) and isinstance(transport.dma, DMA), type(transport.dma)
    assert overlay.ip_dict["beamstream"]["phys_addr"] == 0x43C0_0000
    assert transport.length_width == 26 and transport.max_step_bytes == 2 ** 26 - 1
    # The PL clock was programmed from the .hwh's divisors and read back from the PS's registers.
    assert board.fclk_mhz(0) == 100.0 and transport.clock_mhz == 100.0, (board.fclk_mhz(0), transport.clock_mhz)
    backend.close()


@scenario
def pynq_own_overlay_download(ctx: Context):
    """pynq 4.0's Overlay.download fails on a Zynq-7000 .hwh (the clock frequency is None); 3.0 works."""
    try:
        pynq.Overlay(str(ctx.bitstream))
    except TypeError as exc:
        assert pynq.__version__.startswith("4."), f"pynq {pynq.__version__} raised {exc!r}"
        return
    assert not pynq.__version__.startswith("4.0"), "pynq 4.0 loaded the Zynq-7000 overlay itself: workaround needed?"


def expect_error(ctx, backend, pattern, beams=4, vocab=3000, k=8):
    step = random_step(ctx.rng, beams, vocab)
    try:
        backend.step(*step, k)
    except DeviceError as exc:
        assert re.search(pattern, str(exc)), f"{exc} does not match {pattern!r}"
        return str(exc)
    raise AssertionError(f"no DeviceError (expected {pattern!r})")


@scenario
def a_dma_error_is_decoded_and_the_next_step_works(ctx: Context):
    backend = ctx.backend()
    ctx.step_checked(backend)
    irq = r"(IOC_Irq, )?Err_Irq"     # IOC_Irq stays set from an earlier transfer until written 1 (PG021)
    for channel, bit, words in [
            ("mm2s", 5, rf"MM2S channel stopped with an error.*slave error.*"
                        rf"MM2S_DMASR=0x0000[45]021 \(halted, busy, DMASlvErr, {irq}\)"),
            ("s2mm", 6, rf"S2MM channel stopped with an error.*decode error.*"
                        rf"S2MM_DMASR=0x0000[45]041 \(halted, busy, DMADecErr, {irq}\)")]:
        resets = board.dma.resets
        board.dma.inject_error(channel, bit)
        message = expect_error(ctx, backend, words)
        assert "core STATUS=0x" in message and "the DMA has been reset" in message, message
        assert board.dma.resets == resets + 1
        assert not board.dma.read(0x04) & HALTED and not board.dma.read(0x34) & HALTED
        for _ in range(2):
            ctx.step_checked(backend)
    backend.close()


@scenario
def a_send_that_never_ends_times_out_without_spinning(ctx: Context):
    backend = ctx.backend()
    ctx.step_checked(backend)
    reads = []
    transport = backend.driver.transport
    dmasr = transport.dmasr
    transport.dmasr = lambda channel: reads.append(channel) or dmasr(channel)
    transport_module.SEND_TIMEOUT_S = 0.5
    board.dma.stall_next_send()
    start, cpu = time.monotonic(), time.process_time()
    expect_error(ctx, backend, r"did not finish sending the \d+-byte step within 0.5 s.*"
                               r"MM2S_DMASR=0x0000[01]000 \(running, busy(, IOC_Irq)?\)")
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    assert wall >= 0.5, wall
    # Polled with a growing sleep (20 us to 2 ms): a few hundred DMASR reads, where spinning makes 100,000s.
    assert len(reads) < 400, len(reads)
    assert cpu < 0.5 * wall, (cpu, wall)
    transport.dmasr = dmasr
    for _ in range(2):
        ctx.step_checked(backend)
    backend.close()


@scenario
def a_rejected_step_raises_and_the_dma_recovers(ctx: Context):
    backend = ctx.backend()
    ctx.step_checked(backend, 2, 100, 3)
    resets = board.dma.resets
    board.core.write(Reg.VOCAB, ctx.config.vocab_max + 1)   # behind the driver's back: the core rejects the step
    expect_error(ctx, backend, "config error", 2, 100, 3)
    assert board.dma.resets == resets + 1                   # the receive never ended: reset
    ctx.step_checked(backend, 2, 100, 3)
    backend.close()


@scenario
def memory_is_not_coherent(ctx: Context):
    """Checks the simulated board itself: without pynq's flush the DMA streams stale DDR, without its
    invalidate the CPU reads stale results. So the passing scenarios show the transport's cache handling."""
    from pynq.buffer import PynqBuffer
    backend = ctx.backend()
    ctx.step_checked(backend, 2, 500, 4)
    for method in ("flush", "invalidate"):
        original = getattr(PynqBuffer, method)
        setattr(PynqBuffer, method, lambda self: None)
        try:
            step = random_step(ctx.rng, 2, 500)
            try:
                got = backend.step(*step, 4)
            except DeviceError:
                pass    # stale input can also be a misframed step
            else:
                want = ctx.model.step(*step, 4)
                assert not all(np.array_equal(a, b) for a, b in zip(got, want)), f"no {method}, same results"
        finally:
            setattr(PynqBuffer, method, original)
        ctx.step_checked(backend, 2, 500, 4)
    backend.close()


@scenario
def close_and_with_free_the_buffers(ctx: Context):
    live = board.memory.live
    backend = ctx.backend()
    ctx.step_checked(backend, 4, 1000, 8)
    ctx.step_checked(backend, 2, 1000, 4)
    assert board.memory.live == live + 4     # two send and two receive buffers
    backend.close()
    assert board.memory.live == live
    from beamstream.transports.pynq import PynqTransport
    with PynqTransport(ctx.bitstream) as transport:
        transport.allocate((16,), np.uint32)
        assert board.memory.live == live + 1
    assert board.memory.live == live


@scenario
def steps_beyond_the_dma_length_register_are_refused(ctx: Context):
    narrow = write_overlay(ctx.folder / "narrow", ctx.config.beat_bits, length_width=14)
    backend = PynqBackend(bitstream=narrow)
    fits, too_big = (beams * ctx.config.beats_per_row(1000) * ctx.config.beat_bits // 8 for beams in (2, 8))
    assert fits <= 16383 < too_big, (fits, too_big)
    ctx.step_checked(backend, 2, 1000, 2)
    live = board.memory.live
    step = random_step(ctx.rng, 8, 1000)
    try:
        backend.step(*step, 2)
    except ValueError as exc:
        assert re.search(r"buffer length register is 14 bits wide.*at most 16383 bytes", str(exc)), exc
    else:
        raise AssertionError("a step longer than the length register allows was sent")
    assert board.memory.live == live                 # refused before a buffer was made for it
    backend.close()


@scenario
def without_root_the_message_says_so_and_auto_does_not_fall_back(ctx: Context):
    from beamstream.backends.auto import auto_backend
    board.root = False
    try:
        for make in (ctx.backend, auto_backend):
            try:
                make()
            except PermissionError as exc:
                assert "needs root" in str(exc) and "/dev/mem" in str(exc), exc
            else:
                raise AssertionError(f"{make.__name__} loaded the overlay without root")
    finally:
        board.root = True


@scenario
def decoders_run_on_this_numpy(ctx: Context):
    """beam_search, greedy and sample with the numpy backend and on the board, with this venv's numpy (1.21 on
    PYNQ 3.x images): the board decodes what the hwmodel decodes."""
    import beamstream
    from beamstream.models.toy import make_table, toy_fn
    model = toy_fn(make_table(3000, seed=5))
    board_backend = ctx.backend()
    runs = {name: beamstream.beam_search(model, [1, 2, 3], num_beams=4, max_new_tokens=6, backend=backend)
            for name, backend in (("board", board_backend), ("hwmodel", ctx.model), ("numpy", "numpy"))}
    assert runs["board"].sequences == runs["hwmodel"].sequences, runs
    assert np.allclose(runs["board"].scores, runs["numpy"].scores, atol=1e-2), runs
    for backend in ("numpy", board_backend):
        assert len(beamstream.greedy(model, [1, 2], max_new_tokens=4, backend=backend).sequences[0]) == 6
        sampled = beamstream.sample(model, [1, 2], max_new_tokens=4, top_k=8, seed=1, backend=backend)
        assert len(sampled.sequences[0]) == 6
    # a batch of greedy / sampled sequences: one per-row transfer per token for all of them, as the hwmodel decodes
    prompts = [[1, 2], [3]]
    for decode, kwargs in ((beamstream.greedy, {}), (beamstream.sample, dict(top_k=8, seed=1, num_return_sequences=3))):
        on_board = decode(model, prompts, max_new_tokens=4, backend=board_backend, **kwargs)
        modelled = decode(model, prompts, max_new_tokens=4, backend=ctx.model, **kwargs)
        assert [r.sequences for r in on_board] == [r.sequences for r in modelled], decode.__name__
        assert [r.steps for r in on_board] == [4, 4], [r.steps for r in on_board]
    board_backend.close()


@scenario
def auto_picks_the_board(ctx: Context):
    from beamstream.backends.auto import auto_backend
    backend = auto_backend()
    assert backend.name == "pynq", backend
    ctx.step_checked(backend)
    backend.close()


def main(folder: str) -> None:
    global pynq, board
    import pynq

    from .activate import board
    if board is None:
        raise SystemExit("BEAMSTREAM_SIMULATED_BOARD is not set: no simulated board to run on")
    ctx = Context(Path(folder))
    os.environ["BOARD"] = "Pynq-Z2"
    os.environ["BEAMSTREAM_BITSTREAM"] = str(ctx.bitstream)
    results = {}
    for name, run in SCENARIOS.items():
        transport_module.SEND_TIMEOUT_S = 2.0
        try:
            run(ctx)
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc()
    versions = {"pynq": pynq.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    print(json.dumps({"versions": versions, "results": results}))


if __name__ == "__main__":
    main(sys.argv[1])
