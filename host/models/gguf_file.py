"""One GGUF file: its metadata, its tensor table, and each tensor read and dequantised on demand.

The header is parsed here with `struct` (GGUF v2/v3, the layout llama.cpp documents) rather than with
`gguf.GGUFReader`: the reader builds a NumPy array for every part of every metadata field, which for SmolLM2's
49,152-token vocabulary costs ~160 MB of memory and ~1.7 s, too much beside the weights on a 512 MB board. The
tensor data is read with plain file reads, one tensor at a time, and dequantised by the `gguf` package
(`gguf.quants.dequantize`, llama.cpp's own NumPy reference), so only the tensor in hand is ever in memory twice.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import gguf_blocks

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
FIRST_READ = 1 << 22         # header bytes read first; doubled until the header fits

# GGUF metadata value types -> struct format (gguf.GGUFValueType numbering)
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: np.uint8, 1: np.int8, 2: np.uint16, 3: np.int16, 4: np.uint32, 5: np.int32, 6: np.float32,
          7: np.bool_, 10: np.uint64, 11: np.int64, 12: np.float64}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a GGUF this runtime can read (the message says what was found)."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]       # NumPy order: rows first (GGUF stores the innermost dimension first)
    type_id: int                 # ggml type (gguf.GGMLQuantizationType value)
    offset: int                  # absolute byte offset of the data in the file
    nbytes: int

    @property
    def type_name(self) -> str:
        from gguf import GGMLQuantizationType

        try:
            return GGMLQuantizationType(self.type_id).name
        except ValueError:
            return f"unknown ggml type {self.type_id}"


class _NeedMore(Exception):
    """The header goes on past the bytes read so far."""


class _Cursor:
    def __init__(self, buf, path, complete):
        self.buf, self.pos, self.path, self.complete = buf, 0, path, complete

    def truncated(self, what):
        if not self.complete:
            raise _NeedMore
        raise GGUFError(f"{self.path}: truncated GGUF header ({what} at byte {self.pos})")

    def unpack(self, fmt):
        try:
            (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        except struct.error:
            self.truncated("a value")
        self.pos += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.unpack("<Q")
        end = self.pos + n
        if end > len(self.buf):
            self.truncated(f"a string of {n} bytes")
        raw = bytes(self.buf[self.pos:end])
        self.pos = end
        return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype):
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if etype in _NUMPY:
                dtype = np.dtype(_NUMPY[etype]).newbyteorder("<")
                if self.pos + count * dtype.itemsize > len(self.buf):
                    self.truncated(f"an array of {count}")
                arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
                self.pos += count * dtype.itemsize
                return arr
            return [self.value(etype) for _ in range(count)]
        raise GGUFError(f"{self.path}: unknown GGUF metadata value type {vtype} at byte {self.pos}")


class GGUFFile:
    """Metadata (`.metadata`: key -> int / float / bool / str / list[str] / NumPy array) and tensor table
    (`.tensors`: name -> TensorInfo) of a GGUF file; `read(name)` returns a tensor dequantised to float32."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8 or head[:4] != MAGIC:
                raise GGUFError(f"{self.path}: not a GGUF file (it starts with {head[:4]!r}, a GGUF with b'GGUF')")
            version = struct.unpack("<I", head[4:])[0]
            if version not in (2, 3):
                raise GGUFError(f"{self.path}: GGUF version {version} is not supported (2 and 3 are)")
            size = self.path.stat().st_size
            # read the header in growing pieces (no mmap of the whole file: a 32-bit board has little address space)
            f.seek(0)
            buf = f.read(min(size, FIRST_READ))
            while True:
                try:
                    self._parse(buf, size, complete=len(buf) == size)
                    break
                except _NeedMore:
                    buf += f.read(len(buf))

    def _parse(self, buf, size, complete):
        cur = _Cursor(buf, self.path, complete)
        cur.pos = 8
        n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = cur.string()
            self.metadata[key] = cur.value(cur.unpack("<I"))
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            ndim = cur.unpack("<I")
            dims = [cur.unpack("<Q") for _ in range(ndim)]
            infos.append((name, tuple(reversed(dims)), cur.unpack("<I"), cur.unpack("<Q")))
        align = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        start = -(-cur.pos // align) * align
        self.tensors = {}
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        for name, shape, type_id, offset in infos:
            try:
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
            except (ValueError, KeyError):
                block, type_size = 1, 0          # unknown type: refused when read, listed meanwhile
            count = int(np.prod(shape, dtype=np.uint64))
            info = TensorInfo(name, shape, type_id, start + offset, count // block * type_size)
            if info.offset + info.nbytes > size:
                raise GGUFError(f"{self.path}: tensor {name} lies past the end of the file (truncated download?)")
            self.tensors[name] = info

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def read(self, name, rows=None) -> np.ndarray:
        """Tensor `name` dequantised to float32, in NumPy shape; `rows=(a, b)` reads only rows a..b-1 of a 2-D
        tensor (quantisation blocks never cross a row), which keeps the dequantiser's temporaries small."""
        from gguf import GGMLQuantizationType, quants

        info = self.tensors[name]
        check_supported(info, self.path)
        shape = info.shape if len(info.shape) > 1 else (1, *info.shape)
        row_bytes = info.nbytes // shape[0]
        a, b = (0, shape[0]) if rows is None else rows
        with open(self.path, "rb") as f:
            f.seek(info.offset + a * row_bytes)
            raw = np.fromfile(f, dtype=np.uint8, count=(b - a) * row_bytes)
        if gguf_blocks.needed():
            data = gguf_blocks.dequantize(raw.reshape(b - a, row_bytes), info.type_id)
        else:
            data = quants.dequantize(raw.reshape(b - a, row_bytes), GGMLQuantizationType(info.type_id))
        out_shape = (b - a, *shape[1:]) if len(info.shape) > 1 else info.shape
        return np.ascontiguousarray(data, dtype=np.float32).reshape(out_shape)


_SUPPORTED: set[int] = set()


def supported_types() -> set[int]:
    """ggml types the installed `gguf` package dequantises in NumPy (found by dequantising one zero block), or on
    NumPy < 1.23 the ones gguf_blocks does."""
    if not _SUPPORTED and gguf_blocks.needed():
        _SUPPORTED.update(gguf_blocks.LAYOUT)
    if not _SUPPORTED:
        from gguf import GGML_QUANT_SIZES, quants

        for qtype, (_, type_size) in GGML_QUANT_SIZES.items():
            try:
                quants.dequantize(np.zeros((1, type_size), dtype=np.uint8), qtype)
            except (NotImplementedError, ValueError, KeyError):
                continue
            _SUPPORTED.add(int(qtype))
    return _SUPPORTED


def check_supported(info: TensorInfo, path) -> None:
    if info.type_id not in supported_types():
        raise GGUFError(f"{path}: tensor {info.name} is stored as {info.type_name}, a type the gguf package cannot "
                        f"dequantise (supported: {', '.join(sorted(_type_names(supported_types())))})")


def _type_names(ids):
    from gguf import GGMLQuantizationType

    return [GGMLQuantizationType(i).name for i in ids]
