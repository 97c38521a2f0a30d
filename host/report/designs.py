"""The Verilog each synthesis point reads: the whole top level, or one top-K chain alone.

Both come from other parts of the tree (hw/verilog.py, hw/topk_chain.py); when one is not there yet,
`SourceMissing` says which, and the report prints that in its table instead of a number.
"""
from __future__ import annotations

from pathlib import Path

from beamstream.hw.interface import CoreConfig

KINDS = {"top": "beamstream_top", "chain": "topk_chain"}  # kind -> Verilog module name


class SourceMissing(RuntimeError):
    """A gateware source the report synthesises has not landed in the tree."""


def write_design(kind: str, cfg: CoreConfig, path: Path) -> str:
    """Write the Verilog of `kind` for `cfg` to `path`; return its top module's name."""
    if kind == "top":
        try:
            from beamstream.hw.verilog import write_verilog
        except ImportError as exc:
            raise SourceMissing(f"top level not available (hw/verilog.py write_verilog: {exc})") from exc
        write_verilog(cfg, path)
    elif kind == "chain":
        try:
            from amaranth import signed
            from amaranth.back import verilog
            from beamstream.hw.topk_chain import TopKChain
        except ImportError as exc:
            raise SourceMissing(f"top-K chain not available (hw/topk_chain.py TopKChain: {exc})") from exc
        # The chain of one lane of this build: keys are logits in fixed point, indices are tokens.
        chain = TopKChain(signed(cfg.logit_bits), cfg.token_bits, cfg.k_max)
        path.write_text(verilog.convert(chain, name=KINDS["chain"], emit_src=False))
    else:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"no Verilog was written for {kind} {cfg.slug()} at {path}")
    return KINDS[kind]
