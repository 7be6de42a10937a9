//! Lexical markers of hard sentiment phenomena (negation, contrast), shared by the
//! slice and visualize stages. A sentence carries a marker when one of its
//! lowercased, whitespace-separated words equals a word of the list. SST-2 text is
//! already tokenised (`does n't`, `ca n't`), so "n't" is a word of its own.

/// Default negation words (configurable in the stages' YAML).
pub const NEGATION: &[&str] =
    &["not", "n't", "no", "never", "nothing", "none", "nobody", "neither", "nor", "nowhere", "cannot"];

/// Default contrast words (configurable in the stages' YAML).
pub const CONTRAST: &[&str] =
    &["but", "however", "although", "though", "yet", "nevertheless", "nonetheless", "whereas"];

/// The default lists as owned strings, for params structs.
pub fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

/// Lowercased whitespace-separated words of `text`.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace().map(str::to_lowercase)
}

/// True when a word of `text` (lowercased) equals an entry of `list` (compared lowercased).
pub fn contains_any(text: &str, list: &[String]) -> bool {
    words(text).any(|w| list.iter().any(|m| m.to_lowercase() == w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_lowercased_words_only() {
        let neg = owned(NEGATION);
        assert!(contains_any("it does n't work", &neg));
        assert!(contains_any("NOT good", &neg));
        assert!(!contains_any("a notable film", &neg));
        assert!(!contains_any("", &neg));
        let con = owned(CONTRAST);
        assert!(contains_any("slow , but rewarding", &con));
        assert!(!contains_any("butter", &con));
        assert!(contains_any("good yet", &owned(&["YET"])));
    }
}
