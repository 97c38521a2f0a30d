"""What every decoder shares: the result type, argument checks, prompt and logits validation."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..backends import resolve_backend
from ..models import as_model


@dataclass
class DecodeResult:
    """What a decoder returns for one prompt.

    sequences: token lists, prompt included, best first (beam search) or in sample order; unpadded, each ending
               at its EOS when it has one.
    scores:    beam search: Hugging Face's `sequences_scores` (sum of log-probabilities / generated_len **
               length_penalty, the processors applied to them); greedy: the sum of the chosen tokens'
               log-probabilities under the processed distribution; sample: the same under the processed,
               temperature-scaled distribution.
    backend:   name of the backend that ran the steps.
    extra:     edited_steps / fallback_steps / rerank_seconds: backend steps re-ranked after the logits processors,
               those that needed a host pass, the host's time for it (like `steps`, for the whole decode call);
               from `generate`: mode and mode_reason.
    """
    sequences: list[list[int]]
    scores: list[float]
    backend: str
    prompt_length: int = 0
    steps: int = 0                       # backend calls made by the decode call (a batch's results share them)
    extra: dict = field(default_factory=dict)

    @property
    def new_tokens(self) -> list[list[int]]:
        """The generated part of each sequence (prompt removed)."""
        return [seq[self.prompt_length:] for seq in self.sequences]


def backend_name(backend) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


def check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_float(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def prompts_of(input_ids, vocab_size=None):
    """(list of prompts as lists of ints, is_batch). One prompt: list[int], 1-D array/tensor. A batch: 2-D."""
    if hasattr(input_ids, "detach"):                      # torch tensor
        input_ids = input_ids.detach().cpu().numpy()
    if isinstance(input_ids, np.ndarray):
        if input_ids.dtype.kind not in "iu":
            if input_ids.size == 0:
                raise ValueError("input_ids must not be empty")
            raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
        if input_ids.ndim == 1:
            prompts, batch = [input_ids.tolist()], False
        elif input_ids.ndim == 2:
            prompts, batch = input_ids.tolist(), True
        else:
            raise ValueError(f"input_ids must be 1-D (one prompt) or 2-D (a batch), got shape {input_ids.shape}")
    elif isinstance(input_ids, (list, tuple)):
        if len(input_ids) and all(isinstance(p, (list, tuple, np.ndarray)) for p in input_ids):
            prompts, batch = [list(p) for p in input_ids], True
        else:
            prompts, batch = [list(input_ids)], False
    else:
        raise ValueError(f"input_ids must be a list of token ids (or a list of such lists), got {type(input_ids).__name__}")
    if not prompts:
        raise ValueError("input_ids must not be empty")
    for prompt in prompts:
        if not prompt:
            raise ValueError("input_ids must not be empty (a prompt needs at least one token)")
        for tok in prompt:
            if isinstance(tok, bool) or not isinstance(tok, numbers.Integral):
                raise ValueError(f"input_ids must hold integer token ids, got {tok!r}")
            if tok < 0 or (vocab_size is not None and tok >= vocab_size):
                raise ValueError(f"input_ids: token id {tok} is out of range for a vocabulary of {vocab_size}")
    return [[int(t) for t in p] for p in prompts], batch


def eos_ids_of(eos_token_id, adapter):
    """eos_token_id as a list of ints; None takes the model's own (HF generation_config), else no EOS."""
    if eos_token_id is None:
        eos_token_id = getattr(adapter, "eos_token_id", None)
    if eos_token_id is None:
        return []
    if hasattr(eos_token_id, "tolist"):
        eos_token_id = eos_token_id.tolist()
    ids = [eos_token_id] if isinstance(eos_token_id, numbers.Integral) and not isinstance(eos_token_id, bool) \
        else eos_token_id
    if not isinstance(ids, (list, tuple)):
        raise ValueError(f"eos_token_id must be an int or a list of ints, got {eos_token_id!r}")
    out = []
    for t in ids:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise ValueError(f"eos_token_id must be an int or a list of ints, got {eos_token_id!r}")
        if t < 0:
            raise ValueError(f"eos_token_id {t} is out of range (negative)")
        if int(t) not in out:
            out.append(int(t))
    return out


