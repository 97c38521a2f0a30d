"""`PynqTransport`: a beamstream core on a PYNQ board, reached through the overlay's AXI DMA and the core's MMIO.

Runs with the pynq the board already has (PYNQ 3.0 / 3.1 images: Python 3.10, numpy 1.21; and pynq 4.0). The
suite runs this exact code on the real pynq package over a simulated board (tests/pynq_board).

- One step is one DMA transfer each way: arm the receive channel for the K result beats, send the whole step
  buffer (the DMA puts TLAST on its last beat), wait for both. PYNQ's channels flush the send buffer before a
  transfer and invalidate the receive buffer in `wait()`, which is called only once the channel is idle.
- Waiting never spins a core (the model runs on the same two ARM cores): DMASR is polled with a sleep that
  grows from 20 us to 2 ms, and every wait has a timeout.
- A DMA error (PG021: DMASR error bits, the channel halts) or a send that does not finish raises `DmaError`,
  which decodes DMASR of both channels and the core's STATUS, after the DMA has been reset: the next step works.
  A step the core rejects (framing or config error) produces no results, so its receive never ends: after
  RESULT_TIMEOUT_S the DMA is reset and 0 beats are reported; the driver reads STATUS to say why.
- The DMA's buffer length register (c_sg_length_width bits) caps one transfer at 2**width - 1 bytes; bigger
  steps are refused before anything is sent.
- pynq 4.0's `Overlay.download` sets the PL clocks from a frequency its metadata leaves None for Zynq-7000
  .hwh files (TypeError); 3.0 / 3.1 set them from the divisors. The transport programs the clocks from the
  .hwh's divisors itself, on every version, and reads the fabric clock back (`clock_mhz`).
- `close()` (or leaving a `with` block) frees the DMA buffers the transport handed out.
"""
from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

from beamstream.hw.interface import Reg, Status

from .base import Transport

DMA_VLNV_PREFIX = "xilinx.com:ip:axi_dma:"
CORE_NAME_PREFIX = "beamstream"     # the packaged IP's VLNV name (bitstreams/package_ip.tcl)

# AXI DMA registers and bits, simple (direct register) mode, PG021 ch. 2.
MM2S, S2MM = 0x00, 0x30             # each channel's DMACR; its DMASR is at +4
DMACR_RESET = 1 << 2                # soft-resets the whole DMA (both channels)
DMASR_BITS = {0: "halted", 1: "idle", 4: "DMAIntErr", 5: "DMASlvErr", 6: "DMADecErr",
              12: "IOC_Irq", 13: "Dly_Irq", 14: "Err_Irq"}
DMASR_HALTED, DMASR_IDLE, DMASR_ERRORS = 0x1, 0x2, 0x70
DMASR_ERROR_MEANING = {4: "internal error (a zero length, or the stream ended before the length)",
                       5: "slave error (the memory answered SLVERR)",
                       6: "decode error (the buffer address maps to no memory)"}

# Results leave the core at most 4*K_MAX + 32 cycles after the step's last beat: microseconds at 100 MHz.
RESULT_TIMEOUT_S = 0.1
# Generous for an 8 MB step through one 64-bit HP port; exceeding it means the stream stopped moving.
SEND_TIMEOUT_S = 2.0
RESET_TIMEOUT_S = 0.1
POLL_FIRST_S, POLL_MAX_S = 20e-6, 2e-3


class DmaError(RuntimeError):
    """The AXI DMA reported an error or a transfer did not finish; the DMA has been reset."""


def import_pynq():
    """The real `pynq` module, or an ImportError that says how to get it."""
    try:
        pynq = importlib.import_module("pynq")
    except ImportError as exc:
        raise ImportError("PYNQ is not installed: run on a PYNQ image, whose Python has it (use the board's pynq; "
                          "pip install 'beamstream[pynq]' elsewhere)") from exc
    importlib.import_module("pynq.lib.dma")  # its DMA driver must be imported before Overlay() to bind
    return pynq


def describe_dmasr(value: int) -> str:
    """DMASR and what its bits say, e.g. '0x00004021 (halted, busy, DMASlvErr, Err_Irq)'."""
    names = ["halted" if value & DMASR_HALTED else "running", "idle" if value & DMASR_IDLE else "busy"]
    names += [name for bit, name in DMASR_BITS.items() if bit > 1 and value >> bit & 1]
    return f"0x{value:08x} ({', '.join(names)})"


def _needs_root(exc: BaseException) -> bool:
    return isinstance(exc, PermissionError) or "root" in str(exc).lower()


