"""The NumPy < 1.23 dequantisers (beamstream.models.gguf_blocks) against the `gguf` package's own, on random blocks
(every bit pattern of the scales but NaN/inf) and on the default model's tensors read through the reader."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType, quants

from beamstream.models import default_gguf, gguf_blocks
from beamstream.models.gguf_file import GGUFFile
from conftest import seeded


def random_rows(rng, type_id, rows, blocks_per_row):
    _, size = gguf_blocks.LAYOUT[type_id]
    raw = rng.integers(0, 256, (rows, blocks_per_row * size), dtype=np.uint8)
    if type_id in (gguf_blocks.F16, gguf_blocks.F32):
        return raw
    halves = raw.reshape(-1, size)
    for start in (0, 2) if type_id == gguf_blocks.Q4_1 else (0,):
        exponent = halves[:, start + 1] & 0x7C          # float16 exponent bits all ones = inf/NaN: avoid
        halves[exponent == 0x7C, start + 1] &= 0xBB
    return raw


@pytest.mark.parametrize("type_id", sorted(gguf_blocks.LAYOUT))
def test_equal_to_the_gguf_package(type_id):
    rng = np.random.default_rng(seeded(71) + type_id)
    raw = random_rows(rng, type_id, 7, 5)
    if type_id == gguf_blocks.F32:
        raw = np.random.default_rng(seeded(72)).standard_normal((7, 5)).astype(np.float32).view(np.uint8)
    want = quants.dequantize(raw, GGMLQuantizationType(type_id))
    got = gguf_blocks.dequantize(raw, type_id)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_unknown_type_is_refused():
    with pytest.raises(NotImplementedError, match="ggml type 12"):
        gguf_blocks.dequantize(np.zeros((1, 144), np.uint8), 12)


def test_the_default_file_reads_the_same_through_either(monkeypatch):
    f = GGUFFile(default_gguf())
    names = {}
    for name, info in f.tensors.items():                 # one tensor of each type the file holds
        names.setdefault(info.type_id, name)
    want = {t: f.read(n, rows=(0, 3) if len(f.tensors[n].shape) > 1 else None) for t, n in names.items()}
    monkeypatch.setattr(gguf_blocks, "needed", lambda: True)
    for t, n in names.items():
        np.testing.assert_array_equal(f.read(n, rows=(0, 3) if len(f.tensors[n].shape) > 1 else None), want[t])
    assert set(names) <= set(gguf_blocks.LAYOUT)
