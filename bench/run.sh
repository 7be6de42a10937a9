#!/usr/bin/env bash
# The per-CPU-class comparison of bench/README.md in one command: pipe fp32, bf16 (and int8
# inference where `pipe bench infer --quantize int8` exists) against PyTorch fp32 and bf16,
# on the same dumped batches, run side by side (interleaved, one process per repeat), for
# MiniLM-L6 and the DistilBERT-base-size config, at each SIMD level asked for; plus each
# side's matrix-product peak, to give every figure as a share of it. Writes table.md, raw.tsv
# and every run's JSON to the results directory.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/run.sh [options]
  --levels "L..."     PIPE_SIMD levels: native, amx, avx512, avx2, baseline [native]
                      (below the host's best, PyTorch is capped alike: an emulation, so marked)
  --models "M..."     minilm (all-MiniLM-L6-v2), distilbert (DistilBERT-base size) [minilm distilbert]
  --modes "M..."      train, infer [train infer]
  --skip "C..."       columns left empty: pipe-fp32, pipe-bf16, pipe-int8, torch-fp32, torch-bf16
                      (bf16 below amx runs slow paths on both sides: an hour for DistilBERT at baseline)
  --repeats N         processes per configuration, interleaved; the table gives medians [3]
  --inner N           timed passes over the batches inside each process [1]
  --train-steps N     measured training batches of 32 per pass [20]
  --infer-steps N     measured inference batches of 128 per pass [5]
  --peak-repeats N    processes per peak measurement (10 products each) [3]
  --threads N         threads on both sides [2]
  --out DIR           results directory [bench/results/<UTC time>]
  --pipe PATH         pipe binary [target/release/pipe]
  --python PATH       Python with torch and transformers [$TORCH_PYTHON or python3]
Smoke run (28 short processes: a few minutes on 2 idle cores):
  bench/run.sh --models minilm --train-steps 4 --infer-steps 2 --peak-repeats 1
EOF
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LEVELS="native" MODELS="minilm distilbert" MODES="train infer" SKIP=""
REPEATS=3 INNER=1 TRAIN_STEPS=20 INFER_STEPS=5 PEAK_REPEATS=3 THREADS=2
OUT="" PIPE="$ROOT/target/release/pipe" PY="${TORCH_PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in -h | --help) usage; exit 0 ;; esac
    [ $# -ge 2 ] || { echo "bench/run.sh: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --levels) LEVELS=$2 ;;
        --models) MODELS=$2 ;;
        --modes) MODES=$2 ;;
        --skip) SKIP=$2 ;;
        --repeats) REPEATS=$2 ;;
        --inner) INNER=$2 ;;
        --train-steps) TRAIN_STEPS=$2 ;;
        --infer-steps) INFER_STEPS=$2 ;;
        --peak-repeats) PEAK_REPEATS=$2 ;;
        --threads) THREADS=$2 ;;
        --out) OUT=$2 ;;
        --pipe) PIPE=$2 ;;
        --python) PY=$2 ;;
        *) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift 2
done

# Each model's arguments on pipe's side and its name on PyTorch's (the same shapes).
model_args() {
    case "$1" in
        minilm) echo "--model sentence-transformers/all-MiniLM-L6-v2" ;;
        distilbert) echo "--model pipe-fixtures/tiny-distilbert --config dim=768 --config hidden_dim=3072 \
            --config n_heads=12 --config n_layers=6 --config max_position_embeddings=512" ;;
        *) echo "bench/run.sh: unknown model $1 (minilm, distilbert)" >&2; exit 2 ;;
    esac
}
torch_model() { case "$1" in minilm) echo minilm6 ;; distilbert) echo distilbert ;; esac; }

