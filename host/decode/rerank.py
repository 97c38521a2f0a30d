"""A backend step with the processors' edits applied, without a host pass over all B*V logits.

The edits touch a few tokens per row (processors.py). The backend is asked for K' = K + (number of edited tokens)
candidates (at most 4K + 16 and its max_k), the edits are applied to those few, and they are re-ranked. Let T be the
backend's K'-th score: every candidate it did not return scores <= T before the edits. Lowering edits (bans, a
penalty > 1) keep it <= T; a raising edit (repetition_penalty < 1) is computed for each edited token directly, from
the host's copy of its logit and the row's normaliser, which any returned candidate of the row gives (lse = x -
(score - beam_score)); a row without one bounds it from T. The K best known candidates are the answer when the K-th
of them scores above T (and above that bound), or equals T as a returned, unedited candidate (the unreturned ties
come after it by the tie rule): nothing unreturned can reach it. Otherwise ("cannot prove") the step is redone by a
host pass over the logits, and counted.

Two score spaces, as transformers has them:
- beam search (`beam_step`): the edits apply to log_softmax(x), before the beam score is added;
- greedy and sampling (`logits_step`, one row): the edits apply to the raw logits; the candidates are ranked by the
  edited logit and scored by the log-softmax of the edited row, whose normaliser follows from the row's
  normaliser and the edited tokens alone: lse' = lse + log(1 + sum_e (exp(x'_e - lse) - exp(x_e - lse))).
On a fixed-point backend the re-ranked scores carry its quantisation (the normaliser comes from its scores), and
two logits within one key quantum (2^-F) may rank as equal there, so the logit-space proof adds that quantum.
"""
from __future__ import annotations

import time

import numpy as np

from ..backends.base import StepResult
from ..backends.numpy_backend import NumpyBackend, _inf_count, _score, _top
from .processors import Processors

