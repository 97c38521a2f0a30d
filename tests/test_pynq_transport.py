"""The board code where PYNQ is not installed (this venv: the real pynq runs in tests/test_pynq_board.py), and
the board notebook's format."""
import importlib.util

import pytest

from beamstream.backends import get_backend
from beamstream.backends.numpy_backend import NumpyBackend

BITSTREAM = "bitstreams/pynq-z2/beamstream.bit"
HAVE_PYNQ = importlib.util.find_spec("pynq") is not None


@pytest.mark.skipif(HAVE_PYNQ, reason="PYNQ is installed here")
def test_without_pynq_the_transport_says_how_to_get_it():
    from beamstream.transports.pynq import PynqTransport
    with pytest.raises(ImportError, match=r"PYNQ is not installed.*beamstream\[pynq\]"):
        PynqTransport(BITSTREAM)


@pytest.mark.skipif(HAVE_PYNQ, reason="PYNQ is installed here")
def test_without_pynq_the_backend_is_a_clear_error():
    """The backend (what `generate --backend pynq` builds) raises the RuntimeError the CLI prints, not an import
    traceback."""
    with pytest.raises(RuntimeError, match=r"PYNQ is not installed.*beamstream\[pynq\]"):
        get_backend("pynq", bitstream=BITSTREAM)


@pytest.mark.skipif(HAVE_PYNQ, reason="PYNQ is installed here")
def test_auto_picks_numpy_here_and_says_why(capsys):
    backend = get_backend("auto")
    assert isinstance(backend, NumpyBackend)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["beamstream: backend numpy (PYNQ is not installed, so no board is reachable)"]


def test_the_board_notebook_is_valid_nbformat_4_with_code_that_parses():
    import ast
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "beamstream_on_pynq.ipynb").read_text())
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["language"] == "python"
    code = []
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["metadata"], dict)
        assert all(isinstance(line, str) for line in cell["source"])
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            code.append("".join(cell["source"]))
    ast.parse("\n".join(code))
    assert "PynqBackend()" in code[0] and "load_pretrained()" in code[1]