# PyTorch's caps for a level: its dispatch (ATen), MKL's sgemm and oneDNN's kernels.
# MKL_CBWR=COMPATIBLE for baseline: on an AMD CPU MKL ignores MKL_ENABLE_INSTRUCTIONS=SSE4_2
# and keeps its AVX2 products; its compatible (SSE2) path is the one cap it follows there.
CAPS="ATEN_CPU_CAPABILITY MKL_ENABLE_INSTRUCTIONS MKL_CBWR ONEDNN_MAX_CPU_ISA"
torch_caps() {
    local unset="" v
    for v in $CAPS; do unset="$unset -u $v"; done
    case "$1" in
        native | amx) echo "$unset" ;;
        avx512) echo "$unset ATEN_CPU_CAPABILITY=avx512 MKL_ENABLE_INSTRUCTIONS=AVX512 ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16" ;;
        avx2) echo "$unset ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2" ;;
        baseline) echo "$unset ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41" ;;
        *) return 1 ;;
    esac
}
# pipe's cap for a level (native: none, whatever the caller's environment says).
pipe_env() { [ "$1" = native ] && echo "-u PIPE_SIMD -u PIPE_NO_AMX" || echo "-u PIPE_NO_AMX PIPE_SIMD=$1"; }
for level in $LEVELS; do
    torch_caps "$level" >/dev/null ||
        { echo "bench/run.sh: unknown level $level (native, amx, avx512, avx2, baseline)" >&2; exit 2; }
done
for model in $MODELS; do
    model_args "$model" >/dev/null || exit 2
done
for mode in $MODES; do
    case "$mode" in train | infer) ;; *) echo "bench/run.sh: unknown mode $mode (train, infer)" >&2; exit 2 ;; esac
done
for c in $SKIP; do
    case "$c" in pipe-fp32 | pipe-bf16 | pipe-int8 | torch-fp32 | torch-bf16) ;;
        *) echo "bench/run.sh: unknown column $c (pipe-fp32, pipe-bf16, pipe-int8, torch-fp32, torch-bf16)" >&2; exit 2 ;;
    esac
done
skipped() { [[ " $SKIP " == *" $1 "* ]]; }

OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
if [ -z "${HF_HOME:-}" ]; then
    [ -d "$ROOT/../shared/hf" ] || { echo "bench/run.sh: set HF_HOME to the Hugging Face cache" >&2; exit 2; }
    export HF_HOME="$ROOT/../shared/hf"
fi
export HF_HUB_OFFLINE=1 RAYON_NUM_THREADS=$THREADS
[ -x "$PIPE" ] || { echo "bench/run.sh: no pipe binary at $PIPE (cargo build --release)" >&2; exit 2; }
"$PY" -c 'import torch, transformers' 2>/dev/null ||
    { echo "bench/run.sh: $PY lacks torch or transformers (--python)" >&2; exit 2; }
mkdir -p "$OUT/runs" "$OUT/batches"

# The machine, the code and the software, in machine.txt and on the terminal.
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    lscpu | grep -E '^(Model name|Architecture|CPU\(s\)|Thread|Core|Socket|Hypervisor)' || true
    echo "Flags (SIMD): $(grep -m1 -oE '\b(avx2|fma|avx512f|avx512bw|avx512_vnni|avx512_bf16|avx_vnni|amx_bf16|amx_int8|asimd)\b' \
        <(grep -m1 -E '^(flags|Features)' /proc/cpuinfo) | tr '\n' ' ')"
    echo "pipe: $PIPE; source tree at commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src stages vendor || echo ' (modified)')"
    echo "python: $("$PY" -c 'import sys, torch, transformers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)')"
    echo "threads: $THREADS; repeats $REPEATS x $INNER; train $TRAIN_STEPS x 32, infer $INFER_STEPS x 128${SKIP:+; skipped: $SKIP}"
    echo "environment: $(env | grep -E '^(OMP|KMP|MKL|ATEN|ONEDNN|PIPE|CANDLE)_' | sort | tr '\n' ' ')"
    # Two OpenMP threads on two busy cores wait at every barrier for a descheduled peer:
    # PyTorch's training then runs several times slower, pipe's (rayon) far less so.
    if awk -v n="$(nproc)" '{ exit !($1 > 0.5 * n) }' /proc/loadavg; then
        echo "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: the machine is busy;" \
            "PyTorch's figures suffer more than pipe's, so the ratios are not to be quoted"
    fi
} | tee "$OUT/machine.txt"
lscpu >"$OUT/lscpu.txt"

