//! `${params.x}` and `${matrix.x}` in stage params (and `${params.x}` in params). A string that is exactly one
//! reference takes the referenced value with its type (`"${params.lr}"` stays a
//! number); references inside longer strings are spliced in as text. Any other
//! `${...}` is left alone, so shell commands keep their own `${VAR}`s. `\${params.x}` is
//! the literal text `${params.x}` (DVC's escape), kept escaped until the stage gets it so
//! that params resolving through params do not take it for a reference.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::suggest;

/// What references resolve against.
pub struct Scope<'a> {
    pub params: &'a Map<String, Value>,
    /// The instance's matrix values (its own and those inherited from upstream).
    pub matrix: &'a BTreeMap<String, Value>,
}

/// A stage's params with every reference resolved and every escaped one made literal.
/// Errors name the bad reference.
pub fn interpolate(value: &Value, scope: &Scope) -> Result<Value, String> {
    map_strings(&resolve(value, scope)?, &|s| Ok(Value::String(unescape(s))))
}

/// Every string inside `value` interpolated, escapes kept.
fn resolve(value: &Value, scope: &Scope) -> Result<Value, String> {
    map_strings(value, &|s| string(s, scope))
}

fn map_strings(value: &Value, f: &impl Fn(&str) -> Result<Value, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => f(s)?,
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), map_strings(v, f)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

/// The pipeline's params with `${params.x}` inside them resolved (`data: /srv`, `train:
/// "${params.data}/train"`): a chain takes a round per link; a param that still names
/// one after that is part of a cycle, an error.
pub fn params(params: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let no_matrix = BTreeMap::new();
    let mut current = params.clone();
    for _ in 0..=crate::flatten::flatten(&Value::Object(params.clone())).len() {
        let scope = Scope { params: &current, matrix: &no_matrix };
        let Value::Object(next) = resolve(&Value::Object(current.clone()), &scope)? else {
            unreachable!("an object interpolates to an object")
        };
        if next == current {
            break;
        }
        current = next;
    }
    let left = crate::flatten::flatten(&Value::Object(current.clone()));
    // Named by its value as written: the expansion so far only repeats it.
    let written = crate::flatten::flatten(&Value::Object(params.clone()));
    match left.iter().find(|(_, v)| v.as_str().and_then(next_reference).is_some()) {
        Some((path, value)) => {
            let value = written.get(path).unwrap_or(value);
            Err(format!("param `{path}` ({value}) refers to itself through other params"))
        }
        None => Ok(current),
    }
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

const REFERENCES: [&str; 2] = ["${params.", "${matrix."];

/// Where the first reference in `s` starts, escaped ones (`\${`) passed over.
fn next_reference(s: &str) -> Option<usize> {
    REFERENCES.iter().filter_map(|p| s.match_indices(p).map(|(i, _)| i).find(|&i| !s[..i].ends_with('\\'))).min()
}

/// Stage params that must reach the stage as written (a `dvc.yaml` stage after DVC's own
/// templating): every reference escaped, so that `interpolate` gives them back unchanged.
pub fn escape(with: Map<String, Value>) -> Map<String, Value> {
    let escaped = |s: &str| REFERENCES.iter().fold(s.to_string(), |s, p| s.replace(p, &format!("\\{p}")));
    match map_strings(&Value::Object(with), &|s| Ok(Value::String(escaped(s)))) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("escaping an object gives an object"),
    }
}

fn unescape(s: &str) -> String {
    REFERENCES.iter().fold(s.to_string(), |s, p| s.replace(&format!("\\{p}"), p))
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

    #[test]
    fn an_escaped_reference_is_literal_text_even_through_params() {
        let params =
            params(json!({"a": 1, "lit": "\\${params.a}", "via": "${params.lit}"}).as_object().unwrap()).unwrap();
        let matrix = BTreeMap::new();
        let scope = Scope { params: &params, matrix: &matrix };
        let v =
            interpolate(&json!(["${params.via}", "x \\${matrix.m} ${params.a} \\${HOME}", "${params.lit}!"]), &scope);
        assert_eq!(v.unwrap(), json!(["${params.a}", "x ${matrix.m} 1 \\${HOME}", "${params.a}!"]));
    }

    #[test]
    fn escaped_text_interpolates_to_itself() {
        let text = json!({"cmd": "echo '${params.x}' ${matrix.y} \\${HOME} ${z}", "n": 3});
        let (params, matrix) = (Map::new(), BTreeMap::new());
        let escaped = Value::Object(escape(text.as_object().unwrap().clone()));
        assert_eq!(interpolate(&escaped, &Scope { params: &params, matrix: &matrix }).unwrap(), text);
    }

    #[test]
    fn params_resolve_through_chains_and_a_cycle_is_an_error() {
        let chain = json!({"c": "${params.b}/c", "b": "${params.a}/b", "a": "/srv", "n": "${params.k}", "k": 3});
        let resolved = params(chain.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(resolved), json!({"c": "/srv/b/c", "b": "/srv/b", "a": "/srv", "n": 3, "k": 3}));
        let cycle = json!({"a": "${params.b}", "b": "x${params.a}"});
        let err = params(cycle.as_object().unwrap()).unwrap_err();
        assert!(err.contains("refers to itself through other params"), "{err}");
        assert!(err.starts_with(r#"param `a` ("${params.b}")"#), "as written: {err}");
    }
}
