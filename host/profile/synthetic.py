"""A Llama-shaped NumPy model with random weights: the profile's stand-in where no NumPy runtime is installed,
its vocabulary sweep (the step's share at vocabularies no shipped model has), and the tests' tiny model.

Its forward pass is the Llama computation in float32 (RMSNorm, RoPE, grouped-query attention over a KV cache,
SwiGLU MLP, tied output head) with each phase wrapped in `profiler.phase(name)` like the NumPy runtime's. The
weights are random, so its logits mean nothing: it stands for the runtime's *time*, never for its answers.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class LlamaShape:
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    d_ff: int
    vocab: int
    rope_base: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def with_vocab(self, vocab: int) -> "LlamaShape":
        return replace(self, vocab=vocab)


# SmolLM2-135M(-Instruct)'s config.json: the default model's shape.
SMOLLM2_135M = LlamaShape(layers=30, d_model=576, heads=9, kv_heads=3, d_ff=1536, vocab=49152, rope_base=100000.0)
TINY = LlamaShape(layers=2, d_model=32, heads=4, kv_heads=2, d_ff=48, vocab=97)


class SyntheticLlama:
    """Random-weight Llama of `shape`; `session(profiler=None)` has the decoders' start/advance interface."""

    eos_token_id = None

    def __init__(self, shape: LlamaShape, seed: int = 0, name: str | None = None):
        if shape.d_model % shape.heads or shape.heads % shape.kv_heads or shape.head_dim % 2:
            raise ValueError(f"{shape}: d_model must split into heads of even size, heads into kv_heads groups")
        self.shape = shape
        self.name = name or f"synthetic Llama {shape.layers}x{shape.d_model}, V={shape.vocab:,} (random weights)"
        self.vocab_size = shape.vocab
        rng = np.random.default_rng(seed)
        d, hd, s = shape.d_model, shape.head_dim, shape

        def w(rows, cols):
            return (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(rows)).astype(np.float32)

        self.embed = w(s.vocab, d) * np.float32(np.sqrt(d))
        self.layers = [{"wq": w(d, s.heads * hd), "wk": w(d, s.kv_heads * hd), "wv": w(d, s.kv_heads * hd),
                        "wo": w(s.heads * hd, d), "w_gate": w(d, s.d_ff), "w_up": w(d, s.d_ff), "w_down": w(s.d_ff, d),
                        "norm1": np.ones(d, np.float32), "norm2": np.ones(d, np.float32)}
                       for _ in range(s.layers)]
        self.norm = np.ones(d, np.float32)
        self.inv_freq = (1.0 / s.rope_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)).astype(np.float32)

    @property
    def weight_bytes(self) -> int:
        return self.embed.nbytes + self.norm.nbytes + sum(a.nbytes for layer in self.layers for a in layer.values())

    def session(self, max_rows: int | None = None, max_length: int | None = None, profiler=None):
        """A decode session with the NumPy runtime's interface; the KV cache is made at `start` for `max_rows`
        beams (default 8) and `max_length` positions (default: the prompt plus 256), and doubled if outgrown."""
        return _Session(self, profiler, max_rows or 8, max_length)


def _rms(x, weight, eps):
    return x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * weight


