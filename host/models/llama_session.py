"""The decoders' view of the NumPy Llama runtime: an adapter (`NumpyLlama`) and its sessions.

A session holds one KV cache array, allocated once for `max_rows` beams and `max_length` positions, and keeps it
in step with the decoder's rows: `advance(parents, tokens)` first copies each row's parent into it *in place*
(only the positions used so far, in an order that never overwrites a row still to be read, with one spare row to
break cycles), then runs the new tokens. Nothing is recomputed and no cache array is made per step.

`adapter.session()` with no budget sizes the cache at `start` for the prompt plus DEFAULT_NEW_TOKENS positions and
max(DEFAULT_ROWS, prompts) rows; a session that outgrows it is reallocated once at double the size (a copy, logged
nowhere: pass `max_rows` / `max_length` to avoid it). The context length of the model is the hard limit.

`start_batch(prompts)` runs prompts of different lengths in one forward pass: they are left-padded to a common
length, each row's rotary positions start at its own first token and the padding is masked, so every row's logits
are those of its prompt alone (to float rounding).
"""
from __future__ import annotations

import numbers

import numpy as np

from .llama_numpy import LlamaModel

DEFAULT_NEW_TOKENS = 64
DEFAULT_ROWS = 4


class NumpyLlama:
    """Adapter over a LlamaModel: `session(max_rows=None, max_length=None, profiler=None)`, `eos_token_id`,
    `vocab_size`, and the memory facts `weight_bytes`, `kv_bytes_per_row_token`."""

    def __init__(self, model: LlamaModel, eos_token_id=None):
        self.model = model
        self.config = model.config
        self.vocab_size = model.config.vocab_size
        self.eos_token_id = eos_token_id

    @property
    def weight_bytes(self) -> int:
        return self.model.weight_bytes

    @property
    def kv_bytes_per_row_token(self) -> int:
        return self.config.kv_bytes_per_row_token

    def session(self, max_rows=None, max_length=None, profiler=None):
        return LlamaSession(self.model, max_rows=max_rows, max_length=max_length, profiler=profiler)

    def logits(self, tokens) -> np.ndarray:
        """Next-token logits [len(tokens), V] at every position of one sequence, in one pass (no session)."""
        ids = _token_array([tokens], self.vocab_size, self.config.context_length)[0]
        cache = self.model.kv_cache(1, len(ids))
        out = self.model.forward(ids[None, :], np.arange(len(ids), dtype=np.int32)[None, :], cache, 0, None,
                                 self.model.buffers(), all_positions=True)
        return out[0]


def _token_array(prompts, vocab, context):
    out = []
    for prompt in prompts:
        if isinstance(prompt, np.ndarray):
            prompt = prompt.tolist()
        if len(prompt) == 0:
            raise ValueError("prompt is empty: the model needs at least one token")
        if len(prompt) > context:
            raise ValueError(f"prompt of {len(prompt)} tokens is longer than the model's context length ({context})")
        for t in prompt:
            if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < vocab:
                raise ValueError(f"token {t!r} is not a token id of this model (0..{vocab - 1})")
        out.append(np.asarray(prompt, dtype=np.int32))
    return out


