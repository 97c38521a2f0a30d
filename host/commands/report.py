"""`beamstream report`: resources, logic depth, cycles and projected board latency in one run (docs/report.md)."""
from __future__ import annotations

import time
from pathlib import Path


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise ValueError(f"expected positive integers, got {text!r}")
    return values


def add_arguments(parser):
    parser.add_argument("-o", "--out", default="report", help="folder for report.md, results.json and the plots")
    parser.add_argument("--quick", action="store_true",
                        help="chain at K_MAX 4 and 64, top level and cycles at the default build only")
    parser.add_argument("--full", action="store_true", help="synthesise the top level at every (P, K_MAX, format)")
    parser.add_argument("--vocab", default="32000,50257,151936", help="vocabulary sizes V (comma-separated)")
    parser.add_argument("--beams", type=int, default=4, help="beams B per step")
    parser.add_argument("--k", type=int, default=None, help="K per step (default 2 x beams, as Hugging Face asks)")
    parser.add_argument("--cache", default=None,
                        help="folder of finished points, shared by the workers when they all reach it "
                             "(default $BEAMSTREAM_REPORT_CACHE, else report/ in the per-user cache: "
                             "$BEAMSTREAM_CACHE or ~/.cache/beamstream)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address (tcp://host:8786) whose workers run the points "
                             "(default $BEAMSTREAM_SCHEDULER, else a local cluster of --jobs processes)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes of the local cluster (default 2; 1 runs the points in this process)")
    parser.add_argument("--repeats", type=int, default=20, help="CPU timing repetitions per size")


def run(args):
    from beamstream.hw.interface import CoreConfig
    from beamstream.paths import cache_dir
    from beamstream.report import cluster, cpu, cycles, render, sweep

    if args.quick and args.full:
        raise ValueError("--quick and --full exclude each other")
    vocabs = sorted(set(_int_list(args.vocab)))
    limits = CoreConfig()
    if not 1 <= args.beams <= limits.beams_max:
        raise ValueError(f"--beams must be in 1..{limits.beams_max}, got {args.beams}")
    if vocabs[-1] > limits.vocab_max:
        raise ValueError(f"--vocab {vocabs[-1]} exceeds VOCAB_MAX {limits.vocab_max}")
    k = 2 * args.beams if args.k is None else args.k
    if k < 1:
        raise ValueError(f"--k must be >= 1, got {k}")
    jobs = args.jobs or sweep.default_jobs()
    if jobs < 1 or args.repeats < 1:
        raise ValueError("--jobs and --repeats must be >= 1")

    cache = args.cache or cluster.default_cache(str(cache_dir("report")))
    scheduler = args.scheduler or cluster.default_scheduler()

    t0 = time.perf_counter()
    plan = sweep.make_plan(quick=args.quick, full=args.full, beams=args.beams, vocabs=vocabs, k=k)
    where = f"Dask scheduler {scheduler}" if scheduler else \
        (f"a local Dask cluster of {jobs} processes" if jobs > 1 and cluster.has_dask() else "this process")
    print(f"beamstream report: {len(plan.chain)} chain and {len(plan.top)} top-level syntheses, "
          f"{len(plan.simulate)} simulated corners on {where}, cache {cache}", flush=True)
    results = sweep.run(plan, sweep.Cache(Path(cache)), jobs=jobs, scheduler=scheduler)

    samples = [(c, p) for c, r in results["sim"] if r.get("status") == "ok" for p in r["cycles"]]
    if samples:
        model = cycles.fit(samples)
        model_note = model.describe()
    else:
        model = None
        reasons = {r.get("error", "not run") for _, r in results["sim"]} or {"no corner simulated"}
        model_note = "no simulated steps, so no cycle counts: " + "; ".join(sorted(reasons))

    # Timed after the pool is done so that synthesis does not share the cores with the measurement.
    print("timing the step on this CPU ...", flush=True)
    cpu_us = cpu.cpu_times(args.beams, vocabs, k, args.repeats)

    data = render.ReportData(plan, results["chain"], results["top"], results["sim"], model, model_note, cpu_us)
    return write_and_summarise(render, data, Path(args.out), t0)


def write_and_summarise(render, data, out: Path, t0: float) -> int:
    """Write a report's (or profile's) files with its `render` module and print its summary and what was written."""
    written = render.write(data, out)
    print()
    for line in render.summary(data):
        print(f"  {line}")
    print(f"\nwrote {', '.join(str(p) for p in written)} in {time.perf_counter() - t0:.0f} s")
    return 0
