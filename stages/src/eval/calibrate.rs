//! The `calibrate` stage: Brier, ECE, MCE and NLL of the test predictions, before
//! and after temperature scaling fitted on dev, with reliability diagrams.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::calibration::{brier, calibration, ece, reliability_bins, Calibration};
use super::logits::Logits;
use super::scores::Scored;
use super::temperature;
use crate::json;
use crate::stats::bootstrap::{Bootstrap, Statistic};
use crate::stats::interval::ci_key;
use crate::{params, plot, Context, Stage, StageError};

/// Tolerance of the temperature fit, in ln T (relative tolerance in T).
const FIT_TOLERANCE: f64 = 1e-4;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrateParams {
    /// Number of equal-width confidence bins for ECE, MCE and the diagrams.
    pub bins: usize,
}

impl Default for CalibrateParams {
    fn default() -> Self {
        CalibrateParams { bins: 15 }
    }
}

pub struct Calibrate;

const METRICS: [&str; 4] = ["brier", "ece", "mce", "nll"];

impl Stage for Calibrate {
    fn kind(&self) -> &'static str {
        "calibrate"
    }

    fn version(&self) -> u32 {
        5
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<CalibrateParams>(raw)?;
        if params::parse::<CalibrateParams>(&resolved)?.bins == 0 {
            return Err(StageError::param("bins", "must be at least 1"));
        }
        Ok(resolved)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["ece", "ece_scaled", "brier", "temperature"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: CalibrateParams = params::parse(&ctx.params)?;
        let source = ctx.input("evaluate")?.dir.join("logits.json");
        let logits = Logits::read(&source)?;
        let (test, dev) = (logits.test_scored(), logits.dev_scored());
        if test.is_empty() {
            return Err(StageError::Input(format!("{}: no test logits to calibrate", source.display())));
        }
        let fit = temperature::fit(&dev, FIT_TOLERANCE).ok_or_else(|| {
            StageError::Input(format!("{}: no dev logits to fit the temperature on", source.display()))
        })?;
        let t = fit.temperature;
        if fit.at_bound {
            eprintln!("warning: calibrate: the dev NLL is lowest at the end of the search range (T = {t:.4}); dev is probably separable");
        }
        let scale = |s: &[Scored]| s.iter().map(|s| s.with_temperature(t)).collect::<Vec<_>>();
        let before = calibration(&test, p.bins);
        let scaled = scale(&test);
        let after = calibration(&scaled, p.bins);
        // The same resampled test sets as evaluate's intervals (same seed and purpose); T stays
        // as fitted on dev, so the intervals are those of the test sample alone.
        let pairs: Vec<(Scored, Scored)> = test.iter().copied().zip(scaled.iter().copied()).collect();
        let bins = p.bins;
        let brier_of = |pick: fn(&(Scored, Scored)) -> Scored| {
            move |sample: &[(Scored, Scored)]| brier(&sample.iter().map(pick).collect::<Vec<_>>())
        };
        let ece_of = |pick: fn(&(Scored, Scored)) -> Scored| {
            move |sample: &[(Scored, Scored)]| {
                ece(&reliability_bins(&sample.iter().map(pick).collect::<Vec<_>>(), bins))
            }
        };
        let (brier_before, ece_before, brier_after, ece_after) =
            (brier_of(|p| p.0), ece_of(|p| p.0), brier_of(|p| p.1), ece_of(|p| p.1));
        let statistics: [Statistic<(Scored, Scored)>; 4] = [&brier_before, &ece_before, &brier_after, &ece_after];
        let intervals = Bootstrap::new(ctx.seed, "test").intervals(&pairs, statistics);
        let interval_names = ["brier", "ece", "brier_scaled", "ece_scaled"];

        let report = json!({
            "definitions": {
                "brier": "mean over examples of (p_positive - y)^2, y in {0, 1}",
                "ece": "sum over equal-width confidence bins (b/B, (b+1)/B] of n_b/N * |accuracy_b - mean confidence_b|; confidence = max probability",
                "mce": "max over non-empty bins of |accuracy_b - mean confidence_b|",
                "nll": "mean of -ln p(true label), from logits by log-softmax",
                "temperature": "T > 0 minimising the dev NLL of softmax(logits / T), golden-section search on ln T to 1e-4",
            },
            "bins": p.bins,
            "temperature": t,
            "fit": {"split": "dev", "n": dev.len(), "nll_before": fit.nll_before, "nll_after": fit.nll_after, "at_bound": fit.at_bound},
            "test": {"before": before, "after": after},
            "intervals": {
                "method": "95% bootstrap percentile intervals on the test split: 1,000 resamples with replacement drawn from the stage seed (the resamples of evaluate's intervals), T fixed as fitted on dev",
                "brier": intervals[0], "ece": intervals[1], "brier_scaled": intervals[2], "ece_scaled": intervals[3],
            },
            "dev": {"before": calibration(&dev, p.bins), "after": calibration(&scale(&dev), p.bins)},
        });
        json::write(&ctx.out_path("calibration.json")?, &report)?;
        json::write(&ctx.out_path("temperature.json")?, &json!({"temperature": t}))?;
        plot::reliability_diagram(
            &ctx.out_path("reliability.png")?,
            &title("Reliability, test", &before),
            &before.bins,
        )?;
        let scaled_title = title(&format!("Reliability, test, temperature {t:.3}"), &after);
        plot::reliability_diagram(&ctx.out_path("reliability_scaled.png")?, &scaled_title, &after.bins)?;

        for (suffix, c) in [("", &before), ("_scaled", &after)] {
            let values = [c.brier, c.ece, c.mce, c.nll];
            for (name, value) in METRICS.iter().zip(values) {
                ctx.metric(&format!("{name}{suffix}"), value);
            }
        }
        for (name, ci) in interval_names.iter().zip(intervals) {
            ctx.metric(&ci_key(name), json!(ci));
        }
        ctx.metric("temperature", t);
        ctx.metric("n", test.len());
        Ok(())
    }
}

fn title(prefix: &str, c: &Calibration) -> String {
    let ece = c.ece.map_or("n/a".to_string(), |e| format!("{e:.4}"));
    format!("{prefix}: ECE {ece}, n = {}", c.n)
}