class PynqTransport(Transport):
    name = "pynq"

    def __init__(self, bitstream, *, pynq=None, download: bool = True):
        """Load `bitstream` (a .bit with its .hwh beside it) and find the DMA and the core in it.

        `pynq` is the module offering `Overlay`, `allocate` and `Clocks`; the real one by default.
        """
        self._pynq = pynq or import_pynq()
        self.bitstream = Path(bitstream)
        self._buffers = []
        self.clock_mhz = None   # the fabric clock read back after programming it (download=True)
        try:
            self.overlay = self._pynq.Overlay(str(self.bitstream), download=False)
            if download:
                self._download()
        except (PermissionError, OSError) as exc:
            if _needs_root(exc):
                raise PermissionError(f"loading {self.bitstream} needs root: PYNQ programs the fabric and maps "
                                      "/dev/mem. Run as root (PYNQ's Jupyter runs as root; in a shell, sudo -E "
                                      f"with PYNQ's Python environment): {exc}") from exc
            raise
        self.dma = getattr(self.overlay, self._find_ip(lambda t: t.startswith(DMA_VLNV_PREFIX), "an AXI DMA"))
        core = getattr(self.overlay, self._find_ip(lambda t: t.split(":")[2].startswith(CORE_NAME_PREFIX),
                                                  "the beamstream core"))
        self.mmio = core.mmio
        self.max_step_bytes = int(self.dma.buffer_max_size)
        self.length_width = (self.max_step_bytes + 1).bit_length() - 1

    def _download(self) -> None:
        """Program the fabric: PL clocks from the .hwh's divisors, then pynq's own download without clocks."""
        clocks = self.overlay.clock_dict
        enabled = {i: c for i, c in clocks.items() if c.get("enable")}
        # Overlay.download sets only the clocks that carry "enable": give it copies without (the parser's own
        # dict may be cached by pynq for the next load).
        self.overlay.clock_dict = {i: {k: v for k, v in c.items() if k != "enable"} for i, c in clocks.items()}
        for index, clock in enabled.items():
            self._pynq.Clocks.set_pl_clk(index, clock["divisor0"], clock["divisor1"])
        self.overlay.download()
        # The fabric clock as the PS now generates it (FCLK0 / pl_clk0 drives the core).
        self.clock_mhz = float(self._pynq.Clocks.fclk0_mhz) if 0 in enabled else None

    def _find_ip(self, matches, what: str) -> str:
        names = [name for name, ip in self.overlay.ip_dict.items()
                 if len(ip.get("type", "").split(":")) == 4 and matches(ip["type"])]
        if len(names) != 1:
            found = ", ".join(f"{n} ({ip.get('type')})" for n, ip in self.overlay.ip_dict.items()) or "nothing"
            raise RuntimeError(f"{self.bitstream}: expected exactly one IP that is {what}, found {len(names)}; "
                               f"the overlay holds {found}")
        return names[0]

    def read(self, offset: int) -> int:
        return int(self.mmio.read(offset))

    def write(self, offset: int, value: int) -> None:
        self.mmio.write(offset, value & 0xFFFF_FFFF)

    def allocate(self, shape, dtype):
        buffer = self._pynq.allocate(shape=shape, dtype=dtype)
        self._buffers.append(buffer)
        return buffer

    def check_step_bytes(self, nbytes: int) -> None:
        if nbytes > self.max_step_bytes:
            raise ValueError(
                f"this step is {nbytes} bytes, but the AXI DMA's buffer length register is {self.length_width} bits "
                f"wide (c_sg_length_width={self.length_width}: at most {self.max_step_bytes} bytes per transfer); "
                f"rebuild the block design with a wider length register, or send fewer beams or a smaller vocabulary")

    def run_step(self, send, recv) -> int:
        self.check_step_bytes(send.nbytes)
        send_ch, recv_ch = self.dma.sendchannel, self.dma.recvchannel
        recv_ch.transfer(recv)
        send_ch.transfer(send)
        if not self._wait_idle(MM2S, SEND_TIMEOUT_S, f"sending the {send.nbytes}-byte step"):
            self._fail(f"the DMA did not finish sending the {send.nbytes}-byte step within {SEND_TIMEOUT_S} s "
                       "(the core or the memory stopped taking the stream)")
        send_ch.wait()      # idle already: records `transferred`, returns at once
        if not self._wait_idle(S2MM, RESULT_TIMEOUT_S, "receiving the results"):
            self.reset_dma()  # the core rejected the step: no TLAST will end this receive; the driver says why
            return 0
        recv_ch.wait()      # idle already: invalidates the receive buffer
        return int(recv_ch.transferred) // 8

    def dmasr(self, channel: int) -> int:
        return int(self.dma.mmio.read(channel + 4))

    def _wait_idle(self, channel: int, timeout_s: float, doing: str) -> bool:
        """Poll `channel`'s DMASR with a growing sleep until idle; False on timeout, DmaError on an error bit."""
        deadline = time.monotonic() + timeout_s
        pause = POLL_FIRST_S
        while True:
            status = self.dmasr(channel)
            if status & DMASR_ERRORS:
                errors = "; ".join(meaning for bit, meaning in DMASR_ERROR_MEANING.items() if status >> bit & 1)
                self._fail(f"the DMA's {'MM2S' if channel == MM2S else 'S2MM'} channel stopped with an error while "
                           f"{doing}: {errors}")
            if status & DMASR_IDLE:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(2 * pause, POLL_MAX_S)

    def _fail(self, what: str):
        status = self.read(Reg.STATUS)
        flags = [flag.name for flag in Status if status & flag] or ["idle"]
        state = (f"MM2S_DMASR={describe_dmasr(self.dmasr(MM2S))}, S2MM_DMASR={describe_dmasr(self.dmasr(S2MM))}, "
                 f"core STATUS=0x{status:x} ({', '.join(flags)})")
        self.reset_dma()
        raise DmaError(f"{what}; {state}; the DMA has been reset")

    def reset_dma(self) -> None:
        """Soft-reset the AXI DMA (both channels, PG021 DMACR.Reset) and start its channels again."""
        self.dma.mmio.write(MM2S, DMACR_RESET)
        deadline = time.monotonic() + RESET_TIMEOUT_S
        while self.dma.mmio.read(MM2S) & DMACR_RESET:
            if time.monotonic() > deadline:
                raise DmaError(f"the AXI DMA did not come out of its soft reset within {RESET_TIMEOUT_S} s "
                               "(a stream master holds it: reload the overlay)")
            time.sleep(POLL_FIRST_S)
        self.dma.sendchannel.start()
        self.dma.recvchannel.start()

    def close(self) -> None:
        """Free the DMA buffers handed out by `allocate`; the transport is unusable afterwards."""
        for buffer in self._buffers:
            buffer.freebuffer()
        self._buffers = []
        self.overlay = self.dma = self.mmio = None
