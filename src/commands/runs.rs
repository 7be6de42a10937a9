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
    let mut rows = vec![["RUN", "PIPELINE", "STATUS", "RAN", "CACHED", "PULLED", "FAILED", "SECONDS", "OVERRIDES"]
        .map(String::from)
        .to_vec()];
    for r in record::readable(&store)? {
        let count = |s: Status| r.stages.iter().filter(|x| x.status == s).count().to_string();
        rows.push(vec![
            r.id.clone(),
            r.pipeline.clone(),
            match () {
                _ if r.ok => "ok",
                _ if r.interrupted => "interrupted",
                _ if r.in_progress => "unfinished",
                _ => "failed",
            }
            .into(),
            count(Status::Ran),
            count(Status::Cached),
            count(Status::Pulled),
            count(Status::Failed),
            format!("{:.2}", r.seconds),
            r.overrides.join(" "),
        ]);
    }
    print!("{}", table::render(&rows));
    Ok(())
}
