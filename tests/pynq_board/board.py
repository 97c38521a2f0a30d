"""FOR TESTS ONLY: a PYNQ-Z2 as pynq sees it, with the beamstream overlay's hardware behind its registers.

`SimulatedBoard` is a `pynq.Device` reached through REGISTER_RW (every MMIO access of pynq lands in
`read_registers` / `write_registers`), so pynq's own Overlay, DMA driver, MMIO, allocate and Clocks run unchanged:

- PS memory (`Memory`): `pynq.allocate` returns a `PynqBuffer` whose array is the CPU's (cached) view; the DMA
  reads and writes a separate copy, the DDR. `flush` copies CPU -> DDR, `invalidate` DDR -> CPU, so a missing
  flush sends stale data and a missing invalidate reads stale results. Freed buffers leave the DDR map; an
  address outside every live buffer is a DMA decode error.
- SLCR clock registers (0xF800_0100..): IO PLL and FPGA0..3_CLK_CTRL, which pynq's Clocks programs and reads.
- `AxiDma`: the AXI DMA in simple mode, as PG021 describes its registers (MM2S/S2MM DMACR, DMASR, SA/DA,
  LENGTH): DMACR.RS clears DMASR.Halted; writing LENGTH while running starts a transfer; DMASR.Idle is set when
  it completes and cleared by the next LENGTH; an error sets its DMASR bit and Err_Irq, clears RS and halts the
  channel; DMACR.Reset (either channel) resets the whole DMA. S2MM_LENGTH reads the bytes received.
- The core is a `VerilatedDevice`: a send streams the whole MM2S buffer into it while the armed S2MM collects
  results until the result TLAST; a receive armed after the send drains what the core still holds.

Faults for tests: `dma.inject_error(channel, bit)` makes that channel's next transfer fail with DMASR bit
`bit` (4 internal, 5 slave, 6 decode); `dma.stall_next_send()` makes the next MM2S transfer never complete.
"""
from __future__ import annotations

import ctypes

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

SLCR_BASE, SLCR_SIZE = 0xF800_0000, 0x1000
IO_PLL_CTRL, ARM_PLL_CTRL, DDR_PLL_CTRL = 0x108, 0x100, 0x104
FPGA_CLK_CTRL = (0x170, 0x180, 0x190, 0x1A0)
MM2S, S2MM = 0x00, 0x30
DMACR_RS, DMACR_RESET = 0x1, 0x4
HALTED, IDLE, IOC_IRQ, ERR_IRQ = 0x1, 0x2, 1 << 12, 1 << 14
DMACR_RESET_VALUE = 0x0001_0002     # PG021: IRQThreshold = 1, bit 1 reads 1
DMASR_RESET_VALUE = HALTED


class Memory:
    """The PS DDR as the DMA sees it: one DDR copy per live buffer, at its physical address."""

    PAGE = 4096

    def __init__(self, device: "SimulatedBoard", base: int = 0x1600_0000):
        self.device = device
        self._ddr: dict[int, np.ndarray] = {}
        self._next = base

    @property
    def live(self) -> int:
        """Buffers allocated and not freed."""
        return len(self._ddr)

    def allocate(self, shape, dtype="u4", **kwargs):
        address = self._next
        buffer = PynqBuffer(shape, dtype, device=self.device, device_address=address, bo=address, coherent=False)
        self._ddr[address] = np.zeros(buffer.nbytes, np.uint8)
        self._next += -(-max(buffer.nbytes, 1) // self.PAGE) * self.PAGE
        # pynq frees a buffer with a `pointer` by handing it back here once; `freed` stops its other path
        # (munmap and an XRT free) from touching memory numpy owns.
        buffer.memory, buffer.pointer, buffer.return_to, buffer.freed = self, address, self, True
        return buffer

    def return_pointer(self, pointer: int) -> None:
        del self._ddr[pointer]

    def ddr(self, address: int, nbytes: int) -> np.ndarray | None:
        """The DDR bytes [address, address + nbytes) if one live buffer holds them, else None (decode error)."""
        for base, block in self._ddr.items():
            if base <= address and address + nbytes <= base + block.size:
                return block[address - base:address - base + nbytes]
        return None

    def copy(self, bo: int, offset: int, pointer: int, nbytes: int, to_ddr: bool) -> None:
        cpu = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(pointer))
        ddr = self._ddr[bo][offset:offset + nbytes]
        if to_ddr:
            ddr[:] = cpu
        else:
            cpu[:] = ddr


