//! Files of values: pipeline files, and a DVC project's params, vars and metrics files.
//! YAML (JSON is YAML) with its merge keys applied, or TOML, told apart by extension as
//! DVC tells them apart.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A YAML error: the parser's message (with the path of keys to the fault, without its
/// position) and the line in the source, where there is one.
#[derive(Debug)]
pub struct YamlError {
    pub message: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl YamlError {
    /// `lines`: whether the error's position is one in the user's text.
    fn of(e: serde_yaml_ng::Error, lines: bool) -> YamlError {
        let full = e.to_string();
        let message = match (e.location(), full.rfind(" at line ")) {
            (Some(_), Some(i)) => full[..i].to_string(),
            _ => full,
        };
        YamlError { message, line: e.location().filter(|_| lines).map(|l| l.line()) }
    }

    /// An error in `source` itself. The parser places a duplicate key at its mapping's
    /// start; the user needs the line of the second key, and that of the first.
    fn in_source(e: serde_yaml_ng::Error, source: &str) -> YamlError {
        let start = e.location().map(|l| (l.line(), l.column()));
        let mut err = YamlError::of(e, true);
        let Some((at, key)) = err.message.find(DUPLICATE).and_then(|at| {
            let key: String = serde_json::from_str(&err.message[at + DUPLICATE.len()..]).ok()?;
            Some((at, key))
        }) else {
            return err;
        };
        if let Some((first, second)) = start.and_then(|(line, column)| duplicate_lines(source, line, column, &key)) {
            err.message = format!("{}duplicate key `{key}` (first at line {first})", &err.message[..at]);
            err.line = Some(second);
        }
        err
    }
}

const DUPLICATE: &str = "duplicate entry with key ";

/// The lines of the first two `key:` entries of the block mapping whose first key is at
/// `line`, `column` (both from 1); none for a flow mapping or quoted keys.
fn duplicate_lines(source: &str, line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let indent = column.checked_sub(1)?;
    let is_key = |text: &str| text.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'));
    let mut first = None;
    for (i, text) in source.lines().enumerate().skip(line - 1) {
        let own = text.len() - text.trim_start().len();
        let entry = if i == line - 1 {
            text.get(indent..)?
        } else if text.trim().is_empty() || text.trim_start().starts_with('#') || own > indent {
            continue;
        } else if own < indent {
            break;
        } else {
            &text[own..]
        };
        if is_key(entry) {
            match first {
                Some(first) => return Some((first, i + 1)),
                None => first = Some(i + 1),
            }
        }
    }
    None
}

/// Parses YAML into `T`, applying merge keys (`<<: *defaults`) first, as DVC's parser and
/// most YAML tools do. The merged document is written out and read again, so that errors
/// still name the path of keys to the fault; its lines are not the user's, so they go.
pub fn from_yaml<T: DeserializeOwned>(source: &str) -> Result<T, YamlError> {
    // A byte-order mark (editors on Windows write one) is not a second document.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(source).map_err(|e| YamlError::in_source(e, source))?;
    if let Some(at) = non_finite(&value, "") {
        let at = if at.is_empty() { String::new() } else { format!("{at}: ") };
        let message = format!(
            "{at}`.nan`, `.inf` and `-.inf` cannot be values here: params and keys are JSON, which has no such \
             numbers (they would turn into null); quote it for a string"
        );
        return Err(YamlError { message, line: non_finite_line(source) });
    }
    if !has_merge_key(&value) {
        return serde_yaml_ng::from_str(source).map_err(|e| YamlError::in_source(e, source));
    }
    value.apply_merge().map_err(|e| YamlError::of(e, false))?;
    let merged = serde_yaml_ng::to_string(&value).map_err(|e| YamlError::of(e, false))?;
    serde_yaml_ng::from_str(&merged).map_err(|e| YamlError::of(e, false))
}

/// The path of keys (`params.x`, `a[2]`) to the first NaN or infinity in `value`, `at`
/// being the path to `value` itself.
fn non_finite(value: &serde_yaml_ng::Value, at: &str) -> Option<String> {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => Some(at.to_string()),
        Y::Mapping(map) => map.iter().find_map(|(k, v)| {
            let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
            non_finite(v, &if at.is_empty() { key } else { format!("{at}.{key}") })
        }),
        Y::Sequence(items) => items.iter().enumerate().find_map(|(i, v)| non_finite(v, &format!("{at}[{i}]"))),
        Y::Tagged(tagged) => non_finite(&tagged.value, at),
        _ => None,
    }
}

