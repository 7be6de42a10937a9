//! `pipe runs`: the recorded runs, oldest first.

use std::path::Path;

use crate::record::{self, Status};
use crate::store::Store;
use crate::{table, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe runs
  pipe runs --cache /data/pipe-cache")]
pub struct Args {}

pub fn execute(_args: Args, cache: &Path) -> Result<(), Error> {
    let store = Store::new(cache)?;
    let records = record::readable(&store)?;
    // Only dvc.yaml projects adopt: the column is there when some run did.
    let adopted = records.iter().any(|r| r.stages.iter().any(|x| x.status == Status::Adopted));
    let mut counted = vec![Status::Ran, Status::Cached, Status::Pulled, Status::Failed];
    if adopted {
        counted.insert(1, Status::Adopted);
    }
    let mut head = vec!["RUN".to_string(), "PIPELINE".into(), "STATUS".into()];
    head.extend(counted.iter().map(|s| s.as_str().to_uppercase()));
    head.extend(["SECONDS".into(), "OVERRIDES".into()]);
    let mut rows = vec![head];
    for r in records {
        let count = |s: &Status| r.stages.iter().filter(|x| x.status == *s).count().to_string();
        let status = match () {
            _ if r.ok => "ok",
            _ if r.interrupted => "interrupted",
            _ if r.in_progress => "unfinished",
            _ => "failed",
        };
        let mut row = vec![r.id.clone(), r.pipeline.clone(), status.into()];
        row.extend(counted.iter().map(count));
        row.extend([format!("{:.2}", r.seconds), r.overrides.join(" ")]);
        rows.push(row);
    }
    print!("{}", table::render(&rows));
    Ok(())
}