# lse' = lse + log(r), r the share of the row's mass left after the edits: an error e in lse becomes e / r in lse'.
# Below these shares the host recomputes lse' (the error stays within 10x the numpy backend's ~1e-6, and within
# 2x a fixed-point backend's).
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
        self._host = None         # a bounded backend's fallback: the same re-rank on the numpy backend (any K')

    def stats(self) -> dict:
        return {"edited_steps": self.edited, "fallback_steps": self.fallbacks, "rerank_seconds": self.host_seconds}

    def _step(self, x, s, k):
        """The backend's step, its time kept out of host_seconds."""
        t0 = time.perf_counter()
        res = self.backend.step(x, s, k)
        self.host_seconds -= time.perf_counter() - t0
        return res

    def _on_host(self):
        """For a backend with a K limit (the fabric), the host's fallback is first the same re-rank on the numpy
        backend, which takes K' = K + (edits) and so usually proves the answer from ~64 K' logits scored in
        float64 instead of all B*V; its own fallback is the full pass. None for a backend without a limit."""
        if self.max_k is None:
            return None
        if self._host is None:
            self._host = EditedSteps(NumpyBackend(), self.processors)
        return self._host

    def _wider(self, k, n_edits, total):
        """K': one spare candidate per edited token (then lowering edits never need a host pass), but at most
        4K + 16 (a long prompt under repetition_penalty edits hundreds of tokens, few of them near the top) and
        at most the backend's max_k."""
        kk = min(total, k + min(n_edits, 3 * k + 16))
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
        banned = np.array(sorted({r * v + t for r, e in enumerate(row_edits) for t in e.banned}), np.int64)
        penalised = np.array(sorted({r * v + t for r, e in enumerate(row_edits) for t in e.penalised}), np.int64)
        total = b * v
        kk = self._wider(k, banned.size + penalised.size, total)
        res = self._step(x, s, kk)
        proc = self.processors
        idx = res.beams * v + res.tokens
        raw = np.asarray(res.scores, np.float64)
        rows = np.asarray(res.beams)
        score = raw.copy()
        pen = _member(idx, penalised)
        score[pen] = proc.penalise(raw[pen] - s[rows[pen]]) + s[rows[pen]]
        edited = pen | _member(idx, banned)
        score[edited & ~pen] = -np.inf
        last = raw[-1]
        threshold = last if kk < total else -np.inf
        if proc.repetition_penalty < 1.0 and kk < total:     # raised scores of unreturned penalised tokens
            extra = np.setdiff1d(penalised, idx, assume_unique=True)
            if extra.size:
                xr = _values(x.reshape(-1), idx)
                finite = np.flatnonzero(np.isfinite(raw) & np.isfinite(xr))
                lse = np.full(b, np.nan)                     # any returned candidate of a row gives its normaliser
                lse[rows[finite][::-1]] = (xr - (raw - s[rows]))[finite][::-1]   # (the first one wins)
                e_rows = extra // v
                known = ~np.isnan(lse[e_rows])
                e_x = _values(x.reshape(-1), extra[known])
                idx = np.concatenate((idx, extra[known]))
                score = np.concatenate((score, proc.penalise(e_x - lse[e_rows[known]]) + s[e_rows[known]]))
                edited = np.concatenate((edited, np.ones(int(known.sum()), bool)))
                if not known.all():                          # bound: their log-prob is <= T - s_r (and <= 0)
                    r_out = e_rows[~known]
                    bound = proc.penalise(np.minimum(0.0, last - s[r_out])) + s[r_out]
                    threshold = max(threshold, float(bound.max()))
        order = np.lexsort((idx, -score))[:k]
        if kk == total or _proven(score[order], edited[order], k, threshold, last):
            best = idx[order]
            return StepResult(score[order], best // v, best % v)
        self.fallbacks += 1
        if self._on_host() is not None:
            return self._host._beam_step(x, s, k, row_edits)
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

    def rows_step(self, x, k, row_edits):
        """`logits_step` of every row of x ([R, V]) under its own edits, as a list. A backend with a per-row mode
        (`step_rows`) serves up to its beams_max rows per call, each asked for the largest K' any row needs (a
        row's K' best are the first K' of more); any other backend takes one step per row."""
        step_rows = getattr(self.backend, "step_rows", None)
        if step_rows is None:
            return [self.logits_step(x[r:r + 1], k, e) for r, e in enumerate(row_edits)]
        v = x.shape[1]
        wide = [self._wider(k, _edited_tokens(e).size, v) if e else k for e in row_edits]
        rows = self.backend.config.beams_max
        out = []
        for lo in range(0, len(x), rows):
            hi = min(lo + rows, len(x))
            self.steps += 1
            best = step_rows(x[lo:hi], np.zeros(hi - lo, np.float32), max(wide[lo:hi]))
            for r in range(lo, hi):
                scores, tokens = best.scores[r - lo, :wide[r]], best.tokens[r - lo, :wide[r]]
                if not row_edits[r]:
                    out.append((scores, tokens, _values(x[r], tokens)))
                    continue
                self.edited += 1
                t0 = time.perf_counter()
                out.append(self._logits_step(x[r:r + 1], k, row_edits[r], (scores, tokens)))
                self.host_seconds += time.perf_counter() - t0
        return out

    def _logits_step(self, x, k, edits, returned=None):
        """`returned`: the backend's (scores, tokens) of the row's K' best, when a per-row step already gave them."""
        v = x.shape[1]
        proc = self.processors
        e_tok = _edited_tokens(edits)
        kk = self._wider(k, e_tok.size, v)
        if returned is None:
            res = self._step(x, np.zeros(1), kk)
            returned = res.scores, res.tokens
        r_scores, r_tokens = returned
        xr = _values(x[0], r_tokens)
        finite = np.flatnonzero(np.isfinite(r_scores) & np.isfinite(xr))
        lse = float(xr[finite[0]] - r_scores[finite[0]]) if finite.size else None
        e_raw = _values(x[0], e_tok)
        e_new = proc.penalise(e_raw) if proc.repetition_penalty != 1.0 else e_raw.copy()
        e_new[_member(e_tok, np.sort(np.asarray(edits.banned, np.int64)))] = -np.inf
        plain = ~_member(r_tokens, e_tok)                   # returned and unedited; the edited ones come from e_*
        tokens = np.concatenate((r_tokens[plain], e_tok))
        values = np.concatenate((xr[plain], e_new))
        edited = np.concatenate((np.zeros(int(plain.sum()), bool), np.ones(e_tok.size, bool)))
        order = np.lexsort((tokens, -values))[:k]
        # unreturned, unedited tokens have logits <= the last returned one's, plus the backend's key quantum
        quantum = _key_quantum(self.backend)
        last = float(xr[-1])
        proven = kk == v or (_proven(values[order], edited[order], k, last, last) if quantum == 0.0
                             else order.size == k and values[order[-1]] > last + quantum)
        remaining = None
        if proven and lse is not None:
            with np.errstate(over="ignore"):
                remaining = 1.0 + float(np.sum(np.exp(e_new - lse) - np.exp(e_raw - lse)))
        floor = _MIN_REMAINING if quantum == 0.0 else _MIN_REMAINING_FIXED
        if not proven or remaining is None or not remaining > floor or not np.isfinite(remaining):
            self.fallbacks += 1
            if self._on_host() is not None:
                return self._host._logits_step(x, k, edits)
            return _host_logits_step(x[0], k, edits, proc)
        best = values[order]
        return best - (lse + np.log(remaining)), tokens[order], best


def _proven(scores, edited, k, threshold, last):
    """Is the k-th known candidate provably ahead of every candidate the backend did not return? Above the
    threshold, or equal to it as a returned, unedited candidate scoring `last` (the backend's last score): the
    unreturned ones that tie with it come after it by the tie rule (larger flat index)."""
    if scores.size < k:
        return False
    if scores[k - 1] > threshold:
        return True
    return bool(scores[k - 1] == threshold == last and not edited[k - 1])


def _member(values, sorted_ids):
    """values in sorted_ids (both int arrays): a binary search, not np.isin, which may build a table over the
    whole id range (B*V) for small inputs."""
    if sorted_ids.size == 0:
        return np.zeros(np.shape(values), bool)
    pos = np.minimum(np.searchsorted(sorted_ids, values), sorted_ids.size - 1)
    return sorted_ids[pos] == values


def _key_quantum(backend) -> float:
    """How far apart two logits the backend ranks as equal can be: 0 for float backends, 2^-F for the core's
    fixed-point keys (F fraction bits; rounding to nearest puts equal keys within one quantum)."""
    config = getattr(backend, "config", None) or getattr(getattr(backend, "driver", None), "config", None)
    bits = getattr(config, "frac_bits", None)
    return 0.0 if bits is None else 2.0 ** -bits


def _edited_tokens(edits):
    """The tokens a row's edits touch, sorted."""
    return np.array(sorted(set(edits.banned) | set(edits.penalised)), np.int64)


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
    lp[penalised] = proc.penalise(lp[penalised])          # flat indices (int64 arrays)
    lp[banned] = -np.inf
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
