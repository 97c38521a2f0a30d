"""beamstream: beam-search decoding whose score-and-top-K step runs on FPGA fabric, in simulation or on NumPy.

The names below are imported on first use, so importing a subpackage (the gateware `beamstream.hw`, whose board
code must not pull in the host) runs nothing else.
"""
import importlib

_EXPORTS = {
    "Backend": "beamstream.backends", "StepResult": "beamstream.backends", "backend_names": "beamstream.backends",
    "get_backend": "beamstream.backends", "beam_search": "beamstream.decode", "greedy": "beamstream.decode",
    "sample": "beamstream.decode", "generate": "beamstream.decode", "DecodeResult": "beamstream.decode",
}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'beamstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