class _Channel:
    def __init__(self):
        self.dmacr, self.dmasr = DMACR_RESET_VALUE, DMASR_RESET_VALUE
        self.address = self.address_msb = self.length = 0
        self.busy = False
        self.target = None          # S2MM: the DDR bytes of the armed receive
        self.received = 0
        self.inject = None          # DMASR error bit of the next transfer
        self.stall = False

    def complete(self, nbytes: int) -> None:
        self.busy, self.target = False, None
        self.length = nbytes
        self.dmasr |= IDLE | IOC_IRQ

    def fail(self, bit: int) -> None:
        self.busy, self.target = False, None
        self.dmacr &= ~DMACR_RS
        self.dmasr = (self.dmasr & ~IDLE) | HALTED | (1 << bit) | ERR_IRQ


class AxiDma:
    """The AXI DMA in simple mode (PG021), its MM2S streaming into the core and its S2MM taking the results."""

    def __init__(self, memory: Memory, core):
        self.memory, self.core = memory, core
        self.resets = 0
        self.reset()

    def reset(self) -> None:
        self.channels = {MM2S: _Channel(), S2MM: _Channel()}

    def inject_error(self, channel: str, bit: int) -> None:
        self.channels[MM2S if channel == "mm2s" else S2MM].inject = bit

    def stall_next_send(self) -> None:
        self.channels[MM2S].stall = True

    def read(self, offset: int) -> int:
        ch = self.channels[MM2S if offset < S2MM else S2MM]
        return {0x00: ch.dmacr, 0x04: ch.dmasr, 0x18: ch.address, 0x1C: ch.address_msb,
                0x28: ch.length}.get(offset % S2MM, 0)

    def write(self, offset: int, value: int) -> None:
        which = MM2S if offset < S2MM else S2MM
        ch, reg = self.channels[which], offset % S2MM
        if reg == 0x00:
            if value & DMACR_RESET:
                self.resets += 1
                self.reset()    # completes at once: DMACR reads back without the Reset bit
                return
            ch.dmacr = value
            if value & DMACR_RS:
                if not ch.dmasr & 0x70:
                    ch.dmasr &= ~HALTED
            elif not ch.busy:
                ch.dmasr |= HALTED
        elif reg == 0x04:
            ch.dmasr &= ~(value & (IOC_IRQ | ERR_IRQ | 1 << 13))   # write 1 to clear the interrupt bits
        elif reg == 0x18:
            ch.address = value
        elif reg == 0x1C:
            ch.address_msb = value
        elif reg == 0x28 and not ch.dmasr & HALTED:
            self._start(which, ch, value)

    def _start(self, which: int, ch: _Channel, nbytes: int) -> None:
        ch.dmasr &= ~IDLE
        ch.busy = True
        if ch.inject is not None:
            bit, ch.inject = ch.inject, None
            return ch.fail(bit)
        if nbytes == 0:
            return ch.fail(4)
        ddr = self.memory.ddr(ch.address | ch.address_msb << 32, nbytes)
        if ddr is None:
            return ch.fail(6)
        if which == S2MM:
            ch.target, ch.received = ddr, 0
            if not self.channels[MM2S].busy:
                # Armed after the send: drain results the core holds (they leave within 4*K_MAX + 32 cycles).
                self._run(np.empty(0, np.uint8), idle_limit=4 * self.core.config.k_max + 64)
            return
        if ch.stall:
            ch.stall = False
            return      # never completes: the stream stopped moving
        if nbytes % self.core.beat_bytes:
            raise ValueError(f"simulated DMA: {nbytes} bytes are not whole {self.core.beat_bytes}-byte beats")
        report = self._run(ddr)
        if report.beats_sent * self.core.beat_bytes == nbytes:
            ch.complete(nbytes)

    def _run(self, data: np.ndarray, idle_limit: int | None = None):
        recv = self.channels[S2MM]
        target = recv.target[recv.received:] if recv.busy and recv.target is not None else np.empty(0, np.uint8)
        report = self.core.run_step(data, target, idle_limit)
        if recv.busy and recv.target is not None:
            recv.received += report.beats_received * 8
            if report.last_seen or recv.received == recv.target.size:
                recv.complete(recv.received)
        return report


