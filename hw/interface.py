"""The core's interface contract (docs/interface.md), once: build parameters, wire formats, register map, tables.

The gateware, the NumPy hardware model, the driver and the testbenches all read these facts from here. Plain
Python (no Amaranth, no NumPy), so a board's driver imports it without the `sim` extra.
"""
from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

# -- Logit formats on s_axis (docs/interface.md §2) ----------------------------------------------------------------
FORMATS = {"fp32": 0, "bf16": 1, "fp16": 2}                       # code in CONFIG[25:24]
FLOAT_FIELDS = {"fp32": (8, 23), "bf16": (8, 7), "fp16": (5, 10)}  # (exponent bits, mantissa bits)
LANE_WIDTH = {fmt: 1 + e + m for fmt, (e, m) in FLOAT_FIELDS.items()}
HEADER_SCORE_BITS = 32      # a row's header beat: the fp32 beam score in bits [31:0], the rest zero

# -- Scores and result beats on m_axis (§1, §2) ------------------------------------------------------------------
SCORE_BITS = 32
SCORE_NEG_INF = -(1 << (SCORE_BITS - 1))  # 0x80000000 on m_axis
SCORE_MAX = (1 << (SCORE_BITS - 1)) - 1
RESULT_BEAT_BITS = 64
# name -> (lowest bit, width) of one result beat: [31:0] score, [39:32] beam, [63:40] token
RESULT_FIELDS = {"score": (0, SCORE_BITS), "beam": (32, 8), "token": (40, 24)}

# -- Registers on s_axi_lite (§3) ----------------------------------------------------------------------------------
REG_ADDR_BITS = 8


class Reg(enum.IntEnum):
    """Byte offsets of the 32-bit registers."""
    CTRL = 0x00       # W: bit0 clear
    STATUS = 0x04     # R: Status bits, sticky until clear
    VOCAB = 0x08      # RW: V of the next step
    BEAMS = 0x0C      # RW: B of the next step
    K = 0x10          # RW: K of the next step
    CONFIG = 0x14     # R: CONFIG_FIELDS of the build
    VOCAB_MAX = 0x18  # R
    CYCLES = 0x1C     # R: cycles of the last step, first input beat to last result beat
    STEPS = 0x20      # R: steps completed (results delivered) since clear
    ID = 0x24         # R: CORE_ID
    WIDTHS = 0x28     # R: WIDTHS_FIELDS of the build (what CONFIG has no room for)


class Status(enum.IntFlag):
    BUSY = 1
    FRAMING_ERROR = 2
    CONFIG_ERROR = 4


CTRL_CLEAR = 1
ID_MAGIC = 0x6253           # 'bS'
# 2: WIDTHS at 0x28, so a host can rebuild the exact CoreConfig of a build it finds.
INTERFACE_VERSION = 2
CORE_ID = ID_MAGIC << 16 | INTERFACE_VERSION
# CoreConfig field -> (lowest bit, width) in its read-only register; VOCAB_MAX holds vocab_max whole.
CONFIG_FIELDS = {"lanes": (0, 8), "k_max": (8, 8), "beams_max": (16, 8), "fmt": (24, 2), "frac_bits": (26, 6)}
WIDTHS_FIELDS = {"logit_bits": (0, 8)}   # bits [31:8] read zero


def _pack(fields_: dict, values: dict) -> int:
    return sum(values[name] << low for name, (low, _) in fields_.items())


def _unpack(fields_: dict, word: int) -> dict:
    return {name: word >> low & ((1 << width) - 1) for name, (low, width) in fields_.items()}


