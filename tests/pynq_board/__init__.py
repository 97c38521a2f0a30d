"""FOR TESTS ONLY: a simulated PYNQ board that the real `pynq` package drives.

- `board.SimulatedBoard` is a `pynq.Device`: non-coherent PS memory behind `pynq.allocate` (a missing flush or
  invalidate shows), the PS's clock registers, an AXI DMA in simple mode with PG021's registers and error bits,
  and the beamstream core as the Verilated RTL (beamstream.transports.verilated).
- `overlay.write_overlay` writes the .bit / .hwh pair of a PYNQ-Z2 block design, so pynq's own `Overlay`
  builds `ip_dict` from it.
- `activate` makes the board pynq's active device when BEAMSTREAM_SIMULATED_BOARD is set (the test venvs run it
  at interpreter start), so board code and the notebook run unchanged.
- `venvs` builds the cached venvs with the pynq and numpy versions of PYNQ images and runs scripts in them.
"""
