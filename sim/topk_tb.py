"""Helpers shared by the top-K testbenches: payload field extraction and the mix of row kinds to drive."""
from amaranth.hdl import Shape


class Field:
    """One field of a `data.StructLayout` payload, read out of the payload's integer value."""

    def __init__(self, layout, name):
        field = layout[name]
        self.offset, self.width = field.offset, field.width
        self.signed = Shape.cast(field.shape).signed

    def get(self, word, signed=None):
        value = (word >> self.offset) & ((1 << self.width) - 1)
        if (self.signed if signed is None else signed) and value >> (self.width - 1):
            value -= 1 << self.width
        return value


# Every kind appears early, so even a short run covers them all; the rest are drawn at random.
ROW_KINDS = ("random", "ties", "neg_inf", "short", "k1", "kmax", "long", "empty", "few_values")


def row_kinds(rng, n):
    kinds = list(ROW_KINDS)
    return (kinds + [rng.choice(kinds) for _ in range(n)])[:n]
