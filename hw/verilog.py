"""Verilog export of the top level: one file per build configuration."""
from pathlib import Path

from amaranth.back import verilog

from .interface import CoreConfig
from .pipelined_arith import SumStyle
from .top import TOP_NAME, BeamstreamTop


def convert(cfg: CoreConfig, *, sums: SumStyle = SumStyle.SHALLOW) -> str:
    """Verilog text of `beamstream_top` for `cfg` (no source locations, so the text depends only on cfg and hw/).

    `sums` is the spelling of the pipelined adders: SHALLOW for synthesis, OPERATOR for the Verilated `sim` device.
    """
    if not isinstance(cfg, CoreConfig):
        raise ValueError(f"cfg must be a CoreConfig, got {cfg!r}")
    return verilog.convert(BeamstreamTop(cfg, sums=sums), name=TOP_NAME, emit_src=False)


def write_verilog(cfg: CoreConfig, path, *, sums: SumStyle = SumStyle.SHALLOW) -> Path:
    """Write `beamstream_top` for `cfg` to `path` (folders created); return the path."""
    path = Path(path)
    text = convert(cfg, sums=sums)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
