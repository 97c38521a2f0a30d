"""The `numpy` backend: one decode step on the host (docs/interface.md §1), float64 scores, at torch's speed.

    score[b, v] = (x[b, v] - lse[b]) + s[b]       lse[b] = m[b] + log(sum_v exp(x[b, v] - m[b]))
    out         = the k largest score[b, v], best first; equal scores put the smaller flat index b*V + v first

The scores are float64; the normaliser's sum is float32 (below), so a score is within ~1e-6 of exact float64.

NaN logits count as -inf. A row of all -inf/NaN scores -inf everywhere (it then ranks by index only). A row with
+inf logits puts all its mass on them: those score s[b] - log(count), the rest -inf.

How it stays as fast as torch's log_softmax + topk without a Python loop over V:
- Each row's V logits are split into G = 64 interleaved groups (group j holds v = j, j + n, j + 2n, ... with
  n = V // 64, plus one group for the V % 64 tail), and each group's max is one strided `max` over a view.
- Scores are monotone in the logit within a row, so a group's best score is the score of its max. Let T be the
  k-th best group score: at least k elements score >= T, hence every element of the true top k (ties included)
  scores >= T and lies in a group whose best score is >= T. Only those groups' elements (about k * 64) are scored
  and sorted by (score descending, flat index ascending): the tie rule holds exactly, also at the k boundary.
- The normaliser needs exp over every logit: one float32 pass (subtract the row max, exp, numpy's pairwise row
  sum) into a work array kept per shape. float64 exp is fast only with AVX-512 (4.4 ms vs 0.9 ms for B=8,
  V=151936 on AVX2); in float32 each term is off by ~1 ulp relative and the pairwise sum adds ~log2(V) ulp at
  worst, so lse is within ~1e-6 of float64 (tested against a float64 reference at 1e-5). The row max m is exact,
  so exp(x - m) <= 1 never overflows, and the scores themselves stay float64: ties within a row stay exact (same
  x, same lse), and rows with identical logits get identical lse.
Large k (k > 1/4 of the groups) and tiny steps take the plain path: every score, then the same exact selection.
"""
from __future__ import annotations

import numpy as np

from .base import StepResult, check_step

_G = 64                # logits per group (a power of two keeps the strided views cheap)
_SMALL = 2048          # at or below B*V, score everything and select
_MAX_SHAPES = 8        # work arrays kept for this many (B, V) shapes
_NO_SHIFT = 64.0       # row maxima within +-this: exp(x) directly, no shift by the max


class _Work:
    """Arrays reused by every step of one (B, V) shape."""

    def __init__(self, b: int, v: int):
        self.exp = np.empty((b, v), np.float32)
        self.nb = v // _G                       # groups of _G strided logits
        self.vf = self.nb * _G                  # logits covered by them
        self.tail = v - self.vf                 # the rest, one more group when non-empty
        self.ng = self.nb + (1 if self.tail else 0)
        self.gmax = np.empty((b, self.ng), np.float32)
        self.group_offsets = np.arange(_G, dtype=np.int64) * self.nb
        self.tail_offsets = np.arange(self.tail, dtype=np.int64) + self.vf


