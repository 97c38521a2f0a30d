"""Backend registry: a name (or an instance) in, a Backend out."""
from __future__ import annotations

import importlib

from .base import Backend, StepResult, check_step

# name -> "module:factory"; modules are imported on first use so optional extras stay optional.
_REGISTRY = {
    "numpy": "beamstream.backends.numpy_backend:NumpyBackend",
    "hwmodel": "beamstream.backends.hwmodel_backend:HwModelBackend",
    "sim": "beamstream.backends.driver_backends:SimBackend",
    "pynq": "beamstream.backends.driver_backends:PynqBackend",
    "auto": "beamstream.backends.auto:auto_backend",
}


def backend_names() -> list[str]:
    return list(_REGISTRY)


def get_backend(name: str, **options) -> Backend:
    """The backend called `name`, built with `options` (e.g. config=CoreConfig(...) for hwmodel/sim)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)(**options)


def resolve_backend(backend) -> Backend:
    """Accept a backend name or an instance that has `step`."""
    if isinstance(backend, str):
        return get_backend(backend)
    if hasattr(backend, "step") and callable(backend.step):
        return backend
    raise ValueError(f"backend must be a name ({', '.join(_REGISTRY)}) or an object with .step(), got {backend!r}")


__all__ = ["Backend", "StepResult", "check_step", "backend_names", "get_backend", "resolve_backend"]
