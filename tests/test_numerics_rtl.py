# amaranth: UnusedElaboratable=no
"""The numerics blocks in Verilator (cocotb), every output bit-exact against beamstream.hwmodel.numerics."""
import hashlib
import json

import pytest

from conftest import require, seeded

require("cocotb")

from beamstream.hw.interface import CoreConfig  # noqa: E402
from beamstream.sim.runner import run  # noqa: E402

pytestmark = pytest.mark.rtl


def _f2f(fmt, out_bits, frac_bits, count):
    from beamstream.hw.float_to_fixed import FloatToFixed

    latency = FloatToFixed(fmt, out_bits, frac_bits).latency
    run(lambda: FloatToFixed(fmt, out_bits, frac_bits), "float_to_fixed", f"{fmt}_o{out_bits}_f{frac_bits}",
        "beamstream.sim.tb_float_to_fixed",
        extra_env={"BEAMSTREAM_FLOAT_TO_FIXED": json.dumps(
            {"fmt": fmt, "out_bits": out_bits, "frac_bits": frac_bits, "latency": latency, "count": count,
             "seed": seeded(7)})})


@pytest.mark.parametrize("fmt,out_bits,frac_bits", [("fp32", 20, 12), ("bf16", 20, 12), ("fp16", 20, 12),
                                                     ("fp32", 32, 12)])
def test_float_to_fixed(fmt, out_bits, frac_bits):
    _f2f(fmt, out_bits, frac_bits, 3000)


@pytest.mark.slow
@pytest.mark.parametrize("fmt,out_bits,frac_bits", [("fp16", 8, 3), ("bf16", 32, 0), ("fp32", 16, 4),
                                                     ("fp16", 24, 14), ("bf16", 12, 11)])
def test_float_to_fixed_sweep(fmt, out_bits, frac_bits):
    _f2f(fmt, out_bits, frac_bits, 6000)


def _lse(cfg, rows, max_vocab):
    from beamstream.hw.logsumexp import OnlineLogSumExp
    from beamstream.hw.interface import exp2_table, ln_table, lse_widths

    latency = OnlineLogSumExp(cfg).latency
    w = lse_widths(cfg)     # widths and tables live in host/, outside the runner's hw/ source digest
    tables = hashlib.sha256(repr((w, exp2_table(w), ln_table(w))).encode()).hexdigest()[:8]
    run(lambda: OnlineLogSumExp(cfg), "online_lse", f"{cfg.slug()}_{tables}", "beamstream.sim.tb_logsumexp",
        extra_env={"BEAMSTREAM_LOGSUMEXP": json.dumps(
            {"cfg": cfg.to_dict(), "latency": latency, "rows": rows, "max_vocab": max_vocab,
             "seed": seeded(11)})})


@pytest.mark.parametrize("cfg", [CoreConfig(lanes=1, vocab_max=1024), CoreConfig(lanes=4)], ids=lambda c: c.slug())
def test_logsumexp(cfg):
    _lse(cfg, rows=120, max_vocab=40)


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [CoreConfig(lanes=2, vocab_max=64), CoreConfig(lanes=3, vocab_max=5000),
                                 CoreConfig(lanes=8, fmt="bf16"),
                                 CoreConfig(lanes=4, logit_bits=16, frac_bits=8, vocab_max=32768)],
                         ids=lambda c: c.slug())
def test_logsumexp_sweep(cfg):
    _lse(cfg, rows=300, max_vocab=min(cfg.vocab_max, 600))


def _normalise(cfg):
    from beamstream.hw.normalise import ScoreNormaliser

    latency = ScoreNormaliser(cfg).latency
    run(lambda: ScoreNormaliser(cfg), "score_normaliser", cfg.slug(), "beamstream.sim.tb_normalise",
        extra_env={"BEAMSTREAM_NORMALISE": json.dumps(
            {"cfg": cfg.to_dict(), "latency": latency, "count": 4000, "seed": seeded(5)})})


def test_normalise():
    _normalise(CoreConfig())


@pytest.mark.slow
def test_normalise_narrow_keys():
    _normalise(CoreConfig(logit_bits=16, frac_bits=8))
