//! `precision: auto` (the train stage's default): the stage key, the run record and
//! `pipe status --why` carry the precision it resolves to on the machine, so a lock
//! file made where bf16 was chosen is stale, with the reason, on an AVX2 machine
//! (`PIPE_SIMD=avx2` stands in for one).

mod support;

use pipe_stages::simd::{self, Level};
use serde_json::Value;
use support::Test;

/// Tokenize and train on the tiny-bert fixture: the least a train stage needs.
const PIPELINE: &str = "name: p
seed: 7
params:
  model: pipe-fixtures/tiny-bert
stages:
  download: {uses: download, with: {dataset: stanfordnlp/sst2}}
  split: {uses: split, needs: [download], with: {train_dev_split: 0.1}}
  tokenize: {uses: tokenize, needs: [split], with: {model: \"${params.model}\", max_len: 32}}
  train:
    uses: train
    needs: [tokenize]
    with: {lr: 1.0e-3, epochs: 1, batch_size: 16, train_subset: 64}
";

/// `pipe ARGS` with the kernels capped at `level` (None: the host's own).
fn train_record(t: &Test) -> Value {
    let record = t.last_record();
    record["stages"].as_array().unwrap().iter().find(|s| s["instance"] == "train").expect("train recorded").clone()
}

#[test]
fn a_lock_made_with_bf16_is_stale_on_avx2_with_the_reason_and_auto_records_fp32_there() {
    let t = Test::new().pipeline(PIPELINE);
    // What an AMX machine's auto makes, pinned so that any host can make it (slowly, warned).
    t.run_at(Some("avx2"), &["run", "p.yaml", "--set", "train.precision=bf16"])
        .success()
        .stderr_has("warning: train: precision bf16: neither AMX-BF16 tiles nor AVX512-BF16 here");
    assert_eq!(train_record(&t)["params"]["precision"], "bf16");

    let why = t.run_at(Some("avx2"), &["status", "p.yaml", "--why"]).success();
    let train = why.stdout.lines().skip_while(|l| !l.ends_with("  train")).take(2).collect::<Vec<_>>();
    assert!(train[0].starts_with("stale"), "{}", why.stdout);
    assert_eq!(train[1].trim(), "- param `precision`: \"bf16\" -> \"fp32\"", "{}", why.stdout);

    // Where AMX tiles or AVX512-BF16 run (the host's own level, uncapped), auto is bf16: the same key.
    let native = simd::detected();
    if native == Level::Amx || (native == Level::Avx512 && simd::has_bf16_dot()) {
        t.run_at(None, &["status", "p.yaml"]).success().stdout_has("0 of 4 stage instance(s) stale");
    } else {
        println!("skipped the check of a fast bf16 level: this host's best is {native}, without AVX512-BF16");
    }

    // Auto on AVX2 trains in fp32, without a warning, and the record says so.
    let ran = t.run_at(Some("avx2"), &["run", "p.yaml"]).success();
    assert!(!ran.stderr.contains("warning"), "{}", ran.stderr);
    let train = train_record(&t);
    assert_eq!((train["status"].as_str(), train["params"]["precision"].as_str()), (Some("ran"), Some("fp32")));
    // A pinned fp32 has auto's key there: the key leaves fp32 out, as before the option existed.
    let pinned = t.run_at(Some("avx2"), &["status", "p.yaml", "--set", "train.precision=fp32"]).success();
    pinned.stdout_has(&format!("fresh  {}  train", &train["key"].as_str().unwrap()[..12]));
    let key = t.cache().join("objects").join(train["key"].as_str().unwrap()).join("key.json");
    let parts: Value = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    assert_eq!(parts["params"].get("precision"), None, "{parts}");
}

/// A cluster job plans at its submitter's level (`pipe job --planned-at`, which the
/// Slurm executor passes): on a node whose CPU resolves `auto` otherwise (here
/// `PIPE_SIMD=baseline` stands in for one), it computes the key the submitter
/// waits for, with the precision that key promises.
#[test]
fn a_job_on_another_cpu_computes_the_key_its_submitter_planned() {
    let t = Test::new().pipeline(PIPELINE);
    let native = simd::detected().name();
    t.run_at(None, &["run", "p.yaml"]).success();
    let key = train_record(&t)["key"].as_str().unwrap().to_string();
    let job = |planned: Option<&str>| {
        let mut args = vec!["job", "p.yaml", "train", "--force"];
        args.extend(planned.map(|level| ["--planned-at", level]).into_iter().flatten());
        t.run_at(Some("baseline"), &args)
    };
    job(Some(native))
        .success()
        .stderr_has(&format!("SIMD level baseline, planned at {native}"))
        .stderr_has(&format!("train computed: key {key}"));
    // Planned on the node itself, auto resolves there: another key where the host has AMX.
    let own = job(None).success().stderr_has("planned at baseline");
    if native == "amx" {
        assert!(!own.stderr.contains(&key), "{}", own.stderr);
    } else {
        println!("auto is fp32 at {native} and at baseline: the same key either way");
    }
    job(Some("sse")).code(2).stderr_has("no SIMD level `sse`; one of baseline, avx2, avx512, amx");
}
