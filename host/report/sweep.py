"""The sweep: which configurations are synthesised and simulated, run in a process pool, cached per point.

A point's cache key is its configuration digest plus the digest of the gateware sources (and of the synthesis
flow, or of the simulator driver), so a second run only redoes what changed. Failures are reported, not cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from beamstream.hw.interface import CoreConfig
from beamstream.sim.runner import sources_digest

from . import cycles, yosys
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


# ---- cache ------------------------------------------------------------------------------------------------

def _files_digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def flow_digest() -> str:
    return _files_digest([Path(yosys.__file__)])


def sim_digest() -> str:
    """The simulator side of cycle counts: driver, backend and our own measuring code."""
    import beamstream.backends
    import beamstream.sim
    sim, backends = (Path(m.__file__).parent for m in (beamstream.sim, beamstream.backends))
    files = [p for p in sim.rglob("*") if p.is_file() and p.suffix in {".py", ".cpp", ".h"}]
    files += list(backends.glob("*.py")) + [Path(cycles.__file__)]
    return _files_digest(files)


class Cache:
    """One JSON file per point in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str):
        p = self.path(key)
        return json.loads(p.read_text()) if p.exists() else None

    def put(self, key: str, value) -> None:
        tmp = self.path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
        tmp.replace(self.path(key))


def point_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


# ---- work done in the pool --------------------------------------------------------------------------------

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

def run(plan: Plan, cache: Cache, jobs: int = 2, progress: bool = True) -> dict:
    """Every point of `plan`, from the cache or computed; returns {"chain": [...], "top": [...], "sim": [...]}."""
    from tqdm import tqdm

    hw = sources_digest()
    tasks = []  # (section, cfg, key, fn, args)
    for section, configs in (("chain", plan.chain), ("top", plan.top)):
        for cfg in configs:
            key = point_key(section, cfg.digest(), hw, flow_digest())
            tasks.append((section, cfg, key, synth_point, (section, cfg.to_dict())))
    sim = sim_digest()
    for cfg in plan.simulate:
        key = point_key("cycles", cfg.digest(), hw, sim, plan.beams, list(plan.vocabs), plan.k)
        tasks.append(("sim", cfg, key, cycles_point, (cfg.to_dict(), plan.beams, list(plan.vocabs), plan.k)))

    results = {"chain": {}, "top": {}, "sim": {}}
    todo = []
    for section, cfg, key, fn, args in tasks:
        hit = cache.get(key)
        if hit is not None:
            results[section][cfg] = dict(hit, cached=True)
        else:
            todo.append((section, cfg, key, fn, args))
    # Biggest designs first so the two workers finish together.
    todo.sort(key=lambda t: -(t[1].lanes * t[1].k_max * (4 if t[0] == "top" else 1)))
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="report", unit="point", disable=not progress)

    def done(section, cfg, key, out):
        if out["status"] == "ok":
            cache.put(key, out)
        results[section][cfg] = dict(out, cached=False)
        bar.set_postfix_str(f"{section} {cfg.slug()} {out['status']}", refresh=False)
        bar.update()

    if jobs == 1:  # in this process: no pool to start, and a debugger sees the work
        for section, cfg, key, fn, args in todo:
            done(section, cfg, key, fn(*args))
    elif todo:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(fn, *args): (section, cfg, key) for section, cfg, key, fn, args in todo}
            for fut in as_completed(futures):
                done(*futures[fut], fut.result())
    bar.close()
    order = {"chain": plan.chain, "top": plan.top, "sim": plan.simulate}
    return {s: [(c, results[s][c]) for c in order[s]] for s in results}


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))
