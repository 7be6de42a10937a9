#!/usr/bin/env python3
"""CPU training/inference throughput baseline for SST-2-style sequence classification.

Models are built from config defaults with random init (timing only):
  distilbert   DistilBertConfig() defaults (6 layers, dim 768, 12 heads, ffn 3072), 2 labels
  distilbert2  same, n_layers=2
  minilm6      BertConfig(hidden 384, 12 heads, intermediate 1536, 6 layers), 2 labels

Training step = zero_grad + forward(labels) + backward + clip_grad_norm_(1.0) + AdamW.step
(lr 2e-5, weight decay 0.01 on non-bias/non-LayerNorm params), batch 32, dynamic padding
(each batch padded to its own longest sequence).

Inference = model.eval(), torch.inference_mode(), batch 128, dynamic padding.

dtype fp32: plain fp32.  dtype bf16: torch.autocast("cpu", dtype=torch.bfloat16) around the
forward (fp32 master weights, fp32 optimizer) -> oneDNN AMX kernels on CPUs that have AMX.

Sequence lengths: --lengths train uses --train-tsv (SST-2 train phrases), --lengths val uses
--val-tsv (GLUE SST-2 validation sentences); sentences are tokenized with a BERT uncased
WordPiece vocab if one is found (else words*1.2+2).  Without the TSVs, lengths are synthesized
(seeded) from a log-normal fit to published GLUE SST-2 statistics -- see synth_lengths().
Token ids are random; only the shapes/masks matter for timing.

Measurement: --warmup warm-up steps, then --steps distinct batches (fixed seeded order) are
cycled until every batch has --repeats "clean" timings, i.e. timings during which other
processes used < --clean-cores cores (from /proc/stat minus our rusage).  This machine may be
shared; contended steps are recorded but not used for the headline numbers.

--batches-file FILE: time exactly the batches written by `pipe bench train|infer
--dump-batches FILE` instead of synthesizing them.  The file's "warmup" batches run first
(untimed), then its "batches" are the measured sequence (cycled with the clean-timing logic
above).  Each batch is a list of token-id rows of varying length; it is padded with 0 to its
longest row, attention mask 1 on real tokens.  --batch, --steps, --warmup and --lengths are
then ignored (the file decides).

Prints one JSON line per run (prefix "RESULT ").
"""
import argparse
import json
import math
import os
import platform
import resource
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------------------
# lengths
# ----------------------------------------------------------------------------------------
def synth_lengths(n, mean_tokens, std_tokens, max_tokens, seed):
    """Token counts incl. [CLS]/[SEP]: 2 + lognormal(content mean, content std), clipped."""
    m = mean_tokens - 2.0
    s = std_tokens
    sigma2 = math.log(1.0 + (s / m) ** 2)
    mu = math.log(m) - sigma2 / 2.0
    rng = np.random.default_rng(seed)
    content = np.rint(rng.lognormal(mu, math.sqrt(sigma2), size=n)).astype(np.int64)
    content = np.clip(content, 1, max_tokens - 2)
    return content + 2


def find_vocab():
    """A BERT uncased WordPiece vocab.txt (30,522 entries) whose tokenizer_config lowercases."""
    roots = [os.path.join(HERE, "..", "hf"), os.path.expanduser("~/.cache/huggingface")]
    for r in roots:
        for dp, _dn, fn in sorted(os.walk(r)):
            if "vocab.txt" not in fn:
                continue
            tc = os.path.join(dp, "tokenizer_config.json")
            lower = "uncased" in dp.lower()
            if os.path.exists(tc):
                try:
                    lower = lower or bool(json.load(open(tc)).get("do_lower_case"))
                except Exception:
                    pass
            v = os.path.join(dp, "vocab.txt")
            if lower and sum(1 for _ in open(v, encoding="utf-8")) == 30522:
                return v
    return None


def lengths_from_tsv(path, max_tokens):
    sents = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence") if "sentence" in header else 0
        has_header = "sentence" in header
        if not has_header:
            f.seek(0)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) > col:
                sents.append(parts[col])
    vocab = find_vocab()
    if vocab:
        from transformers import BertTokenizerFast
        tok = BertTokenizerFast(vocab_file=vocab, do_lower_case=True)
        enc = tok(sents, add_special_tokens=True, truncation=True, max_length=max_tokens)
        lens = np.array([len(x) for x in enc["input_ids"]], dtype=np.int64)
        import hashlib
        md5 = hashlib.md5(open(vocab, "rb").read()).hexdigest()
        return lens, f"tokenized: BERT uncased WordPiece vocab.txt md5={md5}"
    lens = np.array([min(max_tokens, int(round(len(s.split()) * 1.2)) + 2) for s in sents])
    return lens, "words*1.2+2"