class LlamaSession:
    def __init__(self, model: LlamaModel, max_rows=None, max_length=None, profiler=None):
        cfg = model.config
        for name, value in (("max_rows", max_rows), ("max_length", max_length)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                      or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if max_length is not None and max_length > cfg.context_length:
            raise ValueError(f"max_length {max_length} exceeds the model's context length ({cfg.context_length})")
        self.model, self.profiler = model, profiler
        self.max_rows, self.max_length = max_rows, max_length
        self.cache = None                 # [layers, 2, rows + 1 spare, kv heads, capacity, head_dim]
        self.rows = 0                     # rows holding live sequences
        self.length = 0                   # cache slots used (every row ends at the same slot)
        self.key_start = None             # [rows + 1] int32: a row's first real slot (left padding before it)
        self._buf = model.buffers()

    @property
    def capacity(self) -> tuple[int, int]:
        """(rows, positions) the cache holds without growing."""
        return (0, 0) if self.cache is None else (self.cache.shape[2] - 1, self.cache.shape[4])

    def start(self, prompt):
        """Logits [1, V] after `prompt` (a list of token ids)."""
        return self.start_batch([prompt])

    def start_batch(self, prompts):
        """Logits [len(prompts), V], row i after prompts[i]; the prompts may differ in length."""
        cfg = self.model.config
        if len(prompts) == 0:
            raise ValueError("start_batch needs at least one prompt")
        ids = _token_array(prompts, cfg.vocab_size, cfg.context_length)
        b, s = len(ids), max(len(p) for p in ids)
        rows = max(b, self.max_rows or DEFAULT_ROWS)
        length = self.max_length or min(cfg.context_length, s + DEFAULT_NEW_TOKENS)
        if length < s:
            raise ValueError(f"prompt of {s} tokens is longer than this session's max_length ({length})")
        if self.cache is None or self.capacity[0] < rows or self.capacity[1] < length:
            self.cache = None             # free the old cache before allocating the new one
            self.cache = self.model.kv_cache(rows + 1, length)
            self.key_start = np.zeros(rows + 1, dtype=np.int32)
        tokens = np.zeros((b, s), dtype=np.int32)
        self.key_start[:] = 0
        for i, p in enumerate(ids):
            tokens[i, s - len(p):] = p
            self.key_start[i] = s - len(p)
        positions = np.maximum(np.arange(s, dtype=np.int32)[None, :] - self.key_start[:b, None], 0).astype(np.int32)
        padded = bool(self.key_start[:b].any())
        logits = self.model.forward(tokens, positions, self.cache, 0, self.key_start if padded else None,
                                    self._buf, self.profiler)
        self.rows, self.length = b, s
        return logits

    def advance(self, parents, tokens):
        """Logits [n, V]: row i continues row parents[i] of the previous call with tokens[i]."""
        if self.cache is None:
            raise RuntimeError("advance() before start(): the session has no prompt yet")
        cfg = self.model.config
        parents = [int(p) for p in parents]
        tokens = [int(t) for t in tokens]
        n = len(parents)
        if n == 0 or len(tokens) != n:
            raise ValueError(f"advance needs one token per parent, got {n} parents and {len(tokens)} tokens")
        for p in parents:
            if not 0 <= p < self.rows:
                raise ValueError(f"parent row {p} does not exist (the previous call had {self.rows} rows)")
        for t in tokens:
            if not 0 <= t < cfg.vocab_size:
                raise ValueError(f"token {t} is not a token id of this model (0..{cfg.vocab_size - 1})")
        if self.length + 1 > cfg.context_length:
            raise ValueError(f"the sequence reached the model's context length ({cfg.context_length} tokens)")
        self._grow(n, self.length + 1)
        ph = self.profiler.phase("cache_reorder") if self.profiler is not None else None
        if ph is None:
            self._reorder(parents)
        else:
            with ph:
                self._reorder(parents)
        self.rows = n
        ids = np.asarray(tokens, dtype=np.int32)[:, None]
        positions = (self.length - self.key_start[:n, None]).astype(np.int32)
        padded = bool(self.key_start[:n].any())
        logits = self.model.forward(ids, positions, self.cache, self.length, self.key_start if padded else None,
                                    self._buf, self.profiler)
        self.length += 1
        return logits

    def _grow(self, rows, length):
        have_rows, have_len = self.capacity
        if rows <= have_rows and length <= have_len:
            return
        cfg = self.model.config
        new_rows = max(rows, have_rows if rows <= have_rows else 2 * have_rows)
        new_len = have_len if length <= have_len else min(cfg.context_length, max(length, 2 * have_len))
        cache = self.model.kv_cache(new_rows + 1, new_len)
        cache[:, :, :self.rows, :, :self.length] = self.cache[:, :, :self.rows, :, :self.length]
        start = np.zeros(new_rows + 1, dtype=np.int32)
        start[:self.rows] = self.key_start[:self.rows]
        self.cache, self.key_start = cache, start

    def _reorder(self, parents):
        """cache row i <- cache row parents[i], in place: a row is overwritten only once no pending copy reads
        it; a cycle (rows that are each other's parents) goes through the spare last row."""
        pending = {i: p for i, p in enumerate(parents) if p != i}
        if not pending:
            return
        readers = {}
        for p in pending.values():
            readers[p] = readers.get(p, 0) + 1
        spare = self.cache.shape[2] - 1
        used = self.length
        kv, start = self.cache, self.key_start
        while pending:
            ready = [d for d in pending if readers.get(d, 0) == 0]
            if not ready:                          # a cycle: park one row in the spare row, read it from there
                d = next(iter(pending))
                kv[:, :, spare, :, :used] = kv[:, :, d, :, :used]
                start[spare] = start[d]
                for dst, src in pending.items():
                    if src == d:
                        pending[dst] = spare
                readers[d] = 0
                continue
            for d in ready:
                src = pending.pop(d)
                kv[:, :, d, :, :used] = kv[:, :, src, :, :used]
                start[d] = start[src]
                if src in readers:                 # (the spare row has no count)
                    readers[src] -= 1
