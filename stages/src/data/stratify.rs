//! Stratified, seeded train/dev split by sentence: SST-2's train rows are phrases of a few
//! thousand sentences, so rows drawn one by one put most of dev inside train rows (88% of a
//! row-by-row dev lay word for word inside a train row, and dev accuracy ran 4.5 pp above
//! test). Dev holds whole sentences instead, with every row found only inside them.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::examples::Example;
use super::phrases::Phrases;

pub struct TrainDev {
    pub train: Vec<Example>,
    pub dev: Vec<Example>,
    /// How many sentences the rows hold, and how many of them went to dev.
    pub sentences: usize,
    pub dev_sentences: usize,
}

/// Moves `round(fraction * n_label)` randomly chosen sentences of each label to dev (a
/// sentence's label is its first row's), with every row that lies inside no other
/// sentence; a row inside a train sentence stays in train, so no train row holds a dev
/// row. Both parts keep the input order, so the output depends only on the seed and the
/// rows. Rows must be labelled (the split stage checks this first).
pub fn train_dev(rows: Vec<Example>, fraction: f64, rng: &mut ChaCha8Rng) -> TrainDev {
    let phrases = Phrases::new(rows.iter().map(|e| e.text.as_str()));
    let mut label_of = vec![None; phrases.texts()];
    for (row, e) in rows.iter().enumerate() {
        label_of[phrases.text_of(row)].get_or_insert(e.label);
    }
    let sentences = phrases.sentences();
    let mut dev_sentences = BTreeSet::<usize>::new();
    for label in [0u8, 1] {
        let mut of_label: Vec<usize> =
            sentences.iter().copied().filter(|&s| label_of[s] == Some(Some(label))).collect();
        of_label.shuffle(rng);
        let n_dev = (of_label.len() as f64 * fraction).round() as usize;
        dev_sentences.extend(&of_label[..n_dev]);
    }
    let mut in_train = vec![false; phrases.texts()];
    for &s in sentences.iter().filter(|s| !dev_sentences.contains(s)) {
        in_train[s] = true;
        phrases.each_inside(s, |t| in_train[t] = true);
    }
    let (train, dev): (Vec<_>, Vec<_>) =
        rows.into_iter().enumerate().partition(|(row, _)| in_train[phrases.text_of(*row)]);
    TrainDev {
        train: train.into_iter().map(|(_, e)| e).collect(),
        dev: dev.into_iter().map(|(_, e)| e).collect(),
        sentences: sentences.len(),
        dev_sentences: dev_sentences.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(texts: &[(&str, u8)]) -> Vec<Example> {
        let ex = |(i, &(text, l)): (usize, &(&str, u8))| Example {
            idx: i as u64,
            source: "train".into(),
            text: text.into(),
            label: Some(l),
        };
        texts.iter().enumerate().map(ex).collect()
    }

    #[test]
    fn keeps_each_label_share_of_sentences_and_is_seeded() {
        let texts: Vec<(String, u8)> = (0..100).map(|i| (format!("s{i}"), u8::from(i % 4 == 0))).collect();
        let texts: Vec<(&str, u8)> = texts.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        let split = |seed| train_dev(rows(&texts), 0.2, &mut crate::rng::derive(seed, "t"));
        let s = split(1);
        assert_eq!((s.train.len(), s.dev.len(), s.sentences, s.dev_sentences), (80, 20, 100, 20));
        assert_eq!(s.dev.iter().filter(|e| e.label == Some(1)).count(), 5);
        assert!(s.train.windows(2).all(|w| w[0].idx < w[1].idx), "train keeps input order");
        assert_eq!(split(1).dev, s.dev);
        assert_ne!(split(2).dev, s.dev);
    }

    #[test]
    fn a_sentence_goes_with_its_own_phrases_and_shared_ones_stay_in_train() {
        // Two sentences of each label; "good" lies in both positive ones.
        let texts = [
            ("a good film", 1),
            ("good", 1),
            ("a good", 1),
            ("good acting", 1),
            ("acting", 1),
            ("dull", 0),
            ("so dull", 0),
            ("bad plot", 0),
            ("plot", 0),
        ];
        for seed in 0..20 {
            let s = train_dev(rows(&texts), 0.5, &mut crate::rng::derive(seed, "t"));
            assert_eq!((s.sentences, s.dev_sentences), (4, 2));
            let dev: Vec<&str> = s.dev.iter().map(|e| e.text.as_str()).collect();
            assert!(!dev.contains(&"good"), "seed {seed}: `good` lies in a train sentence too: {dev:?}");
            let together = |a: &str, b: &str| dev.contains(&a) == dev.contains(&b);
            assert!(together("a good film", "a good") && together("good acting", "acting"), "seed {seed}: {dev:?}");
            assert!(together("so dull", "dull") && together("bad plot", "plot"), "seed {seed}: {dev:?}");
            assert!(s.dev.iter().any(|e| e.label == Some(0)), "seed {seed}: one negative sentence in dev");
        }
    }
}