# ----------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------
def build_model(name):
    from transformers import (BertConfig, BertForSequenceClassification,
                              DistilBertConfig, DistilBertForSequenceClassification)
    if name == "distilbert":
        cfg = DistilBertConfig(num_labels=2)
        return DistilBertForSequenceClassification(cfg), cfg
    if name == "distilbert2":
        cfg = DistilBertConfig(num_labels=2, n_layers=2)
        return DistilBertForSequenceClassification(cfg), cfg
    if name == "minilm6":
        cfg = BertConfig(hidden_size=384, num_attention_heads=12, intermediate_size=1536,
                         num_hidden_layers=6, num_labels=2)
        return BertForSequenceClassification(cfg), cfg
    raise SystemExit(f"unknown model {name}")


def make_batches(lengths, batch, n_batches, seed, vocab_size):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    out = []
    for b in range(n_batches):
        idx = order[(b * batch) % len(order):][:batch]
        if len(idx) < batch:
            idx = rng.choice(len(lengths), size=batch, replace=False)
        ls = lengths[idx]
        L = int(ls.max())
        ids = torch.zeros((batch, L), dtype=torch.long)  # 0 = [PAD]
        mask = torch.zeros((batch, L), dtype=torch.long)
        for i, l in enumerate(ls):
            l = int(l)
            ids[i, 0] = 101
            if l > 2:
                ids[i, 1:l - 1] = torch.from_numpy(rng.integers(1000, vocab_size, size=l - 2))
            ids[i, l - 1] = 102
            mask[i, :l] = 1
        labels = torch.from_numpy(rng.integers(0, 2, size=batch)).long()
        out.append((ids, mask, labels, int(ls.sum()), batch * L))
    return out


