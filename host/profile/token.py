"""Where one generated token's time goes: measured in one decode with the project's own beam search.

Method: the model's session gets a `PhaseTimer` as its profiler (the NumPy runtime wraps each phase of its
forward pass in `profiler.phase(name)`); the session's `advance` and the backend's `step` are wrapped with the
same clock; the time between one of those calls ending and the next starting is the decoder's own work
(hypotheses, beam bookkeeping, processors). The window runs from the end of the first step (the prompt's, after
prefill) to the end of the last step, so it holds whole tokens: per token one advance (forward), one step and the
decoder's work around them. Forward time outside every phase is "model_other". Every figure is wall time
(time.perf_counter). The timer's sums are read at the end of every step, so each token has its own split, and
the split reported is the **median token's** (by its wall time): on a shared machine one token whose step was
preempted by another process would otherwise move a sub-millisecond column several-fold.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..backends import resolve_backend
from ..decode import beam_search
from .models import open_session
from .phases import COLUMNS, PHASES, PhaseTimer


@dataclass
class TokenSplit:
    beams: int
    context: int             # tokens in the KV cache when the window starts (the prompt's length)
    tokens: int              # generated tokens in the window
    vocab: int
    k: int                   # candidates the step returns
    seconds: dict            # column (phases.COLUMNS) -> seconds, of the median token
    wall: float              # that token's wall time, measured around everything
    phased: bool             # whether the model reported its phases (else its forward is all "model_other")
    backend: str
    per_token: list          # every token's split (column -> seconds), in order

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def step_share(self) -> float:
        return self.seconds["step"] / self.total

    def to_dict(self) -> dict:
        return {"beams": self.beams, "context": self.context, "tokens": self.tokens, "vocab": self.vocab,
                "k": self.k, "seconds_per_token": self.seconds, "wall_per_token": self.wall,
                "total_per_token": self.total, "step_share": self.step_share, "phased": self.phased,
                "backend": self.backend, "per_token": self.per_token}


class _Window:
    """The clock shared by the wrappers: opens at the first step's end, adds the gaps between calls."""

    def __init__(self, timer: PhaseTimer):
        self.timer = timer
        self.clock = timer.clock
        self.last_exit = None
        self.opened = self.closed = None
        self.steps = 0
        self.marks: list[tuple[float, dict]] = []   # (time, the timer's sums) at the end of every step

    def call(self, name, fn, *args):
        t0 = self.clock()
        if self.last_exit is not None:
            self.timer.add("decoder", t0 - self.last_exit)
        out = fn(*args)
        t1 = self.clock()
        self.timer.add(name, t1 - t0)
        if name == "step":
            self.steps += 1
            if self.opened is None:          # the prompt's step is done: the window opens
                self.opened = t1
                self.timer.enabled = True
            self.closed = t1
            self.marks.append((t1, dict(self.timer.seconds)))
        self.last_exit = t1 if self.opened is not None else None
        return out


class _TimedBackend:
    def __init__(self, backend, window: _Window):
        self._backend, self._window = backend, window
        self.last_shape = None

    def __getattr__(self, name):                       # name, max_k, formats of the wrapped backend
        return getattr(self._backend, name)

    def step(self, logits, beam_scores, k):
        self.last_shape = (np.shape(logits)[0], np.shape(logits)[1], k)
        return self._window.call("step", self._backend.step, logits, beam_scores, k)


class _TimedSession:
    def __init__(self, session, window: _Window):
        self._session, self._window = session, window

    def start(self, prompt):
        return self._session.start(prompt)             # prefill: outside the window

    def advance(self, parents, tokens):
        return self._window.call("forward", self._session.advance, parents, tokens)


class _TimedModel:
    def __init__(self, model, window: _Window, rows: int, length: int):
        self._model, self._window = model, window
        self.vocab_size = getattr(model, "vocab_size", None)
        self.eos_token_id = None
        # The cache sized for the whole decode up front, so the window never pays for growing it.
        self._first, self.phased = open_session(model, profiler=window.timer, max_rows=rows, max_length=length)

    def session(self):
        session, self._first = self._first, None
        if session is None:
            raise RuntimeError("profile: one decode per measurement")
        return _TimedSession(session, self._window)


def measure(model, prompt, num_beams: int, new_tokens: int, backend="numpy", clock=time.perf_counter) -> TokenSplit:
    """Decode `new_tokens` tokens after `prompt` with `num_beams` beams (no EOS, so every token is generated) and
    split the time per token. `model` is a session-capable adapter (beamstream.models) or a model with
    `session(profiler=...)`."""
    if new_tokens < 2:
        raise ValueError(f"new_tokens must be >= 2 (the first token belongs to the prompt), got {new_tokens}")
    timer = PhaseTimer(clock)
    timer.enabled = False                              # prefill and the prompt's step are not a generated token
    window = _Window(timer)
    wrapped = _TimedModel(model, window, num_beams, len(prompt) + new_tokens + 1)
    be = _TimedBackend(resolve_backend(backend), window)
    beam_search(wrapped, list(prompt), num_beams=num_beams, max_new_tokens=new_tokens, eos_token_id=[], backend=be)
    tokens = window.steps - 1
    if tokens < 1 or window.closed is None:
        raise RuntimeError(f"profile: the decode stopped after {window.steps} step(s); nothing to measure")
    per_token, walls = [], []
    for (t0, before), (t1, after) in zip(window.marks, window.marks[1:]):
        raw = {n: after.get(n, 0.0) - before.get(n, 0.0) for n in after}
        raw["model_other"] = max(0.0, raw.get("forward", 0.0) - sum(raw.get(n, 0.0) for n in PHASES))
        per_token.append({col: sum(raw.get(n, 0.0) for n in names) for col, names in COLUMNS.items()})
        walls.append(t1 - t0)
    median = sorted(range(tokens), key=walls.__getitem__)[(tokens - 1) // 2]
    beams, vocab, k = be.last_shape
    return TokenSplit(num_beams, len(prompt), tokens, vocab, k, per_token[median], walls[median], wrapped.phased,
                      str(getattr(be, "name", type(be).__name__)), per_token)
