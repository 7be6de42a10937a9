use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::{Context, StageError};

/// An upstream instance as the plan knows it before anything runs (for [`Stage::check`]).
pub struct Upstream<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub params: &'a Value,
    /// Its own and inherited matrix values.
    pub matrix: &'a BTreeMap<String, Value>,
}

/// A kind of stage (`uses: <kind>` in a pipeline file).
pub trait Stage: Send + Sync {
    /// The name written after `uses:`.
    fn kind(&self) -> &'static str;

    /// Code version, part of the stage key: bump it when the stage's output for
    /// the same inputs changes, so cached artifacts are not reused wrongly. The
    /// commit that bumps it says what changed (`git log -L` on the function).
    fn version(&self) -> u32;

    /// Validates `with:` params and returns them with defaults filled in
    /// (usually `params::resolve::<MyParams>(raw)`). Unknown keys are errors.
    fn resolve(&self, raw: &Value) -> Result<Value, StageError>;

    /// Params that `resolve` leaves out while they hold these values (an object
    /// of param: value), so that keys made before a param existed still match.
    /// People see them as if present (`Registry::shown`).
    fn implicit(&self) -> Value {
        Value::Null
    }

    /// Extra key material that is not in the params or upstream artifacts, such
    /// as the hashes of local files or hub files a stage reads. `workdir` is the
    /// directory of the pipeline file, against which relative paths resolve.
    fn fingerprint(&self, _params: &Value, _workdir: &Path) -> Result<Value, StageError> {
        Ok(Value::Null)
    }

    /// Finds before anything runs what `resolve` cannot: limits of the model the stage will
    /// load (read from the hub cache), values that must name an upstream variant. A
    /// [`StageError::Param`] stops the run before its first stage (exit 2); other errors
    /// (a model not fetched yet, say) are left for the stage to meet when it runs.
    fn check(&self, _params: &Value, _workdir: &Path, _upstream: &[Upstream]) -> Result<(), StageError> {
        Ok(())
    }

    /// Paths in the pipeline's directory the stage reads and writes (shell `deps` and
    /// `outs`), so the engine can check them before anything runs.
    fn workspace(&self, _params: &Value) -> Result<crate::workspace::Paths, StageError> {
        Ok(crate::workspace::Paths::default())
    }

    /// Metric names (keys of metrics.json) worth showing in the lock file and run table.
    fn headline(&self) -> &'static [&'static str] {
        &[]
    }

    /// Computes the artifact: reads `ctx.inputs`, writes files under `ctx.out_dir`,
    /// records metrics with `ctx.metric`.
    fn run(&self, ctx: &mut Context) -> Result<(), StageError>;
}
