"""FOR TESTS ONLY: a stand-in for the few parts of PYNQ that `PynqTransport` uses, backed by the Verilated RTL.

Nothing here runs on a board. The board code is tested on the real pynq over a simulated board, in venvs of its
own (tests/test_pynq_board.py); this in-process look-alike remains for tests/test_backends_agree.py, which decodes
with `pynq` beside `sim` and `hwmodel` in the main venv, where pynq is not installed (pynq 4.0 pins numpy < 2).
`PynqStandIn` offers the names the transport takes from the `pynq` module (`Overlay`, `allocate`, `Clocks`), an
overlay whose `ip_dict` lists an AXI DMA and the beamstream core, the DMA's `sendchannel` / `recvchannel`
(`transfer`, `wait`, `idle`, `transferred`, `start`, `stop`), its `buffer_max_size` from the length-register
width, the DMA's soft reset at offset 0x00 and DMASR's idle bit, and the core's `mmio.read` / `mmio.write`.
Behind them sits one `VerilatedDevice`.

Like the real AXI DMA in simple mode, a send transfer streams the whole buffer with TLAST on its last beat; the
receive transfer armed at that moment collects result beats and completes on TLAST (or when full). A receive
with no TLAST coming (a step the core rejected) stays pending until a soft reset. It counts register accesses
and allocations so tests can check the driver's access pattern.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from beamstream.hw.interface import CoreConfig

from .verilated import VerilatedDevice

DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
CORE_VLNV = "beamstream:beamstream:beamstream:1.0"
DMA_SOFT_RESET = 0x4  # bit 2 of MM2S_DMACR resets the whole DMA


class StandInBuffer(np.ndarray):
    """A `pynq.allocate` buffer: an ndarray with a physical address and cache maintenance (no-ops here)."""
    physical_address: int = 0

    def flush(self):
        pass

    def invalidate(self):
        pass

    def freebuffer(self):
        pass

    def close(self):
        pass


class _Channel:
    def __init__(self, dma: "_StandInDMA", name: str):
        self._dma = dma
        self._name = name
        self.running = False
        self.buffer = None          # armed array while a transfer is pending
        self.nbytes = 0
        self.done = True
        self.transferred = 0
        self.start()

    @property
    def idle(self) -> bool:
        return self.done

    @property
    def error(self) -> bool:
        return False

    def start(self):
        self.running = True

    def stop(self):
        self.running = False

    def transfer(self, array, start=0, nbytes=0):
        if not self.running:
            raise RuntimeError("DMA channel not started")
        if not self.done:
            raise RuntimeError("DMA channel not idle")
        if not isinstance(array, StandInBuffer):
            raise RuntimeError("DMA transfers need buffers from allocate()")
        if start:
            raise NotImplementedError("the stand-in transfers whole buffers only (start=0)")
        nbytes = nbytes or array.nbytes
        if nbytes > self._dma.buffer_max_size:
            raise ValueError(f"Transfer size is {nbytes} bytes, which exceeds the maximum DMA buffer size "
                             f"{self._dma.buffer_max_size}.")
        self.buffer, self.nbytes, self.done, self.transferred = array, nbytes, False, 0
        self._dma._kick(self._name)

    def wait(self):
        if not self.running:
            raise RuntimeError("DMA channel not started")
        if not self.done:
            raise RuntimeError(f"stand-in {self._name} transfer cannot complete: the core sent no TLAST")


class _MMIO:
    def __init__(self, read, write):
        self._read, self._write = read, write

    def read(self, offset=0, length=4):
        if length != 4:
            raise ValueError("the stand-in reads 32-bit registers only")
        return self._read(offset)

    def write(self, offset, value):
        self._write(offset, value)


class _StandInDMA:
    def __init__(self, device: VerilatedDevice, length_width: int):
        self._device = device
        self.buffer_max_size = (1 << length_width) - 1
        self.description = {"type": DMA_VLNV, "parameters": {"c_sg_length_width": str(length_width),
                                                             "c_include_sg": "0"}}
        self.mmio = _MMIO(self._read_register, self._write_register)
        self.sendchannel = _Channel(self, "send")
        self.recvchannel = _Channel(self, "recv")

    def _read_register(self, offset):
        """DMACR reads 0 (a soft reset completes at once); DMASR reads idle once a transfer is done."""
        channel = {0x04: self.sendchannel, 0x34: self.recvchannel}.get(offset)
        return 0x2 if channel is not None and channel.done else 0

    def _write_register(self, offset, value):
        if offset == 0x00 and value & DMA_SOFT_RESET:
            for channel in (self.sendchannel, self.recvchannel):
                channel.buffer, channel.done = None, True
                channel.stop()

    def _kick(self, which):
        """Run the core while both channels have work: the send streams in, the armed receive fills."""
        send, recv = self.sendchannel, self.recvchannel
        if which == "recv" and send.done:
            # A receive armed after the step was sent drains results the core holds or is about to produce
            # (its last result leaves at most 4*K_MAX + 32 cycles after the last input beat).
            self._receive(np.empty(0, np.uint8), idle_limit=4 * self._device.config.k_max + 64)
            return
        if which == "send":
            data = np.asarray(send.buffer).view(np.uint8).reshape(-1)[:send.nbytes]
            report = self._receive(data)
            if report.beats_sent * self._device.beat_bytes != send.nbytes:
                raise RuntimeError(f"stand-in: the core accepted {report.beats_sent} of "
                                   f"{send.nbytes // self._device.beat_bytes} beats and stalled")
            send.transferred, send.done = send.nbytes, True

    def _receive(self, data, idle_limit=None):
        recv = self.recvchannel
        if recv.done:
            target = np.empty(0, np.uint8)
        else:
            target = np.asarray(recv.buffer).view(np.uint8).reshape(-1)[recv.transferred:recv.nbytes]
        report = self._device.run_step(data, target, idle_limit)
        if not recv.done:
            recv.transferred += report.beats_received * 8
            recv.done = report.last_seen or recv.transferred == recv.nbytes
        return report


class _StandInCore:
    def __init__(self, stand_in: "PynqStandIn"):
        self.mmio = _MMIO(stand_in._read, stand_in._write)

    def read(self, offset=0):
        return self.mmio.read(offset)

    def write(self, offset, value):
        self.mmio.write(offset, value)


class _StandInOverlay:
    def download(self):
        pass

    def __init__(self, stand_in: "PynqStandIn", bitstream):
        self.bitstream = bitstream
        self.axi_dma = _StandInDMA(stand_in.device, stand_in.length_width)
        self.beamstream = _StandInCore(stand_in)
        self.clock_dict = {}
        self.ip_dict = {"axi_dma": {"type": DMA_VLNV, "parameters": self.axi_dma.description["parameters"]},
                        "beamstream": {"type": CORE_VLNV, "parameters": {}}}


class _StandInClocks:
    fclk0_mhz = 100.0


class PynqStandIn:
    """FOR TESTS ONLY. Pass as `PynqTransport(bitstream, pynq=PynqStandIn(config))` in place of the `pynq` module.

    `length_width` is the DMA's buffer length register width (c_sg_length_width), as set in the block design.
    """

    def __init__(self, config: CoreConfig | None = None, *, length_width: int = 26, device: VerilatedDevice | None = None):
        self.device = device or VerilatedDevice(config or CoreConfig())
        self.length_width = length_width
        self.register_reads = 0
        self.register_writes = 0
        self.allocations = 0
        self._next_address = 0x1000_0000
        self.Clocks = _StandInClocks

    def Overlay(self, bitstream, download=True):  # noqa: N802 (pynq's name)
        if not str(bitstream).endswith(".bit"):
            raise ValueError(f"Overlay needs a .bit file, got {bitstream}")
        return _StandInOverlay(self, Path(bitstream))

    def allocate(self, shape, dtype="u4", **kwargs):
        self.allocations += 1
        buffer = np.zeros(shape, dtype).view(StandInBuffer)
        buffer.physical_address = self._next_address
        self._next_address += -(-buffer.nbytes // 4096) * 4096
        return buffer

    def _read(self, offset):
        self.register_reads += 1
        return self.device.read(offset)

    def _write(self, offset, value):
        self.register_writes += 1
        self.device.write(offset, value)
