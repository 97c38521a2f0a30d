"""The report's output: a Markdown table file, PNG plots and a short summary on stdout, all from one ReportData.

Nothing here computes hardware figures; it lays out what the sweep, the cycle model, the bandwidth model and
the CPU timings produced, and says in the table where a figure could not be had.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from beamstream.hw.interface import CoreConfig

from . import bandwidth, cycles, yosys
from .sweep import DEFAULT_CFG, Plan

# Reference points (docs/report.md gives the sources).
TOPKSORT = {"k": 64, "lut": 14061, "ff": 5438, "mhz": 300}   # Vitis Libraries topKSort, one element per cycle
CHAIN_LUT_TARGET = 4700    # chain at K=64, one lane: a third of topKSort's LUTs
LEVELS_TARGET = 8          # critical path in LUT levels, every configuration
K_MAX_TICKS = (4, 8, 16, 32, 64)
VOCAB_GRID = (1000, 2000, 5000, 10000, 20000, 32000, 50257, 100000, 151936, 262144)


@dataclass
class ReportData:
    plan: Plan
    chain: list          # [(CoreConfig, point result dict)]
    top: list
    sim: list
    model: cycles.CycleModel | None
    model_note: str
    cpu: dict            # {"numpy": {V: us or reason}, "torch": {...}}


def _ok(res: dict) -> bool:
    return res.get("status") == "ok"


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else (f"{x:g}" if isinstance(x, float) else str(x))


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_n(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _missing_row(res: dict, width: int, lead: list) -> list:
    reason = res.get("error", "not run").replace("|", "/").replace("\n", " ")
    return lead + [f"n/a: {reason[:160]}"] + [""] * (width - len(lead) - 1)


def _path(res: dict) -> str:
    start, end = res.get("path", ("?", "?"))
    return f"`{start[:60]}` → `{end[:60]}`"


def _fmax(levels: int, family: str) -> int:
    return round(yosys.TIMING[family].fmax_mhz(levels))


# ---- derived figures ----------------------------------------------------------------------------------------

def top_levels(data: ReportData, cfg: CoreConfig) -> tuple[int | None, str]:
    """Logic depth used for `cfg`'s clock: its own top-level synthesis, else the deepest top level synthesised
    (the core's critical path is rarely in the lanes), else its chain's, else none."""
    tops = [(c, res["levels"]) for c, res in data.top if _ok(res)]
    for c, levels in tops:
        if c == cfg:
            return levels, "top level"
    if tops:
        c, levels = max(tops, key=lambda t: t[1])
        return levels, f"as top P={c.lanes} K_MAX={c.k_max} {c.fmt}"
    for c, res in data.chain:
        if c.k_max == cfg.k_max and _ok(res):
            return res["levels"], "chain only"
    return None, "no synthesis: DMA clock cap"


def simulated_cycles(data: ReportData, cfg: CoreConfig, beams: int, vocab: int) -> int | None:
    for c, res in data.sim:
        if c == cfg and _ok(res):
            for p in res["cycles"]:
                if p["beams"] == beams and p["vocab"] == vocab:
                    return p["cycles"]
    return None


def step_cycles(data: ReportData, cfg: CoreConfig, beams: int, vocab: int) -> tuple[int | None, str]:
    sim = simulated_cycles(data, cfg, beams, vocab)
    if sim is not None:
        return sim, "sim"
    if data.model is not None:
        return data.model.predict(cfg, beams, vocab), "formula"
    return None, "n/a"


# Builds whose latency is projected: the default, and the widest input (8 bf16 lanes: 128-bit beats, like the
# default's, carrying twice the logits).
LATENCY_CONFIGS = (DEFAULT_CFG, CoreConfig(lanes=8, k_max=DEFAULT_CFG.k_max, fmt="bf16"))


def projections(data: ReportData, cfg: CoreConfig, vocab: int) -> list[bandwidth.Projection] | None:
    beams, k = data.plan.beams, min(data.plan.k, cfg.k_max)
    cyc, _ = step_cycles(data, cfg, beams, vocab)
    if cyc is None:
        return None
    levels, _ = top_levels(data, cfg)
    nbytes = bandwidth.step_bytes(cfg, beams, vocab, k)
    return [bandwidth.project(b, cfg, cyc, nbytes, bandwidth.clock_mhz(b, levels)) for b in bandwidth.BOARDS.values()]


# ---- tables -------------------------------------------------------------------------------------------------

def chain_table(data: ReportData) -> str:
    header = ["K", "LUT xc7", "LUTRAM", "FF", "CARRY4", "LUT xcup", "FF xcup", "LUT levels", "Fmax xc7 est.",
              "Fmax xcup est.", "Yosys s", "critical path"]
    rows = []
    for cfg, res in data.chain:
        if not _ok(res):
            rows.append(_missing_row(res, len(header), [cfg.k_max]))
            continue
        a, u, lv = res["resources"]["xc7"], res["resources"]["xcup"], res["levels"]
        rows.append([cfg.k_max, a["lut"], a["lutram"], a["ff"], a["carry"], u["lut"], u["ff"], lv,
                     f"{_fmax(lv, 'xc7')} MHz", f"{_fmax(lv, 'xcup')} MHz",
                     "cached" if res.get("cached") else res.get("seconds", ""), _path(res)])
    rows.append([f"Vitis topKSort K={TOPKSORT['k']} (ref.)", TOPKSORT["lut"], "", TOPKSORT["ff"], "", "", "", "",
                 "", f"{TOPKSORT['mhz']} MHz (Vivado)", "", ""])
    rows.append(["target K=64", f"< {CHAIN_LUT_TARGET:,}", "", "", "", "", "", f"<= {LEVELS_TARGET}", "", "", "", ""])
    return _table(header, rows)


def top_table(data: ReportData) -> str:
    header = ["P", "K_MAX", "format", "LUT xc7", "LUTRAM", "FF", "CARRY4", "BRAM36", "DSP", "LUT xcup", "FF xcup",
              "BRAM36 xcup", "DSP xcup", "LUT levels", "Fmax xc7 est.", "Fmax xcup est.", "Yosys s", "critical path"]
    rows = []
    for cfg, res in data.top:
        lead = [cfg.lanes, cfg.k_max, cfg.fmt]
        if not _ok(res):
            rows.append(_missing_row(res, len(header), lead))
            continue
        a, u, lv = res["resources"]["xc7"], res["resources"]["xcup"], res["levels"]
        rows.append(lead + [a["lut"], a["lutram"], a["ff"], a["carry"], a["bram36"], a["dsp"], u["lut"], u["ff"],
                            u["bram36"], u["dsp"], lv, f"{_fmax(lv, 'xc7')} MHz", f"{_fmax(lv, 'xcup')} MHz",
                            "cached" if res.get("cached") else res.get("seconds", ""), _path(res)])
    return _table(header, rows)


def cycles_table(data: ReportData) -> str:
    beams, vocabs = data.plan.beams, data.plan.vocabs
    header = ["P", "K_MAX", "format"] + [f"cycles V={v:,}" for v in vocabs] + \
             [f"interface bound (§5) V={vocabs[-1]:,}", f"FINN LabelSelect V={vocabs[-1]:,}"]
    configs = list(dict.fromkeys([c for c, _ in data.top] + [c for c, _ in data.sim]))
    rows = []
    for cfg in configs:
        k = min(data.plan.k, cfg.k_max)
        cells = []
        for v in vocabs:
            cyc, src = step_cycles(data, cfg, beams, v)
            cells.append("n/a" if cyc is None else f"{cyc:,} ({src})")
        rows.append([cfg.lanes, cfg.k_max, cfg.fmt] + cells +
                    [cycles.design_bound(cfg, beams, vocabs[-1]),
                     cycles.finn_labelselect_cycles(cfg, beams, vocabs[-1], k)])
    return _table(header, rows)


def latency_table(data: ReportData) -> str:
    header = ["build", "V", "board", "clock", "compute µs", "transfer µs", "step µs", "bound", "input limited by"]
    rows = []
    for cfg in LATENCY_CONFIGS:
        levels, basis = top_levels(data, cfg)
        for v in data.plan.vocabs:
            projs = projections(data, cfg, v)
            if projs is None:
                rows.append([cfg.slug(), v, "all", "n/a: no cycle count (sim backend missing)", "", "", "", "", ""])
                continue
            for p in projs:
                estimate = bandwidth.fmax_estimate_mhz(bandwidth.BOARDS[p.board], levels)
                rows.append([f"P={cfg.lanes} K_MAX={cfg.k_max} {cfg.fmt}", v, p.board,
                             f"{p.clock_mhz:.0f} MHz (bitstream's; {basis}: ~{estimate:.0f})",
                             f"{p.compute_us:.1f}", f"{p.transfer_us:.1f}",
                             f"{p.latency_us:.1f}", p.bound, p.limiter])
    for name, times in data.cpu.items():
        for v in data.plan.vocabs:
            t = times.get(v)
            rows.append(["CPU " + name, v, "this machine", "", "", "",
                         f"{t:.1f}" if isinstance(t, float) else f"n/a: {t}", "measured", ""])
    return _table(header, rows)


def boards_table() -> str:
    rows = [[b.name, b.device, f"{b.clock_cap_mhz:.0f} MHz", f"{b.hp_bits}-bit x {b.hp_mhz:.0f} MHz = "
             f"{b.hp_mb_s:,.0f} MB/s", f"{b.ddr_mb_s:,.0f} MB/s", b.sources] for b in bandwidth.BOARDS.values()]
    return _table(["board", "part", "DMA clock cap", "HP port", "DDR (x0.75)", "sources"], rows)


def points_table(data: ReportData) -> str:
    """Every synthesis and simulation point: its outcome, the worker that made it and how long it took."""
    rows = []
    for section, items in (("chain", data.chain), ("top", data.top), ("cycles", data.sim)):
        for cfg, res in items:
            status = res.get("status", "not run")
            if status != "ok":
                status = f"**{status}**: " + res.get("error", "").replace("|", "/").replace("\n", " ")[:200]
            rows.append([section, cfg.slug(), status, res.get("worker", ""),
                         "cached" if res.get("cached") else res.get("seconds", "")])
    return _table(["point", "configuration", "status", "worker", "seconds"], rows)


def markdown(data: ReportData) -> str:
    plan = data.plan
    parts = [
        "# beamstream co-design report",
        f"Step: B = {plan.beams}, K = min({plan.k}, K_MAX), V in {', '.join(f'{v:,}' for v in plan.vocabs)}. "
        "Resources from Yosys 0.23 `synth_xilinx -flatten -noiopad -noclkbuf` (an estimate, not Vivado); "
        "logic depth from `synth -flatten; abc -lut 6; ltp -noff`. How to read this: docs/report.md.",
        *[f"- {n}" for n in plan.notes],
        "## Top-K chain alone (one lane)", chain_table(data),
        "## Whole top level (`beamstream_top`)", top_table(data),
        "Fmax estimates: " + "; ".join(f"{t.family} ({t.device}): {t.fixed_ns} ns + levels x {t.per_level_ns} ns "
                                       f"({t.basis})" for t in yosys.TIMING.values()) + ".",
        "## Cycles per step", f"Cycle formula: {data.model_note}", cycles_table(data),
        "FINN LabelSelect: Labels // PE + K cycles per row (its `get_exp_cycles`), with Labels = V, PE = P.",
        "## Projected step latency per board, and this CPU", latency_table(data),
        "### DMA bandwidth model", boards_table(),
        "## Points: who made each, and which failed", points_table(data),
    ]
    return "\n\n".join(parts) + "\n"


# ---- plots --------------------------------------------------------------------------------------------------

def _top_groups(data: ReportData, value) -> dict:
    """(P, format) -> sorted [(K_MAX, value(result))] over the top-level points synthesised."""
    groups = {}
    for c, r in data.top:
        if _ok(r):
            groups.setdefault((c.lanes, c.fmt), []).append((c.k_max, value(r)))
    return {g: sorted(pts) for g, pts in sorted(groups.items())}


def _k_axis(ax) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log", base=2)
    ax.set_xticks(K_MAX_TICKS, labels=[str(k) for k in K_MAX_TICKS])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("K_MAX")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_resources(data: ReportData, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    chain = [(c.k_max, r["resources"]["xc7"]) for c, r in data.chain if _ok(r)]
    if chain:
        ks = [k for k, _ in chain]
        ax.plot(ks, [r["lut"] + r["lutram"] for _, r in chain], "o-", color="tab:blue", label="chain LUT")
        ax.plot(ks, [r["ff"] for _, r in chain], "s--", color="tab:blue", label="chain FF")
    colors = iter(["tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"])
    luts = _top_groups(data, lambda r: r["resources"]["xc7"]["lut"] + r["resources"]["xc7"]["lutram"])
    ffs = _top_groups(data, lambda r: r["resources"]["xc7"]["ff"])
    for (p, f), pts in luts.items():
        color = next(colors, "grey")
        ax.plot(*zip(*pts), "o-", color=color, label=f"top P={p} {f} LUT")
        ax.plot(*zip(*ffs[(p, f)]), "s--", color=color, label=f"top P={p} {f} FF")
    ax.plot([TOPKSORT["k"]], [TOPKSORT["lut"]], "k*", ms=12, label="Vitis topKSort K=64 LUT")
    ax.axhline(CHAIN_LUT_TARGET, color="grey", ls=":", label=f"chain target {CHAIN_LUT_TARGET:,} LUT")
    ax.set(ylabel="cells (xc7, Yosys)", title="Resources vs K_MAX")
    _k_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_depth(data: ReportData, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    chain = [(c.k_max, r["levels"]) for c, r in data.chain if _ok(r)]
    if chain:
        ax.plot(*zip(*chain), "o-", label="chain")
    groups = _top_groups(data, lambda r: r["levels"])
    for (p, f), pts in groups.items():
        ax.plot(*zip(*pts), "s--", label=f"top P={p} {f}")
    ax.axhline(LEVELS_TARGET, color="grey", ls=":", label=f"target <= {LEVELS_TARGET}")
    ax.set(ylabel="LUT levels (critical path)", title="Logic depth vs K_MAX",
           ylim=(0, max([LEVELS_TARGET + 2] + [lv for _, lv in chain] +
                        [lv for pts in groups.values() for _, lv in pts]) + 1))
    _k_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(data: ReportData, path: Path) -> bool:
    """Projected latency vs V per board (formula at a dense grid, simulated points marked) with the CPU lines."""
    import matplotlib.pyplot as plt

    lines = []  # (config, board, points)
    for cfg in LATENCY_CONFIGS:
        grid = sorted({v for v in (*VOCAB_GRID, *data.plan.vocabs) if v <= cfg.vocab_max})
        per_board = {b: [] for b in bandwidth.BOARDS}
        for v in grid:
            for p in projections(data, cfg, v) or []:
                per_board[p.board].append((v, p.latency_us))
        lines += [(cfg, b, pts) for b, pts in per_board.items() if pts]
    if not lines:
        return False
    merged = {}  # boards whose projections coincide (same PS and family) share one line
    for cfg, b, pts in lines:
        merged.setdefault((cfg, tuple(pts)), []).append(b)
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    colors = dict(zip(bandwidth.BOARDS, ["tab:blue", "tab:orange", "tab:green"]))
    styles = dict(zip(LATENCY_CONFIGS, ["-", "--"]))
    for (cfg, pts), boards in merged.items():
        ax.plot(*zip(*pts), styles[cfg], color=colors[boards[0]],
                label=f"{' = '.join(boards)}, P={cfg.lanes} {cfg.fmt}")
    for (name, times), color in zip(data.cpu.items(), ["black", "tab:red"]):
        pts = [(v, t) for v, t in sorted(times.items()) if isinstance(t, float)]
        if pts:
            ax.plot(*zip(*pts), "o:", color=color, label=f"CPU {name} (measured)")
    ax.set(xscale="log", yscale="log", xlabel="vocabulary V", ylabel="step latency (µs)",
           title=f"Projected step latency, B={data.plan.beams}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ---- summary and files --------------------------------------------------------------------------------------

def summary(data: ReportData) -> list[str]:
    out = []
    k64 = [r for c, r in data.chain if c.k_max == 64]
    if k64 and _ok(k64[0]):
        a = k64[0]["resources"]["xc7"]
        lut = a["lut"] + a["lutram"]
        out.append(f"chain K=64, one lane: {lut:,} LUT, {a['ff']:,} FF, {k64[0]['levels']} LUT levels "
                   f"(target < {CHAIN_LUT_TARGET:,} LUT: {'met' if lut < CHAIN_LUT_TARGET else 'NOT met'}; "
                   f"topKSort {TOPKSORT['lut']:,} LUT)")
    else:
        out.append("chain K=64: " + (k64[0].get("error", "not run") if k64 else "not in this run"))
    levels = [(c, r["levels"], kind) for kind, rows in (("chain", data.chain), ("top", data.top))
              for c, r in rows if _ok(r)]
    if levels:
        worst = max(levels, key=lambda t: t[1])
        out.append(f"deepest path: {worst[1]} LUT levels ({worst[2]} {worst[0].slug()}); target <= {LEVELS_TARGET}: "
                   f"{'met' if worst[1] <= LEVELS_TARGET else 'NOT met'} over {len(levels)} syntheses")
    for c, r in data.top:
        if c == DEFAULT_CFG:
            if _ok(r):
                a = r["resources"]["xc7"]
                out.append(f"top level {c.slug()}: {a['lut'] + a['lutram']:,} LUT, {a['ff']:,} FF, "
                           f"{a['bram36']:g} BRAM36, {a['dsp']} DSP, {r['levels']} LUT levels")
            else:
                out.append(f"top level {c.slug()}: {r.get('error')}")
    v = data.plan.vocabs[-1]
    projs = projections(data, DEFAULT_CFG, v)
    if projs:
        parts = [f"{p.board} {p.latency_us:.0f} µs ({p.bound})" for p in projs]
        cpu = [f"CPU {n} {t[v]:.0f} µs" for n, t in data.cpu.items() if isinstance(t.get(v), float)]
        out.append(f"step B={data.plan.beams} V={v:,} on {DEFAULT_CFG.slug()}: " + ", ".join(parts + cpu))
    else:
        out.append("projected latency: no cycle count (sim backend missing)")
    out.append(f"cycle formula: {data.model_note}")
    return out


def _jsonable(rows):
    return [{"config": c.to_dict(), "slug": c.slug(), **r} for c, r in rows]


def write(data: ReportData, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.md", out_dir / "results.json"]
    written[0].write_text(markdown(data))
    written[1].write_text(json.dumps({
        "beams": data.plan.beams, "vocabs": list(data.plan.vocabs), "k": data.plan.k,
        "chain": _jsonable(data.chain), "top": _jsonable(data.top), "sim": _jsonable(data.sim),
        "cycle_model": data.model_note, "cpu_us": data.cpu}, indent=1, default=str))
    plot_resources(data, out_dir / "resources_vs_k.png")
    plot_depth(data, out_dir / "depth_vs_k.png")
    written += [out_dir / "resources_vs_k.png", out_dir / "depth_vs_k.png"]
    if plot_latency(data, out_dir / "latency_vs_v.png"):
        written.append(out_dir / "latency_vs_v.png")
    return written
