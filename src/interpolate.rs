//! `${params.x}` and `${matrix.x}` in stage params. A string that is exactly one
//! reference takes the referenced value with its type (`"${params.lr}"` stays a
//! number); references inside longer strings are spliced in as text. Any other
//! `${...}` is left alone, so shell commands keep their own `${VAR}`s.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::suggest;

/// What references resolve against.
pub struct Scope<'a> {
    pub params: &'a Map<String, Value>,
    /// The instance's matrix values (its own and those inherited from upstream).
    pub matrix: &'a BTreeMap<String, Value>,
}

/// Interpolates every string inside `value`. Errors name the bad reference.
pub fn interpolate(value: &Value, scope: &Scope) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => string(s, scope)?,
        Value::Array(items) => Value::Array(items.iter().map(|v| interpolate(v, scope)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), interpolate(v, scope)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A value as text: strings without quotes, everything else as JSON.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn string(s: &str, scope: &Scope) -> Result<Value, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = next_reference(rest) {
        let Some(len) = rest[start..].find('}') else { break };
        let reference = &rest[start + 2..start + len];
        let value = lookup(reference, scope)?;
        if start == 0 && len + 1 == rest.len() && out.is_empty() {
            return Ok(value);
        }
        out.push_str(&rest[..start]);
        out.push_str(&render(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn next_reference(s: &str) -> Option<usize> {
    ["${params.", "${matrix."].iter().filter_map(|p| s.find(p)).min()
}

fn lookup(reference: &str, scope: &Scope) -> Result<Value, String> {
    let (space, name) = reference.split_once('.').unwrap_or((reference, ""));
    if space == "matrix" {
        return scope.matrix.get(name).cloned().ok_or_else(|| {
            if scope.matrix.is_empty() {
                format!("`${{{reference}}}`: this stage has no matrix")
            } else {
                format!("unknown `${{{reference}}}`{}", suggest::hint(name, scope.matrix.keys().map(String::as_str)))
            }
        });
    }
    let mut path = name.split('.');
    let first = path.next().unwrap_or_default();
    let mut value = scope.params.get(first).ok_or_else(|| {
        format!("unknown `${{{reference}}}`{}", suggest::hint(first, scope.params.keys().map(String::as_str)))
    })?;
    for part in path {
        value = value.get(part).ok_or_else(|| format!("unknown `${{{reference}}}`: no `{part}` there"))?;
    }
    Ok(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_references_keep_their_type_and_others_are_spliced() {
        let params = json!({"lr": 2e-5, "model": "m"}).as_object().unwrap().clone();
        let matrix = BTreeMap::from([("d".to_string(), json!(0.1))]);
        let scope = Scope { params: &params, matrix: &matrix };
        let v = interpolate(&json!({"lr": "${params.lr}", "run": "echo ${matrix.d} ${HOME} ${params.model}"}), &scope);
        assert_eq!(v.unwrap(), json!({"lr": 2e-5, "run": "echo 0.1 ${HOME} m"}));
        let err = interpolate(&json!("${params.modle}"), &scope).unwrap_err();
        assert!(err.contains("did you mean `model`"), "{err}");
    }
}