INT8=0
if "$PIPE" bench --help | grep -q -- '--quantize'; then
    INT8=1
else
    echo "note: this pipe has no 'bench infer --quantize int8': the int8 column stays empty" | tee -a "$OUT/machine.txt"
fi

# One run: its JSON into $file, its stderr beside it; a failure stops the script.
run_pipe() { # level file args...
    local level=$1 file=$2
    shift 2
    # shellcheck disable=SC2046 # the settings are words
    env $(pipe_env "$level") "$PIPE" bench "$@" --json >"$file" 2>"$file.stderr" ||
        { echo "failed: pipe bench $*" >&2; cat "$file.stderr" >&2; exit 1; }
}
run_torch() { # level file script args...
    local level=$1 file=$2
    shift 2
    # shellcheck disable=SC2046
    env $(torch_caps "$level") "$PY" "$@" >"$file.out" 2>"$file.stderr" ||
        { echo "failed: $*" >&2; tail -5 "$file.stderr" >&2; exit 1; }
    sed -n 's/^RESULT //p' "$file.out" >"$file"
    rm "$file.out"
}

START=$SECONDS
for level in $LEVELS; do
    dir="$OUT/runs/$level"
    mkdir -p "$dir"
    echo "== $level: matrix-product peak, $PEAK_REPEATS x (pipe, PyTorch) x (fp32, bf16)"
    for r in $(seq 1 "$PEAK_REPEATS"); do
        for p in fp32 bf16; do
            skipped "pipe-$p" || run_pipe "$level" "$dir/peak-pipe-$p-r$r.json" peak --precision "$p"
            skipped "torch-$p" ||
                run_torch "$level" "$dir/peak-torch-$p-r$r.json" "$ROOT/bench/torch_peak.py" --dtype "$p" --threads "$THREADS"
        done
    done
    for model in $MODELS; do
        # shellcheck disable=SC2207
        margs=($(model_args "$model"))
        for mode in $MODES; do
            steps=$TRAIN_STEPS configs="pipe-fp32 pipe-bf16 torch-fp32 torch-bf16"
            if [ "$mode" = infer ]; then
                steps=$INFER_STEPS
                [ "$INT8" = 1 ] && configs="pipe-fp32 pipe-bf16 pipe-int8 torch-fp32 torch-bf16"
            fi
            kept=""
            for c in $configs; do skipped "$c" || kept="$kept $c"; done
            configs=${kept# }
            batches="$OUT/batches/$model-$mode.json"
            echo "== $level: $model $mode, $REPEATS x ($configs) [$((SECONDS - START)) s]"
            for r in $(seq 1 "$REPEATS"); do
                for c in $configs; do
                    f="$dir/$model-$mode-$c-r$r.json"
                    case "$c" in
                        pipe-*)
                            # The first run writes the batches; every later one must write the same.
                            dump=$batches
                            [ -f "$batches" ] && dump="$f.batches"
                            precision=${c#pipe-} quantize=()
                            [ "$precision" = int8 ] && precision=fp32 quantize=(--quantize int8)
                            run_pipe "$level" "$f" "$mode" "${margs[@]}" --precision "$precision" "${quantize[@]}" \
                                --steps "$steps" --repeats "$INNER" --dump-batches "$dump"
                            if [ "$dump" != "$batches" ]; then
                                cmp -s "$dump" "$batches" ||
                                    { echo "bench/run.sh: $c at $level dumped other batches than $batches" >&2; exit 1; }
                                rm "$dump"
                            fi
                            ;;
                        torch-*)
                            # Every step counts, as in pipe's timing (no waiting for an idle machine).
                            run_torch "$level" "$f" "$ROOT/bench/torch_train.py" --model "$(torch_model "$model")" \
                                --mode "$mode" --dtype "${c#torch-}" --threads "$THREADS" --repeats "$INNER" \
                                --clean-cores 1e9 --batches-file "$batches"
                            ;;
                    esac
                done
            done
        done
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - START)) s" | tee -a "$OUT/machine.txt"
python3 "$ROOT/bench/table.py" "$OUT"
echo "written: $OUT/table.md, $OUT/raw.tsv, $OUT/runs/"
