"""The one frozen object that carries every build parameter of the core.

Plain Python (no Amaranth import) so the host, the NumPy hardware model and the report can read it without the
`sim` extra installed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

FORMATS = {"fp32": 0, "bf16": 1, "fp16": 2}
LANE_WIDTH = {"fp32": 32, "bf16": 16, "fp16": 16}
INTERFACE_VERSION = 1
CORE_ID = (0x6253 << 16) | INTERFACE_VERSION
SCORE_BITS = 32
SCORE_NEG_INF = -(1 << (SCORE_BITS - 1))  # 0x80000000 on m_axis


@dataclass(frozen=True)
class CoreConfig:
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
        need(self.lanes * self.lane_width >= 32,
             f"lanes={self.lanes} x {self.lane_width}-bit {self.fmt} is narrower than the 32-bit header beat")
        need(2 <= self.logit_bits <= 32, f"logit_bits={self.logit_bits} must be in 2..32")
        need(0 <= self.frac_bits < self.logit_bits,
             f"frac_bits={self.frac_bits} must be in 0..logit_bits-1 ({self.logit_bits - 1})")
        need(self.frac_bits <= 63, f"frac_bits={self.frac_bits} does not fit CONFIG[31:26]")

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
        """The CONFIG register (DESIGN §3, offset 0x14)."""
        return (self.lanes | self.k_max << 8 | self.beams_max << 16 | FORMATS[self.fmt] << 24
                | self.frac_bits << 26)

    def beats_per_row(self, vocab: int) -> int:
        """Header beat plus ceil(V/P) data beats."""
        return 1 + -(-vocab // self.lanes)

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Stable short hash, for build caches keyed by configuration."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def slug(self) -> str:
        return f"p{self.lanes}_k{self.k_max}_b{self.beams_max}_v{self.vocab_max}_{self.fmt}_l{self.logit_bits}f{self.frac_bits}"
