"""The transport interface: everything the driver needs from a core, whether on a board or simulated.

Two kinds of access only: 32-bit AXI-Lite registers, and one DMA-shaped exchange per step (a whole step's
buffer in over AXI-Stream, the K result beats back). Buffers come from the transport so that a board can hand out
DMA-able memory; the driver allocates them once per shape and reuses them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Transport(ABC):
    name: str
    # Largest step (bytes sent in one transfer) the path to the core allows; None when there is no limit.
    max_step_bytes: int | None = None

    @abstractmethod
    def read(self, offset: int) -> int:
        """One 32-bit register read."""

    @abstractmethod
    def write(self, offset: int, value: int) -> None:
        """One 32-bit register write."""

    @abstractmethod
    def allocate(self, shape, dtype) -> np.ndarray:
        """A buffer the transport can send from or receive into (DMA-able memory on a board)."""

    def check_step_bytes(self, nbytes: int) -> None:
        """Refuse a step of `nbytes` that one transfer cannot carry, before anything is allocated or sent."""
        if self.max_step_bytes is not None and nbytes > self.max_step_bytes:
            raise ValueError(f"this step is {nbytes} bytes; the {self.name} transport carries at most "
                             f"{self.max_step_bytes} bytes per transfer")

    @abstractmethod
    def run_step(self, send: np.ndarray, recv: np.ndarray) -> int:
        """Send all of `send` as one stream transfer (TLAST on its last beat) and receive result beats into `recv`.

        Returns how many 8-byte result beats arrived: len(recv) // 8 for a step the core accepted, fewer (usually
        0) for one it rejected. The caller reads STATUS to learn why.
        """

    def close(self) -> None:
        """Release the device (the simulated core, or the overlay's buffers)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
