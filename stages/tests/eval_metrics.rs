//! Metrics, calibration and temperature scaling against hand-computed values.

use pipe_stages::eval::calibration::{brier, calibration, ece, mce, nll, reliability_bins};
use pipe_stages::eval::metrics::{Confusion, Metrics};
use pipe_stages::eval::scores::Scored;
use pipe_stages::eval::temperature;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

fn metrics(labels: &[u8], preds: &[u8]) -> Option<Metrics> {
    Metrics::of(Confusion::of(labels.iter().copied().zip(preds.iter().copied())))
}

#[test]
fn accuracy_precision_recall_f1_and_confusion() {
    // tp = 3, fn = 1, fp = 2, tn = 0
    let m = metrics(&[1, 1, 1, 1, 0, 0], &[1, 1, 1, 0, 1, 1]).unwrap();
    assert_eq!(m.confusion.matrix(), [[0, 2], [1, 3]]);
    assert_eq!(serde_json::to_value(m.confusion).unwrap(), serde_json::json!([[0, 2], [1, 3]]));
    assert_eq!(m.n, 6);
    close(m.accuracy, 0.5);
    close(m.precision, 0.6);
    close(m.recall, 0.75);
    close(m.f1, 2.0 / 3.0); // 2 * 0.6 * 0.75 / 1.35
                            // negative class: precision 0/1, recall 0/2 -> F1 0; macro = (0 + 2/3) / 2
    close(m.macro_f1, 1.0 / 3.0);
    assert!(!m.single_class());
    let neg = m.confusion.class(0);
    assert_eq!((neg.precision, neg.recall, neg.f1, neg.support), (0.0, 0.0, 0.0, 2));
}

#[test]
fn single_class_and_empty_sets() {
    // only positives: tp = 2, fn = 1; the negative class has no support
    let m = metrics(&[1, 1, 1], &[1, 0, 1]).unwrap();
    assert!(m.single_class());
    close(m.precision, 1.0);
    close(m.recall, 2.0 / 3.0);
    close(m.f1, 0.8);
    close(m.macro_f1, 0.4);
    assert!(serde_json::to_string(&m).unwrap().find("NaN").is_none());
    // nothing predicted positive: precision 0 by convention, not NaN
    let m = metrics(&[1, 0], &[0, 0]).unwrap();
    assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
    assert_eq!(metrics(&[], &[]), None);
}

/// p_positive 0.75 (correct), 0.75 (wrong), 0.1 (correct: confidence 0.9), 0.5 (tie -> negative, wrong).
fn four() -> Vec<Scored> {
    let l3 = 3f64.ln();
    vec![
        Scored { logits: [0.0, l3], label: 1 },
        Scored { logits: [0.0, l3], label: 0 },
        Scored { logits: [9f64.ln(), 0.0], label: 0 },
        Scored { logits: [0.0, 0.0], label: 1 },
    ]
}

#[test]
fn probabilities_predictions_and_confidence() {
    let s = four();
    close(s[0].p_positive(), 0.75);
    close(s[2].confidence(), 0.9);
    assert_eq!(s.iter().map(Scored::pred).collect::<Vec<_>>(), vec![1, 1, 0, 0]);
    assert_eq!(s.iter().map(Scored::correct).collect::<Vec<_>>(), vec![true, false, true, false]);
}

#[test]
fn brier_nll_ece_mce_with_empty_bins() {
    let s = four();
    // (0.25^2 + 0.75^2 + 0.1^2 + 0.5^2) / 4
    close(brier(&s).unwrap(), (0.0625 + 0.5625 + 0.01 + 0.25) / 4.0);
    close(nll(&s).unwrap(), -(0.75f64.ln() + 0.25f64.ln() + 0.9f64.ln() + 0.5f64.ln()) / 4.0);
    // 5 bins: (0.4,0.6] {0.5 wrong}, (0.6,0.8] {0.75 right, 0.75 wrong}, (0.8,1] {0.9 right}; bins 0 and 1 empty
    let bins = reliability_bins(&s, 5);
    assert_eq!(bins.iter().map(|b| b.count).collect::<Vec<_>>(), vec![0, 0, 1, 2, 1]);
    assert_eq!((bins[0].accuracy, bins[0].confidence), (None, None));
    close(bins[3].accuracy.unwrap(), 0.5);
    close(bins[3].confidence.unwrap(), 0.75);
    close(bins[4].lower, 0.8);
    // (1 * 0.5 + 2 * 0.25 + 1 * 0.1) / 4
    close(ece(&bins).unwrap(), 0.275);
    close(mce(&bins).unwrap(), 0.5);
    let json = serde_json::to_string(&calibration(&s, 15)).unwrap();
    assert!(!json.contains("NaN") && json.contains("null"), "{json}");
}

#[test]
fn probabilities_of_exactly_zero_and_one_stay_finite() {
    let s = vec![Scored { logits: [1000.0, -1000.0], label: 1 }, Scored { logits: [1000.0, -1000.0], label: 0 }];
    assert_eq!(s[0].p_positive(), 0.0);
    assert_eq!(s[0].confidence(), 1.0);
    close(brier(&s).unwrap(), 0.5);
    close(nll(&s).unwrap(), 1000.0); // (2000 + 0) / 2, from log-softmax, not ln(0)
    let bins = reliability_bins(&s, 15);
    assert_eq!(bins[14].count, 2, "confidence 1.0 belongs to the last bin");
    close(ece(&bins).unwrap(), 0.5);
}

#[test]
fn empty_sets_have_no_metrics() {
    let c = calibration(&[], 15);
    assert_eq!((c.n, c.brier, c.ece, c.mce, c.nll), (0, None, None, None, None));
    assert!(temperature::fit(&[], 1e-4).is_none());
}

#[test]
fn temperature_scaling_finds_the_known_optimum() {
    // Margin 2 for all four, three right: NLL(T) is minimal where sigmoid(2/T) = 3/4,
    // i.e. T = 2 / ln 3, and the NLL there is the entropy of (3/4, 1/4).
    let mut s = vec![Scored { logits: [2.0, 0.0], label: 0 }; 3];
    s.push(Scored { logits: [2.0, 0.0], label: 1 });
    let fit = temperature::fit(&s, 1e-4).unwrap();
    let t = 2.0 / 3f64.ln();
    assert!((fit.temperature - t).abs() / t < 2e-4, "T = {} (expected {t})", fit.temperature);
    assert!((fit.nll_after - -(0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln())).abs() < 1e-8);
    close(fit.nll_before, nll(&s).unwrap());
    assert!(fit.nll_after < fit.nll_before && !fit.at_bound);

    // perfectly separated: the NLL falls as T -> 0, and the fit says it stopped at the bound
    let separated = vec![Scored { logits: [2.0, 0.0], label: 0 }, Scored { logits: [0.0, 2.0], label: 1 }];
    let fit = temperature::fit(&separated, 1e-4).unwrap();
    assert!(fit.at_bound && fit.temperature < 0.01, "{fit:?}");
}
