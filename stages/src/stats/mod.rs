//! The statistics behind every uncertainty `pipe` reports: bootstrap percentile
//! intervals, the Wilson interval, McNemar's exact test, mean ± sd over seeds and
//! the t-interval of that mean. Every stage that states an interval or a test computes it here.

pub mod bootstrap;
pub mod interval;
pub mod mcnemar;
pub mod spread;
pub mod student_t;
pub mod wilson;

pub use bootstrap::Bootstrap;
pub use interval::Interval;
pub use mcnemar::McNemar;
pub use spread::Spread;
