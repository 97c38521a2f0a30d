"""The Driver over the Verilated RTL: steps equal to the hwmodel, register traffic, buffers, and its error paths."""
import numpy as np
import pytest

from beamstream.backends.hwmodel_backend import HwModelBackend
from beamstream.driver import DeviceError, Driver
from beamstream.hw.interface import CORE_ID, CoreConfig, Reg
from beamstream.transports.base import Transport
from conftest import seeded

# The two builds the device tests use (each costs one Verilator build, then is cached): the default, whose
# 128-bit beats exercise the harness's wide ports, and a bf16 one with 32-bit beats and other key widths (which
# only the WIDTHS register tells apart).
CONFIGS = [CoreConfig(), CoreConfig(lanes=2, k_max=8, beams_max=4, vocab_max=4096, fmt="bf16", logit_bits=18,
                                    frac_bits=10)]


class Recorder(Transport):
    """Wraps a transport: counts register accesses and allocations; `mangle` may rewrite a step's send buffer."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.name = inner.name
        self.max_step_bytes = inner.max_step_bytes
        self.reads, self.writes, self.allocations, self.steps = [], [], 0, 0
        self.mangle = None
        self.override = {}   # register offset -> value a read returns instead of the core's

    def read(self, offset):
        self.reads.append(offset)
        return self.override.get(offset, self.inner.read(offset))

    def write(self, offset, value):
        self.writes.append((offset, value))
        self.inner.write(offset, value)

    def allocate(self, shape, dtype):
        self.allocations += 1
        return self.inner.allocate(shape, dtype)

    def run_step(self, send, recv):
        self.steps += 1
        if self.mangle is not None:
            send = np.ascontiguousarray(self.mangle(send))
        return self.inner.run_step(send, recv)


def random_step(rng, beams, vocab, specials=False):
    logits = rng.normal(0.0, 3.0, (beams, vocab)).astype(np.float32)
    scores = -rng.exponential(3.0, beams).astype(np.float32)
    if specials:
        mask = rng.random((beams, vocab)) < 0.2
        logits[mask] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), mask.sum())
        logits[0] = -np.inf
        scores[-1] = -np.inf
    return logits, scores


def assert_same(got, want, what=""):
    for name, a, b in zip(("scores", "beams", "tokens"), got, want):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: {name}")


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.slug())
def device(request):
    from beamstream.transports.sim import SimTransport
    transport = SimTransport(request.param)
    yield request.param, transport
    transport.close()


@pytest.mark.rtl
def test_driver_reads_the_exact_build_from_its_registers(device):
    cfg, transport = device
    assert transport.read(Reg.WIDTHS) == cfg.logit_bits      # docs/interface.md §3: WIDTHS[7:0], the rest zero
    assert Driver(transport).core_config() == cfg


@pytest.mark.rtl
def test_steps_equal_the_hwmodel(device):
    cfg, transport = device
    driver = Driver(transport)
    model = HwModelBackend(driver.core_config())      # the model of the build the driver found, as on a board
    rng = np.random.default_rng(seeded(11))
    shapes = [(1, 1, 1), (cfg.beams_max, 2 * cfg.lanes + 1, cfg.k_max), (3, 1000, 5), (1, 4097, cfg.k_max),
              (cfg.beams_max, cfg.vocab_max, cfg.k_max)]
    for n, (beams, vocab, k) in enumerate(shapes * 2):
        beams, vocab = min(beams, cfg.beams_max), min(vocab, cfg.vocab_max)
        k = min(k, beams * vocab)
        logits, scores = random_step(rng, beams, vocab, specials=n % 2 == 1)
        assert_same(driver.step(logits, scores, k), model.step(logits, scores, k), f"step {n} B={beams} V={vocab}")
        assert driver.last_cycles >= beams * cfg.beats_per_row(vocab)


@pytest.mark.rtl
def test_the_burst_clock_ticks_only_around_row_ends(device):
    """The row-end blocks' clock (hw/pipelined_arith.BURST) ticks on a small share of a long step's cycles, and the
    step is still right."""
    cfg, transport = device
    driver = Driver(transport)
    model = HwModelBackend(driver.core_config())
    logits, scores = random_step(np.random.default_rng(seeded(12)), 2, 4096, specials=False)
    k = min(4, cfg.k_max)
    cycles, burst = transport.device.cycles, transport.device.burst_cycles
    assert_same(driver.step(logits, scores, k), model.step(logits, scores, k), "B=2 V=4096")
    cycles, burst = transport.device.cycles - cycles, transport.device.burst_cycles - burst
    assert 2 * k < burst < 0.1 * cycles, (burst, cycles)


@pytest.mark.rtl
def test_steady_steps_touch_few_registers_and_reuse_buffers(device):
    cfg, transport = device
    rec = Recorder(transport)
    driver = Driver(rec)
    rng = np.random.default_rng(seeded(12))
    beams, vocab, k = min(2, cfg.beams_max), 300, 4
    driver.step(*random_step(rng, beams, vocab), k)
    rec.reads.clear(), rec.writes.clear()
    for _ in range(3):
        driver.step(*random_step(rng, beams, vocab), k)
    assert rec.writes == []                               # VOCAB, BEAMS, K unchanged: nothing written
    assert sorted(set(rec.reads)) == sorted({Reg.STATUS, Reg.CYCLES, Reg.STEPS}) and len(rec.reads) == 9
    assert rec.allocations == 2                           # one send and one receive buffer for this shape
    driver.step(*random_step(rng, beams, vocab), k - 1)
    assert rec.writes == [(Reg.K, k - 1)] and rec.allocations == 3


@pytest.mark.rtl
def test_framing_error_is_raised_and_the_next_step_is_right(device):
    cfg, transport = device
    rec = Recorder(transport)
    driver, model = Driver(rec), HwModelBackend(cfg)
    rng = np.random.default_rng(seeded(13))
    step = random_step(rng, 2, 50)
    rec.mangle = lambda send: send.reshape(-1, cfg.lanes)[:-1]    # TLAST one beat early
    with pytest.raises(DeviceError, match="framing error"):
        driver.step(*step, 3)
    rec.mangle = lambda send: np.concatenate([send.reshape(-1, cfg.lanes)] * 2)  # TLAST a whole step late
    with pytest.raises(DeviceError, match="framing error"):
        driver.step(*step, 3)
    rec.mangle = None
    assert_same(driver.step(*step, 3), model.step(*step, 3), "after framing errors")


@pytest.mark.rtl
def test_config_error_is_raised(device):
    cfg, transport = device
    rec = Recorder(transport)
    driver = Driver(rec)
    step = random_step(np.random.default_rng(seeded(14)), 1, 20)
    driver.step(*step, 2)
    transport.write(Reg.K, cfg.k_max + 1)   # behind the driver's back: the core now holds an invalid K
    with pytest.raises(DeviceError, match="config error"):
        driver.step(*step, 2)
    driver.step(*step, 2)                   # the error cleared the driver's view of the registers: K rewritten


@pytest.mark.rtl
def test_requests_are_checked_before_anything_is_sent(device):
    cfg, transport = device
    rec = Recorder(transport)
    driver = Driver(rec)
    logits, scores = random_step(np.random.default_rng(seeded(15)), 1, 10)
    with pytest.raises(ValueError, match="exceeds this backend's largest k"):
        driver.step(np.zeros((2, 100), np.float32), np.zeros(2), cfg.k_max + 1)
    with pytest.raises(ValueError, match="k=11 must be in 1..beams"):
        driver.step(logits, scores, 11)
    with pytest.raises(ValueError, match="beams; this backend takes at most"):
        driver.step(np.zeros((cfg.beams_max + 1, 4), np.float32), np.zeros(cfg.beams_max + 1), 1)
    with pytest.raises(ValueError, match="vocab"):
        driver.step(np.zeros((1, cfg.vocab_max + 1), np.float32), np.zeros(1), 1)
    other = "fp16" if cfg.fmt != "fp16" else "fp32"
    with pytest.raises(ValueError, match=f"takes {cfg.fmt} logits"):
        driver.step(logits, scores, 1, fmt=other)
    assert rec.steps == 0 and rec.allocations == 0


class FakeRegisters(Transport):
    """No device at all: registers from a dict, for the identification checks."""
    name = "fake"

    def __init__(self, registers):
        self.registers = registers

    def read(self, offset):
        return self.registers.get(offset, 0)

    def write(self, offset, value):
        pass

    def allocate(self, shape, dtype):
        return np.zeros(shape, dtype)

    def run_step(self, send, recv):
        raise AssertionError("nothing may be sent to a core that was refused")


def test_a_core_with_another_id_is_refused():
    with pytest.raises(DeviceError, match=r"no beamstream core.*reads 0xdeadbeef"):
        Driver(FakeRegisters({Reg.ID: 0xDEADBEEF}))


def test_a_core_with_another_interface_version_is_refused():
    with pytest.raises(DeviceError, match="interface version 7"):
        Driver(FakeRegisters({Reg.ID: (CORE_ID & ~0xFFFF) | 7}))


def build_registers(cfg):
    return {Reg.ID: CORE_ID, Reg.CONFIG: cfg.config_register, Reg.VOCAB_MAX: cfg.vocab_max,
            Reg.WIDTHS: cfg.logit_bits}


def test_an_unknown_format_code_is_refused():
    with pytest.raises(DeviceError, match="input format 3"):
        Driver(FakeRegisters({**build_registers(CoreConfig()), Reg.CONFIG: CoreConfig().config_register | 3 << 24}))


@pytest.mark.parametrize("cfg", [CoreConfig(logit_bits=16, frac_bits=8), CoreConfig(logit_bits=31, frac_bits=20),
                                 CoreConfig(lanes=1, k_max=1, beams_max=1, vocab_max=1, logit_bits=2, frac_bits=0)],
                         ids=lambda c: c.slug())
def test_the_driver_rebuilds_builds_that_config_alone_cannot_tell_apart(cfg):
    assert Driver(FakeRegisters(build_registers(cfg))).core_config() == cfg


def test_a_core_without_widths_is_refused():
    # an interface-1 core that claims version 2 reads WIDTHS (an unknown offset there) as zero
    with pytest.raises(DeviceError, match="logit_bits=0"):
        Driver(FakeRegisters({**build_registers(CoreConfig()), Reg.WIDTHS: 0}))
