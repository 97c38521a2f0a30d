"""cocotb runs of the top-K blocks in Verilator, every output checked against host/hwmodel/topk.py."""
import json

import pytest

from conftest import seeded

pytestmark = pytest.mark.rtl


def _run_chain(depth, key_bits, key_signed, index_width, rows, seed=1):
    from amaranth.hdl import signed, unsigned
    from beamstream.hw.topk_chain import TopKChain
    from beamstream.sim.runner import run

    cfg = dict(depth=depth, key_bits=key_bits, key_signed=key_signed, index_width=index_width, rows=rows,
               seed=seeded(seed))
    shape = signed(key_bits) if key_signed else unsigned(key_bits)
    run(lambda: TopKChain(shape, index_width, depth), "topk_chain",
        f"d{depth}_k{'s' if key_signed else 'u'}{key_bits}_i{index_width}", "beamstream.sim.tb_topk_chain",
        extra_env={"BEAMSTREAM_TOPK_CHAIN": json.dumps(cfg)})


@pytest.mark.parametrize("depth,key_bits,key_signed,index_width", [
    (1, 6, True, 5),      # a single cell
    (5, 4, False, 7),     # K not a power of two, narrow keys: ties everywhere
    (8, 10, True, 8),
])
def test_topk_chain(depth, key_bits, key_signed, index_width):
    _run_chain(depth, key_bits, key_signed, index_width, rows=120)


def _run_beam(lanes, k_max, rows, ready_rate=0.7, tag_bits=7, seed=1, **extra):
    from beamstream.hw.beam_topk import BeamTopK
    from beamstream.hw.interface import CoreConfig
    from beamstream.sim.runner import run

    cfg = CoreConfig(lanes=lanes, k_max=k_max, fmt="fp32" if lanes == 1 else "bf16")
    env = dict(cfg=cfg.to_dict(), tag_bits=tag_bits, rows=rows, seed=seeded(seed), ready_rate=ready_rate, **extra)
    run(lambda: BeamTopK(cfg, tag_bits), "beam_topk", f"{cfg.slug()}_t{tag_bits}", "beamstream.sim.tb_beam_topk",
        extra_env={"BEAMSTREAM_BEAM_TOPK": json.dumps(env)})


@pytest.mark.parametrize("lanes,k_max", [(1, 1), (1, 8), (4, 1), (4, 8), (3, 5)])
def test_beam_topk(lanes, k_max):
    _run_beam(lanes, k_max, rows=80)


def _run_global(k_max, beams_max, steps, ready_rate=0.7, seed=1):
    from beamstream.hw.interface import CoreConfig
    from beamstream.hw.global_topk import GlobalTopK
    from beamstream.sim.runner import run

    cfg = CoreConfig(k_max=k_max, beams_max=beams_max)
    env = dict(cfg=cfg.to_dict(), steps=steps, seed=seeded(seed), ready_rate=ready_rate)
    run(lambda: GlobalTopK(cfg), "global_topk", cfg.slug(), "beamstream.sim.tb_global_topk",
        extra_env={"BEAMSTREAM_GLOBAL_TOPK": json.dumps(env)})


@pytest.mark.parametrize("k_max,beams_max", [(1, 1), (8, 4), (16, 8)])
def test_global_topk(k_max, beams_max):
    _run_global(k_max, beams_max, steps=80)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
@pytest.mark.parametrize("k_max", [1, 8, 16])
def test_beam_topk_sweep(lanes, k_max):
    _run_beam(lanes, k_max, rows=150, ready_rate=0.8, seed=lanes * 100 + k_max)


@pytest.mark.slow
@pytest.mark.parametrize("k_max", [1, 8, 16])
def test_global_topk_sweep(k_max):
    _run_global(k_max, beams_max=8, steps=150, ready_rate=0.8, seed=k_max)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [16, 64])
def test_topk_chain_deep(depth):
    _run_chain(depth, 20, True, 18, rows=60, seed=depth)
