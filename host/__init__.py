"""beamstream: beam-search decoding whose score-and-top-K step runs on FPGA fabric, in simulation or on NumPy."""
from .backends import Backend, StepResult, backend_names, get_backend
from .decode import DecodeResult, beam_search, generate, greedy, sample

__all__ = ["Backend", "StepResult", "backend_names", "get_backend", "beam_search", "greedy", "sample",
           "generate", "DecodeResult"]
__version__ = "0.1.0"
