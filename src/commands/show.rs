//! `pipe show`: one stage's artifact — where it is, its files and its metrics.

use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::executor::jobs;
use crate::executor::slurm::shell_word;
use crate::probe::{probe, State};
use crate::store::Store;
use crate::{lockfile, metric_text, record, table, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe show pipelines/final.yaml evaluate
  pipe show pipelines/ablations.yaml 'train[dropout=0.1,pooling=mean]'")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// Stage (all its instances) or one instance name
    pub stage: String,
    /// Override a value as `pipe run --set` would
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let registry = Registry::builtin();
    let plan = super::load_checked(&args.file, &args.sets, &registry, cache)?;
    let wanted = plan.matching(&args.stage);
    if wanted.is_empty() {
        return Err(Error::Config(format!("`{}`: {}", args.stage, plan.not_found(&args.stage))));
    }
    let store = Store::new(cache)?;
    let probes = probe(&plan, &registry, &store, &vec![true; plan.instances.len()])?;
    let lock = lockfile::load(&args.file)?;
    let logs = jobs::logs(&plan, &registry, &store, &vec![true; plan.instances.len()]);
    for i in wanted {
        let inst = &plan.instances[i];
        println!("{} ({})", inst.name, inst.kind);
        // The output of the cluster job that last computed (or tried to compute) it.
        if let Some(log) = &logs[i] {
            println!("  log       {}", record::display(&store.root().join(log)));
        }
        let artifact = match probes[i].as_ref().map(|p| &p.state) {
            Some(State::Fresh(a)) => a.clone(),
            _ => {
                // Stale: show the artifact the lock file last recorded, if it is still stored.
                let last = lock.stages.get(&inst.name).map(|e| e.key.as_str());
                match last.map(|k| store.lookup(k)).transpose()?.flatten() {
                    Some(a) => {
                        println!("  stale: showing the last built artifact (`pipe status --why` says what changed)");
                        a
                    }
                    None => {
                        println!(
                            "  not built yet: run `pipe run {} --stage {}`\n",
                            shell_word(&args.file.display().to_string()),
                            shell_word(&inst.name)
                        );
                        continue;
                    }
                }
            }
        };
        println!("  key       {}", artifact.key);
        println!("  artifact  {}", artifact.hash);
        println!("  dir       {}", record::display(&artifact.dir));
        println!("  files");
        for f in artifact.manifest()?.files {
            println!("    {:>10}  {}", f.size, f.path);
        }
        // Readable values; metrics.json in the directory keeps full precision.
        let metrics = artifact.metrics()?;
        let rows: Vec<Vec<String>> = metrics
            .keys()
            .filter(|k| !metric_text::is_interval_of_another(&metrics, k))
            .map(|k| vec![format!("    {k}"), metric_text::with_interval(&metrics, k)])
            .collect();
        if !rows.is_empty() {
            println!("  metrics (4 significant digits, [95% interval]; full precision in metrics.json)");
            println!("{}", table::render(&rows));
        }
    }
    Ok(())
}
