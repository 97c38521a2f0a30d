"""Verilog export of the top level: one file per build configuration, clean under a plain `verilator --lint-only`."""
from pathlib import Path

from amaranth.back import rtlil, verilog

from .interface import CoreConfig
from .pipelined_arith import SumStyle
from .rtlil_widths import explicit_widths
from .top import TOP_NAME, BeamstreamTop


def component_verilog(component, name: str) -> str:
    """Verilog of any Amaranth component as module `name`, every operand width explicit (hw/rtlil_widths.py).

    Amaranth's own Verilog path, with the RTLIL rewritten between its two halves; no source locations, so the text
    depends only on the design.
    """
    # verilog.convert is rtlil.convert followed by this Yosys step; Amaranth 0.5 exposes no hook in between.
    return verilog._convert_rtlil_text(explicit_widths(rtlil.convert(component, name=name, emit_src=False)))


def convert(cfg: CoreConfig, *, sums: SumStyle = SumStyle.SHALLOW) -> str:
    """Verilog text of `beamstream_top` for `cfg` (no source locations, so the text depends only on cfg and hw/).

    `sums` is the spelling of the pipelined adders: SHALLOW for synthesis, OPERATOR for the Verilated `sim` device.
    """
    if not isinstance(cfg, CoreConfig):
        raise ValueError(f"cfg must be a CoreConfig, got {cfg!r}")
    return component_verilog(BeamstreamTop(cfg, sums=sums), TOP_NAME)


def write_verilog(cfg: CoreConfig, path, *, sums: SumStyle = SumStyle.SHALLOW) -> Path:
    """Write `beamstream_top` for `cfg` to `path` (folders created); return the path."""
    path = Path(path)
    text = convert(cfg, sums=sums)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
