"""`PynqTransport`: a beamstream core on a PYNQ board, reached through the overlay's AXI DMA and the core's MMIO.

The same code runs on a board (with the real `pynq` module) and in the test suite (with
beamstream.transports.pynq_standin, a test-only stand-in backed by the Verilated RTL).

- One step is one DMA transfer each way: arm the receive channel for the K result beats, send the whole step
  buffer (the DMA puts TLAST on its last beat), wait for both. PYNQ's channels flush the send buffer before a
  transfer and invalidate the receive buffer after it, so no cache maintenance is needed here.
- Buffers come from `pynq.allocate`, and the driver allocates them once per shape.
- The DMA's buffer length register (c_sg_length_width bits) caps one transfer at 2**width - 1 bytes; bigger
  steps are refused before anything is sent.
- A step the core rejects (framing or config error) produces no results, so its receive transfer never ends:
  after RESULT_TIMEOUT_S the DMA is soft-reset and the driver reads STATUS to say why.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

from .base import Transport

DMA_VLNV_PREFIX = "xilinx.com:ip:axi_dma:"
CORE_NAME_PREFIX = "beamstream"     # the packaged IP's VLNV name (bitstreams/package_ip.tcl)
DMA_CONTROL = 0x00                  # MM2S_DMACR; bit 2 soft-resets the whole DMA (PG021)
DMA_SOFT_RESET = 0x4
# Results leave the core at most 4*K_MAX + 32 cycles after the step's last beat: microseconds at 100 MHz.
RESULT_TIMEOUT_S = 0.1
# Generous for a 5 MB step even at a slow fabric clock; exceeding it means the core stopped taking input.
SEND_TIMEOUT_S = 2.0


def import_pynq():
    """The real `pynq` module, or an ImportError that says how to get it."""
    try:
        pynq = importlib.import_module("pynq")
    except ImportError as exc:
        raise ImportError("PYNQ is not installed: on the board, pip install 'beamstream[pynq]' "
                          "(PYNQ images ship it)") from exc
    importlib.import_module("pynq.lib.dma")  # its DMA driver must be imported before Overlay() to bind
    return pynq


class PynqTransport(Transport):
    name = "pynq"

    def __init__(self, bitstream, *, pynq=None, download: bool = True):
        """Load `bitstream` (a .bit with its .hwh beside it) and find the DMA and the core in it.

        `pynq` is the module offering `Overlay` and `allocate`; the real one by default.
        """
        self._pynq = pynq or import_pynq()
        self.bitstream = Path(bitstream)
        self.overlay = self._pynq.Overlay(str(self.bitstream), download=download)
        self.dma = getattr(self.overlay, self._find_ip(lambda t: t.startswith(DMA_VLNV_PREFIX), "an AXI DMA"))
        core = getattr(self.overlay, self._find_ip(lambda t: t.split(":")[2].startswith(CORE_NAME_PREFIX),
                                                  "the beamstream core"))
        self.mmio = core.mmio
        self.max_step_bytes = int(self.dma.buffer_max_size)
        self.length_width = (self.max_step_bytes + 1).bit_length() - 1

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
        return self._pynq.allocate(shape=shape, dtype=dtype)

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
        if not self._wait_idle(send_ch, SEND_TIMEOUT_S):
            self._reset_dma()
            raise RuntimeError(f"the DMA did not finish sending the {send.nbytes}-byte step within "
                               f"{SEND_TIMEOUT_S} s: the core stopped accepting input")
        send_ch.wait()
        if not self._wait_idle(recv_ch, RESULT_TIMEOUT_S):
            self._reset_dma()  # the core rejected the step: no TLAST will end this receive
            return 0
        recv_ch.wait()
        return int(recv_ch.transferred) // 8

    @staticmethod
    def _wait_idle(channel, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not channel.idle:
            if channel.error:
                channel.wait()  # raises PYNQ's description of the DMA error
            if time.monotonic() > deadline:
                return False
        return True

    def _reset_dma(self) -> None:
        self.dma.mmio.write(DMA_CONTROL, DMA_SOFT_RESET)
        while self.dma.mmio.read(DMA_CONTROL) & DMA_SOFT_RESET:
            pass
        self.dma.sendchannel.start()
        self.dma.recvchannel.start()

    def close(self) -> None:
        self.overlay = self.dma = self.mmio = None
