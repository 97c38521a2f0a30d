"""`auto`: the board when one is there and its bitstream loads, otherwise NumPy; it says which and why.

It never picks `sim`: the Verilated RTL is for checking the hardware, not for decoding fast.
"""
from __future__ import annotations

import importlib.util


def auto_backend(board: str | None = None, bitstream=None):
    """A `pynq` backend if PYNQ is importable, a board is there and the bitstream loads; else `numpy`."""
    from .numpy_backend import NumpyBackend

    reason = _why_not_pynq(board, bitstream)
    if reason is None:
        from .driver_backends import PynqBackend
        try:
            backend = PynqBackend(board=board, bitstream=bitstream)
        except Exception as exc:  # any failure to load the overlay means: decode on the CPU instead
            reason = f"the bitstream did not load: {exc}"
        else:
            print(f"beamstream: backend pynq ({backend.board or 'board'} overlay loaded)")
            return backend
    print(f"beamstream: backend numpy ({reason})")
    return NumpyBackend()


def _why_not_pynq(board, bitstream) -> str | None:
    from .driver_backends import detect_board

    if importlib.util.find_spec("pynq") is None:
        return "PYNQ is not installed, so no board is reachable"
    if board is None and bitstream is None and detect_board() is None:
        return "PYNQ is installed but no PYNQ board was detected (BOARD is not pynq-z2, zcu104 or kv260)"
    return None
