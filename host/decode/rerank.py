"""A backend step with the processors' edits applied, without a host pass over all B*V logits.

The edits touch a few tokens per row (processors.py). The backend is asked for K' = K + (number of edited tokens)
candidates (at most its max_k), the edits are applied to those few, and they are re-ranked. Let T be the backend's
K'-th score: every candidate it did not return scores <= T before the edits. Lowering edits (bans, a penalty > 1)
keep it <= T; a raising edit (repetition_penalty < 1) is computed for each edited token directly, from the host's
copy of its logit and the row's normaliser, which any returned candidate of the row gives
(lse = x - (score - beam_score)); a row without one bounds it from T. The K best known candidates are the answer
when the K-th of them scores above T (and above that bound): nothing unreturned can reach it. Otherwise
("cannot prove") the step is redone by a host pass over the logits, and counted.

Two score spaces, as transformers has them:
- beam search (`beam_step`): the edits apply to log_softmax(x) + nothing, before the beam score is added;
- greedy and sampling (`logits_step`, one row): the edits apply to the raw logits; the candidates are ranked by the
  edited logit and scored by the log-softmax of the edited row, whose normaliser follows from the row's
  normaliser and the edited tokens alone: lse' = lse + log(1 + sum_e (exp(x'_e - lse) - exp(x_e - lse))).
On a fixed-point backend the re-ranked scores carry its quantisation (the normaliser comes from its scores).
"""
from __future__ import annotations

import time

import numpy as np

from ..backends.base import StepResult
from ..backends.numpy_backend import NumpyBackend, _inf_count, _score, _top
from .processors import Processors

# lse' = lse + log(r), r the share of the row's mass left after the edits: an error e in lse becomes e / r in lse'.
# Below these shares the host recomputes lse' (keeping the error within 10x the numpy backend's ~1e-6, 2x fixed point's).
_MIN_REMAINING = 0.1
_MIN_REMAINING_FIXED = 0.5