def batches_from_file(path, mode):
    """Batches dumped by `pipe bench ... --dump-batches FILE`, as make_batches() tuples."""
    d = json.load(open(path))
    if d.get("mode") not in (None, mode):
        raise SystemExit(f"{path} holds {d.get('mode')} batches, not {mode}")

    def conv(rows_list, labels_list):
        out = []
        for bi, rows in enumerate(rows_list):
            L = max(len(r) for r in rows)
            ids = torch.zeros((len(rows), L), dtype=torch.long)  # 0 = [PAD]
            mask = torch.zeros((len(rows), L), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
                mask[i, :len(r)] = 1
            if labels_list is not None and bi < len(labels_list) and labels_list[bi] is not None:
                labels = torch.tensor(labels_list[bi], dtype=torch.long)
            else:
                labels = torch.zeros(len(rows), dtype=torch.long)
            out.append((ids, mask, labels, int(sum(len(r) for r in rows)), len(rows) * L))
        return out

    warm = conv(d.get("warmup") or [], d.get("warmup_labels"))
    meas = conv(d["batches"], d.get("labels"))
    return d, warm, meas


def epoch_padded_tokens(lengths, n_examples, batch, seed):
    """Padded positions of one full shuffled epoch (dynamic padding), for projection."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(lengths), size=n_examples, replace=n_examples > len(lengths))
    rng.shuffle(idx)
    ls = lengths[idx]
    tot_pad, tot_real, nb = 0, 0, 0
    for s in range(0, n_examples, batch):
        b = ls[s:s + batch]
        tot_pad += int(b.max()) * len(b)
        tot_real += int(b.sum())
        nb += 1
    return tot_pad, tot_real, nb


# ----------------------------------------------------------------------------------------
# contention probe
# ----------------------------------------------------------------------------------------
def sys_busy_jiffies():
    with open("/proc/stat") as f:
        p = f.readline().split()[1:]
    v = list(map(int, p))
    idle = v[3] + v[4]
    return sum(v[:8]) - idle  # user nice system idle iowait irq softirq steal


def self_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="distilbert")
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--dtype", choices=["fp32", "bf16", "bf16w"], default="fp32",
                    help="bf16 = autocast; bf16w = weights cast to bf16 (inference only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3,
                    help="clean timings wanted per measured batch")
    ap.add_argument("--clean-cores", type=float, default=0.1)
    ap.add_argument("--max-wall", type=float, default=900.0)
    ap.add_argument("--lengths", choices=["train", "val"], default=None,
                    help="train: SST-2 train phrases (mean ~13.3 tok); val: sentences (mean ~23)")
    ap.add_argument("--train-tsv", default=os.path.join(HERE, "..", "data", "sst2", "train.tsv"))
    ap.add_argument("--val-tsv", default=os.path.join(HERE, "..", "data", "sst2", "validation.tsv"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches-file", default=None,
                    help="JSON from `pipe bench ... --dump-batches FILE`: time exactly these "
                         "batches (its warmup batches first)")
    ap.add_argument("--adamw", choices=["fused", "forloop", "foreach"], default="fused",
                    help="fused = HF Trainer default optim (adamw_torch_fused) for torch>=2.8; "
                         "forloop = torch.optim.AdamW() with no flags on CPU tensors")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    batch = a.batch or (32 if a.mode == "train" else 128)
    lengths_kind = a.lengths or ("train" if a.mode == "train" else "val")
    max_tokens = 128

    tsv = a.train_tsv if lengths_kind == "train" else a.val_tsv
    if a.batches_file:
        bf, warm, meas = batches_from_file(a.batches_file, a.mode)
        batch = int(bf.get("batch_size") or max(b[0].shape[0] for b in meas))
        lengths_kind = f"{bf.get('dataset')}/{bf.get('split')}"
        lengths = np.array([int(m.sum()) for b in warm + meas for m in b[1]], dtype=np.int64)
        len_src = (f"batches file {a.batches_file} (pipe bench, model {bf.get('model')}, "
                   f"{len(warm)} warmup + {len(meas)} measured batches)")
    elif os.path.exists(tsv):
        lengths, len_src = lengths_from_tsv(tsv, max_tokens)
        len_src = f"{os.path.basename(tsv)} n={len(lengths)} " + len_src
    elif lengths_kind == "train":
        # GLUE SST-2 train: 67,349 phrases, ~9.4 words mean, heavy right tail (max ~52 words).
        lengths = synth_lengths(67349, 13.3, 9.7, 66, seed=1234)
        len_src = "synthetic lognormal mean 13.3 std 9.7 (content) max 66"
    else:
        # GLUE SST-2 validation: 872 full sentences, ~19-20 words mean, max ~55 words.
        lengths = synth_lengths(872, 23.0, 10.0, 66, seed=4321)
        len_src = "synthetic lognormal mean 23 std 10 (content) max 66"

    model, cfg = build_model(a.model)
    nparams = sum(p.numel() for p in model.parameters())
    vocab_size = cfg.vocab_size
    attn_impl = getattr(model.config, "_attn_implementation", None)

    if not a.batches_file:
        nb_total = a.warmup + a.steps  # --steps = S distinct measured batches
        batches = make_batches(lengths, batch, nb_total, a.seed + 7, vocab_size)
        warm, meas = batches[:a.warmup], batches[a.warmup:]
    maxid = max(int(b[0].max()) for b in warm + meas)
    if maxid >= vocab_size:
        raise SystemExit(f"token id {maxid} >= model vocab size {vocab_size}")

    if a.mode == "train":
        model.train()
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "LayerNorm.bias")
        groups = [
            {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
             "weight_decay": 0.01},
            {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
             "weight_decay": 0.0},
        ]
        opt_kw = {"fused": {"fused": True}, "forloop": {"foreach": False, "fused": False},
                  "foreach": {"foreach": True}}[a.adamw]
        opt = torch.optim.AdamW(groups, lr=2e-5, **opt_kw)
        use_ac = a.dtype == "bf16"

        def step(b, timing=None):
            ids, mask, labels, _, _ = b
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            if use_ac:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = model(input_ids=ids, attention_mask=mask, labels=labels)
            else:
                out = model(input_ids=ids, attention_mask=mask, labels=labels)
            loss = out.loss
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if timing is not None:
                timing.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
            return float(loss.detach())
    else:
        if a.dtype == "bf16w":
            model = model.to(torch.bfloat16)
        model.eval()
        use_ac = a.dtype == "bf16"

        def step(b, timing=None):
            ids, mask, _, _, _ = b
            t0 = time.perf_counter()
            with torch.inference_mode():
                if use_ac:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        logits = model(input_ids=ids, attention_mask=mask).logits
                else:
                    logits = model(input_ids=ids, attention_mask=mask).logits
                pred = logits.argmax(-1)
            if timing is not None:
                timing.append((time.perf_counter() - t0,))
            return int(pred.sum())

    t = time.perf_counter()
    for b in warm:
        step(b)
    warm_s = time.perf_counter() - t

    hz = os.sysconf("SC_CLK_TCK")

    # Contention-aware measurement.  The S measured batches are cycled in a fixed order.  For
    # every step we record wall time and the CPU time that *other* processes used during it
    # (from /proc/stat minus our own rusage).  A step is "clean" when others used < --clean-cores
    # cores on average during it.  We keep cycling until every batch has --repeats clean
    # timings (or --max-wall is hit).  Repeat r of the whole sequence = the r-th clean timing
    # of each batch, so each repeat covers exactly the same S batches (no length bias).
    S = len(meas)
    recs = []  # (batch_idx, seconds, others_cores, segments)
    clean_t = [[] for _ in range(S)]
    clean_seg = [[] for _ in range(S)]
    t_start = time.perf_counter()
    i = 0
    while True:
        k = i % S
        tm = []
        sj, sc, s0 = sys_busy_jiffies(), self_cpu_s(), time.perf_counter()
        step(meas[k], tm)
        dt = time.perf_counter() - s0
        oth = max(0.0, ((sys_busy_jiffies() - sj) / hz - (self_cpu_s() - sc)) / dt)
        recs.append((k, dt, oth, tm[0]))
        if oth < a.clean_cores:
            clean_t[k].append(dt)
            clean_seg[k].append(tm[0])
        i += 1
        if min(len(c) for c in clean_t) >= a.repeats and i >= S:
            break
        if time.perf_counter() - t_start > a.max_wall and i >= S:
            break
    total_wall = time.perf_counter() - t_start

    ex_seq = sum(b[0].shape[0] for b in meas)  # rows per batch may vary (last batch)
    real_seq = sum(b[3] for b in meas)
    pad_seq = sum(b[4] for b in meas)
    n_rep = min(len(c) for c in clean_t)
    reps = []
    for r in range(n_rep):
        w = sum(clean_t[k][r] for k in range(S))
        seg = np.sum([clean_seg[k][r] for k in range(S)], axis=0).tolist()
        reps.append({"wall_s": round(w, 3), "examples_per_s": round(ex_seq / w, 2),
                     "tokens_per_s": round(real_seq / w, 1),
                     "padded_tokens_per_s": round(pad_seq / w, 1),
                     "s_per_step": round(w / S, 4), "segments_s": [round(x, 3) for x in seg]})
    # fallback when not every batch got a clean timing: min observed time per batch (flagged)
    per_batch_min = [min(r[1] for r in recs if r[0] == k) for k in range(S)]
    w_min = sum(per_batch_min)
    all_w = sum(r[1] for r in recs)
    all_ex = sum(meas[r[0]][0].shape[0] for r in recs)
    others_avg = float(np.average([r[2] for r in recs], weights=[r[1] for r in recs]))

    eps = [r["examples_per_s"] for r in reps]
    res = {
        "model": a.model, "mode": a.mode, "dtype": a.dtype, "threads": a.threads,
        "batch": batch, "seq_batches": S, "warmup_steps": len(warm),
        "batches_file": a.batches_file,
        "params": nparams, "attn_impl": attn_impl,
        "adamw": a.adamw if a.mode == "train" else None,
        "segments": ["forward", "backward", "clip_grad_norm", "optimizer_step"]
        if a.mode == "train" else ["forward"],
        "lengths": lengths_kind, "length_source": len_src,
        "len_pool_mean": round(float(lengths.mean()), 2),
        "seq_mean_real_len": round(real_seq / ex_seq, 2),
        "seq_mean_padded_len": round(pad_seq / ex_seq, 2),
        "warmup_s": round(warm_s, 2),
        "clean_cores_threshold": a.clean_cores,
        "clean_repeats": n_rep,
        "repeats": reps,
        "examples_per_s_median": float(np.median(eps)) if eps else None,
        "examples_per_s_min": min(eps) if eps else None,
        "examples_per_s_max": max(eps) if eps else None,
        "tokens_per_s_median": float(np.median([r["tokens_per_s"] for r in reps])) if reps else None,
        "per_batch_min": {"wall_s": round(w_min, 3), "examples_per_s": round(ex_seq / w_min, 2),
                          "tokens_per_s": round(real_seq / w_min, 1)},
        "all_steps": {"steps": len(recs), "wall_s": round(all_w, 2),
                      "examples_per_s": round(all_ex / all_w, 2),
                      "others_cores_avg": round(others_avg, 3),
                      "clean_steps": sum(len(c) for c in clean_t)},
        "total_measure_wall_s": round(total_wall, 1),
        "torch": torch.__version__, "python": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "caps": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
                                            "ONEDNN_MAX_CPU_ISA", "OMP_WAIT_POLICY") if k in os.environ},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    try:
        import transformers
        res["transformers"] = transformers.__version__
    except Exception:
        pass
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
