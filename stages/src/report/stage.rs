//! The `report` stage: one self-contained report.html (figures embedded) and a
//! report.md with the same tables, whose figures are copied beside it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::baseline::{self, Baseline};
use super::sections::{self, Options};
use super::{html, markdown};
use crate::{params, Context, Stage, StageError};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportParams {
    pub title: String,
    /// Rows of the error analysis table.
    pub max_errors: usize,
    /// Published numbers shown beside the summary's (default: the seed report's).
    #[serde(deserialize_with = "baseline::given")]
    pub compare_with: Baseline,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams { title: "SST-2 sentiment study".into(), max_errors: 20, compare_with: Baseline::default() }
    }
}

pub struct Report;

impl Stage for Report {
    fn kind(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> u32 {
        9
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        params::resolve::<ReportParams>(raw)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["sections", "figures"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: ReportParams = params::parse(&ctx.params)?;
        let options = Options { title: &p.title, seed: ctx.seed, max_errors: p.max_errors, baseline: &p.compare_with };
        let doc = sections::build(&ctx.inputs, &options);
        for figure in doc.figures() {
            let path = ctx.out_path(format!("figures/{}", figure.file))?;
            std::fs::write(&path, &figure.png).map_err(StageError::io(path))?;
        }
        let html_path = ctx.out_path("report.html")?;
        std::fs::write(&html_path, html::render(&doc)).map_err(StageError::io(html_path))?;
        let md_path = ctx.out_path("report.md")?;
        std::fs::write(&md_path, markdown::render(&doc)).map_err(StageError::io(md_path))?;
        ctx.metric("sections", doc.sections.len());
        // Distinct figures: the summary shows a section's chart again.
        ctx.metric("figures", doc.figures().map(|f| &f.file).collect::<std::collections::BTreeSet<_>>().len());
        Ok(())
    }
}
