//! DVC's `${...}` templating: values from `params.yaml`, `vars:` and a
//! foreach/matrix iteration (`item`, `key`). A string that is exactly one
//! reference takes the value with its type; references inside longer strings are
//! spliced in as DVC prints them (Python's `str`, booleans as `true`/`false`,
//! and in `cmd` a mapping unpacked as `--key value` flags). `\${` is a literal `${`.

use serde_json::{Map, Value};

use super::repo::Unpack;
use crate::suggest;

/// Interpolates every string (and mapping key) inside `value`; `cmd` allows mapping unpacking.
/// The references it resolved are added to `used` as dotted paths (`train.lr`, `langs.0`).
pub fn resolve(
    value: &Value,
    scope: &Map<String, Value>,
    cmd: Option<Unpack>,
    used: &mut Vec<String>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => string(s, scope, cmd, used)?,
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolve(v, scope, cmd, used)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(text(&string(k, scope, None, used)?)?, resolve(v, scope, cmd, used)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// A value spliced into a string, as DVC writes it.
pub fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok("None".into()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => py_float(f),
            _ => n.to_string(),
        }),
        Value::Array(_) => Err("a list cannot be interpolated into a string".into()),
        Value::Object(_) => Err("a mapping can only be interpolated into `cmd` (as `--key value` flags)".into()),
    }
}

fn string(s: &str, scope: &Map<String, Value>, cmd: Option<Unpack>, used: &mut Vec<String>) -> Result<Value, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('\\') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("`{s}`: `${{` without a closing `}}`"));
        };
        let value = lookup(rest[start + 2..start + len].trim(), scope, used)?;
        if start == 0 && len + 1 == rest.len() && out.is_empty() {
            return Ok(value);
        }
        out.push_str(&rest[..start]);
        match &value {
            Value::Object(map) if cmd.is_some() => out.push_str(&flags(map, cmd.unwrap_or_default())?),
            other => out.push_str(&text(other).map_err(|m| format!("`{s}`: {m}"))?),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// The first string (or key) in `value` that interpolates (holds a `${` not written `\${`).
pub fn interpolation(value: &Value) -> Option<String> {
    let interpolates = |s: &str| s.match_indices("${").any(|(i, _)| !s[..i].ends_with('\\'));
    match value {
        Value::String(s) => interpolates(s).then(|| s.clone()),
        Value::Array(items) => items.iter().find_map(interpolation),
        Value::Object(map) => {
            map.iter().find_map(|(k, v)| if interpolates(k) { Some(k.clone()) } else { interpolation(v) })
        }
        _ => None,
    }
}

/// `a.b`, `a[0]` and `a.0` paths into the scope.
fn lookup(reference: &str, scope: &Map<String, Value>, used: &mut Vec<String>) -> Result<Value, String> {
    let normalized = reference.replace('[', ".").replace(']', "");
    used.push(normalized.clone());
    let mut parts = normalized.split('.');
    let first = parts.next().unwrap_or_default();
    let mut value = scope.get(first).ok_or_else(|| {
        format!("`${{{reference}}}` is not defined{}", suggest::hint(first, scope.keys().map(String::as_str)))
    })?;
    let mut path = first.to_string();
    for part in parts {
        let next = match value {
            Value::Object(map) => map.get(part).ok_or_else(|| {
                format!(
                    "`${{{reference}}}`: `{path}` has no `{part}`{}",
                    suggest::hint(part, map.keys().map(String::as_str))
                )
            })?,
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)).ok_or_else(|| {
                format!(
                    "`${{{reference}}}`: `{path}` is a list of {} items; `{part}` is not an index into it",
                    items.len()
                )
            })?,
            _ => return Err(format!("`${{{reference}}}`: `{path}` is a single value, it has no `{part}`")),
        };
        value = next;
        path = format!("{path}.{part}");
    }
    Ok(value.clone())
}

