"""The Llama forward pass in NumPy float32, with weights read from a GGUF file.

RMSNorm, rotary position embedding (the file's base and linear scaling), grouped-query attention with a causal
mask, SwiGLU MLP, tied or separate output head: the computation of transformers' LlamaForCausalLM, arranged for
beams as one batch. Every weight matrix is stored once, transposed and fused at load (q|k|v in one matrix,
gate|up in another) so that a step is a few contiguous `x @ W` matmuls. Weights are float32, or float16 widened
to float32 one matrix at a time into a preallocated buffer (half the memory; the widening costs time).

The KV cache is an array the caller owns (`new_cache`); `forward` writes the new tokens' keys and values into it
at `slot` and attends over everything before. The phases of a step are named in PHASES; a profiler object with
`phase(name)` (a context manager) sees each of them.
"""
from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass

import numpy as np

from .gguf_file import GGUFError, GGUFFile, check_supported

PHASES = ("embedding", "attn_proj", "attn_scores", "attn_weighted_sum", "mlp", "head", "cache_reorder")
WEIGHT_FORMS = ("float32", "float16")
_HEAD_BLOCK = 2048          # vocabulary columns widened at a time for float16 weights
_F16_REBIAS = np.float32(2.0 ** 112)   # 2 ** (float32 exponent bias - float16 exponent bias)
_F16_KEEP = np.uint32(0x8FFFFFFF)      # the sign bit and the shifted exponent and mantissa
_LOAD_ROWS = 8192           # rows dequantised at a time while loading (bounds the dequantiser's temporaries)
_NO_PROFILE = contextlib.nullcontext()


