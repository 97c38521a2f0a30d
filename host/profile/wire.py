"""What each wire format costs in answers: does the fabric's decode of a prompt equal the float decode?

For one prompt the float decode (`numpy` backend, float64 step on the model's float32 logits) is run once and
the logits of every row it asked the model for are recorded by the row's prefix. Each wire format's decode then
runs on `hwmodel` (the core's bit-exact model, logits rounded to that format on the wire) against a replaying
session: while every row it asks for has a prefix the float decode asked for at the same step, it gets those
rows' recorded logits (a row's logits depend only on its prefix; beams that come in another order are only
permuted); at its first new prefix a real session is started and brought to the same state by repeating this
decode's own calls, and the decode goes on with the model. So a format whose decode never leaves the float
decode's beams costs no forward pass. The best sequence is compared token for token.
"""
from __future__ import annotations

import numpy as np

from beamstream import get_backend
from beamstream.decode import beam_search

from .offload import FORMATS, wire_config


class _Recording:
    """Passes a model through and keeps its first session's prompt logits and every advance call's logits."""

    def __init__(self, model):
        self.model = model
        self.vocab_size = getattr(model, "vocab_size", None)
        self.eos_token_id = getattr(model, "eos_token_id", None)
        self.start_logits = None
        self.steps: list[tuple[dict, np.ndarray]] = []   # per advance: {row prefix: row index}, logits

    def session(self):
        return _RecordingSession(self, self.model.session())


def _extend(prefixes: list[tuple], parents, tokens) -> list[tuple]:
    return [prefixes[int(p)] + (int(t),) for p, t in zip(parents, tokens)]


class _RecordingSession:
    def __init__(self, rec: _Recording, session):
        self.rec, self.session = rec, session
        self.prefixes: list[tuple] = []

    def start(self, prompt):
        logits = self.session.start(prompt)
        self.prefixes = [()]
        self.rec.start_logits = np.array(logits, copy=True)   # the runtime may hand out a buffer it reuses
        return logits

    def advance(self, parents, tokens):
        logits = self.session.advance(parents, tokens)
        self.prefixes = _extend(self.prefixes, parents, tokens)
        rows = {prefix: i for i, prefix in enumerate(self.prefixes)}
        self.rec.steps.append((rows, np.array(logits, copy=True)))
        return logits


class _Replay:
    """A model whose session answers from a `_Recording` while the calls match, then from the model itself."""

    def __init__(self, model, rec: _Recording):
        self.model, self.rec = model, rec
        self.vocab_size, self.eos_token_id = rec.vocab_size, rec.eos_token_id
        self.forwards = 0                       # advance calls the model itself had to compute

    def session(self):
        return _ReplaySession(self)


class _ReplaySession:
    def __init__(self, replay: _Replay):
        self.replay = replay
        self.prompt = None
        self.prefixes: list[tuple] = []
        self.history: list[tuple] = []
        self.live = None

    def start(self, prompt):
        self.prompt = list(prompt)
        self.prefixes = [()]
        return self.replay.rec.start_logits

    def advance(self, parents, tokens):
        recorded = self.replay.rec.steps
        i = len(self.history)
        self.history.append((list(parents), list(tokens)))
        self.prefixes = _extend(self.prefixes, parents, tokens)
        if self.live is None and i < len(recorded) and all(p in recorded[i][0] for p in self.prefixes):
            rows, logits = recorded[i]
            return logits[[rows[p] for p in self.prefixes]]
        if self.live is None:                   # a prefix the float decode never asked for: the model takes over
            self.live = self.replay.model.session()
            self.live.start(self.prompt)
            for p, t in self.history[:-1]:
                self.live.advance(p, t)
                self.replay.forwards += 1
        self.replay.forwards += 1
        return self.live.advance(parents, tokens)


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first generated token where `a` and `b` differ (a length difference counts), else None."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare_prompt(model, prompt_ids, num_beams: int, new_tokens: int, formats=FORMATS) -> dict:
    """{"float": generated tokens, fmt: {"equal", "first_diff", "tokens", "forwards"}} for one prompt."""
    rec = _Recording(model)
    ref = beam_search(rec, list(prompt_ids), num_beams=num_beams, max_new_tokens=new_tokens, backend="numpy")
    want = ref.new_tokens[0]
    out = {"float": want}
    for fmt in formats:
        replay = _Replay(model, rec)
        backend = get_backend("hwmodel", config=wire_config(fmt, _step_k(model, num_beams)))
        got = beam_search(replay, list(prompt_ids), num_beams=num_beams, max_new_tokens=new_tokens,
                          backend=backend).new_tokens[0]
        first = first_difference(want, got)
        out[fmt] = {"equal": first is None, "first_diff": first, "tokens": got, "forwards": replay.forwards}
    return out


def _step_k(model, num_beams: int) -> int:
    """The k the decoder asks each step for (beam.py: max(2, 1 + n_eos) * num_beams; 1 for greedy)."""
    eos = getattr(model, "eos_token_id", None)
    n_eos = 0 if eos is None else (1 if np.ndim(eos) == 0 else len(set(np.ravel(eos).tolist())))
    return 1 if num_beams == 1 else max(2, 1 + n_eos) * num_beams