class EditedSteps:
    """Runs `backend` steps under `processors`, counting steps, re-ranked steps and host-pass fallbacks."""

    def __init__(self, backend, processors: Processors):
        self.backend = backend
        self.processors = processors
        self.max_k = getattr(backend, "max_k", None)
        self.steps = 0            # backend.step calls
        self.edited = 0           # steps whose candidates were edited and re-ranked
        self.fallbacks = 0        # of those, steps that needed a host pass
        self.host_seconds = 0.0   # time of the re-ranking and fallbacks (the backend's own steps not counted)

    def stats(self) -> dict:
        return {"edited_steps": self.edited, "fallback_steps": self.fallbacks, "rerank_seconds": self.host_seconds}

    def _step(self, x, s, k):
        """The backend's step, its time kept out of host_seconds."""
        t0 = time.perf_counter()
        res = self.backend.step(x, s, k)
        self.host_seconds -= time.perf_counter() - t0
        return res

    def _wider(self, k, n_edits, total):
        kk = min(total, k + n_edits)
        return kk if self.max_k is None else max(k, min(kk, self.max_k))

    # -- beam search: edits on log-probabilities ------------------------------------------------------------------
    def beam_step(self, logits, beam_scores, k, row_edits) -> StepResult:
        self.steps += 1
        if not any(row_edits):
            return self.backend.step(logits, beam_scores, k)
        self.edited += 1
        t0 = time.perf_counter()
        try:
            return self._beam_step(logits, beam_scores, k, row_edits)
        finally:
            self.host_seconds += time.perf_counter() - t0

    def _beam_step(self, logits, beam_scores, k, row_edits) -> StepResult:
        x = np.asarray(logits)
        b, v = x.shape
        s = np.asarray(beam_scores, np.float32).astype(np.float64)   # what the backend adds (float32 on the wire)
        banned, penalised = set(), set()
        for r, e in enumerate(row_edits):
            banned.update(r * v + t for t in e.banned)
            penalised.update(r * v + t for t in e.penalised)
        total = b * v
        kk = self._wider(k, len(banned) + len(penalised), total)
        res = self._step(x, s, kk)
        idx = (res.beams * v + res.tokens).tolist()
        raw = res.scores.tolist()
        proc = self.processors
        known, lse = {}, {}
        for f, u in zip(idx, raw):
            r = f // v
            xv = float(x[r, f - r * v])
            if r not in lse and np.isfinite(u) and np.isfinite(xv):
                lse[r] = xv - (u - s[r])
            if f in banned:
                known[f] = -np.inf
            elif f in penalised:
                known[f] = float(proc.penalise(u - s[r])) + s[r]
            else:
                known[f] = u
        threshold = raw[-1] if kk < total else -np.inf
        if proc.repetition_penalty < 1.0 and kk < total:     # raised scores of unreturned penalised tokens
            for f in penalised - known.keys():
                r = f // v
                if r in lse:
                    xv = float(x[r, f - r * v])
                    known[f] = float(proc.penalise(xv - lse[r])) + s[r] if np.isfinite(xv) else -np.inf
                else:                                        # bound: its log-prob is <= T - s_r (and <= 0)
                    threshold = max(threshold, float(proc.penalise(min(0.0, raw[-1] - s[r]))) + s[r])
        best = sorted(known.items(), key=lambda item: (-item[1], item[0]))[:k]
        if kk == total or _beats(best, k, threshold, raw[-1], idx, banned, penalised):
            flat = np.array([f for f, _ in best], np.int64)
            return StepResult(np.array([sc for _, sc in best]), flat // v, flat % v)
        self.fallbacks += 1
        return _host_beam_step(x, s, k, banned, penalised, proc)

    # -- greedy and sampling: edits on raw logits, one row ----------------------------------------------------------
    def logits_step(self, row, k, edits):
        """(log-probabilities of the edited row, tokens, edited logits) of its k best, best first; `row` is [1, V]."""
        self.steps += 1
        x = np.asarray(row)
        if not edits:
            res = self.backend.step(x, np.zeros(1), k)
            return res.scores, res.tokens, _values(x[0], res.tokens)
        self.edited += 1
        t0 = time.perf_counter()
        try:
            return self._logits_step(x, k, edits)
        finally:
            self.host_seconds += time.perf_counter() - t0

    def _logits_step(self, x, k, edits):
        v = x.shape[1]
        zero = np.zeros(1)
        proc = self.processors
        edited = sorted(set(edits.banned) | set(edits.penalised))
        kk = self._wider(k, len(edited), v)
        res = self._step(x, zero, kk)
        returned = res.tokens.tolist()
        xr = _values(x[0], res.tokens)
        finite = np.flatnonzero(np.isfinite(res.scores) & np.isfinite(xr))
        lse = float(xr[finite[0]] - res.scores[finite[0]]) if finite.size else None
        e_tok = np.array(edited, np.int64)
        e_raw = _values(x[0], e_tok)
        e_new = proc.penalise(e_raw) if proc.repetition_penalty != 1.0 else e_raw.copy()
        e_new[np.isin(e_tok, edits.banned)] = -np.inf
        known = dict(zip(returned, xr.tolist()))
        known.update(zip(edited, e_new.tolist()))
        best = sorted(known.items(), key=lambda item: (-item[1], item[0]))[:k]
        # unreturned, unedited tokens have logits <= the last returned one's, plus the backend's key quantum
        quantum = _key_quantum(self.backend)
        last = float(xr[-1])
        proven = kk == v or (_beats(best, k, last, last, returned, edited, ()) if quantum == 0.0
                             else len(best) == k and best[-1][1] > last + quantum)
        remaining = None
        if proven and lse is not None:
            with np.errstate(over="ignore"):
                remaining = 1.0 + float(np.sum(np.exp(e_new - lse) - np.exp(e_raw - lse)))
        floor = _MIN_REMAINING if quantum == 0.0 else _MIN_REMAINING_FIXED
        if not proven or remaining is None or not remaining > floor or not np.isfinite(remaining):
            self.fallbacks += 1
            return _host_logits_step(x[0], k, edits, proc)
        lse_new = lse + np.log(remaining)
        tokens = np.array([t for t, _ in best], np.int64)
        values = np.array([val for _, val in best])
        return values - lse_new, tokens, values


def _beats(best, k, threshold, last, returned, *edited_sets):
    """Is the k-th known candidate provably ahead of every candidate the backend did not return? Above the
    threshold, or equal to it as a returned, unedited candidate scoring `last` (the backend's last score): the
    unreturned ones that tie with it come after it by the tie rule (larger flat index)."""
    if len(best) < k:
        return False
    f, score = best[-1]
    if score > threshold:
        return True
    return score == threshold == last and f in set(returned) and not any(f in e for e in edited_sets)


def _key_quantum(backend) -> float:
    """How far apart two logits the backend ranks as equal can be: 0 for float backends, 2^-F for the core's
    fixed-point keys (F fraction bits; rounding to nearest puts equal keys within one quantum)."""
    config = getattr(backend, "config", None) or getattr(getattr(backend, "driver", None), "config", None)
    bits = getattr(config, "frac_bits", None)
    return 0.0 if bits is None else 2.0 ** -bits


def _values(row, tokens):
    """The host's logits at `tokens` as float64, NaN as -inf (the backends' rule)."""
    vals = np.asarray(row, np.float32)[tokens].astype(np.float64)
    vals[np.isnan(vals)] = -np.inf
    return vals


def _row_scores(x):
    """float64 log_softmax of each row with the backends' rules for NaN and infinite rows."""
    x = np.asarray(x, np.float32)
    if np.isnan(x).any():
        x = np.where(np.isnan(x), np.float32(-np.inf), x)
    m = x.max(axis=1)
    lse = NumpyBackend._lse(x, m, np.empty(x.shape, np.float32))
    zero = np.zeros((x.shape[0], 1))
    return _score(x, lse[:, None], zero, m[:, None], _inf_count(x, m)[:, None])


def _host_beam_step(x, s, k, banned, penalised, proc) -> StepResult:
    """The fallback: every score of the step on the host, the edits, then the exact top k (tie rule included)."""
    b, v = x.shape
    lp = _row_scores(x).ravel()
    if penalised:
        pen = np.fromiter(penalised, np.int64)
        lp[pen] = proc.penalise(lp[pen])
    if banned:
        lp[np.fromiter(banned, np.int64)] = -np.inf
    lp += np.repeat(s, v)
    return _top(lp, np.arange(b * v), k, v)


def _host_logits_step(row, k, edits, proc):
    """The fallback of `logits_step`: edit the whole row on the host, log-softmax it, take its k best."""
    x = np.asarray(row, np.float32).astype(np.float64)
    x[np.isnan(x)] = -np.inf
    if edits.penalised:
        pen = np.asarray(edits.penalised, np.int64)
        x[pen] = proc.penalise(x[pen])
    if edits.banned:
        x[np.asarray(edits.banned, np.int64)] = -np.inf
    tokens = _top(x, np.arange(x.size), k, x.size).tokens
    top = x.max()
    if np.isfinite(top):
        logp = x[tokens] - (top + np.log(np.sum(np.exp(x - top))))
    elif top == np.inf:                              # the mass is shared by the +inf logits
        logp = np.where(x[tokens] == np.inf, -np.log(np.count_nonzero(x == np.inf)), -np.inf)
    else:
        logp = np.full(tokens.size, -np.inf)
    return logp, tokens, x[tokens]
