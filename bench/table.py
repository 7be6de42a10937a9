#!/usr/bin/env python3
"""The markdown table and the raw per-repeat figures of a bench/run.sh results directory.

usage: bench/table.py RESULTS_DIR   (writes RESULTS_DIR/table.md and raw.tsv, prints the table)

Reads RESULTS_DIR/runs/<level>/*.json: `pipe bench --json` reports and the RESULT lines of
torch_train.py and torch_peak.py, named <model>-<mode>-<side>-<precision>-r<k>.json and
peak-<side>-<precision>-r<k>.json.  Every figure is the median over all timed passes of all
processes of a configuration.  PyTorch's GFLOP/s use pipe's FLOP count of the same batches.
"""
import glob
import json
import os
import re
import statistics
import sys

MODELS = {"minilm": "all-MiniLM-L6-v2", "distilbert": "DistilBERT-base size"}
TASKS = {"train": "train, examples/s", "infer": "infer, sentences/s"}
CONFIGS = ["pipe-fp32", "pipe-bf16", "pipe-int8", "torch-fp32", "torch-bf16"]
HEADS = {"pipe-fp32": "pipe fp32", "pipe-bf16": "pipe bf16", "pipe-int8": "pipe int8",
         "torch-fp32": "PyTorch fp32", "torch-bf16": "PyTorch bf16"}
# run.sh's level names, best first; a level's CPU class in words.
LEVELS = ["native", "amx", "avx512", "avx2", "baseline"]
CLASSES = {"amx": "AMX", "avx512": "AVX-512 (no AMX)", "avx2": "AVX2 + FMA", "baseline": "x86-64 baseline (no AVX)"}
RUN = re.compile(r"^(?P<what>.+)-(?P<side>pipe|torch)-(?P<prec>fp32|bf16|int8)-r(?P<rep>\d+)\.json$")


