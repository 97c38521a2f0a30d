"""The sweep: which configurations are synthesised and simulated, run on Dask (cluster.py), cached per point.

A point's cache key is its configuration digest plus the digest of the gateware sources (and of the synthesis
flow, or of the simulator driver), so a second run only redoes what changed. Failures are reported, not cached.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import beamstream.backends
import beamstream.sim
from beamstream.hw.interface import CoreConfig
from beamstream.sim.runner import sources_digest

from . import cycles, yosys
from .cluster import Cache, Point, point_key, run_points
from .designs import SourceMissing, write_design

LANES = (1, 2, 4, 8)
K_MAX = (4, 8, 16, 32, 64)
FORMATS = ("fp32", "bf16")
DEFAULT_CFG = CoreConfig()


def valid_config(lanes: int, k_max: int, fmt: str) -> CoreConfig | None:
    """The sweep's build at (P, K_MAX, format), or None where the interface forbids it (P·W < 32)."""
    try:
        return CoreConfig(lanes=lanes, k_max=k_max, fmt=fmt)
    except ValueError:
        return None


def all_configs() -> list[CoreConfig]:
    return [c for p in LANES for k in K_MAX for f in FORMATS if (c := valid_config(p, k, f)) is not None]


@dataclass(frozen=True)
class Plan:
    """What one run computes. Chains depend only on K_MAX (and key/token widths): one lane, format-free."""
    chain: tuple[CoreConfig, ...]
    top: tuple[CoreConfig, ...]
    simulate: tuple[CoreConfig, ...]   # configurations whose cycles come from the RTL; the rest use the formula
    beams: int
    vocabs: tuple[int, ...]
    k: int
    notes: tuple[str, ...] = field(default=())


def make_plan(*, quick: bool, full: bool, beams: int, vocabs: list[int], k: int) -> Plan:
    """Full sweep for the chain; for the top level a few points unless `full`.

    One top-level point is three Yosys runs on the whole core (the default build: about 8 CPU-minutes), so
    within `make report`'s 20 minutes on 2 cores the default run synthesises the top level at K_MAX 4, 16 and
    64 with one fp32 lane, plus the default build; `--full` does every (P, K_MAX, format), which takes hours.
    Cycles are simulated at three corners (P=1 K_MAX=4, the default build, P=1 K_MAX=64) and extrapolated by the
    fitted formula.
    """
    d = DEFAULT_CFG
    chain = tuple(CoreConfig(lanes=1, k_max=kk) for kk in ((4, 64) if quick else K_MAX))
    if full:
        top = all_configs()
    elif quick:
        top = [d]
    else:
        top = [CoreConfig(lanes=1, k_max=kk, fmt="fp32") for kk in (4, 16, 64)] + [d]
    top = tuple(dict.fromkeys(top))  # keep order, drop repeats
    # Cheap Verilator builds that still span K_MAX 4..64 (the tail depends on it) and 1..4 lanes.
    corners = [d] if quick else [valid_config(1, 4, "fp32"), d, valid_config(1, 64, "fp32")]
    skipped = [f"P={p} {f}" for p in LANES for f in FORMATS if valid_config(p, 4, f) is None]
    notes = [f"not a legal build (P x lane width < 32-bit header): {', '.join(skipped)}"] if skipped else []
    if not full:
        notes.append(f"top level synthesised at {len(top)} of {len(all_configs())} configurations "
                     "(run with --full for all)")
    return Plan(chain, top, tuple(c for c in corners if c), beams, tuple(vocabs), k, tuple(notes))


# ---- cache keys -------------------------------------------------------------------------------------------

def files_digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def package_dir(module) -> Path:
    """The installed package's own folder (found from the module, not from a checkout's layout)."""
    return Path(module.__file__).resolve().parent


def flow_digest() -> str:
    return files_digest([Path(yosys.__file__)])


def sim_digest() -> str:
    """The simulator side of cycle counts: driver, backend and our own measuring code."""
    sim_dir = package_dir(beamstream.sim)
    files = [p for p in sim_dir.rglob("*") if p.is_file() and p.suffix in {".py", ".cpp", ".h"}]
    files += list(package_dir(beamstream.backends).glob("*.py")) + [Path(cycles.__file__)]
    return files_digest(files)


# ---- work done on the workers --------------------------------------------------------------------------------

def synth_point(kind: str, cfg_dict: dict) -> dict:
    """Resources per family and logic depth of one design; an `error` entry instead when it cannot be had."""
    cfg = CoreConfig(**cfg_dict)
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bs_report_") as tmp:
            v = Path(tmp) / f"{kind}.v"
            top = write_design(kind, cfg, v)
            res = {fam: yosys.synth_resources(v, top, fam).to_dict() for fam in yosys.FAMILIES}
            path = yosys.critical_path(v, top)
    except SourceMissing as exc:
        return {"status": "missing", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any failure of someone else's gateware is a row in the table
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", "resources": res, "levels": path.levels, "path": [path.start, path.end],
            "seconds": round(time.perf_counter() - t0, 1)}


def cycles_point(cfg_dict: dict, beams: int, vocabs: list[int], k: int) -> dict:
    cfg = CoreConfig(**cfg_dict)
    t0 = time.perf_counter()
    try:
        measured = cycles.simulate_corner(cfg, beams, vocabs, k)
    except cycles.SimMissing as exc:
        return {"status": "missing", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", "cycles": measured, "seconds": round(time.perf_counter() - t0, 1)}


# ---- running ----------------------------------------------------------------------------------------------

SECTION_TOOLS = {"chain": ("yosys",), "top": ("yosys",), "sim": ("verilator",)}


def points(plan: Plan) -> list[tuple[str, CoreConfig, Point]]:
    """(section, configuration, point) for every synthesis and simulation of `plan`."""
    hw = sources_digest()
    out = []
    for section, configs in (("chain", plan.chain), ("top", plan.top)):
        for cfg in configs:
            key = point_key(section, cfg.digest(), hw, flow_digest())
            cost = cfg.lanes * cfg.k_max * (4 if section == "top" else 1)
            out.append((section, cfg, Point(key, f"{section} {cfg.slug()}", synth_point, (section, cfg.to_dict()),
                                            SECTION_TOOLS[section], cost)))
    sim = sim_digest()
    for cfg in plan.simulate:
        key = point_key("cycles", cfg.digest(), hw, sim, plan.beams, list(plan.vocabs), plan.k)
        out.append(("sim", cfg, Point(key, f"sim {cfg.slug()}", cycles_point,
                                      (cfg.to_dict(), plan.beams, list(plan.vocabs), plan.k),
                                      SECTION_TOOLS["sim"], cfg.lanes * cfg.k_max)))
    return out


def run(plan: Plan, cache: Cache, jobs: int = 2, progress: bool = True, *, scheduler: str | None = None,
        tools: dict | None = None) -> dict:
    """Every point of `plan`, from the cache or computed on Dask (`scheduler`'s cluster, else a LocalCluster
    of `jobs` worker processes; `jobs` 1 runs them in this process). Returns {"chain": [(cfg, result)], "top":
    [...], "sim": [...]}; each result says its "status", the "worker" that made it and whether it was "cached".
    `tools` maps "yosys" / "verilator" to their paths on the workers (default: their usual places)."""
    work = points(plan)
    done = run_points([p for _, _, p in work], cache, scheduler=scheduler, workers=jobs, tools=tools,
                      desc="report", progress=progress)
    results = {"chain": [], "top": [], "sim": []}
    for section, cfg, p in work:
        results[section].append((cfg, done[p.key]))
    return results


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))