def _rope(x, pos, inv_freq):
    """x[n, heads, hd] rotated by position pos[n] (the half-split form Hugging Face's Llama uses)."""
    ang = pos[:, None].astype(np.float32) * inv_freq[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class _Session:
    """Rows share one KV cache [layers, rows, kv_heads, capacity, hd], grown by doubling, reordered in place."""

    def __init__(self, model: SyntheticLlama, profiler, rows: int, length: int | None):
        self.m = model
        self.prof = profiler
        self.reserve = (rows, length)
        self.k = self.v = None
        self.rows = 0
        self.length = 0

    def _phase(self, name):
        return self.prof.phase(name) if self.prof is not None else nullcontext()

    def _ensure(self, rows, length):
        s = self.m.shape
        cap_rows = 0 if self.k is None else self.k.shape[1]
        cap_len = 0 if self.k is None else self.k.shape[3]
        if rows <= cap_rows and length <= cap_len:
            return
        shape = (s.layers, max(rows, cap_rows), s.kv_heads, max(length, 2 * cap_len, 64), s.head_dim)
        k, v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        if self.k is not None:
            k[:, :cap_rows, :, :cap_len] = self.k
            v[:, :cap_rows, :, :cap_len] = self.v
        self.k, self.v = k, v

    def start(self, prompt):
        tokens = np.asarray(prompt, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0 or tokens.min() < 0 or tokens.max() >= self.m.shape.vocab:
            raise ValueError(f"prompt must be a non-empty list of token ids in 0..{self.m.shape.vocab - 1}")
        rows, length = self.reserve
        self._ensure(rows, length or tokens.size + 256)
        self.rows, self.length = 1, 0
        return self._forward(tokens[None, :])

    def advance(self, parents, tokens):
        parents = np.asarray(parents, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        n = parents.shape[0]
        self._ensure(n, self.length + 1)
        moved = np.nonzero(parents != np.arange(n))[0]
        if moved.size:
            with self._phase("cache_reorder"):    # only the rows whose parent is another row are copied
                live = slice(0, self.length)
                src = parents[moved]
                self.k[:, moved, :, live] = self.k[:, src, :, live]
                self.v[:, moved, :, live] = self.v[:, src, :, live]
        self.rows = n
        return self._forward(tokens[:, None])

    def _forward(self, tokens):
        """tokens[rows, t] appended at positions length..length+t-1; returns the last position's logits[rows, V]."""
        s, m = self.m.shape, self.m
        rows, t = tokens.shape
        hd, group = s.head_dim, s.heads // s.kv_heads
        pos = np.arange(self.length, self.length + t)
        end = self.length + t
        with self._phase("embedding"):
            x = m.embed[tokens.reshape(-1)].reshape(rows * t, s.d_model)
        causal = np.triu(np.full((t, end), -np.inf, np.float32), k=self.length + 1) if t > 1 else None
        for i, layer in enumerate(m.layers):
            with self._phase("attn_proj"):
                h = _rms(x, layer["norm1"], s.eps)
                q = _rope((h @ layer["wq"]).reshape(rows * t, s.heads, hd), np.tile(pos, rows), m.inv_freq)
                k = _rope((h @ layer["wk"]).reshape(rows * t, s.kv_heads, hd), np.tile(pos, rows), m.inv_freq)
                v = (h @ layer["wv"]).reshape(rows * t, s.kv_heads, hd)
                self.k[i, :rows, :, self.length:end] = k.reshape(rows, t, s.kv_heads, hd).transpose(0, 2, 1, 3)
                self.v[i, :rows, :, self.length:end] = v.reshape(rows, t, s.kv_heads, hd).transpose(0, 2, 1, 3)
                # [rows, kv_heads, group, t, hd]: each query head with the cache of its key/value head
                q = q.reshape(rows, t, s.kv_heads, group, hd).transpose(0, 2, 3, 1, 4)
            with self._phase("attn_scores"):
                keys = self.k[i, :rows, :, :end][:, :, None]                     # [rows, kvh, 1, end, hd]
                scores = (q @ keys.swapaxes(-1, -2)) * np.float32(1.0 / np.sqrt(hd))
                if causal is not None:
                    scores += causal
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
            with self._phase("attn_weighted_sum"):
                ctx = scores @ self.v[i, :rows, :, :end][:, :, None]              # [rows, kvh, group, t, hd]
            with self._phase("attn_proj"):
                x = x + ctx.transpose(0, 3, 1, 2, 4).reshape(rows * t, s.d_model) @ layer["wo"]
            with self._phase("mlp"):
                h = _rms(x, layer["norm2"], s.eps)
                g = h @ layer["w_gate"]
                x = x + ((g / (1.0 + np.exp(-g))) * (h @ layer["w_up"])) @ layer["w_down"]
        self.length = end
        with self._phase("head"):
            last = _rms(x.reshape(rows, t, s.d_model)[:, -1], m.norm, s.eps)
            return last @ m.embed.T
