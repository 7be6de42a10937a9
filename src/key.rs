//! Stage keys: blake3 over the canonical JSON of everything that determines an
//! artifact — kind, code version, resolved params, upstream artifact hashes,
//! seed and the stage's fingerprint. Nothing volatile (paths, time, user).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::plan::Plan;

/// The components of a key, kept in the artifact's key.json so that
/// `pipe status --why` can say which one changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyParts {
    pub kind: String,
    pub version: u32,
    pub params: Value,
    /// Upstream artifacts. Instance names are for explanations only: the key
    /// uses the sorted artifact hashes, so renaming a stage keeps its cache.
    pub inputs: Vec<InputRef>,
    pub seed: u64,
    pub fingerprint: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRef {
    pub instance: String,
    pub artifact: String,
}

impl KeyParts {
    /// The parts for instance `i` of `plan`, given its inputs' artifact hashes (in input order).
    pub fn of(plan: &Plan, i: usize, artifacts: &[String], fingerprint: Value) -> KeyParts {
        let inst = &plan.instances[i];
        KeyParts {
            kind: inst.kind.clone(),
            version: inst.version,
            params: inst.params.clone(),
            inputs: inst
                .inputs
                .iter()
                .zip(artifacts)
                .map(|(&u, a)| InputRef { instance: plan.instances[u].name.clone(), artifact: a.clone() })
                .collect(),
            seed: inst.seed,
            fingerprint,
        }
    }

    pub fn key(&self) -> String {
        let mut artifacts: Vec<&str> = self.inputs.iter().map(|i| i.artifact.as_str()).collect();
        artifacts.sort_unstable();
        let material = json!({
            "kind": self.kind,
            "version": self.version,
            "params": self.params,
            "inputs": artifacts,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
        });
        blake3::hash(canonical(&material).as_bytes()).to_hex().to_string()
    }
}

/// JSON with object keys sorted at every level and no whitespace, so equal
/// values always give equal bytes whatever order the YAML listed them in.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(params: Value, inputs: &[&str]) -> KeyParts {
        KeyParts {
            kind: "shell".into(),
            version: 1,
            params,
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(i, a)| InputRef { instance: format!("s{i}"), artifact: a.to_string() })
                .collect(),
            seed: 7,
            fingerprint: Value::Null,
        }
    }

    #[test]
    fn key_ignores_map_order_and_input_order_but_not_values() {
        let a = parts(serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":3}}"#).unwrap(), &["h1", "h2"]);
        let b = parts(serde_json::from_str(r#"{"a":{"x":3,"y":2},"b":1}"#).unwrap(), &["h2", "h1"]);
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), parts(json!({"b": 2, "a": {"x": 3, "y": 2}}), &["h1", "h2"]).key());
        assert_eq!(canonical(&json!({"b": [1, {"d": 1, "c": 2}], "a": "x"})), r#"{"a":"x","b":[1,{"c":2,"d":1}]}"#);
    }
}