def check_eos_range(eos, vocab):
    for t in eos:
        if t >= vocab:
            raise ValueError(f"eos_token_id {t} is out of range for the model's vocabulary of {vocab}")


def check_logits(logits, rows, vocab):
    """The model's logits as a float array [rows, V] (V fixed by the first call); clear errors otherwise."""
    if hasattr(logits, "detach"):                          # torch tensor (any float dtype, incl. bf16)
        if not logits.is_floating_point():
            raise ValueError(f"model logits must be floating point, got dtype {logits.dtype}")
        logits = logits.detach().float().cpu().numpy()
    arr = np.asarray(logits)
    if arr.dtype.kind != "f":
        raise ValueError(f"model logits must be floating point, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != rows:
        raise ValueError(f"model logits must have shape [{rows}, V] (one row per prefix), got {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError("model logits must have at least one token (V >= 1)")
    if vocab is not None and arr.shape[1] != vocab:
        raise ValueError(f"model logits have length {arr.shape[1]}, but the first step had {vocab}")
    return arr


def setup(model, input_ids, backend):
    """(adapter, prompts, is_batch, backend instance) shared by the decoders."""
    adapter = as_model(model)
    prompts, batch = prompts_of(input_ids, getattr(adapter, "vocab_size", None))
    return adapter, prompts, batch, resolve_backend(backend)


def from_config(adapter, name, value, default=None):
    """An explicit argument (not None) wins; else the model's generation_config (HF models); else `default`
    (transformers' own default), as `generate` resolves its arguments."""
    if value is not None:
        return value
    config = getattr(adapter, "generation_config", None)
    found = getattr(config, name, None) if config is not None else None
    return default if found is None else found


def run_batch(adapter, prompts, make_state, row_step=None):
    """Decode every prompt through ONE model session: each step is one model call for all prompts' rows.

    make_state(prompt, vocab) -> an object with advance(logits[rows, V]) -> (parents, tokens) | None and result().
    Each state owns a contiguous block of the session's rows; `parents` index into its own block. An adapter
    whose session has no start_batch decodes the prompts one after another.

    Row-wise decoders (greedy, sampling) pass `row_step(x[R, V], edits) -> [(logp, tokens, values)]`, each row's
    k best under its edits. Their states say which rows of their block they need, `requests() -> [(row, edits)]`,
    and `advance` takes the answers in that order instead of logits: every live row of every prompt goes to one
    `row_step` call per token (one transfer per token on a core with the per-row mode).
    """
    session = adapter.session()
    if len(prompts) > 1 and not hasattr(session, "start_batch"):
        return [run_batch(adapter, [p], make_state)[0] for p in prompts]
    first = session.start(prompts[0]) if len(prompts) == 1 else session.start_batch(prompts)
    logits = check_logits(first, len(prompts), None)
    vocab = logits.shape[1]
    states = [make_state(p, vocab) for p in prompts]
    live = [(state, i, i + 1) for i, state in enumerate(states)]
    while live:
        if row_step is not None:
            asks = [state.requests() for state, _, _ in live]
            rows = [lo + r for (_, lo, _), ask in zip(live, asks) for r, _ in ask]
            # every row in order (the usual case): the logits as they are, no copy
            x = logits if rows == list(range(len(logits))) else logits[rows]
            answers = iter(row_step(x, [e for ask in asks for _, e in ask]))
        parents, tokens, nxt = [], [], []
        for n, (state, lo, hi) in enumerate(live):
            out = state.advance(logits[lo:hi] if row_step is None else [next(answers) for _ in asks[n]])
            if out is None:
                continue
            par, toks = out
            base = len(parents)
            parents.extend(lo + p for p in par)
            tokens.extend(toks)
            nxt.append((state, base, base + len(toks)))
        if not nxt:
            break
        logits = check_logits(session.advance(parents, tokens), len(parents), vocab)
        live = nxt
    return [state.result() for state in states]
