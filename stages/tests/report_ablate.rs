//! The ablate stage on hand-made evaluate/calibrate/train artifacts of a 2x2 matrix.

use std::collections::BTreeMap;
use std::path::Path;

use pipe_stages::testkit::{run_stage, write_predictions};
use pipe_stages::Input;
use serde_json::{json, Value};

fn input(kind: &str, pooling: &str, dropout: f64, metrics: Value, dir: &Path) -> Input {
    let matrix = BTreeMap::from([("dropout".to_string(), json!(dropout)), ("pooling".to_string(), json!(pooling))]);
    let instance = format!("{kind}[dropout={},pooling={pooling}]", json!(dropout));
    Input {
        stage: kind.into(),
        kind: kind.into(),
        dir: dir.join(&instance),
        instance,
        matrix,
        params: json!({}),
        metrics,
    }
}

/// Four variants on 872 test sentences: cls/0.0 is one example better than the
/// reference cls/0.1 (right on the first 787 where the reference is right on the first
/// 786), mean/0.1 ties with the reference (one gained, one lost), mean/0.0 is six worse.
fn variants(dir: &Path) -> Vec<Input> {
    let mut inputs = Vec::new();
    for (pooling, dropout, right, f1, ece, dev_loss) in [
        ("cls", 0.1, 0..786, 0.9042, 0.0594, 0.251),
        ("cls", 0.0, 0..787, 0.9050, 0.0610, 0.262),
        ("mean", 0.1, 1..787, 0.9031, 0.0402, 0.248),
        ("mean", 0.0, 0..780, 0.8990, 0.0711, 0.270),
    ] {
        let accuracy = right.len() as f64 / 872.0;
        let e = input("evaluate", pooling, dropout, json!({"accuracy": accuracy, "f1": f1, "n": 872}), dir);
        write_predictions(&e.dir, &(0..872).map(|i| right.contains(&i)).collect::<Vec<_>>());
        inputs.push(e);
        inputs.push(input("calibrate", pooling, dropout, json!({"ece": ece, "ece_scaled": 0.02}), dir));
        let train = input("train", pooling, dropout, json!({"best_dev_loss": dev_loss, "model": "org/tiny"}), dir);
        // As resolved: the matrix values vary, fp32 is left out, the model came from tokenize.
        let params = json!({"model": null, "lr": 2e-5, "epochs": 3, "pooling": pooling, "dropout": dropout});
        inputs.push(Input { params, ..train });
    }
    inputs
}

fn reference() -> Value {
    json!({"reference": {"pooling": "cls", "dropout": 0.1}})
}

