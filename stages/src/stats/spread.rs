//! Mean and sample standard deviation of a metric over seeds (Dodge et al.
//! 2020 report fine-tuning results this way: one seed is one draw).

use serde::{Deserialize, Serialize};

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
}