@dataclass(frozen=True)
class CoreConfig:
    """Every build parameter of the core; a build's read-only registers hold all of it (`build_registers`)."""
    lanes: int = 4            # P logits per s_axis beat
    k_max: int = 16           # largest K a step may ask for
    beams_max: int = 8        # largest B
    vocab_max: int = 262144   # largest V (2**18 covers Qwen's 151936/152064)
    fmt: str = "fp32"         # input format of the logits: fp32, bf16, fp16
    logit_bits: int = 20      # width of a logit as a two's-complement fixed-point key
    frac_bits: int = 12       # F: fraction bits of keys and of the 32-bit scores on m_axis

    def __post_init__(self):
        def need(ok, msg):
            if not ok:
                raise ValueError(f"CoreConfig: {msg}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "fmt":
                need(v in FORMATS, f"fmt={v!r} is not one of {sorted(FORMATS)}")
            else:
                need(isinstance(v, int) and not isinstance(v, bool), f"{f.name} must be an int, got {v!r}")
        need(1 <= self.lanes <= 255, f"lanes={self.lanes} must be in 1..255 (CONFIG[7:0])")
        need(1 <= self.k_max <= 255, f"k_max={self.k_max} must be in 1..255 (CONFIG[15:8])")
        need(1 <= self.beams_max <= 255, f"beams_max={self.beams_max} must be in 1..255 (8-bit beam field)")
        need(1 <= self.vocab_max <= 1 << 24, f"vocab_max={self.vocab_max} must be in 1..2**24 (24-bit token field)")
        need(self.lanes * self.lane_width >= HEADER_SCORE_BITS,
             f"lanes={self.lanes} x {self.lane_width}-bit {self.fmt} is narrower than the 32-bit header beat")
        need(2 <= self.logit_bits <= 32, f"logit_bits={self.logit_bits} must be in 2..32")
        need(0 <= self.frac_bits < self.logit_bits,
             f"frac_bits={self.frac_bits} must be in 0..logit_bits-1 ({self.logit_bits - 1})")

    # Derived widths: everything else reads these rather than recomputing them.
    @property
    def lane_width(self) -> int:
        return LANE_WIDTH[self.fmt]

    @property
    def beat_bits(self) -> int:
        return self.lanes * self.lane_width

    @property
    def token_bits(self) -> int:
        return max(1, (self.vocab_max - 1).bit_length())

    @property
    def beam_bits(self) -> int:
        return max(1, (self.beams_max - 1).bit_length())

    @property
    def key_neg_inf(self) -> int:
        """The key code of -inf (and NaN): the most negative logit_bits value."""
        return -(1 << (self.logit_bits - 1))

    @property
    def key_max(self) -> int:
        return (1 << (self.logit_bits - 1)) - 1

    @property
    def config_register(self) -> int:
        """The CONFIG register (docs/interface.md §3)."""
        return _pack(CONFIG_FIELDS, {**self.to_dict(), "fmt": FORMATS[self.fmt]})

    @property
    def widths_register(self) -> int:
        """The WIDTHS register (docs/interface.md §3)."""
        return _pack(WIDTHS_FIELDS, self.to_dict())

    def build_registers(self) -> dict[Reg, int]:
        """The read-only registers that describe this build; `from_registers` inverts them."""
        return {Reg.CONFIG: self.config_register, Reg.VOCAB_MAX: self.vocab_max, Reg.WIDTHS: self.widths_register}

    @classmethod
    def from_registers(cls, config: int, vocab_max: int, widths: int) -> "CoreConfig":
        """The build whose CONFIG, VOCAB_MAX and WIDTHS registers read these values (ValueError if none can)."""
        values = {**_unpack(CONFIG_FIELDS, config), **_unpack(WIDTHS_FIELDS, widths), "vocab_max": vocab_max}
        names = {code: name for name, code in FORMATS.items()}
        if values["fmt"] not in names:
            raise ValueError(f"CONFIG=0x{config:08x} names input format {values['fmt']}, which is not one of "
                             f"{', '.join(f'{c} ({n})' for c, n in names.items())}")
        values["fmt"] = names[values["fmt"]]
        return cls(**values)

    def beats_per_row(self, vocab: int) -> int:
        """Header beat plus ceil(V/P) data beats."""
        return 1 + -(-vocab // self.lanes)

    def step_bytes(self, beams: int, vocab: int) -> int:
        """Bytes of one step on s_axis (one DMA transfer)."""
        return beams * self.beats_per_row(vocab) * self.beat_bits // 8

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Stable short hash, for build caches keyed by configuration."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def slug(self) -> str:
        return f"p{self.lanes}_k{self.k_max}_b{self.beams_max}_v{self.vocab_max}_{self.fmt}_l{self.logit_bits}f{self.frac_bits}"


# -- Log-sum-exp widths and tables (§1; docs/numerics.md derives each width) ----------------------------------------
@dataclass(frozen=True)
class LseWidths:
    frac_bits: int      # F: fraction bits of keys and of lse
    logit_bits: int     # L: width of a key
    u_frac: int         # G: fraction bits of u = key * log2(e)
    log2e_frac: int     # fraction bits of the log2(e) constant
    exp_index: int      # index bits of the 2^-r table (the rest of r's G bits interpolate)
    exp_frac: int       # FM: fraction bits of the 2^-r table (value 1.0 = 2^FM)
    acc_frac: int       # FD: fraction bits of the accumulated sum (1.0 = the running max's term)
    acc_bits: int       # width of the unsigned accumulator d
    acc_ways: int       # beats go round-robin to this many accumulators (the rescale-and-add loop's depth)
    ln_index: int       # index bits of the ln(1+f) table
    mant_frac: int      # fraction bits of the normalised mantissa fed to the ln table
    ln_frac: int        # FL: fraction bits of ln values before rounding lse to F bits

    @property
    def log2e(self) -> int:
        return round(math.log2(math.e) * (1 << self.log2e_frac))

    @property
    def ln2(self) -> int:
        return round(math.log(2) * (1 << self.ln_frac))

    @property
    def u_shift(self) -> int:
        """u = (key * log2e) >> u_shift has G fraction bits."""
        return self.frac_bits + self.log2e_frac - self.u_frac

    @property
    def u_bits(self) -> int:
        """Signed width of u: |u| <= 2^(L-1) * log2(e) / 2^F * 2^G, with room for the ceiling."""
        return self.logit_bits + self.u_frac - self.frac_bits + 2

    @property
    def exp_int_bits(self) -> int:
        """Signed width of the integer exponents c = ceil(u) and E (running max)."""
        return self.u_bits - self.u_frac + 1

    @property
    def term_shift_max(self) -> int:
        """Lane terms shifted by this much or more are zero: m << (FD - FM) < 2^(FD + 1)."""
        return self.acc_frac + 1


def lse_widths(cfg: CoreConfig) -> LseWidths:
    F, L = cfg.frac_bits, cfg.logit_bits
    if L > 31:
        raise ValueError(f"logit_bits={L}: the log-sum-exp needs logit_bits <= 31 so that key_max + ln(vocab_max) "
                         "fits the 32-bit score")
    G = max(F, 6) + 4       # at least 4 bits below the keys' F, and room for the 6 table index bits
    # at least the mantissa's 20 fraction bits, so tiny vocabularies (token_bits < 4) still build
    acc_frac = max(cfg.token_bits + 16, 20)
    return LseWidths(
        frac_bits=F, logit_bits=L, u_frac=G,
        # |key| < 2^(L-1-F): the constant's rounding error then moves u by < 2^-(G+1).
        log2e_frac=G + L - F,
        exp_index=6, exp_frac=20,
        acc_frac=acc_frac,
        # d <= V * 2^FD with V <= 2^token_bits
        acc_bits=cfg.token_bits + acc_frac + 1,
        acc_ways=3,
        ln_index=7, mant_frac=17,
        # K * ln2 with |K| < 2^(L-F) stays within 2^-(G+1) of exact
        ln_frac=G + L - F,
    )


@lru_cache(maxsize=None)
def _exp2_table(index_bits: int, frac: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    values = [round(2.0 ** (frac - j / (1 << index_bits))) for j in range((1 << index_bits) + 1)]
    return tuple(values[:-1]), tuple(values[j] - values[j + 1] for j in range(1 << index_bits))


def exp2_table(w: LseWidths) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(base, drop): base[j] = round(2^FM * 2^(-j/2^I)), drop[j] = base[j] - base[j+1], j < 2^I."""
    return _exp2_table(w.exp_index, w.exp_frac)


@lru_cache(maxsize=None)
def _ln_table(index_bits: int, frac: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    values = [round(math.log1p(x / (1 << index_bits)) * (1 << frac)) for x in range((1 << index_bits) + 1)]
    return tuple(values[:-1]), tuple(values[j + 1] - values[j] for j in range(1 << index_bits))


def ln_table(w: LseWidths) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(base, rise): base[j] = round(2^FL * ln(1 + j/2^I)), rise[j] = base[j+1] - base[j], j < 2^I."""
    return _ln_table(w.ln_index, w.ln_frac)
