//! Mean and sample standard deviation of a metric over seeds (Dodge et al.
//! 2020 report fine-tuning results this way: one seed is one draw).

use serde::{Deserialize, Serialize};

use super::interval::{Interval, LEVEL};
use super::student_t;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); `None` for one value.
    pub sd: Option<f64>,
    /// The values, in the order given (per seed).
    pub values: Vec<f64>,
}

impl Spread {
    /// `None` for no values.
    pub fn of(values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd =
            (values.len() > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Some(Spread { mean, sd, values })
    }

    /// The 95% t-interval of the mean, `mean ± t(n-1) · sd / √n`: how far the mean over
    /// these seeds may lie from the mean over all seeds. `None` for one value.
    pub fn mean_interval(&self) -> Option<Interval> {
        let sd = self.sd?;
        let n = self.values.len();
        let half = student_t::two_sided_quantile(LEVEL, n as u32 - 1) * sd / (n as f64).sqrt();
        Some([self.mean - half, self.mean + half])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        // 2, 4, 9: mean 5, squared deviations 9 + 1 + 16 = 26, / 2 = 13.
        let s = Spread::of(vec![2.0, 4.0, 9.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert!((s.sd.unwrap() - 13f64.sqrt()).abs() < 1e-15);
        assert_eq!(Spread::of(vec![0.5]).unwrap().sd, None);
        assert_eq!(Spread::of(vec![]), None);
    }

    #[test]
    fn t_interval_of_the_mean() {
        // Gains 0.46, 1.26, 0.69 pp: mean 0.8033, sd 0.4119, t(2) = 4.303,
        // half-width 4.303 · 0.4119 / √3 = 1.023: [-0.22, +1.83].
        let [lo, hi] = Spread::of(vec![0.46, 1.26, 0.69]).unwrap().mean_interval().unwrap();
        assert_eq!((format!("{lo:.2}"), format!("{hi:.2}")), ("-0.22".into(), "1.83".into()));
        // 2, 4, 9: 5 ± t(2) · √13 / √3 = 5 ± 4.303 · 2.082 = 5 ± 8.957.
        let [lo, hi] = Spread::of(vec![2.0, 4.0, 9.0]).unwrap().mean_interval().unwrap();
        assert!((lo - (5.0 - 8.956_8)).abs() < 1e-3 && (hi - (5.0 + 8.956_8)).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(Spread::of(vec![0.5]).unwrap().mean_interval(), None);
    }
}
