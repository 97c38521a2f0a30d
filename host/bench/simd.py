"""The CPU and SIMD level a benchmark ran at, and the same benchmark re-run with AVX-512 switched off.

This project's machines have AVX-512 or only AVX2. On an AVX-512 machine the AVX2 figure is measured side by side
by re-running the part in a child process whose libraries are limited to AVX2: numpy through
NPY_DISABLE_CPU_FEATURES (numpy 2.4 names the AVX-512 group X86_V4, older numpy AVX512F...; unknown names are
ignored), torch through ATEN_CPU_CAPABILITY, MKL through MKL_ENABLE_INSTRUCTIONS. That is an emulation: the same
CPU, its clock and caches, only the instruction set the libraries dispatch to is smaller.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

AVX2_ENV = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
_CHILD = "BEAMSTREAM_BENCH_AVX2_CHILD"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_level() -> str:
    """The widest x86 level numpy dispatches to here (after NPY_DISABLE_CPU_FEATURES)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:                                  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    if feats.get("X86_V4", feats.get("AVX512_SKX")):
        return "AVX-512"
    if feats.get("X86_V3", feats.get("AVX2")):
        return "AVX2"
    return "below AVX2"


def torch_level() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.backends.cpu.get_cpu_capability()


def describe() -> str:
    emulated = " (AVX2 emulated: AVX-512 switched off in numpy/torch/MKL)" if os.environ.get(_CHILD) else ""
    torch_part = f", torch {torch_level()}" if torch_level() else ""
    return f"CPU {cpu_model()}, {os.cpu_count()} cores; numpy {numpy_level()}{torch_part}{emulated}"


def rerun_with_avx2(part: str, quick: bool) -> None:
    """Run `beamstream bench PART` again in a child limited to AVX2, when this process dispatches to AVX-512."""
    if os.environ.get(_CHILD) or numpy_level() != "AVX-512":
        return
    print("   -- the same, with AVX-512 switched off (AVX2 emulated):", flush=True)
    env = dict(os.environ, **AVX2_ENV, **{_CHILD: "1"})
    cmd = [sys.executable, "-m", "beamstream", "bench", part] + (["--quick"] if quick else [])
    subprocess.run(cmd, env=env, check=True)