/// DVC's dictionary unpacking in `cmd`: nested keys dotted, `true` as a bare flag,
/// `false` left out, lists as several values after one flag, strings shell-quoted.
fn flags(map: &Map<String, Value>, unpack: Unpack) -> Result<String, String> {
    let mut leaves = Vec::new();
    in_order("", map, &mut leaves);
    let mut out = Vec::new();
    for (key, value) in leaves {
        match value {
            Value::Bool(true) => out.push(format!("--{key}")),
            Value::Bool(false) if unpack.no_flags => out.push(format!("--no-{key}")),
            Value::Bool(false) => {}
            // An empty list gives no flag at all, as in DVC.
            Value::Array(items) if unpack.append => {
                for item in &items {
                    out.push(format!("--{key} {}", quoted(item)?));
                }
            }
            Value::Array(items) if items.is_empty() => {}
            Value::Array(items) => {
                let values = items.iter().map(quoted).collect::<Result<Vec<_>, _>>()?;
                out.push(format!("--{key} {}", values.join(" ")));
            }
            other => out.push(format!("--{key} {}", quoted(&other)?)),
        }
    }
    Ok(out.join(" "))
}

/// Leaves of nested mappings by dotted path, in file order (as DVC unpacks them).
fn in_order(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in map {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) => in_order(&path, inner, out),
            leaf => out.push((path, leaf.clone())),
        }
    }
}

/// Strings shell-quoted, other scalars as text.
fn quoted(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(shell_quote(s)),
        other => text(other),
    }
}

/// Python's `shlex.quote`: safe words as they are, anything else in single quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Python's `repr` of a float: shortest round-trip digits, scientific below 1e-4
/// and from 1e16, a two-digit exponent, `.0` on whole numbers.
fn py_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "nan".into()
        } else if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..16).contains(&exp) {
        return format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let fixed = f.to_string();
    if fixed.contains('.') {
        fixed
    } else {
        format!("{fixed}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Map<String, Value> {
        json!({"train": {"lr": 0.001, "epochs": 3, "name": "a b"}, "item": {"x": 1e-5}, "langs": ["en", "fr"], "on": true})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn whole_references_keep_types_and_splices_print_as_python() {
        let s = scope();
        assert_eq!(resolve(&json!("${langs}"), &s, None, &mut Vec::new()).unwrap(), json!(["en", "fr"]));
        assert_eq!(
            resolve(&json!("lr=${train.lr} e=${train.epochs} x=${item.x} on=${on}"), &s, None, &mut Vec::new())
                .unwrap(),
            json!("lr=0.001 e=3 x=1e-05 on=true")
        );
        assert_eq!(
            resolve(&json!("${langs[1]}/${langs.0} \\${HOME}"), &s, None, &mut Vec::new()).unwrap(),
            json!("fr/en ${HOME}")
        );
        assert_eq!(interpolation(&json!([{"a": 1}, {"b": "x ${a}"}])), Some("x ${a}".into()));
        assert_eq!(interpolation(&json!([{"a": "\\${a}"}, "f.yaml"])), None);
        assert_eq!(py_float(100000.0), "100000.0");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(0.1), "0.1");
    }

    #[test]
    fn an_empty_list_unpacks_to_nothing_and_the_config_can_ask_for_no_flags_and_repeated_ones() {
        let map = json!({"lr": 0.1, "fast": false, "tags": ["a", "b"], "none": []});
        let map = map.as_object().unwrap();
        assert_eq!(flags(map, Unpack::default()).unwrap(), "--lr 0.1 --tags a b");
        let both = Unpack { no_flags: true, append: true };
        assert_eq!(flags(map, both).unwrap(), "--lr 0.1 --no-fast --tags a --tags b");
    }

    #[test]
    fn mappings_unpack_only_in_cmd_and_misses_suggest() {
        let s = scope();
        assert_eq!(
            resolve(&json!("python t.py ${train}"), &s, Some(Unpack::default()), &mut Vec::new()).unwrap(),
            json!("python t.py --lr 0.001 --epochs 3 --name 'a b'")
        );
        assert!(resolve(&json!("x ${train}"), &s, None, &mut Vec::new())
            .unwrap_err()
            .contains("only be interpolated into `cmd`"));
        let err = resolve(&json!("${train.lrr}"), &s, None, &mut Vec::new()).unwrap_err();
        assert!(err.contains("`train` has no `lrr` (did you mean `lr`?)"), "{err}");
        assert!(resolve(&json!("${lang}"), &s, None, &mut Vec::new()).unwrap_err().contains("did you mean `langs`"));
    }
}
