//! Row and label counts of a split, recorded the same way by every data stage.

use super::examples::Example;
use crate::Context;

/// Records `<split>_rows`, `<split>_label_0` and `<split>_label_1` (unlabelled rows count in neither).
pub fn record(ctx: &mut Context, split: &str, rows: &[Example]) {
    let with = |label| rows.iter().filter(|e| e.label == Some(label)).count();
    let (negative, positive) = (with(0), with(1));
    ctx.metric(&format!("{split}_rows"), rows.len());
    ctx.metric(&format!("{split}_label_0"), negative);
    ctx.metric(&format!("{split}_label_1"), positive);
}
