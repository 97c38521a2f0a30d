"""The board code on the real pynq package: PynqBackend -> Driver -> PynqTransport -> pynq's Overlay, DMA driver,
MMIO and allocate, over a simulated PYNQ-Z2 (tests/pynq_board: PG021 DMA registers, non-coherent memory, the
Verilated core), in venvs holding what boards have: pynq 3.0.1 with numpy 1.21.5 on Python 3.10 (PYNQ 3.x
images) and pynq 4.0.0 (numpy < 2, Python 3.11).

The venvs are built once per user (a minute each with a warm pip cache) and cached; each environment runs all
scenarios of tests/pynq_board/scenarios.py in one subprocess, and each scenario is one test here.
"""
import json
import os

import pytest

from beamstream.hw.interface import CoreConfig

from pynq_board import venvs
from pynq_board.scenarios import SCENARIOS

CFG = CoreConfig()


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
