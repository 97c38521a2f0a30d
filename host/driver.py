"""`Driver`: one decode step on a beamstream core, over any transport (the Verilated RTL, or a PYNQ board).

The host owns the protocol (docs/interface.md §3): find the core by its ID register, learn its exact build (a
`CoreConfig`) from CONFIG, VOCAB_MAX and WIDTHS, check every request against it, keep VOCAB / BEAMS / K as the
core holds them (written only when a step's shape changes), pack the step into a buffer made once per shape,
exchange it in one DMA-shaped transfer, then check STATUS, CYCLES and STEPS before unpacking. A step the core
rejected raises DeviceError and clears the core; results are never returned from a step that did not run.
Registers are touched a fixed few times per step, never once per element.
"""
from __future__ import annotations

import numpy as np

from beamstream.backends.base import StepResult, check_step
from beamstream.hw.interface import CTRL_CLEAR, ID_MAGIC, INTERFACE_VERSION, CoreConfig, Reg, Status
from beamstream.hwmodel.core import LANE_DTYPE, RESULT_DTYPE, pack_step, scores_to_float, unpack_results

from .transports.base import Transport


class DeviceError(RuntimeError):
    """The core is not a beamstream core this driver speaks to, or it rejected a step."""


class Driver:
    """Steps on the core behind `transport`. Not thread-safe: one driver per core, one step at a time."""

    def __init__(self, transport: Transport):
        self.transport = transport
        ident = transport.read(Reg.ID)
        if ident >> 16 != ID_MAGIC:
            raise DeviceError(f"no beamstream core behind this {transport.name} transport: the ID register "
                              f"(0x{Reg.ID:02x}) reads 0x{ident:08x}, a beamstream core reads 0x{ID_MAGIC:04x}xxxx")
        if ident & 0xFFFF != INTERFACE_VERSION:
            raise DeviceError(f"the beamstream core speaks interface version {ident & 0xFFFF}, this driver version "
                              f"{INTERFACE_VERSION}: use a bitstream and a beamstream package from the same release")
        build = {reg: transport.read(reg) for reg in (Reg.CONFIG, Reg.VOCAB_MAX, Reg.WIDTHS)}
        try:
            self._config = CoreConfig.from_registers(build[Reg.CONFIG], build[Reg.VOCAB_MAX], build[Reg.WIDTHS])
        except ValueError as exc:
            raise DeviceError(f"the beamstream core's build registers describe no build this driver knows: {exc}") \
                from exc
        self._send: dict[tuple[int, int], np.ndarray] = {}   # (B, V) -> s_axis buffer
        self._recv: dict[int, np.ndarray] = {}               # K -> m_axis buffer
        self.last_cycles = 0   # CYCLES of the last step: first input beat to last result beat
        self._clear()

    def __repr__(self):
        return f"Driver({self.transport.name}, {self._config})"

    def core_config(self) -> CoreConfig:
        """The core's build, read from its registers: `HwModelBackend(driver.core_config())` is its exact model."""
        return self._config

    def _clear(self) -> None:
        """Drop whatever the core holds, zero its counters and errors, and forget the registers we wrote."""
        self.transport.write(Reg.CTRL, CTRL_CLEAR)
        self._held = {Reg.VOCAB: self.transport.read(Reg.VOCAB), Reg.BEAMS: self.transport.read(Reg.BEAMS),
                      Reg.K: self.transport.read(Reg.K)}
        self._steps = self.transport.read(Reg.STEPS)

    def _buffers(self, beams: int, vocab: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        cfg = self._config
        send = self._send.get((beams, vocab))
        if send is None:
            self.transport.check_step_bytes(cfg.step_bytes(beams, vocab))
            send = self._send[beams, vocab] = self.transport.allocate(
                (beams, cfg.beats_per_row(vocab), cfg.lanes), LANE_DTYPE[cfg.fmt])
        recv = self._recv.get(k)
        if recv is None:
            recv = self._recv[k] = self.transport.allocate((k,), RESULT_DTYPE)
        return send, recv

    def step(self, logits, beam_scores, k: int, *, fmt: str | None = None) -> StepResult:
        """The k best (score, beam, token) of one step, best first, as the core computes them.

        `fmt`, if given, is the wire format the caller expects; it must be the core's.
        """
        cfg = self._config
        if fmt is not None and fmt != cfg.fmt:
            raise ValueError(f"this core takes {cfg.fmt} logits (CONFIG), not {fmt}")
        logits, beam_scores, k = check_step(logits, beam_scores, k, max_beams=cfg.beams_max,
                                            max_vocab=cfg.vocab_max, max_k=cfg.k_max)
        beams, vocab = logits.shape
        send, recv = self._buffers(beams, vocab, k)
        for reg, value in ((Reg.VOCAB, vocab), (Reg.BEAMS, beams), (Reg.K, k)):
            if self._held[reg] != value:
                self.transport.write(reg, value)
                self._held[reg] = value
        pack_step(logits, beam_scores, cfg, send)
        try:
            received = self.transport.run_step(send, recv)
        except Exception as exc:
            self._clear()   # the core may hold part of the step: start the next one clean
            raise DeviceError(f"the {self.transport.name} transfer failed, core cleared: {exc}") from exc
        self._check_step(beams, vocab, k, received, send.size // cfg.lanes)
        scores, beams_out, tokens = unpack_results(recv)
        return StepResult(scores_to_float(scores, cfg), beams_out, tokens)

    def _check_step(self, beams: int, vocab: int, k: int, received: int, beats: int) -> None:
        status = self.transport.read(Reg.STATUS)
        cycles = self.transport.read(Reg.CYCLES)
        steps = self.transport.read(Reg.STEPS)
        problem = None
        if status & Status.FRAMING_ERROR:
            problem = (f"framing error: the step's TLAST came early or late for VOCAB={vocab}, BEAMS={beams} "
                       f"({beats} beats sent)")
        elif status & Status.CONFIG_ERROR:
            problem = (f"config error: VOCAB={vocab}, BEAMS={beams}, K={k} are outside what this core takes "
                       f"({self._config})")
        elif received != k:
            problem = f"{received} of K={k} result beats arrived"
        elif status & Status.BUSY:
            problem = "the core is still busy after delivering its results, so they may belong to another step"
        elif steps != (self._steps + 1) & 0xFFFF_FFFF:
            problem = f"STEPS went from {self._steps} to {steps}, not up by one"
        elif cycles < beats:
            problem = f"CYCLES={cycles} is fewer than the {beats} input beats, so it does not describe this step"
        if problem:
            self._clear()
            raise DeviceError(f"the {self.transport.name} core rejected the step ({problem}; STATUS=0x{status:x}); "
                              f"no results returned, core cleared")
        self._steps = steps
        self.last_cycles = cycles
