//! "Did you mean" hints for misspelt keys, stage names and stage kinds.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = word.chars().count().div_ceil(3).max(1);
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let near = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // Else one word abbreviates the other: `memory` for `mem`, `part` for `partition`.
    let short = |c: &str| c.len().min(word.len()) >= 3 && (word.starts_with(c) || c.starts_with(word));
    near.or_else(|| candidates.into_iter().find(|c| short(c)))
}

/// ` (did you mean `x`?)`, or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a message
/// that leads with the nearest valid key; other messages pass through.
pub fn explain(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return pipe_stages::values::plain_types(message);
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if valid.is_empty() {
        return format!("unknown key `{word}`: this mapping takes no keys");
    }
    format!("unknown key `{word}`{}; valid keys: {}", hint(word, valid.iter().copied()), valid.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(closest("neds", ["uses", "needs", "with"]), Some("needs"));
        assert_eq!(closest("zzzz", ["uses", "needs"]), None);
        assert_eq!(closest("memory", ["cpus", "mem", "time"]), Some("mem"));
        assert_eq!(closest("part", ["partition", "account"]), Some("partition"));
        assert_eq!(closest("lrr", ["lr", "epochs"]), Some("lr"), "by distance");
        assert_eq!(closest("ab", ["abc"]), Some("abc"), "by distance");
        let m = explain("unknown field `neds`, expected one of `uses`, `needs`");
        assert_eq!(m, "unknown key `neds` (did you mean `needs`?); valid keys: uses, needs");
    }
}