class SimulatedBoard(Device):
    """A PYNQ-Z2 (armv7l) with the beamstream overlay's DMA and core (`core`: a VerilatedDevice)."""

    arch = "armv7l"

    def __init__(self, core, *, dma_base: int, core_base: int, window: int = 0x1_0000):
        super().__init__("beamstream_simulated_pynq_z2")
        self.name = "Pynq-Z2 (simulated)"
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.core = core
        self.memory = Memory(self)
        self.dma = AxiDma(self.memory, core)
        self.slcr = {ARM_PLL_CTRL: 40 << 12, DDR_PLL_CTRL: 32 << 12, IO_PLL_CTRL: 20 << 12}
        self.slcr |= {reg: (1 << 20) | (1 << 8) for reg in FPGA_CLK_CTRL}   # IO PLL, divisors 1 and 1
        self.timestamp = ""
        self.bitfile_name = None
        self.downloads = 0
        self.root = True    # False: every register access fails as pynq's /dev/mem mapping does without root
        self._regions = [(SLCR_BASE, SLCR_SIZE, self._slcr_read, self._slcr_write),
                         (dma_base, window, self.dma.read, self.dma.write),
                         (core_base, window, self.core.read, self.core.write)]

    @property
    def default_memory(self):
        return self.memory

    def flush(self, bo, offset, pointer, nbytes):
        self.memory.copy(bo, offset, pointer, nbytes, to_ddr=True)

    def invalidate(self, bo, offset, pointer, nbytes):
        self.memory.copy(bo, offset, pointer, nbytes, to_ddr=False)

    def _slcr_read(self, offset):
        return self.slcr.get(offset, 0)

    def _slcr_write(self, offset, value):
        self.slcr[offset] = value

    def _region(self, address: int):
        if not self.root:
            raise OSError("Root permissions required.")   # pynq's EmbeddedDevice.mmap, run as a user
        for base, size, read, write in self._regions:
            if base <= address < base + size:
                return address - base, read, write
        raise RuntimeError(f"simulated board: nothing is mapped at 0x{address:08x}")

    def read_registers(self, address, length):
        words = []
        for word in range(0, length, 4):
            offset, read, _ = self._region(address + word)
            words.append(int(read(offset)) & 0xFFFF_FFFF)
        return np.array(words, "<u4").tobytes()[:length]

    def write_registers(self, address, data):
        values = np.frombuffer(bytes(data), "<u4")
        for word, value in enumerate(values):
            offset, _, write = self._region(address + 4 * word)
            write(offset, int(value))

    def get_bitfile_metadata(self, bitfile_name, partial=False):
        from pathlib import Path

        from pynqmetadata.frontends import Metadata
        try:
            from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser   # pynq 3.0
        except ImportError:
            from pynq.metadata import RuntimeMetadataParser                           # pynq 3.1, 4.0
        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError("Unable to find metadata for bitstream")  # EmbeddedDevice's words
        parser = RuntimeMetadataParser(Metadata(input=hwh))
        parser.refresh_hierarchy_dict()
        parser.bin_data = parser.xclbin_data = parser.dtbo_data = None
        return parser

    def download(self, bitstream, parser=None):
        """'Program' the fabric: the DMA and the core come out of reset."""
        self.downloads += 1
        self.dma.reset()
        self.core.reset()
        self.post_download(bitstream, parser, self.name)

    def fclk_mhz(self, index: int) -> float:
        ctrl = self.slcr[FPGA_CLK_CTRL[index]]
        pll_mhz = 50.0 * (self.slcr[IO_PLL_CTRL] >> 12 & 0x7F)
        return pll_mhz / ((ctrl >> 8 & 0x3F) * (ctrl >> 20 & 0x3F))


def install(board: SimulatedBoard) -> None:
    """Make `board` the device pynq uses everywhere (Overlay, MMIO, allocate, Clocks) in this process."""
    import pynq.ps
    Device.active_device = board
    pynq.ps.CPU_ARCH = board.arch       # pynq 3.0 picks its clock registers by the CPU it runs on
    clocks = pynq.ps.Clocks
    if hasattr(clocks, "_real_instance"):
        del clocks._real_instance

