//! SST-2's train rows are phrases cut from about 6,900 sentences, the sentences among them:
//! which rows lie inside which. A text lies inside another when its words are a run of the
//! other's words; a sentence is a text no other row holds.

use std::collections::HashMap;

/// The distinct texts of a list of rows (their words joined by one space).
pub struct Phrases {
    ids: HashMap<String, usize>,
    /// The texts, by id, in the order of their first row.
    texts: Vec<String>,
    /// Each row's text id.
    of_row: Vec<usize>,
}

impl Phrases {
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a str>) -> Phrases {
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut texts = Vec::new();
        let of_row = rows
            .into_iter()
            .map(|row| {
                let words = row.split_whitespace().collect::<Vec<_>>().join(" ");
                *ids.entry(words).or_insert_with_key(|words| {
                    texts.push(words.clone());
                    texts.len() - 1
                })
            })
            .collect();
        Phrases { ids, texts, of_row }
    }

    pub fn texts(&self) -> usize {
        self.texts.len()
    }

    /// Row `row`'s text id.
    pub fn text_of(&self, row: usize) -> usize {
        self.of_row[row]
    }

    /// Calls `f` with each text that lies inside text `t` as a run of fewer than all its
    /// words (once per place it occurs).
    pub fn each_inside(&self, t: usize, mut f: impl FnMut(usize)) {
        let words = &self.texts[t];
        let bounds: Vec<(usize, usize)> = words
            .split(' ')
            .scan(0, |at, w| {
                let start = *at;
                *at += w.len() + 1;
                Some((start, start + w.len()))
            })
            .collect();
        for first in 0..bounds.len() {
            for last in first..bounds.len() {
                if last - first + 1 == bounds.len() {
                    continue;
                }
                if let Some(&id) = self.ids.get(&words[bounds[first].0..bounds[last].1]) {
                    f(id);
                }
            }
        }
    }

    /// The sentences: texts that lie inside no other text, in the order of their first row.
    pub fn sentences(&self) -> Vec<usize> {
        let mut inside = vec![false; self.texts.len()];
        for t in 0..self.texts.len() {
            self.each_inside(t, |i| inside[i] = true);
        }
        (0..self.texts.len()).filter(|&t| !inside[t]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_hold_their_phrases_by_whole_words() {
        let rows = ["a good film", "good", "good  film ", "a good", "goo", "bad", "good film"];
        let p = Phrases::new(rows);
        assert_eq!(p.texts(), 6, "`good  film ` and `good film` are one text");
        assert_eq!(p.text_of(2), p.text_of(6));
        // "goo" is no run of words of "a good film", so it is a sentence of its own.
        let sentences: Vec<&str> = p.sentences().iter().map(|&t| p.texts[t].as_str()).collect();
        assert_eq!(sentences, ["a good film", "goo", "bad"]);
        let mut inside = Vec::new();
        p.each_inside(p.text_of(0), |t| inside.push(p.texts[t].as_str()));
        inside.sort_unstable();
        assert_eq!(inside, ["a good", "good", "good film"]);
    }
}
