use std::path::Path;

use serde_json::Value;

use crate::{Context, StageError};

/// A kind of stage (`uses: <kind>` in a pipeline file).
pub trait Stage: Send + Sync {
    /// The name written after `uses:`.
    fn kind(&self) -> &'static str;

    /// Code version, part of the stage key: bump it when the stage's output for
    /// the same inputs changes, so cached artifacts are not reused wrongly.
    fn version(&self) -> u32;

    /// Validates `with:` params and returns them with defaults filled in
    /// (usually `params::resolve::<MyParams>(raw)`). Unknown keys are errors.
    fn resolve(&self, raw: &Value) -> Result<Value, StageError>;

    /// Extra key material that is not in the params or upstream artifacts, such
    /// as the hashes of local files or hub files a stage reads. `workdir` is the
    /// directory of the pipeline file, against which relative paths resolve.
    fn fingerprint(&self, _params: &Value, _workdir: &Path) -> Result<Value, StageError> {
        Ok(Value::Null)
    }

    /// Workspace paths (relative to the pipeline file) the stage declares as outs: they are
    /// also in its artifact at the same relative path, and `pipe checkout` restores them.
    fn outs(&self, _params: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Metric names (keys of metrics.json) worth showing in the lock file and run table.
    fn headline(&self) -> &'static [&'static str] {
        &[]
    }

    /// Computes the artifact: reads `ctx.inputs`, writes files under `ctx.out_dir`,
    /// records metrics with `ctx.metric`.
    fn run(&self, ctx: &mut Context) -> Result<(), StageError>;
}
