"""cocotb runs of the top-K blocks in Verilator, every output checked against host/hwmodel/topk.py."""
import json

import pytest

pytestmark = pytest.mark.rtl


def _run_chain(depth, key_bits, key_signed, index_width, rows, seed=1):
    from amaranth.hdl import signed, unsigned
    from beamstream.hw.topk_chain import TopKChain
    from beamstream.sim.runner import run

    cfg = dict(depth=depth, key_bits=key_bits, key_signed=key_signed, index_width=index_width, rows=rows, seed=seed)
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
