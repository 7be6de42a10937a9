//! Numbers formatted for reading (reports, tables, charts, `pipe show`, `pipe diff`): four
//! significant digits, percentages, and percentage points with two decimals. Files keep
//! full precision; only what a person reads is rounded, and always here.

use serde_json::Value;

use crate::stats::interval::Interval;

/// Significant digits of every number shown to a reader.
const DIGITS: i32 = 4;

/// `0.708994708994709` -> `0.7090`, `12.3456` -> `12.35`, `-2.645418663904664e-6` ->
/// `-2.645e-6`: plain notation from 0.001 up, scientific below; trailing zeros kept
/// (they say how precise the number is).
pub fn sig(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() < 1e-3 {
        return format!("{v:.prec$e}", prec = (DIGITS - 1) as usize);
    }
    let decimals = (DIGITS - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

/// [`sig`] with an explicit sign (`+0.3440`, `-1.950`); zero stays `0`.
pub fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", sig(v))
    } else {
        sig(v)
    }
}

/// A proportion as a percentage with four significant digits: `0.80045` -> `80.05%`.
pub fn percent(v: f64) -> String {
    format!("{}%", sig(100.0 * v))
}

/// An interval as `[lo, hi]`, each end with [`sig`].
pub fn interval_text([lo, hi]: Interval) -> String {
    format!("[{}, {}]", sig(lo), sig(hi))
}

/// A proportion's interval in percent: `[77.41, 82.68]%`.
pub fn percent_interval([lo, hi]: Interval) -> String {
    format!("[{}, {}]%", sig(100.0 * lo), sig(100.0 * hi))
}

/// A difference in percentage points, signed, with two decimals: finer than one test
/// sentence of SST-2 (0.11 pp), where four significant digits (`-0.04656`) claim more
/// than 872 sentences can say. Zero, or what rounds to it, is `0.00`.
pub fn pp(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let text = format!("{v:+.2}");
    match text.trim_start_matches(['+', '-']) {
        "0.00" => "0.00".into(),
        _ => text,
    }
}

/// A size in percentage points (a standard deviation, an interval's width): two decimals.
pub fn pp_size(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

/// An interval of differences in percentage points: `[-0.80, +1.72]`.
pub fn pp_interval([lo, hi]: Interval) -> String {
    format!("[{}, {}]", pp(lo), pp(hi))
}

/// `n` and the noun for that many: `count(1, "thread", "threads")` -> `1 thread`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A metric or cell value for display: integers as they are, other numbers with
/// four significant digits (scientific below 0.001), an array (an interval, per-epoch
/// seconds, a confusion matrix) element by element, strings bare, anything else as compact JSON.
pub fn format_value(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(format_value).collect::<Vec<_>>().join(", ")),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), sig),
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_noun_for_their_number() {
        assert_eq!(count(1, "thread", "threads"), "1 thread");
        assert_eq!(count(2, "thread", "threads"), "2 threads");
        assert_eq!(count(0, "batch", "batches"), "0 batches");
    }

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig(0.708994708994709), "0.7090");
        assert_eq!(sig(-2.645418663904664e-6), "-2.645e-6");
        assert_eq!(sig(12.3456), "12.35");
        assert_eq!(sig(1234.56), "1235");
        assert_eq!(sig(0.001), "0.001000");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(f64::NAN), "—");
        assert_eq!(signed(0.344), "+0.3440");
        assert_eq!(signed(-1.95), "-1.950");
        assert_eq!(percent(0.8004587155963303), "80.05%");
        assert_eq!(interval_text([0.77408, 0.82683]), "[0.7741, 0.8268]");
        assert_eq!(percent_interval([0.77408, 0.82683]), "[77.41, 82.68]%");
    }

    #[test]
    fn percentage_points_take_two_decimals_and_a_sign() {
        assert_eq!(pp(0.4587155963302), "+0.46");
        assert_eq!(pp(-0.04656), "-0.05");
        assert_eq!(pp(-0.004), "0.00");
        assert_eq!(pp(0.0), "0.00");
        assert_eq!(pp(f64::NAN), "—");
        assert_eq!(pp_size(0.8658), "0.87");
        assert_eq!(pp_interval([-0.8027522935779816, 1.7201834862385]), "[-0.80, +1.72]");
        assert_eq!(pp_interval([0.0, 2.5229357798]), "[0.00, +2.52]");
    }

    #[test]
    fn arrays_element_by_element() {
        // One epoch's seconds printed as JSON beside two epochs' rounded ones in `pipe diff`.
        assert_eq!(format_value(&serde_json::json!([158.735285973])), "[158.7]");
        assert_eq!(format_value(&serde_json::json!([0.77408, 0.82683])), "[0.7741, 0.8268]");
        assert_eq!(format_value(&serde_json::json!([[347, 81], [93, 351]])), "[[347, 81], [93, 351]]");
    }
}
