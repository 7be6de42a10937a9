//! Temperature scaling (Guo et al., 2017): one T > 0 dividing every logit, fitted
//! on dev by minimising the NLL. The NLL is convex in 1/T, hence unimodal in
//! ln T, so a golden-section search over ln T finds the global minimum.

use super::calibration::nll;
use super::scores::Scored;

/// Search interval for ln T: T in [e^-5, e^5] ~ [0.0067, 148], far beyond the
/// temperatures of real classifiers (about 0.5 to 5).
const LN_T_RANGE: (f64, f64) = (-5.0, 5.0);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub temperature: f64,
    /// NLL on the fitting set at T = 1 and at the fitted T.
    pub nll_before: f64,
    pub nll_after: f64,
    /// True when the optimum lies at an end of the search interval (e.g. dev perfectly
    /// separated, where the NLL keeps falling as T -> 0): T is then a bound, not a minimum.
    pub at_bound: bool,
}

/// Fits T on `scored` to a tolerance of `tol` in ln T (relative tolerance in T).
/// `None` when there is nothing to fit on.
pub fn fit(scored: &[Scored], tol: f64) -> Option<Fit> {
    let loss = |ln_t: f64| {
        let t = ln_t.exp();
        nll(&scored.iter().map(|s| s.with_temperature(t)).collect::<Vec<_>>())
    };
    let nll_before = loss(0.0)?;
    let ln_t = golden_section(|x| loss(x).unwrap_or(f64::INFINITY), LN_T_RANGE, tol);
    let nll_after = loss(ln_t)?;
    let at_bound = (ln_t - LN_T_RANGE.0).abs() < 2.0 * tol || (LN_T_RANGE.1 - ln_t).abs() < 2.0 * tol;
    Some(Fit { temperature: ln_t.exp(), nll_before, nll_after, at_bound })
}

/// Minimum of a unimodal `f` on `[a, b]`, to within `tol`.
fn golden_section(f: impl Fn(f64) -> f64, (mut a, mut b): (f64, f64), tol: f64) -> f64 {
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > tol {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}
