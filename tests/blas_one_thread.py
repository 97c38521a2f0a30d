"""A module-scoped fixture running the NumPy runtime's matmuls on one OpenBLAS thread (as `beamstream generate`
does by default): on a busy 2-core machine OpenBLAS's spinning threads make the model tests ~10x slower."""
import pytest

from beamstream.models.blas_threads import blas_threads, set_blas_threads


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    old = blas_threads()
    set_blas_threads(1)
    yield
    if old is not None:
        set_blas_threads(old)