#[test]
fn summary_ranks_variants_shows_the_tie_and_deltas_against_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ablate");
    let ran = run_stage("ablate", reference(), variants(tmp.path()), &out, 42).unwrap();

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ablation_summary.json")).unwrap()).unwrap();
    let rows = summary["rows"].as_array().unwrap();
    let order: Vec<(&str, u64, bool, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["matrix"]["pooling"].as_str().unwrap(),
                r["rank"].as_u64().unwrap(),
                r["tied"].as_bool().unwrap(),
                r["reference"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [("cls", 1, false, false), ("cls", 2, true, true), ("mean", 2, true, false), ("mean", 4, false, false)]
    );
    assert_eq!(rows[0]["matrix"]["dropout"], json!(0.0));
    let delta = |i: usize| rows[i]["delta_accuracy_pp"].as_f64().unwrap();
    assert!((delta(0) - 100.0 / 872.0).abs() < 1e-9, "one example better: {}", delta(0));
    assert_eq!(delta(1), 0.0);
    assert_eq!(delta(2), 0.0, "the tie with the reference");
    assert!((delta(3) + 600.0 / 872.0).abs() < 1e-9);
    assert!((rows[3]["delta_f1_pp"].as_f64().unwrap() - (0.8990 - 0.9042) * 100.0).abs() < 1e-9);
    assert_eq!(rows[2]["ece"], json!(0.0402), "ECE comes from the calibrate artifact of the same variant");
    assert_eq!(rows[3]["dev_loss"], json!(0.270), "dev loss comes from the train artifact of the same variant");
    assert_eq!(rows[1]["correct"], json!(786));
    // McNemar on the discordant sentences: b = only the reference right, c = only the variant.
    let test = |i: usize| {
        (
            rows[i]["mcnemar"]["b"].as_u64().unwrap(),
            rows[i]["mcnemar"]["c"].as_u64().unwrap(),
            rows[i]["mcnemar"]["p_value"].as_f64().unwrap(),
        )
    };
    assert_eq!(test(0), (0, 1, 1.0));
    assert_eq!(test(2), (1, 1, 1.0));
    // b = 6, c = 0: p = 2 * 0.5^6 = 0.03125 < 0.05, so worse; the others show no detectable difference.
    let (b, c, p) = test(3);
    assert!((b, c) == (6, 0) && (p - 0.03125).abs() < 1e-12, "{:?}", test(3));
    assert_eq!(rows[3]["verdict"], "worse");
    assert_eq!(rows[0]["verdict"], "no_detectable_difference");
    assert_eq!(rows[1]["mcnemar"], Value::Null, "the reference is not tested against itself");
    let ci = |i: usize| [rows[i]["delta_ci_pp"][0].as_f64().unwrap(), rows[i]["delta_ci_pp"][1].as_f64().unwrap()];
    assert!(ci(3)[1] < 0.0 && ci(3)[0] >= -1.5, "six sentences lost, never gained: {:?}", ci(3));
    assert!(ci(2)[0] < 0.0 && ci(2)[1] > 0.0, "the tie's interval holds 0: {:?}", ci(2));

    let md = std::fs::read_to_string(out.join("ablation_summary.md")).unwrap();
    assert!(md.contains("| 2 (tie) ref | 0.1 | cls | 90.14% | — | 786/872 | 0.00 | — | — | — | reference |"), "{md}");
    assert!(md.contains("| 2 (tie) | 0.1 | mean |"), "{md}");
    assert!(md.contains("| 1 | 0.0 | cls | 90.25% | — | 787/872 | +0.11 |"), "{md}");
    assert!(
        md.contains("Every variant trained with: epochs 3, lr 0.00002, model org/tiny, precision fp32.\n"),
        "the recipe holds what no variant changed, as trained: {md}"
    );
    assert_eq!(summary["recipe"]["precision"], "fp32");
    assert!(md.contains("| 6 / 0 | 0.03125 | worse |"), "{md}");
    assert!(md.contains("100/872 = 0.1147 pp"), "footer states what one example is worth: {md}");
    assert!(!md.contains("Over seeds"), "no seed axis, no aggregate table: {md}");

    let csv = std::fs::read_to_string(out.join("ablation_summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("instance,dropout,pooling,accuracy,accuracy_ci_lo,accuracy_ci_hi,correct,n,f1,ece,dev_loss,delta_accuracy_pp,delta_ci_lo_pp,delta_ci_hi_pp,mcnemar_b,mcnemar_c,mcnemar_p,verdict,"), "{csv}");
    assert!(
        lines[2].starts_with("\"evaluate[dropout=0.1,pooling=cls]\",0.1,cls,0.9013761467889908,,,786,872,"),
        "{csv}"
    );
    assert!(lines[2].ends_with(",reference,0,2,true,true"), "{csv}");

    let png = std::fs::read(out.join("ablation.png")).expect("ablation.png is written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(ran.metrics["variants"], json!(4));
    assert_eq!(ran.metrics["tied_variants"], json!(2));
    assert_eq!(ran.metrics["best_accuracy"], json!(787.0 / 872.0));
    assert_eq!(ran.metrics["worse_variants"], json!(1));
    assert_eq!(ran.metrics["better_variants"], json!(0));

    // Same inputs, same bytes.
    let again = tmp.path().join("again");
    run_stage("ablate", reference(), variants(tmp.path()), &again, 42).unwrap();
    for name in ["ablation_summary.json", "ablation_summary.csv", "ablation_summary.md", "ablation.png"] {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), std::fs::read(again.join(name)).unwrap(), "{name}");
    }
}

#[test]
fn without_calibrate_and_train_the_optional_columns_are_dashes() {
    let tmp = tempfile::tempdir().unwrap();
    let evaluate_only: Vec<Input> = variants(tmp.path()).into_iter().filter(|i| i.kind == "evaluate").collect();
    let out = tmp.path().join("ablate");
    run_stage("ablate", reference(), evaluate_only, &out, 42).unwrap();
    let md = std::fs::read_to_string(out.join("ablation_summary.md")).unwrap();
    assert!(md.contains("| reference | 0.9042 | — | — |"), "{md}");
}

#[test]
fn a_reference_that_matches_no_variant_is_a_param_error_listing_the_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let err =
        run_stage("ablate", json!({"reference": {"pooling": "max"}}), variants(tmp.path()), &tmp.path().join("a"), 42)
            .err()
            .expect("the stage must fail");
    assert!(err.is_config(), "{err}");
    let text = err.to_string();
    assert!(text.contains("pooling=max") && text.contains("evaluate[dropout=0.0,pooling=mean]"), "{text}");
    let err =
        run_stage("ablate", json!({"reference": {"pooling": "cls"}}), variants(tmp.path()), &tmp.path().join("b"), 42)
            .err()
            .expect("the stage must fail");
    assert!(err.to_string().contains("several variants"), "{err}");
}

