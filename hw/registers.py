"""The register map of DESIGN §3 (byte offsets and bits), shared by the gateware, testbenches and host drivers.

Plain Python (no Amaranth import), like hw/config.py, so a board driver can read it without the `sim` extra.
"""
import enum


class Reg(enum.IntEnum):
    """Byte offsets of the 32-bit registers on s_axi_lite."""
    CTRL = 0x00       # W: bit0 clear
    STATUS = 0x04     # R: Status bits, sticky until clear
    VOCAB = 0x08      # RW: V of the next step
    BEAMS = 0x0C      # RW: B of the next step
    K = 0x10          # RW: K of the next step
    CONFIG = 0x14     # R: CoreConfig.config_register
    VOCAB_MAX = 0x18  # R
    CYCLES = 0x1C     # R: cycles of the last step, first input beat to last result beat
    STEPS = 0x20      # R: steps completed (results delivered) since clear
    ID = 0x24         # R: CORE_ID


class Status(enum.IntFlag):
    BUSY = 1
    FRAMING_ERROR = 2
    CONFIG_ERROR = 4


CTRL_CLEAR = 1
