"""The Verilated device harness (sim/device/harness.cpp) and SimTransport, on a tiny stand-in top level.

tests/rtl/echo_top.v has beamstream_top's ports and register map but trivial work, so these tests check the
harness's mechanics (AXI-Lite access, whole-step streaming, TLAST, result collection, rejected steps) on their
own and cheaply. The real core is exercised through the driver in test_driver.py.
"""
from pathlib import Path

import numpy as np
import pytest

from beamstream.hw.interface import CORE_ID, CTRL_CLEAR, CoreConfig, Reg, Status
from conftest import seeded

pytestmark = pytest.mark.rtl

ECHO_TOP = Path(__file__).parent / "rtl" / "echo_top.v"
CONFIG = CoreConfig()  # echo_top hard-codes the default configuration's CONFIG register and widths


@pytest.fixture(scope="module")
def transport():
    from beamstream.transports.sim import SimTransport
    with SimTransport(CONFIG, verilog=ECHO_TOP) as t:
        yield t


def step_buffer(beams, vocab, seed):
    rows = CONFIG.beats_per_row(vocab)
    words = np.random.default_rng(seeded(seed)).integers(0, 2**32, size=(beams, rows, CONFIG.lanes), dtype=np.uint32)
    return words


def decode(recv):
    return [(int(x) & 0xFFFF_FFFF, (int(x) >> 32) & 0xFF, int(x) >> 40) for x in recv]


def test_registers(transport):
    assert transport.read(Reg.ID) == CORE_ID
    assert transport.read(Reg.CONFIG) == CONFIG.config_register
    assert transport.read(Reg.VOCAB_MAX) == CONFIG.vocab_max
    assert transport.read(Reg.WIDTHS) == CONFIG.logit_bits
    for reg, value in ((Reg.VOCAB, 1234), (Reg.BEAMS, 3), (Reg.K, 7)):
        transport.write(reg, value)
        assert transport.read(reg) == value


@pytest.mark.parametrize("beams,vocab,k", [(1, 1, 1), (3, 10, 5), (2, 4097, 16)])
def test_step_streams_every_beat_and_collects_k_results(transport, beams, vocab, k):
    for reg, value in ((Reg.VOCAB, vocab), (Reg.BEAMS, beams), (Reg.K, k)):
        transport.write(reg, value)
    steps = transport.read(Reg.STEPS)
    send = step_buffer(beams, vocab, seed=beams * vocab)
    recv = np.zeros(k, np.uint64)
    assert transport.run_step(send, recv) == k
    beats = beams * CONFIG.beats_per_row(vocab)
    checksum = int(np.bitwise_xor.reduce(send.reshape(-1)))
    assert decode(recv) == [(checksum, beats & 0xFF, i) for i in range(k)]
    assert transport.read(Reg.STEPS) == steps + 1
    assert transport.read(Reg.CYCLES) >= beats + k
    assert transport.device.burst_cycles == 0       # the stand-in never raises burst_wake
    assert transport.read(Reg.STATUS) == 0


def test_rejected_step_returns_no_results_and_clear_recovers(transport):
    transport.write(Reg.VOCAB, 10)
    transport.write(Reg.BEAMS, 2)
    transport.write(Reg.K, 4)
    short = step_buffer(2, 10, seed=1)[:, :-1]  # one beat short per row: TLAST comes early
    recv = np.zeros(4, np.uint64)
    assert transport.run_step(np.ascontiguousarray(short), recv) == 0
    assert transport.read(Reg.STATUS) & Status.FRAMING_ERROR
    transport.write(Reg.CTRL, CTRL_CLEAR)
    assert transport.read(Reg.STATUS) == 0
    assert transport.run_step(step_buffer(2, 10, seed=2), recv) == 4


def test_results_held_by_the_core_are_collected_by_a_later_receive(transport):
    transport.write(Reg.VOCAB, 8)
    transport.write(Reg.BEAMS, 1)
    transport.write(Reg.K, 3)
    send = step_buffer(1, 8, seed=3)
    nothing = np.zeros(0, np.uint64)
    assert transport.run_step(send, nothing) == 0  # no receive armed: m_axis backpressured
    recv = np.zeros(3, np.uint64)
    assert transport.run_step(np.zeros((0, CONFIG.lanes), np.uint32), recv) == 3
    assert [token for _, _, token in decode(recv)] == [0, 1, 2]


@pytest.mark.parametrize("other", [CoreConfig(k_max=8), CoreConfig(logit_bits=18)], ids=lambda c: c.slug())
def test_a_library_built_for_another_config_is_refused(transport, other):
    from beamstream.transports.sim import SimTransport
    with pytest.raises(RuntimeError, match=r"describes itself as CoreConfig\(lanes=4, k_max=16.*logit_bits=20"):
        SimTransport(other, library=transport.device.library)


def test_bad_buffers_are_refused(transport):
    with pytest.raises(ValueError, match="whole 16-byte beats"):
        transport.run_step(np.zeros(3, np.uint32), np.zeros(1, np.uint64))
    with pytest.raises(ValueError, match="C-contiguous"):
        transport.run_step(np.zeros((4, 8), np.uint32)[:, ::2], np.zeros(1, np.uint64))


def test_build_failure_shows_the_compiler_output(tmp_path, monkeypatch):
    from beamstream.sim import runner
    from beamstream.transports.verilated import build_device
    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path)
    broken = tmp_path / "broken.v"
    broken.write_text("module beamstream_top(input wire clk); this is not verilog endmodule\n")
    with pytest.raises(RuntimeError, match=r"(?s)Verilator build .* failed.*syntax error"):
        build_device(CONFIG, verilog=broken)


def test_the_prepass_rewrite_writes_runs_of_one_item_as_replications():
    """Runs anywhere in a concatenation, escaped names (space-terminated) included; nothing else changes."""
    from beamstream.transports.verilated import _replicate_runs

    text = ("  assign \\a.b$1  = { \\k [19], \\k [19], \\k [19], \\k  } + { c, 2'h0, 2'h0, c, \\e , \\e  };\n"
            "  assign y = { x[3], x[2] };\n  assign z = x;\n")
    assert _replicate_runs(text) == (
        "  assign \\a.b$1  = { {3{\\k [19]}}, \\k  } + { c, {2{2'h0}}, c, {2{\\e }} };\n"
        "  assign y = { x[3], x[2] };\n  assign z = x;\n")
