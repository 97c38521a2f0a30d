"""How many threads NumPy's BLAS (OpenBLAS) uses for the NumPy runtime's matmuls, set at run time.

A decode step's matmuls are small; on a machine whose cores are busy with other work, OpenBLAS's spinning worker
threads stall each other (measured here on a loaded 2-core VM: 1.7 s per 5-row step with 2 threads, 0.18 s with
one). `beamstream generate --threads N` therefore sets both torch's and OpenBLAS's thread count. OpenBLAS is found
among the libraries this process has loaded (Linux /proc/self/maps, as threadpoolctl does); with another BLAS, or
none found, nothing is changed and `set_blas_threads` returns False.
"""
from __future__ import annotations

import ctypes

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = tuple(name.replace("set_", "get_") for name in _SETTERS)


def _openblas_paths():
    import numpy  # noqa: F401  (loads NumPy's BLAS)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(paths)


def _calls(names):
    """The first function of `names` found in each loaded OpenBLAS."""
    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        fn = next((getattr(lib, name) for name in names if hasattr(lib, name)), None)
        if fn is not None:
            yield fn


def set_blas_threads(n: int) -> bool:
    """Use n threads in every OpenBLAS this process has loaded; True if one was found."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    done = False
    for setter in _calls(_SETTERS):
        setter.argtypes = [ctypes.c_int]
        setter(n)
        done = True
    return done


def blas_threads() -> int | None:
    """OpenBLAS's current thread count (None when no OpenBLAS is loaded)."""
    for getter in _calls(_GETTERS):
        getter.restype = ctypes.c_int
        return int(getter())
    return None
