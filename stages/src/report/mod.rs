//! Gathering stages that summarise a study: `ablate` (a table and chart over the
//! variants of a matrix) and `report` (report.html and report.md).

pub mod ablate;
pub mod ablation;
mod ablation_chart;
pub mod artifacts;
pub mod baseline;
pub mod document;
mod figures;
pub mod html;
pub mod markdown;
pub mod sections;
pub mod stage;
mod summary;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(ablate::Ablate));
    r.add(Box::new(stage::Report));
}
