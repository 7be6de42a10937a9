//! `download`: a dataset from the hub (cache first) or local files, turned into
//! one canonical JSONL file per source split (`train`, `validation`, `test`).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::columns::{self, Columns};
use super::examples::{self, Example};
use super::hub::HubRepo;
use super::source::{self, Paths, SourceFile, SourceSplit};
use super::{counts, table};
use crate::{params, Context, Stage, StageError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadParams {
    /// Hub dataset id (`stanfordnlp/sst2`); exclusive with `source`.
    pub dataset: Option<String>,
    /// Branch, tag or commit of `dataset`.
    pub revision: String,
    /// Local file(s) or directory(ies), relative to the pipeline file.
    pub source: Option<Paths>,
    pub text_column: String,
    pub label_column: String,
}

impl Default for DownloadParams {
    fn default() -> Self {
        DownloadParams {
            dataset: None,
            revision: "main".into(),
            source: None,
            text_column: "sentence".into(),
            label_column: "label".into(),
        }
    }
}

/// Where the data comes from, once the params are checked.
enum Origin {
    Hub(HubRepo),
    Local(Paths),
}

impl Origin {
    fn of(value: &Value) -> Result<(DownloadParams, Origin), StageError> {
        let p: DownloadParams = params::parse(value)?;
        let origin = match (&p.dataset, &p.source) {
            (Some(_), Some(_)) => {
                return Err(StageError::param("source", "set either `dataset` or `source`, not both"))
            }
            (None, None) => {
                return Err(StageError::param(
                    "dataset",
                    "download needs `dataset: <hub id>` (e.g. stanfordnlp/sst2) or `source: <path>`",
                ))
            }
            (Some(dataset), None) => Origin::Hub(HubRepo::dataset(dataset, &p.revision)),
            (None, Some(paths)) => Origin::Local(paths.clone()),
        };
        Ok((p, origin))
    }

    fn files(&self, workdir: &Path) -> Result<Vec<SourceFile>, StageError> {
        match self {
            Origin::Hub(repo) => source::hub_files(repo),
            Origin::Local(paths) => source::local_files(paths, workdir),
        }
    }
}

pub struct Download;

impl Stage for Download {
    fn kind(&self) -> &'static str {
        "download"
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<DownloadParams>(raw)?;
        Origin::of(&resolved)?;
        Ok(resolved)
    }

    /// Hub: the commit the revision points to (one small read from the cache).
    /// Local: blake3 of every source file, so an edited file changes the key.
    fn fingerprint(&self, params: &Value, workdir: &Path) -> Result<Value, StageError> {
        let (_, origin) = Origin::of(params)?;
        if let Origin::Hub(repo) = &origin {
            return Ok(json!({"commit": repo.commit()?}));
        }
        let files = origin.files(workdir)?;
        let hashes: Result<Vec<Value>, StageError> =
            files.iter().map(|f| Ok(json!({"file": f.name, "blake3": source::file_hash(&f.path)?}))).collect();
        Ok(json!({"files": hashes?}))
    }

    fn headline(&self) -> &'static [&'static str] {
        &["train_rows", "validation_rows", "test_rows"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let (p, origin) = Origin::of(&ctx.params)?;
        ctx.progress.set_message("locating files");
        let files = origin.files(&ctx.workdir)?;
        let origin = match &origin {
            Origin::Hub(repo) => json!({"dataset": repo.id, "revision": repo.revision, "commit": repo.commit()?}),
            Origin::Local(paths) => json!({"source": paths}),
        };

        // Read and validate everything before writing anything.
        let mut splits: Vec<(SourceSplit, Vec<Example>)> = Vec::new();
        let mut listed = Vec::new();
        for split in SourceSplit::ALL {
            let of_split: Vec<&SourceFile> = files.iter().filter(|f| f.split == split).collect();
            if of_split.is_empty() && split != SourceSplit::Test {
                let found: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
                return Err(StageError::Data(format!(
                    "empty split `{}`: no {} file among the source files [{}]",
                    split.name(),
                    split.name(),
                    found.join(", ")
                )));
            }
            let cols =
                Columns { text: &p.text_column, label: &p.label_column, label_required: split != SourceSplit::Test };
            let mut rows: Vec<Example> = Vec::new();
            for file in of_split {
                ctx.progress.set_message(&format!("reading {}", file.name));
                let table = table::read(&file.path)?;
                if table.rows.is_empty() {
                    return Err(StageError::Data(format!(
                        "empty split `{}`: {} has no data rows",
                        split.name(),
                        file.path.display()
                    )));
                }
                let read = columns::examples(&table, &cols, split.name(), rows.len() as u64)?;
                listed.push(json!({
                    "split": split.name(),
                    "file": file.name,
                    "rows": read.len(),
                    "blake3": source::file_hash(&file.path)?,
                }));
                rows.extend(read);
            }
            check_unique_idx(split, &rows)?;
            splits.push((split, rows));
        }

        for (split, rows) in &splits {
            examples::write_jsonl(&ctx.out_path(format!("{}.jsonl", split.name()))?, rows)?;
            counts::record(ctx, split.name(), rows);
        }
        let sources = json!({"origin": origin, "files": listed});
        crate::json::write(&ctx.out_path("sources.json")?, &sources)
    }
}

/// `(source, idx)` names a sentence downstream, so it must be unique within a split.
fn check_unique_idx(split: SourceSplit, rows: &[Example]) -> Result<(), StageError> {
    let mut seen = HashSet::with_capacity(rows.len());
    match rows.iter().find(|e| !seen.insert(e.idx)) {
        Some(dup) => Err(StageError::Data(format!(
            "split `{}`: index {} appears more than once (the idx/index column must be unique)",
            split.name(),
            dup.idx
        ))),
        None => Ok(()),
    }
}
