"""`auto`: the board when one is there with a bitstream, otherwise NumPy; it says which and why.

On a board whose bitstream exists, a failure to load it (no root, a broken overlay) raises: decoding quietly on
the CPU would hide it.

It never picks `sim`: the Verilated RTL is for checking the hardware, not for decoding fast.
"""
from __future__ import annotations

import importlib.util


def auto_backend(board: str | None = None, bitstream=None):
    """A `pynq` backend if PYNQ is importable, a board is there and its bitstream exists; else `numpy`."""
    from .numpy_backend import NumpyBackend

    reason = _why_not_pynq(board, bitstream)
    if reason is None:
        from .driver_backends import PynqBackend
        try:
            backend = PynqBackend(board=board, bitstream=bitstream)
        except FileNotFoundError as exc:  # a board without a built bitstream: decode on the CPU
            reason = str(exc)
        else:  # any other failure on a board (no root, a broken overlay) is raised, never hidden by a fallback
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
