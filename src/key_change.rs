//! What differs between the components of two keys: what `status --why` says of a
//! stale instance and `diff` of a changed one.

use std::fmt;

use pipe_stages::Registry;

use crate::flatten::{changes, Change};
use crate::key::KeyParts;
use crate::table::short;

pub enum KeyChange {
    Kind {
        old: String,
        new: String,
    },
    Version {
        kind: String,
        old: u32,
        new: u32,
    },
    Param(Change),
    Seed {
        old: u64,
        new: u64,
    },
    /// A stage's own inputs: a shell stage's command, deps and environment, a
    /// built-in stage's hub revision.
    Fingerprint(Change),
    Upstream {
        instance: String,
        old: String,
        new: String,
    },
    NewUpstream(String),
    RemovedUpstream(String),
}

/// Every component of `new` that differs from `old`, in the order a reader checks them.
pub fn key_changes(old: &KeyParts, new: &KeyParts, registry: &Registry) -> Vec<KeyChange> {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(KeyChange::Kind { old: old.kind.clone(), new: new.kind.clone() });
    } else if old.version != new.version {
        out.push(KeyChange::Version { kind: new.kind.clone(), old: old.version, new: new.version });
    }
    let params = changes(&registry.shown(&old.kind, &old.params), &registry.shown(&new.kind, &new.params));
    out.extend(params.into_iter().map(KeyChange::Param));
    if old.seed != new.seed {
        out.push(KeyChange::Seed { old: old.seed, new: new.seed });
    }
    out.extend(changes(&old.fingerprint, &new.fingerprint).into_iter().map(KeyChange::Fingerprint));
    for input in &new.inputs {
        match old.inputs.iter().find(|o| o.instance == input.instance) {
            Some(o) if o.artifact != input.artifact => out.push(KeyChange::Upstream {
                instance: input.instance.clone(),
                old: o.artifact.clone(),
                new: input.artifact.clone(),
            }),
            Some(_) => {}
            None => out.push(KeyChange::NewUpstream(input.instance.clone())),
        }
    }
    for o in old.inputs.iter().filter(|o| !new.inputs.iter().any(|i| i.instance == o.instance)) {
        out.push(KeyChange::RemovedUpstream(o.instance.clone()));
    }
    out
}

impl fmt::Display for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChange::Kind { old, new } => write!(f, "kind: {old} -> {new}"),
            KeyChange::Version { kind, old, new } => write!(f, "code version of `{kind}`: {old} -> {new}"),
            KeyChange::Param(c) => write!(f, "param `{}`: {}", c.path, c.arrow()),
            KeyChange::Seed { old, new } => write!(f, "seed: {old} -> {new}"),
            // A shell stage's `always_changed` is a value new on every evaluation, not an edit.
            KeyChange::Fingerprint(c) => match (c.path.as_str(), &c.old, &c.new) {
                ("always_changed", ..) => f.write_str("runs on every run (`always_changed`, or a DVC callback stage)"),
                (path, None, _) => write!(f, "`{path}` added"),
                (path, _, None) => write!(f, "`{path}` removed"),
                (path, ..) => write!(f, "`{path}` changed"),
            },
            KeyChange::Upstream { instance, old, new } => {
                write!(f, "upstream `{instance}` changed: artifact {} -> {}", short(old), short(new))
            }
            KeyChange::NewUpstream(instance) => write!(f, "new upstream `{instance}`"),
            KeyChange::RemovedUpstream(instance) => write!(f, "upstream `{instance}` removed"),
        }
    }
}