def load(level_dir):
    """{(what, config): [(process, report), ...]}: what is "peak" or "<model>-<mode>"."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(level_dir, "*.json"))):
        m = RUN.match(os.path.basename(path))
        if not m:
            continue
        with open(path) as f:
            text = f.read().strip()
        if not text:
            continue
        key = (m["what"], f"{m['side']}-{m['prec']}")
        runs.setdefault(key, []).append((int(m["rep"]), json.loads(text)))
    return runs


def passes(config, report, gflop):
    """(seconds, examples, examples/s, GFLOP/s) of each timed pass of one process."""
    if config.startswith("pipe"):
        n = report["examples"]
        return [(s, n, n / s, report["gflop_per_repeat"] / s) for s in report["repeat_seconds"]]
    return [(r["wall_s"], round(r["examples_per_s"] * r["wall_s"]), r["examples_per_s"],
             gflop / r["wall_s"] if gflop else None) for r in report["repeats"]]


def fmt(x, digits=1):
    return "–" if x is None else f"{x:,.{digits}f}"


def level_section(level, runs, raw):
    pipe_any = next((rep for (what, c), rs in runs.items() if c.startswith("pipe") for _, rep in rs), None)
    torch_peak = next((rep for (what, c), rs in runs.items() if what == "peak" and c.startswith("torch")
                       for _, rep in rs), None)
    if pipe_any is None:
        return f"## {level}\n\nno pipe runs\n"
    if "simd_level" not in pipe_any:
        # A pipe from before `pipe bench` named its machine: machine.txt's lscpu lines say it.
        out = [f"## `{level}`", "", "This pipe does not report its CPU and SIMD level; see machine.txt."]
    else:
        model_name, _, flags = pipe_any["cpu"].partition("; ")
        ran, best_here = pipe_any["simd_level"], pipe_any["simd_detected"]
        out = [f"## {model_name} at `{ran}`" + (" (emulated)" if pipe_any["simd_capped"] else ""), ""]
        out.append(f"CPU flags: {flags}. pipe ran at level `{ran}`; the CPU's best is `{best_here}`.")
    if pipe_any.get("simd_capped"):
        caps = " ".join(f"{k}={v}" for k, v in (torch_peak or {}).get("caps", {}).items())
        out.append(f"**Emulation**: {pipe_any['simd_capped']} on this {CLASSES.get(best_here, best_here)} CPU "
                   f"approximates an {CLASSES.get(ran, ran)} machine; PyTorch was capped alike ({caps or 'no caps recorded'}; it ran at "
                   f"{(torch_peak or {}).get('cpu_capability', '?')}). A real {CLASSES.get(ran, ran)} CPU differs in "
                   f"clock, caches and memory.")

    # The peak: each side's matrix product alone; the reference is the best fp32 rate seen.
    peak = {}
    for c in CONFIGS:
        reps = [r for _, r in runs.get(("peak", c), [])]
        if reps:
            peak[c] = (statistics.median(r["gflops"] for r in reps), max(r["best_gflops"] for r in reps), len(reps))
            for k, r in sorted(runs[("peak", c)], key=lambda kr: kr[0]):
                for s in r["repeat_seconds"]:
                    raw.append((level, "peak", "product", c, k, s, "", "", r["gflop_per_product"] * r["products"] / s, ""))
    ref = max((peak[c][1] for c in ("pipe-fp32", "torch-fp32") if c in peak), default=None)
    if peak:
        shape = next(iter(runs[("peak", next(c for c in CONFIGS if c in peak))]))[1]
        parts = [f"{HEADS[c]} {fmt(peak[c][0])} (best {fmt(peak[c][1])})" for c in CONFIGS if c in peak]
        out.append("")
        out.append(f"Peak, the {shape['m']}x{shape['k']} by ({shape['n']}x{shape['k']})^T product alone, "
                   f"{shape['threads']} threads, GFLOP/s, median of {max(p[2] for p in peak.values())} "
                   f"processes: " + "; ".join(parts) + ". "
                   f"The share of peak below divides by **{fmt(ref)} GFLOP/s**, the best fp32 rate of either.")

    header = ["model", "task"] + [HEADS[c] for c in CONFIGS] + ["best pipe / PyTorch fp32", "best pipe / PyTorch bf16"]
    out += ["", "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for model in MODELS:
        for mode in TASKS:
            what = f"{model}-{mode}"
            if not any(w == what for w, _ in runs):
                continue
            gflop = next((r["gflop_per_repeat"] for _, r in runs.get((what, "pipe-fp32"), [])), None)
            med = {}
            for c in CONFIGS:
                figures = []
                for k, rep in sorted(runs.get((what, c), []), key=lambda kr: kr[0]):
                    for s, n, eps, gf in passes(c, rep, gflop):
                        figures.append((eps, gf))
                        raw.append((level, model, mode, c, k, s, n, eps, gf,
                                    gf / ref if gf is not None and ref else ""))
                if figures:
                    gfs = [g for _, g in figures if g is not None]
                    med[c] = (statistics.median(e for e, _ in figures), statistics.median(gfs) if gfs else None,
                              len(figures))
            base = med.get("torch-fp32", (None,))[0]
            cells = []
            for c in CONFIGS:
                if c not in med:
                    cells.append("–")
                    continue
                eps, gf, _ = med[c]
                notes = [f"{eps / base:.2f}x" if base else None,
                         f"{100 * gf / ref:.0f}%" if gf is not None and ref else None]
                notes = [n for n in notes if n]
                cells.append(f"{fmt(eps)}" + (f" ({', '.join(notes)})" if notes else ""))
            best = max((med[c][0] for c in med if c.startswith("pipe")), default=None)
            ratio = lambda other: f"**{best / med[other][0]:.2f}x**" if best and other in med else "–"  # noqa: E731
            out.append(f"| {MODELS[model]} | {TASKS[mode]} | " + " | ".join(cells) +
                       f" | {ratio('torch-fp32')} | {ratio('torch-bf16')} |")
    counts = sorted({len(rs) for (w, _), rs in runs.items() if w != "peak"})
    out += ["", f"Cells: median examples (sentences) per second over {'/'.join(map(str, counts))} processes "
            "run interleaved, (ratio to PyTorch fp32, share of the peak above in GFLOP/s by pipe's FLOP count "
            "of the same batches; int8 counts its products as the same FLOPs). Per-pass figures: raw.tsv."]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1])
    root = sys.argv[1]
    raw = []
    sections = []
    rank = lambda d: LEVELS.index(os.path.basename(d)) if os.path.basename(d) in LEVELS else len(LEVELS)  # noqa: E731
    for level_dir in sorted(glob.glob(os.path.join(root, "runs", "*")), key=rank):
        runs = load(level_dir)
        if runs:
            sections.append(level_section(os.path.basename(level_dir), runs, raw))
    machine = ""
    if os.path.exists(os.path.join(root, "machine.txt")):
        machine = "```\n" + open(os.path.join(root, "machine.txt")).read().rstrip() + "\n```\n\n"
    table = machine + "\n".join(sections)
    with open(os.path.join(root, "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(root, "raw.tsv"), "w") as f:
        f.write("level\tmodel\tmode\tconfig\tprocess\tseconds\texamples\texamples_per_s\tgflops\tpeak_share\n")
        for row in raw:
            f.write("\t".join("" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in row) + "\n")
    print(table)


if __name__ == "__main__":
    main()
