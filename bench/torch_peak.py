#!/usr/bin/env python3
"""PyTorch's matrix-product peak on this CPU: the counterpart of `pipe bench peak`.

Times torch.matmul(x, w.t()) with x 1152x768 and w 3072x768 (the product a dense layer runs,
at the shape of a DistilBERT-base feed-forward layer on 1152 token rows), --products of them
back to back per repeat, after --warmup untimed ones, on --threads threads.  fp32 goes to
MKL's sgemm; bf16 casts both operands to bf16 first (as autocast does), which oneDNN runs (on
AMX tiles where the CPU has them).  The caps ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS and
ONEDNN_MAX_CPU_ISA, when set, apply as to any PyTorch program; bench/run.sh sets them to
emulate a lower CPU class.

Prints one line: RESULT {json} with the median and best GFLOP/s.
"""
import argparse
import json
import os
import statistics
import time

import torch

M, K, N = 1152, 768, 3072
CAPS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--products", type=int, default=10, help="timed products per repeat")
    ap.add_argument("--warmup", type=int, default=2, help="untimed products first")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.products < 1 or a.repeats < 1:
        raise SystemExit("--products and --repeats must be at least 1")

    torch.set_num_threads(a.threads)
    # The same values as pipe bench peak's: in [-0.5, 0.5), no denormals.
    def fill(rows, cols, step):
        i = torch.arange(rows * cols, dtype=torch.int64)
        return ((i * step) % 1000).to(torch.float32).div(1000).sub(0.5).reshape(rows, cols)

    x, w = fill(M, K, 7919), fill(N, K, 104729)
    if a.dtype == "bf16":
        x, w = x.to(torch.bfloat16), w.to(torch.bfloat16)
    wt = w.t()
    with torch.inference_mode():
        for _ in range(a.warmup):
            torch.matmul(x, wt)
        seconds = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for _ in range(a.products):
                torch.matmul(x, wt)
            seconds.append(time.perf_counter() - t)
    gflop = 2.0 * M * K * N / 1e9
    rate = lambda s: gflop * a.products / s  # noqa: E731
    res = {
        "mode": "peak", "dtype": a.dtype, "m": M, "k": K, "n": N, "threads": a.threads,
        "products": a.products, "repeats": a.repeats, "gflop_per_product": gflop,
        "repeat_seconds": [round(s, 5) for s in seconds],
        "gflops": rate(statistics.median(seconds)), "best_gflops": rate(min(seconds)),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "caps": {k: os.environ[k] for k in CAPS if k in os.environ},
        "torch": torch.__version__,
    }
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