#[test]
fn a_missing_metric_names_the_upstream_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = vec![input("evaluate", "cls", 0.1, json!({"accuracy": 0.9, "n": 872}), tmp.path())];
    write_predictions(&inputs[0].dir, &[true; 872]);
    let err = run_stage("ablate", reference(), inputs, &tmp.path().join("a"), 42).err().expect("the stage must fail");
    let text = err.to_string();
    assert!(text.contains("`f1`") && text.contains("evaluate[dropout=0.1,pooling=cls]"), "{text}");
}

#[test]
fn a_seed_axis_pairs_each_seed_with_the_reference_of_that_seed_and_aggregates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    // Reference right on 786 and 790; mean on 780 and 788 of the same sentences: -6 and -2.
    for (pooling, seed, right) in [("cls", 1, 786), ("cls", 2, 790), ("mean", 1, 780), ("mean", 2, 788)] {
        let mut e =
            input("evaluate", pooling, 0.1, json!({"accuracy": right as f64 / 872.0, "f1": 0.9, "n": 872}), tmp.path());
        e.matrix.insert("seed".into(), json!(seed));
        e.instance = format!("evaluate[dropout=0.1,pooling={pooling},seed={seed}]");
        e.dir = tmp.path().join(&e.instance);
        write_predictions(&e.dir, &(0..872).map(|i| i < right).collect::<Vec<_>>());
        inputs.push(e);
    }
    let out = tmp.path().join("ablate");
    let ran = run_stage("ablate", reference(), inputs, &out, 42).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ablation_summary.json")).unwrap()).unwrap();
    let mean = summary["aggregates"].as_array().unwrap().iter().find(|a| a["matrix"]["pooling"] == "mean").unwrap();
    assert_eq!(mean["seeds"], json!([1, 2]));
    let pp = |k: i32| 100.0 * f64::from(k) / 872.0;
    let deltas: Vec<f64> =
        mean["delta_accuracy_pp"]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((deltas[0] - pp(-6)).abs() < 1e-9 && (deltas[1] - pp(-2)).abs() < 1e-9, "{deltas:?}");
    assert!((mean["delta_accuracy_pp"]["mean"].as_f64().unwrap() - pp(-4)).abs() < 1e-9);
    // The seed-averaged difference only ever loses sentences and both seeds lose, but two seeds
    // say little of a third: t(1) = 12.71, so -4 ± 12.71 · sd(-6, -2) / √2 sentences holds 0.
    let seed_ci: Vec<f64> = mean["seed_ci_pp"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let half = 12.706_204_736 * (8f64).sqrt() / 2f64.sqrt();
    assert!((seed_ci[0] - pp(-4) + pp(1) * half).abs() < 1e-6 && (seed_ci[1] - pp(-4) - pp(1) * half).abs() < 1e-6);
    assert!(mean["delta_ci_pp"][1].as_f64().unwrap() < 0.0, "clear of 0 over sentences: {mean}");
    assert_eq!(mean["verdict"], "not_separated_from_seed_variation");
    assert_eq!(ran.metrics["seeds"], json!(2));
    assert_eq!(ran.metrics["configurations"], json!(2));
    let md = std::fs::read_to_string(out.join("ablation_summary.md")).unwrap();
    assert!(md.contains("## Over seeds") && md.contains("| 1, 2 |"), "{md}");
    assert!(md.contains("| Δ 95% CI over sentences (pp) | Δ 95% CI over seeds (pp) |"), "{md}");
    assert!(md.contains("not separated from seed-to-seed variation"), "{md}");
    assert!(md.contains("90.14%, 90.60%"), "per-seed accuracies of the reference: {md}");
}
