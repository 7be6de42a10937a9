//! Why an instance is stale: its current key components against those of the
//! artifact the lock file last recorded for it.

use pipe_stages::Registry;

use crate::flatten::changes;
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
        why.push(format!("its last artifact {} is no longer in the cache", short(&last.key)));
        return Ok(why);
    };
    let Some(new) = probe.parts.as_ref().or(probe.partial.as_ref()) else {
        return Ok(why);
    };
    let old = old.parts;
    if old.kind != new.kind {
        why.push(format!("kind: {} -> {}", old.kind, new.kind));
    } else if old.version != new.version {
        why.push(format!("code version of `{}`: {} -> {}", new.kind, old.version, new.version));
    }
    for c in changes(&registry.shown(&old.kind, &old.params), &registry.shown(&new.kind, &new.params)) {
        why.push(format!("param `{}`: {}", c.path, c.arrow()));
    }
    if old.seed != new.seed {
        why.push(format!("seed: {} -> {}", old.seed, new.seed));
    }
    for c in changes(&old.fingerprint, &new.fingerprint) {
        // A shell stage's `always_changed` is a value new on every evaluation, not an edit.
        let line = match (c.path.as_str(), &c.old, &c.new) {
            ("always_changed", ..) => "runs on every run (`always_changed`, or a DVC callback stage)".to_string(),
            (path, None, _) => format!("`{path}` added"),
            (path, _, None) => format!("`{path}` removed"),
            (path, ..) => format!("`{path}` changed"),
        };
        why.push(line);
    }
    for input in &new.inputs {
        match old.inputs.iter().find(|o| o.instance == input.instance) {
            Some(o) if o.artifact != input.artifact => why.push(format!(
                "upstream `{}` changed: artifact {} -> {}",
                input.instance,
                short(&o.artifact),
                short(&input.artifact)
            )),
            Some(_) => {}
            None => why.push(format!("new upstream `{}`", input.instance)),
        }
    }
    let kept = |o: &&crate::key::InputRef| new.inputs.iter().any(|i| i.instance == o.instance);
    for o in old.inputs.iter().filter(|o| !kept(o) && !stale.contains(&o.instance.as_str())) {
        why.push(format!("upstream `{}` removed", o.instance));
    }
    if why.is_empty() {
        why.push(format!("its artifact {} is missing from the cache", short(&last.key)));
    }
    Ok(why)
}
