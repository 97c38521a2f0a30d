"""When a sequence is finished: transformers' stopping criteria (max length, EOS ids, stop strings, max_time).

- max_new_tokens: the sequence has that many new tokens (MaxLengthCriteria with max_length = prompt + new).
- EOS: the last token is one of the EOS ids (several allowed).
- stop_strings (StopStringCriteria): the last token completes one of the strings, i.e. the string occurs in the
  text of the sequence's tokens and ends inside the last token ("st" + "opera" and " four" complete "stop" and
  "four"; "stop" + "at" does not: the string ended before the last token). A token's text is what the tokenizer makes
  of it after a fixed prefix (transformers' clean_tokenizer_vocab trick, which keeps a token's leading space).
- max_time: seconds since the decode call began; once exceeded every sequence counts as finished at its next
  token (transformers' MaxTimeCriteria, checked after each step).
Beam search treats a hit like an EOS (the candidate becomes a finished hypothesis); greedy and sampling stop the
sequence.
"""
from __future__ import annotations

import time

from .common import check_float, check_int

_PREFIX = "abcdef"     # transformers' static prefix for token texts


class Stopping:
    def __init__(self, eos, max_new_tokens, *, stop_strings=None, tokenizer=None, max_time=None):
        self.eos = frozenset(eos)
        self.max_new = check_int("max_new_tokens", max_new_tokens, 1)
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        self.strings = tuple(stop_strings or ())
        if any(not isinstance(s, str) or not s for s in self.strings):
            raise ValueError(f"stop_strings must be non-empty strings, got {stop_strings!r}")
        if self.strings and tokenizer is None:
            raise ValueError("stop_strings needs the tokenizer (pass tokenizer=...), as transformers' generate does")
        self.tokenizer = tokenizer
        self._pieces: dict[int, str] = {}
        self._base = None                   # the prefix's tokens, made once
        self._longest = max((len(s) for s in self.strings), default=0)
        if max_time is not None:
            max_time = check_float("max_time", max_time)
            if max_time < 0:
                raise ValueError(f"max_time must be >= 0 seconds, got {max_time}")
        self.deadline = None if max_time is None else time.monotonic() + max_time

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def hit(self, token, new_len, sequence) -> bool:
        """Does `token`, the sequence's `new_len`-th new token, finish it? `sequence()` gives the whole sequence
        (prompt + new tokens, `token` last), asked for only when there are stop strings. (max_time: timed_out.)"""
        return new_len >= self.max_new or token in self.eos or (bool(self.strings) and self.completes(sequence()))

    def completes(self, seq) -> bool:
        """Does the last token of `seq` complete a stop string?"""
        last = self._piece(seq[-1])
        parts = [last]
        before = 0
        i = len(seq) - 1
        while before < self._longest and i > 0:
            i -= 1
            piece = self._piece(seq[i])
            parts.append(piece)
            before += len(piece)
        text = "".join(reversed(parts))
        start_last = len(text) - len(last)
        for s in self.strings:            # an occurrence ending after the last token's first character
            for p in range(max(0, start_last - len(s) + 1), len(text) - len(s) + 1):
                if text.startswith(s, p):
                    return True
        return False

    def _piece(self, token) -> str:
        piece = self._pieces.get(token)
        if piece is None:
            tok = self.tokenizer
            if self._base is None:
                self._base = list(tok.convert_ids_to_tokens(tok(_PREFIX, add_special_tokens=False)["input_ids"]))
            text = tok.convert_tokens_to_string(self._base + [tok.convert_ids_to_tokens(int(token))])
            piece = self._pieces[token] = text[text.index(_PREFIX) + len(_PREFIX):] if _PREFIX in text else text
        return piece

