//! Typed stage parameters: defaults filled in, unknown keys rejected.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::StageError;

/// Parses `with:` params into `P` (which should be `#[serde(deny_unknown_fields, default)]`)
/// and returns them re-serialised with every default filled in, so that the
/// resolved params (and therefore the stage key) are explicit and canonical.
pub fn resolve<P: DeserializeOwned + Serialize>(raw: &Value) -> Result<Value, StageError> {
    let raw = if raw.is_null() { Value::Object(Default::default()) } else { raw.clone() };
    let typed: P = parse(&raw)?;
    serde_json::to_value(typed).map_err(|e| StageError::param("", e.to_string()))
}

/// Parses already-resolved params (as handed to `run`) into `P`.
pub fn parse<P: DeserializeOwned>(value: &Value) -> Result<P, StageError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        let message = e.to_string();
        let key = offending_key::<P>(value, &message).unwrap_or_default();
        StageError::param(key, crate::values::plain_types(&message))
    })
}

/// The key at fault. serde names it in "unknown field `x`" and "missing field `x`", but not
/// in a bad value's message ("unknown variant `fp16`", "invalid type"): then it is the key
/// whose value, parsed on its own, fails with that same message (a struct with required
/// fields fails for every lone key, but with "missing field").
fn offending_key<P: DeserializeOwned>(value: &Value, message: &str) -> Option<String> {
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return field_in(message);
    }
    let Value::Object(map) = value else { return None };
    let alone = |key: &String, v: &Value| {
        serde_json::from_value::<P>(Value::Object([(key.clone(), v.clone())].into_iter().collect()))
    };
    map.iter().find(|(key, v)| matches!(alone(key, v), Err(e) if e.to_string() == message)).map(|(key, _)| key.clone())
}

/// Pulls the field out of serde's "unknown field `x`" / "missing field `x`" messages.
fn field_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct P {
        bins: u32,
        name: String,
    }
    impl Default for P {
        fn default() -> Self {
            P { bins: 15, name: "x".into() }
        }
    }

    #[test]
    fn fills_defaults_and_rejects_unknown_keys() {
        let v = resolve::<P>(&serde_json::json!({"bins": 10})).unwrap();
        assert_eq!(v, serde_json::json!({"bins": 10, "name": "x"}));
        let err = resolve::<P>(&serde_json::json!({"binz": 10})).unwrap_err();
        assert!(matches!(&err, StageError::Param { key, .. } if key == "binz"), "{err}");
        let err = resolve::<P>(&serde_json::json!({"name": "y", "bins": "many"})).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(matches!(&err, StageError::Param { key, .. } if key == "bins"), "a bad value names its key: {err}");
    }
}