def default_weights() -> str:
    """float32 on 64-bit machines; float16 on 32-bit ones (a PYNQ-Z2 has 512 MB: float32 SmolLM2 needs 540)."""
    return "float32" if struct.calcsize("P") == 8 else "float16"


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    context_length: int
    rope_base: float
    rope_linear_factor: float
    rms_eps: float

    @classmethod
    def from_gguf(cls, g: GGUFFile) -> "LlamaConfig":
        arch = g.get("general.architecture")
        if arch != "llama":
            raise GGUFError(f"{g.path}: architecture {arch!r} is not supported by the NumPy runtime (only 'llama'; "
                            "give a Hugging Face folder to run other models through transformers)")

        def need(key):
            value = g.get(f"llama.{key}")
            if value is None:
                raise GGUFError(f"{g.path}: metadata llama.{key} is missing")
            return value

        dim, n_heads = int(need("embedding_length")), int(need("attention.head_count"))
        n_kv = int(g.get("llama.attention.head_count_kv", n_heads))
        head_dim = int(g.get("llama.attention.key_length", dim // n_heads))
        if int(g.get("llama.attention.value_length", head_dim)) != head_dim or n_heads % n_kv:
            raise GGUFError(f"{g.path}: unsupported attention shape (heads {n_heads}, kv heads {n_kv}, key/value "
                            "lengths differ)")
        if int(g.get("llama.rope.dimension_count", head_dim)) != head_dim:
            raise GGUFError(f"{g.path}: partial rotary embedding (llama.rope.dimension_count "
                            f"{g.get('llama.rope.dimension_count')} < head size {head_dim}) is not supported")
        scaling = g.get("llama.rope.scaling.type", "none")
        factor = float(g.get("llama.rope.scaling.factor", g.get("llama.rope.scale_linear", 1.0)))
        if scaling not in ("none", "linear") or "rope_freqs.weight" in g.tensors:
            found = "rope_freqs.weight (Llama 3 frequency factors)" if scaling in ("none", "linear") else scaling
            raise GGUFError(f"{g.path}: rope scaling {found!r} is not supported (none and linear are)")
        if scaling == "none":
            factor = 1.0
        vocab = g.get("llama.vocab_size")
        if vocab is None:
            vocab = g.tensors["token_embd.weight"].shape[0] if "token_embd.weight" in g.tensors else None
            if vocab is None:
                raise GGUFError(f"{g.path}: no vocabulary size and no token_embd.weight")
        return cls(vocab_size=int(vocab), dim=dim, n_layers=int(need("block_count")), n_heads=n_heads,
                   n_kv_heads=n_kv, head_dim=head_dim, ffn_dim=int(need("feed_forward_length")),
                   context_length=int(need("context_length")), rope_base=float(g.get("llama.rope.freq_base", 10000.0)),
                   rope_linear_factor=factor,
                   rms_eps=float(g.get("llama.attention.layer_norm_rms_epsilon", 1e-5)))

    @property
    def q_width(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def kv_bytes_per_row_token(self) -> int:
        """KV cache bytes for one beam and one position (keys and values of every layer, float32)."""
        return self.n_layers * 2 * self.kv_width * 4


@dataclass
class _Layer:
    attn_norm: np.ndarray          # [dim] float32
    wqkv: np.ndarray               # [dim, q_width + 2 kv_width]  q | k | v, transposed
    wo: np.ndarray                 # [q_width, dim]
    ffn_norm: np.ndarray           # [dim] float32
    wgu: np.ndarray                # [dim, 2 ffn]  gate | up
    wd: np.ndarray                 # [ffn, dim]


def _unpermute(w, heads):
    """Undo llama.cpp's convert-time reordering of q/k rows (it interleaves each head's two rotary halves),
    giving transformers' layout (rotary halves contiguous), as transformers does when it loads a GGUF."""
    half = w.shape[0] // heads // 2
    return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


class LlamaWeights:
    """All weights of a Llama GGUF, in the runtime's layout, float32 or float16 ('weights')."""

    def __init__(self, g: GGUFFile, cfg: LlamaConfig, weights: str):
        if weights not in WEIGHT_FORMS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHT_FORMS)}, got {weights!r}")
        self.form = weights
        dtype = np.float32 if weights == "float32" else np.float16
        for info in g.tensors.values():               # refuse before reading anything
            check_supported(info, g.path)
        names = ["token_embd.weight", "output_norm.weight"] + [
            f"blk.{i}.{n}.weight" for i in range(cfg.n_layers)
            for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                      "ffn_down")]
        missing = [n for n in names if n not in g.tensors]
        if missing:
            raise GGUFError(f"{g.path}: not a complete Llama model: tensor(s) {', '.join(missing[:4])} missing")

        def read(name, shape):
            if g.tensors[name].shape != shape:
                raise GGUFError(f"{g.path}: tensor {name} has shape {g.tensors[name].shape}, expected {shape}")
            return g.read(name)

        v, d = cfg.vocab_size, cfg.dim
        head_name = "output.weight" if "output.weight" in g.tensors else "token_embd.weight"
        self.tied = head_name == "token_embd.weight"
        # the head: float32 as [dim, V] (one contiguous x @ W); float16 as [V, dim], whose row blocks are contiguous
        # for widening a block at a time. With tied weights the embedding rows are read from it.
        self.head_by_rows = dtype == np.float16
        self.head = (self._rows if self.head_by_rows else self._rows_transposed)(g, head_name, (v, d), dtype)
        self.embed = None if self.tied else self._rows(g, "token_embd.weight", (v, d), dtype)
        self.norm = read("output_norm.weight", (d,))
        self.layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            q = _unpermute(read(p + "attn_q.weight", (cfg.q_width, d)), cfg.n_heads)
            k = _unpermute(read(p + "attn_k.weight", (cfg.kv_width, d)), cfg.n_kv_heads)
            val = read(p + "attn_v.weight", (cfg.kv_width, d))
            wqkv = np.concatenate([q, k, val]).T.astype(dtype, order="C")
            del q, k, val
            wo = read(p + "attn_output.weight", (d, cfg.q_width)).T.astype(dtype, order="C")
            gu = np.concatenate([read(p + "ffn_gate.weight", (cfg.ffn_dim, d)),
                                 read(p + "ffn_up.weight", (cfg.ffn_dim, d))]).T.astype(dtype, order="C")
            wd = read(p + "ffn_down.weight", (d, cfg.ffn_dim)).T.astype(dtype, order="C")
            self.layers.append(_Layer(read(p + "attn_norm.weight", (d,)), wqkv, wo,
                                      read(p + "ffn_norm.weight", (d,)), gu, wd))

    @staticmethod
    def _rows_transposed(g, name, shape, dtype):
        if g.tensors[name].shape != shape:
            raise GGUFError(f"{g.path}: tensor {name} has shape {g.tensors[name].shape}, expected {shape}")
        out = np.empty(shape[::-1], dtype=dtype)
        for a in range(0, shape[0], _LOAD_ROWS):
            b = min(shape[0], a + _LOAD_ROWS)
            out[:, a:b] = g.read(name, rows=(a, b)).T
        return out

    @staticmethod
    def _rows(g, name, shape, dtype):
        if g.tensors[name].shape != shape:
            raise GGUFError(f"{g.path}: tensor {name} has shape {g.tensors[name].shape}, expected {shape}")
        out = np.empty(shape, dtype=dtype)
        for a in range(0, shape[0], _LOAD_ROWS):
            b = min(shape[0], a + _LOAD_ROWS)
            out[a:b] = g.read(name, rows=(a, b))
        return out

    @property
    def nbytes(self) -> int:
        arrays = [self.head, self.norm] + ([] if self.embed is None else [self.embed])
        for layer in self.layers:
            arrays += [layer.attn_norm, layer.wqkv, layer.wo, layer.ffn_norm, layer.wgu, layer.wd]
        return sum(a.nbytes for a in arrays)


