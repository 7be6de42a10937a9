//! Why an instance is stale: its current key components against those of the
//! artifact the lock file last recorded for it.

use pipe_stages::Registry;

use crate::key_change::{key_changes, KeyChange};
use crate::lockfile::LockEntry;
use crate::probe::{Probe, State};
use crate::store::{key_file, Store};
use crate::table::short;
use crate::Error;

/// One line per changed component; empty when the instance is fresh.
pub fn reasons(
    probe: &Probe,
    last: Option<&LockEntry>,
    store: &Store,
    registry: &Registry,
) -> Result<Vec<String>, Error> {
    if let State::Broken(message) = &probe.state {
        return Ok(vec![message.clone()]);
    }
    if matches!(probe.state, State::Fresh(_)) {
        return Ok(Vec::new());
    }
    if !probe.pending.is_empty() {
        let outs = probe.pending.join(", ");
        return Ok(vec![format!("judged once {outs} is back in the workspace: `pipe run` puts it back first")]);
    }
    let stale: Vec<&str> =
        probe.inputs.iter().filter(|(_, artifact)| artifact.is_none()).map(|(name, _)| name.as_str()).collect();
    let mut why: Vec<String> = stale.iter().map(|name| format!("upstream `{name}` is stale")).collect();
    let Some(last) = last else {
        why.push("never built (not in the lock file)".into());
        return Ok(why);
    };
    let Some(old) = key_file(store, &last.key)? else {
        why.push(format!(
            "the lock file's build of it (key {}, artifact {}) is no longer in the cache",
            short(&last.key),
            short(&last.artifact)
        ));
        return Ok(why);
    };
    let Some(new) = probe.parts.as_ref().or(probe.partial.as_ref()) else {
        return Ok(why);
    };
    for change in key_changes(&old.parts, new, registry) {
        // An upstream that is stale has no artifact yet, so it is missing from `new`'s inputs.
        if !matches!(&change, KeyChange::RemovedUpstream(name) if stale.contains(&name.as_str())) {
            why.push(change.to_string());
        }
    }
    if why.is_empty() {
        why.push(format!("its artifact {} is missing from the cache", short(&last.key)));
    }
    Ok(why)
}
