//! Metrics as `pipe show` and `pipe diff` print them: four significant digits, and
//! a metric `x` with its 95% interval `x_ci` (written by the stage) on one line.
//! The interval is a stage's measurement; the engine only knows the naming.

use pipe_stages::numfmt::{format_value, interval_text};
use pipe_stages::stats::interval::{of_metric, Interval, CI_SUFFIX};
use serde_json::{Map, Value};

/// `x_ci` when `x` is also a metric: shown beside `x`, not on a line of its own.
pub fn is_interval_of_another(metrics: &Map<String, Value>, key: &str) -> bool {
    key.strip_suffix(CI_SUFFIX).is_some_and(|base| metrics.contains_key(base))
}

/// `0.8005 [0.7741, 0.8268]`, or the value alone when it has no interval.
pub fn with_interval(metrics: &Map<String, Value>, key: &str) -> String {
    let Some(value) = metrics.get(key) else {
        return "-".into();
    };
    value_text(value, of_metric(&Value::Object(metrics.clone()), key))
}

/// `0.8005 [0.7741, 0.8268]`: a value with 4 significant digits (an integer as it is), and
/// its interval when it has one.
pub fn value_text(value: &Value, ci: Option<Interval>) -> String {
    match ci {
        Some(ci) => format!("{} {}", format_value(value), interval_text(ci)),
        None => format_value(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_metric_and_its_interval_on_one_line() {
        let m = json!({"accuracy": 0.8004587155963303, "accuracy_ci": [0.7740825688, 0.8268348623], "n": 872, "x_ci": [1, 2]});
        let m = m.as_object().unwrap();
        assert_eq!(with_interval(m, "accuracy"), "0.8005 [0.7741, 0.8268]");
        assert_eq!(with_interval(m, "n"), "872");
        assert!(is_interval_of_another(m, "accuracy_ci") && !is_interval_of_another(m, "x_ci"));
    }
}
