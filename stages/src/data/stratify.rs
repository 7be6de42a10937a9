//! Stratified, seeded train/dev split: each label keeps its share in both parts.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::examples::Example;

/// Moves `round(fraction * n_label)` randomly chosen rows of each label to dev.
/// Both parts keep the input order, so the output depends only on the seed and the rows.
/// Rows must be labelled (the split stage checks this first).
pub fn train_dev(rows: Vec<Example>, fraction: f64, rng: &mut ChaCha8Rng) -> (Vec<Example>, Vec<Example>) {
    let mut to_dev = vec![false; rows.len()];
    for label in [0u8, 1] {
        let mut of_label: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].label == Some(label)).collect();
        of_label.shuffle(rng);
        let n_dev = (of_label.len() as f64 * fraction).round() as usize;
        for &i in &of_label[..n_dev] {
            to_dev[i] = true;
        }
    }
    let (dev, train): (Vec<_>, Vec<_>) = rows.into_iter().zip(to_dev).partition(|(_, d)| *d);
    (train.into_iter().map(|(e, _)| e).collect(), dev.into_iter().map(|(e, _)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[u8]) -> Vec<Example> {
        let ex = |(i, &l): (usize, &u8)| Example {
            idx: i as u64,
            source: "train".into(),
            text: i.to_string(),
            label: Some(l),
        };
        labels.iter().enumerate().map(ex).collect()
    }

    #[test]
    fn keeps_each_label_share_and_is_seeded() {
        let labels: Vec<u8> = (0..100).map(|i| u8::from(i % 4 == 0)).collect(); // 25 positive, 75 negative
        let split = |seed| train_dev(rows(&labels), 0.2, &mut crate::rng::derive(seed, "t"));
        let (train, dev) = split(1);
        assert_eq!((train.len(), dev.len()), (80, 20));
        assert_eq!(dev.iter().filter(|e| e.label == Some(1)).count(), 5);
        assert!(train.windows(2).all(|w| w[0].idx < w[1].idx), "train keeps input order");
        assert_eq!(split(1).1, dev);
        assert_ne!(split(2).1, dev);
    }
}
