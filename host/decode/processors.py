"""Logits processors with transformers' names, semantics and order, as edits to a few tokens of a row.

transformers' `_get_logits_processor` order (the ones reproduced here):
    repetition_penalty -> no_repeat_ngram_size -> bad_words_ids -> min_length -> min_new_tokens -> suppress_tokens
Beam search applies them to the log-softmaxed scores, greedy and sampling to the raw logits (then the sampling
warpers: temperature -> top_k -> top_p -> min_p, in sampling.py). Every one of them touches only tokens named by
the row's own history or by the arguments, so a row's edit is two short lists:
- penalised: the distinct tokens of the whole sequence, prompt included (RepetitionPenaltyLogitsProcessor without
  prompt_ignore_length): a score y becomes y * p when y < 0, else y / p;
- banned (score -inf): the token that would repeat an n-gram of the sequence (NoRepeatNGram), the last token of a
  bad word whose other tokens end the sequence (NoBadWords; one-token bad words that are an EOS id are dropped, as
  transformers does), the EOS ids while the sequence is shorter than min_length or has fewer than min_new_tokens
  new tokens (both only when there is an EOS id), and suppress_tokens. The -inf comes after the penalty, so a token
  both penalised and banned is banned.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .common import check_eos_range, check_float, check_int


class RowEdits(NamedTuple):
    """What the processors change in one row: tokens set to -inf, tokens under the repetition penalty."""
    banned: tuple[int, ...]
    penalised: tuple[int, ...]

    def __bool__(self):
        return bool(self.banned or self.penalised)


NO_EDITS = RowEdits((), ())


def _token_lists(name, value):
    """A non-empty list of non-empty lists of non-negative ints (transformers' bad_words_ids shape)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(seq, (list, tuple)) and seq for seq in value):
        raise ValueError(f"{name} must be a non-empty list of non-empty lists of token ids, got {value!r}")
    out = []
    for seq in value:
        for t in seq:
            if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
                raise ValueError(f"{name} must hold non-negative integer token ids, got {seq!r}")
        out.append(tuple(int(t) for t in seq))
    return tuple(out)


def _token_ids(name, value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of token ids, got {value!r}")
    for t in value:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"{name} must hold non-negative integer token ids, got {value!r}")
    return tuple(sorted({int(t) for t in value}))


@dataclass(frozen=True)
class Processors:
    """The processors of one decode call (defaults: none active)."""
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] = ()
    min_length: int = 0
    min_new_tokens: int = 0
    suppress_tokens: tuple[int, ...] = ()
    eos: tuple[int, ...] = ()

    @classmethod
    def build(cls, *, repetition_penalty=None, no_repeat_ngram_size=None, bad_words_ids=None, min_length=None,
              min_new_tokens=None, suppress_tokens=None, eos=()):
        """Validated processors; None means "not set" (transformers' default: inactive)."""
        rp = 1.0 if repetition_penalty is None else check_float("repetition_penalty", repetition_penalty,
                                                                 positive=True)
        ngram = 0 if no_repeat_ngram_size is None else check_int("no_repeat_ngram_size", no_repeat_ngram_size, 0)
        bad = () if bad_words_ids is None else _token_lists("bad_words_ids", bad_words_ids)
        eos = tuple(eos)
        bad = tuple(w for w in bad if not (len(w) == 1 and w[0] in eos))
        return cls(rp, ngram, bad,
                   0 if min_length is None else check_int("min_length", min_length, 0),
                   0 if min_new_tokens is None else check_int("min_new_tokens", min_new_tokens, 0),
                   () if suppress_tokens is None else _token_ids("suppress_tokens", suppress_tokens), eos)

    @property
    def active(self) -> bool:
        return bool(self.repetition_penalty != 1.0 or self.no_repeat_ngram_size or self.bad_words_ids
                    or (self.eos and (self.min_length or self.min_new_tokens)) or self.suppress_tokens)

    def check_vocab(self, vocab: int) -> None:
        """The EOS ids and the token ids the processors name must exist in the model's vocabulary."""
        check_eos_range(self.eos, vocab)
        named = [t for w in self.bad_words_ids for t in w] + list(self.suppress_tokens)
        bad = sorted({t for t in named if t >= vocab})
        if bad:
            raise ValueError(f"bad_words_ids / suppress_tokens name token ids {bad} outside the model's "
                             f"vocabulary of {vocab}")

    def edits(self, seq: list[int], prompt_len: int) -> RowEdits:
        """The edits for the next token after `seq` (the whole sequence, prompt included)."""
        if not self.active:
            return NO_EDITS
        banned = set(self.suppress_tokens)
        n = self.no_repeat_ngram_size
        length = len(seq)
        if n and length >= n:
            if n == 1:
                banned.update(seq)
            else:
                tail = seq[length - n + 1:]
                first = tail[0]
                for i in range(length - n + 1):
                    if seq[i] == first and seq[i:i + n - 1] == tail:
                        banned.add(seq[i + n - 1])
        for word in self.bad_words_ids:
            if len(word) == 1:
                banned.add(word[0])
            elif len(word) - 1 <= length and list(word[:-1]) == seq[length - len(word) + 1:]:
                banned.add(word[-1])
        if self.eos and (length < self.min_length or length - prompt_len < self.min_new_tokens):
            banned.update(self.eos)
        penalised = tuple(sorted(set(seq) - banned)) if self.repetition_penalty != 1.0 else ()
        return RowEdits(tuple(sorted(banned)), penalised)

    def penalise(self, y):
        """transformers' repetition penalty on scores y (array): y * p where y < 0, else y / p."""
        p = self.repetition_penalty
        y = np.asarray(y, np.float64)
        with np.errstate(invalid="ignore"):
            return np.where(y < 0, y * p, y / p)

    def describe(self) -> str:
        parts = []
        if self.repetition_penalty != 1.0:
            parts.append(f"repetition_penalty={self.repetition_penalty:g}")
        if self.no_repeat_ngram_size:
            parts.append(f"no_repeat_ngram_size={self.no_repeat_ngram_size}")
        if self.bad_words_ids:
            parts.append(f"bad_words_ids={[list(w) for w in self.bad_words_ids]}")
        if self.min_length:
            parts.append(f"min_length={self.min_length}")
        if self.min_new_tokens:
            parts.append(f"min_new_tokens={self.min_new_tokens}")
        if self.suppress_tokens:
            parts.append(f"suppress_tokens={list(self.suppress_tokens)}")
        return ", ".join(parts)

