"""`beamstream_top` in Verilator under cocotb (sim/tb_top.py): bit-exact vs the hwmodel, errors, registers.

The default suite runs a covering set of small builds (every P, K_MAX and format appears at least once); the full
P x K_MAX x format sweep and the V=32000, B=4 soak are marked slow.
"""
import json

import pytest

from conftest import require

require("cocotb")
require("amaranth")

from beamstream.hw.interface import FORMATS, CoreConfig  # noqa: E402
from beamstream.sim import runner  # noqa: E402

pytestmark = pytest.mark.rtl

COVERING = [CoreConfig(lanes=1, k_max=8, beams_max=3, vocab_max=19, fmt="fp32"),
            CoreConfig(lanes=2, k_max=1, beams_max=2, vocab_max=9, fmt="bf16", logit_bits=18, frac_bits=10),
            CoreConfig(lanes=8, k_max=16, beams_max=3, vocab_max=61, fmt="fp16"),
            CoreConfig(lanes=4, k_max=16, beams_max=4, vocab_max=400, fmt="fp32")]  # rows long enough for the CYCLES bound
SWEEP = [CoreConfig(lanes=p, k_max=k, beams_max=3, vocab_max=4 * p + 9, fmt=fmt)
         for p in (1, 2, 4, 8) for k in (1, 8, 16) for fmt in FORMATS if p * (32 if fmt == "fp32" else 16) >= 32]
SOAK = CoreConfig(lanes=4, k_max=16, beams_max=4, vocab_max=32000, fmt="fp32")


def run_top(cfg: CoreConfig, **env):
    from beamstream.hw.top import TOP_NAME, BeamstreamTop

    runner.run(lambda: BeamstreamTop(cfg), TOP_NAME, cfg.digest(), "beamstream.sim.tb_top",
               extra_env={"BEAMSTREAM_CONFIG": json.dumps(cfg.to_dict()), **env})


@pytest.mark.parametrize("cfg", COVERING, ids=lambda c: c.slug())
def test_top(cfg):
    run_top(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [c for c in SWEEP if c not in COVERING], ids=lambda c: c.slug())
def test_top_sweep(cfg):
    run_top(cfg)


@pytest.mark.slow
def test_top_soak():
    run_top(SOAK, BEAMSTREAM_SOAK="1")
