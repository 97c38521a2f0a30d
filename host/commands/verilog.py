"""`beamstream verilog`: write the core's top level (`beamstream_top`) as Verilog for one build configuration."""
from __future__ import annotations

from pathlib import Path

from beamstream.hw.interface import FORMATS, CoreConfig

DEFAULT = CoreConfig()
# command-line option -> CoreConfig field
OPTIONS = {"lanes": "lanes", "k_max": "k_max", "beams_max": "beams_max", "vocab_max": "vocab_max",
           "format": "fmt", "logit_bits": "logit_bits", "frac_bits": "frac_bits"}


def add_arguments(parser):
    parser.add_argument("--lanes", type=int, default=DEFAULT.lanes, help="P: logits per s_axis beat")
    parser.add_argument("--k-max", type=int, default=DEFAULT.k_max, help="largest K per step")
    parser.add_argument("--beams-max", type=int, default=DEFAULT.beams_max, help="largest B per step")
    parser.add_argument("--vocab-max", type=int, default=DEFAULT.vocab_max, help="largest V per step")
    parser.add_argument("--format", choices=sorted(FORMATS), default=DEFAULT.fmt, help="logit format on s_axis")
    parser.add_argument("--logit-bits", type=int, default=DEFAULT.logit_bits, help="width of a fixed-point logit")
    parser.add_argument("--frac-bits", type=int, default=DEFAULT.frac_bits, help="F: fraction bits of logits and scores")
    parser.add_argument("-o", "--output", type=Path, default=Path("build/beamstream_top.v"), help="Verilog file to write")


def config_from_args(args) -> CoreConfig:
    """The CoreConfig the options describe (CoreConfig raises a ValueError naming a bad one)."""
    return CoreConfig(**{field: getattr(args, option) for option, field in OPTIONS.items()})


def run(args):
    cfg = config_from_args(args)
    try:
        from beamstream.hw.verilog import write_verilog
    except ImportError as exc:
        raise RuntimeError(f"writing Verilog needs Amaranth ({exc}); pip install 'beamstream[sim]'") from exc
    path = write_verilog(cfg, args.output)
    print(f"wrote {path} (beamstream_top, {cfg.slug()}, CONFIG=0x{cfg.config_register:08x})")
    return 0
