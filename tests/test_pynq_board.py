"""The board code on the real pynq package: PynqBackend -> Driver -> PynqTransport -> pynq's Overlay, DMA driver,
MMIO and allocate, over a simulated PYNQ-Z2 running its default build (tests/pynq_board: PG021 DMA registers,
non-coherent memory, the Verilated core), in venvs holding what boards have: pynq 3.0.1 with numpy 1.21.5 on
Python 3.10 (PYNQ 3.x images) and pynq 4.0.0 (numpy < 2, Python 3.11). And the board notebook, executed with
the PYNQ 3.x versions, and the default model loaded with their numpy.

The venvs are built once per user (one to two minutes each with a warm pip cache) and cached; each environment
runs all scenarios of tests/pynq_board/scenarios.py in one subprocess, and each scenario is one test here.
"""
import json
import os
from pathlib import Path

import pytest

from beamstream.hw.boards import BOARDS

from pynq_board import venvs
from pynq_board.overlay import write_overlay
from pynq_board.scenarios import SCENARIOS

CFG = BOARDS["pynq-z2"].default_config()
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "beamstream_on_pynq.ipynb"


def venv_or_fail(name):
    try:
        return venvs.venv_python(venvs.ENVIRONMENTS[name])
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def linked_checkout(tmp_path_factory):
    return venvs.link_checkout(tmp_path_factory.mktemp("pythonpath"))


@pytest.fixture(scope="session")
def device_library():
    from beamstream.transports.verilated import build_device
    return build_device(CFG)


@pytest.fixture(scope="module", params=sorted(venvs.ENVIRONMENTS))
def board_run(request, linked_checkout, device_library, tmp_path_factory):
    python = venv_or_fail(request.param)
    env = venvs.board_environment(linked_checkout, device_library, CFG.to_dict())
    folder = tmp_path_factory.mktemp(request.param)
    proc = venvs.run_in(python, ["-m", "pynq_board.scenarios", str(folder)], env, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return request.param, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.rtl
def test_the_venvs_hold_what_boards_have(board_run):
    name, run = board_run
    expected = {"pynq-3.0.1": {"pynq": "3.0.1", "numpy": "1.21.5", "python": "3.10"},
                "pynq-4.0.0": {"pynq": "4.0.0", "numpy": "1.", "python": "3.11"}}[name]
    for package, version in expected.items():
        assert run["versions"][package].startswith(version), run["versions"]


@pytest.mark.rtl
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_on_the_real_pynq(board_run, scenario):
    name, run = board_run
    assert run["results"][scenario] == "ok", f"{name}, {run['versions']}:\n{run['results'][scenario]}"


@pytest.mark.rtl
def test_the_board_notebook_runs_end_to_end_on_the_simulated_board(linked_checkout, device_library, tmp_path):
    """Every cell of the notebook a board user runs, unchanged; its own asserts check board == hwmodel step by step.
    The notebook finds the board as on a PYNQ image ($BOARD) and the bitstream through $BEAMSTREAM_BITSTREAM."""
    python = venv_or_fail(venvs.NOTEBOOK_ENVIRONMENT)
    bitstream = write_overlay(tmp_path / "overlay", CFG.beat_bits)
    env = venvs.board_environment(linked_checkout, device_library, CFG.to_dict(), BOARD="Pynq-Z2",
                                  BEAMSTREAM_BITSTREAM=str(bitstream))
    executed = tmp_path / "executed.ipynb"
    script = ("import sys, nbformat, nbclient; nb = nbformat.read(sys.argv[1], as_version=4); "
              "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3').execute(); "
              "nbformat.write(nb, sys.argv[2])")
    proc = venvs.run_in(python, ["-c", script, str(NOTEBOOK), str(executed)], env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    text = ["".join("".join(o.get("text", "")) for o in c["outputs"]) for c in cells]
    assert all(c["execution_count"] for c in cells)
    assert "lanes=2" in text[0] and "fabric clock 100.0 MHz" in text[0], text[0]
    assert "board == hwmodel: True" in text[2], text[2]
    assert "steps: mean" in text[3], text[3]


@pytest.mark.rtl
def test_the_default_model_decodes_with_the_numpy_of_pynq_3_images(linked_checkout, device_library):
    python = venv_or_fail("pynq-3.0.1")
    env = venvs.board_environment(linked_checkout, device_library, CFG.to_dict())
    # gguf's dequantisers need numpy >= 1.23; beamstream.models.gguf_blocks stands in for them there
    script = ("import numpy, beamstream; from beamstream.models import load_pretrained; m, t = load_pretrained(); "
              "r = beamstream.beam_search(m, t('The capital of France is')['input_ids'], num_beams=4, "
              "max_new_tokens=4); import json; print(json.dumps([numpy.__version__, t.decode(r.new_tokens[0])]))")
    proc = venvs.run_in(python, ["-c", script], env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, text = json.loads(proc.stdout.strip().splitlines()[-1])
    import beamstream
    from beamstream.models import load_pretrained
    model, tokenizer = load_pretrained()                 # the same decode with this process's numpy
    here = beamstream.beam_search(model, tokenizer("The capital of France is")["input_ids"], num_beams=4,
                                  max_new_tokens=4)
    assert (version, text) == ("1.21.5", tokenizer.decode(here.new_tokens[0]))
