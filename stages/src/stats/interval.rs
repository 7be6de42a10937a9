//! A two-sided 95% interval `[lo, hi]`, and how metrics.json names it: the
//! interval of metric `x` is `x_ci`, next to the point value.

/// `[lo, hi]`, serialised as a two-element JSON array.
pub type Interval = [f64; 2];

/// Coverage of every interval `pipe` reports.
pub const LEVEL: f64 = 0.95;

/// The standard normal quantile for a two-sided 95% interval, Φ⁻¹(0.975).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Suffix of a metric's interval in metrics.json (`accuracy` -> `accuracy_ci`).
pub const CI_SUFFIX: &str = "_ci";

/// The metrics.json key of the interval of `metric`.
pub fn ci_key(metric: &str) -> String {
    format!("{metric}{CI_SUFFIX}")
}

/// A two-number JSON array read as an interval.
pub fn from_json(value: &serde_json::Value) -> Option<Interval> {
    match value.as_array()?.as_slice() {
        [lo, hi] => Some([lo.as_f64()?, hi.as_f64()?]),
        _ => None,
    }
}

/// The interval metrics.json holds for `metric` (under `<metric>_ci`), if any.
pub fn of_metric(metrics: &serde_json::Value, metric: &str) -> Option<Interval> {
    metrics.get(ci_key(metric)).and_then(from_json)
}

/// True when `interval` contains `value` (ends included).
pub fn contains(interval: Interval, value: f64) -> bool {
    interval[0] <= value && value <= interval[1]
}