class _Buffers:
    """Named scratch arrays reused across calls: `get(name, shape)` is a view of a flat float32 array that only
    grows, so steady-state steps allocate nothing for their intermediates."""

    def __init__(self):
        self._flat = {}

    def get(self, name, shape):
        size = 1
        for n in shape:
            size *= n
        flat = self._flat.get(name)
        if flat is None or flat.size < size:
            flat = self._flat[name] = np.empty(size, dtype=np.float32)
        return flat[:size].reshape(shape)


class LlamaModel:
    """A loaded Llama: config, weights and the forward pass. `kv_cache(rows, length)` makes a cache array."""

    def __init__(self, path, weights=None):
        g = GGUFFile(path)
        self.path = g.path
        self.config = LlamaConfig.from_gguf(g)
        self.weights = LlamaWeights(g, self.config, weights or default_weights())
        self.gguf = g
        cfg = self.config
        # transformers' float32 rotary frequencies: 1 / base ** (2i / head_dim), divided by the linear factor
        exponents = np.arange(0, cfg.head_dim, 2, dtype=np.float64) / cfg.head_dim
        self._inv_freq = (1.0 / (cfg.rope_base ** exponents) / cfg.rope_linear_factor).astype(np.float32)
        self._scale = np.float32(1.0 / np.sqrt(cfg.head_dim))

    @property
    def weight_bytes(self) -> int:
        return self.weights.nbytes

    def kv_cache(self, rows, length) -> np.ndarray:
        """[layers, 2 (k, v), rows, kv heads, length, head_dim] float32."""
        c = self.config
        return np.zeros((c.n_layers, 2, rows, c.n_kv_heads, length, c.head_dim), dtype=np.float32)

    def buffers(self) -> _Buffers:
        return _Buffers()

    # -- the forward pass ---------------------------------------------------------------------------------------
    def forward(self, tokens, positions, cache, slot, key_start, buf, profiler=None, all_positions=False):
        """Run `tokens` [B, S] (int32) at rotary `positions` [B, S], writing keys/values into cache[:, :, :B,
        :, slot:slot+S]; each row attends to cache slots key_start[b] .. its own slot (key_start None: from 0).
        Returns float32 logits [B, V] of the last position (all positions: [B, S, V] with all_positions)."""
        cfg, w = self.config, self.weights
        ph = profiler.phase if profiler is not None else (lambda name: _NO_PROFILE)
        b, s = tokens.shape
        n = b * s
        end = slot + s
        with ph("embedding"):
            x = buf.get("x", (n, cfg.dim))
            flat = tokens.reshape(n)
            if w.tied:
                np.copyto(x, w.head[flat] if w.head_by_rows else w.head[:, flat].T)
            else:
                np.copyto(x, w.embed[flat])
            cos, sin = self._rotary(positions.reshape(n))
            mask = self._mask(b, s, slot, key_start)
        h = buf.get("h", (n, cfg.dim))
        for li, layer in enumerate(w.layers):
            with ph("attn_proj"):
                self._rms_norm(x, layer.attn_norm, h)
                qkv = np.matmul(h, self._wide(buf, "wqkv", layer.wqkv), out=buf.get("qkv", (n, layer.wqkv.shape[1])))
                heads = qkv.reshape(n, cfg.n_heads + 2 * cfg.n_kv_heads, cfg.head_dim)
                self._rope(heads[:, :cfg.n_heads + cfg.n_kv_heads], cos, sin, buf)
                kv = cache[li, :, :b]                                    # [2, B, kv heads, T, hd]
                kv[0, :, :, slot:end] = heads[:, cfg.n_heads:cfg.n_heads + cfg.n_kv_heads].reshape(
                    b, s, cfg.n_kv_heads, cfg.head_dim).transpose(0, 2, 1, 3)
                kv[1, :, :, slot:end] = heads[:, cfg.n_heads + cfg.n_kv_heads:].reshape(
                    b, s, cfg.n_kv_heads, cfg.head_dim).transpose(0, 2, 1, 3)
                g = cfg.n_heads // cfg.n_kv_heads
                q = buf.get("q", (b, cfg.n_kv_heads, g, s, cfg.head_dim))
                np.copyto(q, heads[:, :cfg.n_heads].reshape(b, s, cfg.n_kv_heads, g, cfg.head_dim)
                          .transpose(0, 2, 3, 1, 4))
            with ph("attn_scores"):
                keys = kv[0, :, :, :end]                                 # [B, kv heads, end, hd]
                scores = buf.get("scores", (b, cfg.n_kv_heads, g * s, end))
                np.matmul(q.reshape(b, cfg.n_kv_heads, g * s, cfg.head_dim), keys.transpose(0, 1, 3, 2),
                          out=scores)
                scores *= self._scale
                if mask is not None:
                    scores.reshape(b, cfg.n_kv_heads, g, s, end)[...] += mask
                peak = buf.get("peak", (b, cfg.n_kv_heads, g * s, 1))
                np.max(scores, axis=-1, keepdims=True, out=peak)
                scores -= peak
                np.exp(scores, out=scores)
                np.sum(scores, axis=-1, keepdims=True, out=peak)
                scores /= peak
            with ph("attn_weighted_sum"):
                att = buf.get("att", (b, cfg.n_kv_heads, g * s, cfg.head_dim))
                np.matmul(scores, kv[1, :, :, :end], out=att)
                merged = buf.get("merged", (b, s, cfg.n_kv_heads, g, cfg.head_dim))
                np.copyto(merged, att.reshape(b, cfg.n_kv_heads, g, s, cfg.head_dim).transpose(0, 3, 1, 2, 4))
            with ph("attn_proj"):
                o = np.matmul(merged.reshape(n, cfg.q_width), self._wide(buf, "wo", layer.wo),
                              out=buf.get("o", (n, cfg.dim)))
                x += o
            with ph("mlp"):
                self._rms_norm(x, layer.ffn_norm, h)
                gu = np.matmul(h, self._wide(buf, "wgu", layer.wgu), out=buf.get("gu", (n, 2 * cfg.ffn_dim)))
                gate, up = gu[:, :cfg.ffn_dim], gu[:, cfg.ffn_dim:]
                act = buf.get("act", (n, cfg.ffn_dim))
                np.negative(gate, out=act)                              # silu(g) = g / (1 + exp(-g))
                np.exp(act, out=act)
                act += 1.0
                np.divide(gate, act, out=act)
                act *= up
                np.matmul(act, self._wide(buf, "wd", layer.wd), out=o)
                x += o
        with ph("head"):
            rows = x if all_positions else x.reshape(b, s, cfg.dim)[:, -1]
            self._rms_norm(rows, w.norm, h[:rows.shape[0]])
            logits = self._head(h[:rows.shape[0]], buf)
        return logits.reshape(b, s, -1) if all_positions else logits

    def _head(self, h, buf):
        w = self.weights
        if not w.head_by_rows:
            return np.matmul(h, w.head, out=np.empty((h.shape[0], w.head.shape[1]), dtype=np.float32))
        out = np.empty((h.shape[0], w.head.shape[0]), dtype=np.float32)
        for a in range(0, w.head.shape[0], _HEAD_BLOCK):
            block = self._wide(buf, "head_block", w.head[a:a + _HEAD_BLOCK])
            np.matmul(h, block.T, out=out[:, a:a + block.shape[0]])
        return out

    @staticmethod
    def _wide(buf, name, w):
        """The float32 form of weight `w`: itself, or widened from float16 into a reused buffer. The widening is
        done on the bits, in four passes: sign-extend the 16 bits to 32 and shift them left by 13 (exponent and
        mantissa land in float32 position, bits 28-31 all hold the sign), clear bits 28-30, rebias the exponent
        with one multiply by 2**112 (which also handles subnormals). Exact, and ~4x faster than NumPy's float16
        cast, which has no SIMD path on many builds."""
        if w.dtype == np.float32:
            return w
        out = buf.get(name, w.shape)
        bits = out.view(np.uint32)
        np.copyto(out.view(np.int32), w.view(np.int16))
        np.left_shift(bits, 13, out=bits)
        np.bitwise_and(bits, _F16_KEEP, out=bits)
        np.multiply(out, _F16_REBIAS, out=out)
        return out

    def _rms_norm(self, x, weight, out):
        var = np.einsum("ij,ij->i", x, x)[:, None]
        var /= x.shape[1]
        var += self.config.rms_eps
        np.sqrt(var, out=var)
        np.divide(x, var, out=out)
        out *= weight

    def _rotary(self, positions):
        """cos, sin [n, 1, head_dim / 2] for rotary positions [n] (float32, as transformers computes them)."""
        angles = positions.astype(np.float32)[:, None] * self._inv_freq[None, :]
        return np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]

    @staticmethod
    def _rope(x, cos, sin, buf):
        """Rotate x [n, heads, hd] in place: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), halves contiguous."""
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        t1 = np.multiply(x2, sin, out=buf.get("rope1", x1.shape))
        t2 = np.multiply(x1, sin, out=buf.get("rope2", x1.shape))
        x1 *= cos
        x1 -= t1
        x2 *= cos
        x2 += t2

    @staticmethod
    def _mask(b, s, slot, key_start):
        """Additive mask [B, 1, 1, S, end] or None: causal within the new tokens; keys before a row's key_start
        hidden (left padding), except a query's own slot so that padding rows stay finite."""
        end = slot + s
        if s == 1 and (key_start is None or not key_start.any()):
            return None
        key = np.arange(end, dtype=np.int32)
        query = np.arange(slot, end, dtype=np.int32)
        hidden = key[None, None, :] > query[None, :, None]                       # [1, S, end]
        if key_start is not None:
            before = key[None, None, :] < key_start[:b, None, None]
            hidden = hidden | (before & (key[None, None, :] != query[None, :, None]))
        mask = np.where(hidden, np.float32(-np.inf), np.float32(0.0))
        return mask.reshape(-1, 1, 1, s, end)
