"""Dequantisers for NumPy < 1.23 (PYNQ 3.x images ship 1.21): the formats of the small Llama GGUFs.

The `gguf` package's dequantisers view column slices of the block array (`np.hsplit(blocks, [2])[0]`) as float16;
NumPy before 1.23 refuses to change the item size of an array that is not C-contiguous, so every tensor fails
there. These do the same arithmetic (llama.cpp's block layouts) on contiguous copies of the fields. They are used
only where NumPy is older than 1.23, and checked against the `gguf` package's own on random blocks on any NumPy.
"""
from __future__ import annotations

import numpy as np

# ggml type ids (gguf.GGMLQuantizationType) -> (values per block, bytes per block)
F32, F16, Q4_0, Q4_1, Q8_0 = 0, 1, 2, 3, 8
LAYOUT = {F32: (1, 4), F16: (1, 2), Q4_0: (32, 18), Q4_1: (32, 20), Q8_0: (32, 34)}


def needed() -> bool:
    """True where the `gguf` package's dequantisers cannot run (NumPy < 1.23)."""
    major, minor = (int(part) for part in np.__version__.split(".")[:2])
    return (major, minor) < (1, 23)


def _half(blocks, start):
    """The float16 field at byte `start` of every block, as float32 [n, 1]."""
    return np.ascontiguousarray(blocks[:, start:start + 2]).view("<f2").astype(np.float32)


def _nibbles(qs):
    """Packed 4-bit values, low nibbles of a block's bytes first, then the high ones (llama.cpp's order)."""
    return np.concatenate([qs & np.uint8(0x0F), qs >> np.uint8(4)], axis=1)


def dequantize(raw: np.ndarray, type_id: int) -> np.ndarray:
    """Rows of raw bytes [rows, row_bytes] -> float32 [rows, values per row]."""
    if type_id not in LAYOUT:
        raise NotImplementedError(f"ggml type {type_id}")
    per_block, size = LAYOUT[type_id]
    rows = raw.shape[0]
    blocks = np.ascontiguousarray(raw).reshape(-1, size)
    if type_id == F32:
        out = blocks.view("<f4")
    elif type_id == F16:
        out = blocks.view("<f2").astype(np.float32)
    elif type_id == Q8_0:
        out = _half(blocks, 0) * np.ascontiguousarray(blocks[:, 2:]).view(np.int8).astype(np.float32)
    elif type_id == Q4_0:
        out = _half(blocks, 0) * (_nibbles(blocks[:, 2:]).astype(np.float32) - np.float32(8))
    else:                                       # Q4_1: scale and minimum
        out = _half(blocks, 0) * _nibbles(blocks[:, 4:]).astype(np.float32) + _half(blocks, 2)
    return out.astype(np.float32, copy=False).reshape(rows, -1)