class NumpyBackend:
    """The host's step in float64 scores. Not thread-safe: use one instance per thread (its work arrays are shared)."""

    name = "numpy"
    max_k = None
    formats = ("fp32", "bf16", "fp16")

    def __init__(self):
        self._work: dict[tuple[int, int], _Work] = {}

    def __repr__(self):
        return "NumpyBackend()"

    def _work_for(self, b: int, v: int) -> _Work:
        w = self._work.get((b, v))
        if w is None:
            if len(self._work) >= _MAX_SHAPES:
                self._work.pop(next(iter(self._work)))
            w = self._work[(b, v)] = _Work(b, v)
        return w

    # -- the step -------------------------------------------------------------------------------------------------
    def step(self, logits, beam_scores, k) -> StepResult:
        x, s, k = check_step(logits, beam_scores, k, max_k=self.max_k)
        b, v = x.shape
        s64 = s.astype(np.float64)
        if b * v <= _SMALL:
            return self._step_all(x, s64, k)
        w = self._work_for(b, v)
        self._group_max(x, w)
        m = w.gmax.max(axis=1)
        plain = bool(np.isfinite(m).all() and np.isfinite(s64).all())   # no NaN/inf row: the short path
        if not plain and np.isnan(m).any():     # NaN counts as -inf (rare: pay a copy only then)
            x = np.where(np.isnan(x), np.float32(-np.inf), x)
            self._group_max(x, w)
            m = w.gmax.max(axis=1)
        if 4 * k > b * w.ng:
            return self._step_all(x, s64, k, m=m, w=w)
        lse = self._lse(x, m, w.exp, unshifted=True)
        count = None if plain else _inf_count(x, m)

        # the k-th best group score bounds the k-th best score from below (module docstring)
        gscore = _score(w.gmax, lse[:, None], s64[:, None], m[:, None], None if plain else count[:, None], plain)
        flat = gscore.ravel()
        n = flat.size
        threshold = np.partition(flat, n - k)[n - k]
        sel = np.flatnonzero(flat >= threshold)
        rows, groups = np.divmod(sel, w.ng)
        base = rows * v
        if w.tail and (groups == w.nb).any():
            regular = groups < w.nb
            idx = np.concatenate((((base[regular] + groups[regular])[:, None] + w.group_offsets).ravel(),
                                  (base[~regular][:, None] + w.tail_offsets).ravel()))
        else:
            idx = ((base + groups)[:, None] + w.group_offsets).ravel()
        crow = idx // v
        cscore = _score(x.ravel()[idx], lse[crow], s64[crow], m[crow], None if plain else count[crow], plain)
        return _top(cscore, idx, k, v)

    # -- pieces ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _group_max(x, w: _Work):
        b = x.shape[0]
        if w.nb:
            np.max(x[:, :w.vf].reshape(b, _G, w.nb), axis=1, out=w.gmax[:, :w.nb])
        if w.tail:
            np.max(x[:, w.vf:], axis=1, out=w.gmax[:, w.nb])

    @staticmethod
    def _lse(x, m, buf, unshifted=False):
        """logsumexp of each row (float32 exp and pairwise sum, float64 result); -inf for all -inf rows (rows with
        +inf are handled in _score). `unshifted`: allow exp(x) without subtracting the max (large steps; small ones
        keep the exact 0 of a row's max that holds all the mass)."""
        finite = np.isfinite(m)
        if unshifted and finite.all() and m.min() >= -_NO_SHIFT and m.max() <= _NO_SHIFT:
            # exp(x) itself neither overflows (V * e^64 < 3e38) nor loses the sum (>= e^-64, a normal float32;
            # terms that underflow are < e^-23 of it): one pass less than shifting by the max
            np.exp(x, out=buf)
            return np.log(buf.sum(axis=1).astype(np.float64))
        shift = np.where(finite, m, np.float32(0))
        np.subtract(x, shift[:, None], out=buf)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # only in rows discarded below
            np.exp(buf, out=buf)
            total = buf.sum(axis=1).astype(np.float64)
            return np.where(finite, shift.astype(np.float64) + np.log(total), -np.inf)

    def _step_all(self, x, s64, k, m=None, w=None) -> StepResult:
        """Score every logit, then select exactly (`_top`): tiny steps and large k."""
        b, v = x.shape
        if m is None:
            m = x.max(axis=1)
            if np.isnan(m).any():
                x = np.where(np.isnan(x), np.float32(-np.inf), x)
                m = x.max(axis=1)
        buf = w.exp if w is not None else np.empty((b, v), np.float32)
        lse = self._lse(x, m, buf)
        score = _score(x, lse[:, None], s64[:, None], m[:, None], _inf_count(x, m)[:, None]).ravel()
        return _top(score, np.arange(score.size), k, v)


def _top(score, idx, k, v) -> StepResult:
    """The k best of candidates (score, flat index): score descending, then index ascending (the tie rule)."""
    n = score.size
    if n > 2 * k + 16:                          # cut to the candidates >= the k-th best (ties kept), then sort
        keep = np.flatnonzero(score >= np.partition(score, n - k)[n - k])
        score, idx = score[keep], idx[keep]
    order = np.lexsort((idx, -score))[:k]
    best = idx[order]
    return StepResult(score[order], best // v, best % v)


def _inf_count(x, m):
    """Per row, how many +inf logits (only rows whose max is +inf are counted; others 0)."""
    count = np.zeros(x.shape[0], np.int64)
    pos = np.flatnonzero(m == np.inf)
    if pos.size:
        count[pos] = (x[pos] == np.inf).sum(axis=1)
    return count


def _score(xv, lse, s, m, inf_count, plain=False):
    """(x - lse) + s in float64, with the docs/interface.md §1 rules for rows whose max is not finite; NaN -> -inf.

    Monotone non-decreasing in x within a row, which the group argument of `step` relies on. `plain`: every row
    max and beam score is finite, so nothing special can occur (x is finite or -inf, lse finite).
    """
    if plain:
        out = np.subtract(xv, lse, dtype=np.float64)
        out += s
        return out
    with np.errstate(invalid="ignore"):
        out = np.subtract(xv, lse, dtype=np.float64)
        out += s
        special = ~np.isfinite(m)
        if special.any():
            shape = out.shape
            mass = np.broadcast_to(s - np.log(np.maximum(inf_count, 1)), shape)
            fixed = np.where(np.broadcast_to(m == np.inf, shape) & (xv == np.inf), mass, -np.inf)
            out = np.where(np.broadcast_to(special, shape), fixed, out)
    nan = np.isnan(out)
    if nan.any():
        out[nan] = -np.inf
    return out