/// The line (from 1) of the first plain `.nan`, `.inf` or `-.inf` (in YAML's spellings)
/// in `source`: the value [`non_finite`] found, whose position the parsed value no longer
/// has. None when only an alias or a tag leads there.
fn non_finite_line(source: &str) -> Option<usize> {
    let plain = |token: &str| {
        let token = token.strip_prefix(['-', '+']).unwrap_or(token);
        matches!(token, ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF")
    };
    let position = source.lines().position(|line| {
        let code = line.split(" #").next().unwrap_or_default();
        !code.trim_start().starts_with('#') && code.split(|c: char| c.is_whitespace() || ",[]{}".contains(c)).any(plain)
    });
    position.map(|i| i + 1)
}

fn has_merge_key(value: &serde_yaml_ng::Value) -> bool {
    match value {
        serde_yaml_ng::Value::Mapping(map) => map.iter().any(|(k, v)| k.as_str() == Some("<<") || has_merge_key(v)),
        serde_yaml_ng::Value::Sequence(items) => items.iter().any(has_merge_key),
        serde_yaml_ng::Value::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

/// A serde message in the user's words: "expected u64" says "expected a non-negative
/// integer", "expected struct RawStage" says "expected a mapping".
pub fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 14] = [
        ("u8", "a non-negative integer"),
        ("u16", "a non-negative integer"),
        ("u32", "a non-negative integer"),
        ("u64", "a non-negative integer"),
        ("usize", "a non-negative integer"),
        ("i8", "an integer"),
        ("i16", "an integer"),
        ("i32", "an integer"),
        ("i64", "an integer"),
        ("isize", "an integer"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("any YAML value", "a number in range"),
        ("struct", "a mapping"),
    ];
    let mut out = String::new();
    let mut rest = message.replace(" as u128, expected", ", expected").replace(" as i128, expected", ", expected");
    while let Some(at) = rest.find("expected ") {
        out.push_str(&rest[..at + "expected ".len()]);
        rest = rest[at + "expected ".len()..].to_string();
        let word_end = rest.find([',', ')']).unwrap_or(rest.len());
        let word = &rest[..word_end];
        let plain = WORDS.iter().find(|(rust, _)| {
            word == *rust || (*rust == "struct" && word.strip_prefix("struct ").is_some_and(|n| !n.contains(' ')))
        });
        if let Some((_, plain)) = plain {
            out.push_str(plain);
            rest = rest[word_end..].to_string();
        }
    }
    out.push_str(&rest);
    out
}

/// Whether `path` is read as TOML rather than YAML.
pub fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

/// The values in `text`, the contents of `path`: TOML for a `.toml` file, YAML otherwise.
/// The error is the parser's, without the path.
pub fn parse(path: &Path, text: &str) -> Result<Value, String> {
    if is_toml(path) {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    } else {
        from_yaml(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nan_and_infinities_are_refused_by_their_path() {
        let err = from_yaml::<Value>("params: {lr: 0.1, xs: [1, .inf]}\n").unwrap_err();
        assert!(err.message.starts_with("params.xs[1]: `.nan`, `.inf` and `-.inf` cannot be values"), "{err}");
        assert!(from_yaml::<Value>("-.inf").unwrap_err().message.starts_with("`.nan`, `.inf`"));
        assert_eq!(from_yaml::<Value>("x: '.nan'").unwrap(), json!({"x": ".nan"}));
        // Placed on its line, past quoted and commented ones.
        assert_eq!(err.line, Some(1));
        let source = "a: '.nan' # .inf\n# b: .nan\nparams:\n  x: 1\n  y: -.inf\n";
        assert_eq!(from_yaml::<Value>(source).unwrap_err().line, Some(5));
    }

    #[test]
    fn rust_type_names_become_words() {
        assert_eq!(
            plain_types("invalid type: integer `-1`, expected u64"),
            "invalid type: integer `-1`, expected a non-negative integer"
        );
        assert_eq!(
            plain_types("invalid type: sequence, expected struct RawPipeline"),
            "invalid type: sequence, expected a mapping"
        );
        assert_eq!(
            plain_types("invalid type: integer `99999999999999999999999` as u128, expected any YAML value"),
            "invalid type: integer `99999999999999999999999`, expected a number in range"
        );
        assert_eq!(
            plain_types("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
        assert_eq!(plain_types("expected one of `a`, `b`"), "expected one of `a`, `b`");
    }

    #[test]
    fn merge_keys_are_applied_and_explicit_keys_win() {
        let yaml = "base: &b {lr: 0.1, epochs: 2}\nrun:\n  <<: *b\n  epochs: 3\n";
        let v: Value = from_yaml(yaml).unwrap();
        assert_eq!(v["run"], json!({"lr": 0.1, "epochs": 3}));
    }

    #[test]
    fn a_duplicate_key_is_placed_on_its_second_line_and_names_the_first() {
        let yaml = "name: p\nstages:\n  a:\n    run: x\n\n    # a comment\n    deps: [y]\n    run: z\n  b: {}\n";
        let err = from_yaml::<Value>(yaml).unwrap_err();
        assert_eq!((err.message.as_str(), err.line), ("stages.a: duplicate key `run` (first at line 4)", Some(8)));
        let err = from_yaml::<Value>("s:\n  - a: 1\n    b: 2\n    a: 3\n").unwrap_err();
        assert_eq!((err.message.as_str(), err.line), ("s[0]: duplicate key `a` (first at line 2)", Some(4)));
        // A flow mapping keeps the parser's place and words.
        let err = from_yaml::<Value>("x: 1\ns: {a: 1,\n  a: 2}\n").unwrap_err();
        assert!(err.message.ends_with("duplicate entry with key \"a\""), "{err}");
    }

    #[test]
    fn errors_keep_their_line_and_after_a_merge_their_key_path() {
        let err = from_yaml::<Value>("a: 1\nb: [\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Run {
            lr: f64,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            run: Run,
        }
        let err = from_yaml::<Doc>("base: &b {lr: 0.1}\nrun:\n  <<: *b\n  lrr: 2\n").unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.message.starts_with("run: unknown field `lrr`"), "{}", err.message);
    }

    #[test]
    fn a_byte_order_mark_is_not_content() {
        assert_eq!(from_yaml::<Value>("\u{feff}a: 1\n").unwrap(), json!({"a": 1}));
    }

    #[test]
    fn toml_by_extension_yaml_and_json_otherwise() {
        let toml = parse(Path::new("m.toml"), "acc = 0.5\n[train]\nlr = 2e-5\n").unwrap();
        assert_eq!(toml, json!({"acc": 0.5, "train": {"lr": 2e-5}}));
        assert_eq!(parse(Path::new("m.json"), "{\"acc\": 0.5}").unwrap(), json!({"acc": 0.5}));
        assert_eq!(parse(Path::new("m.yaml"), "acc: 0.5").unwrap(), json!({"acc": 0.5}));
        assert!(parse(Path::new("m.toml"), "acc = ").unwrap_err().contains("line 1"));
    }
}
