//! A seeded, label-stratified subset of the training rows (`train_subset`), so a
//! quick pipeline trains on a few thousand rows with the split's class balance.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// `n` row indices (all rows when `n >= labels.len()`), in ascending order. Each
/// label gets its share of `n` by largest remainder, drawn uniformly within the label.
pub fn stratified(labels: &[i64], n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if n >= labels.len() {
        return (0..labels.len()).collect();
    }
    let mut by_label: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        by_label.entry(label).or_default().push(i);
    }
    let total = labels.len();
    // Largest-remainder apportionment: floor shares first, leftovers to the largest remainders.
    let mut quotas: Vec<(i64, usize, usize)> =
        by_label.iter().map(|(&label, rows)| (label, rows.len() * n / total, rows.len() * n % total)).collect();
    let mut left = n - quotas.iter().map(|q| q.1).sum::<usize>();
    let mut by_remainder: Vec<usize> = (0..quotas.len()).collect();
    by_remainder.sort_by_key(|&k| (std::cmp::Reverse(quotas[k].2), quotas[k].0));
    for k in by_remainder {
        if left == 0 {
            break;
        }
        quotas[k].1 += 1;
        left -= 1;
    }
    let mut picked = Vec::with_capacity(n);
    for (label, quota, _) in quotas {
        let rows = by_label.get_mut(&label).expect("quota labels come from by_label");
        rows.shuffle(rng);
        picked.extend_from_slice(&rows[..quota]);
    }
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    #[test]
    fn keeps_the_class_balance_and_is_seeded() {
        let labels: Vec<i64> = (0..1000).map(|i| if i % 4 == 0 { 0 } else { 1 }).collect();
        let a = stratified(&labels, 101, &mut derive(7, "subset"));
        assert_eq!(a.len(), 101);
        let negatives = a.iter().filter(|&&i| labels[i] == 0).count();
        assert!((25..=26).contains(&negatives), "{negatives}");
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, stratified(&labels, 101, &mut derive(7, "subset")));
        assert_ne!(a, stratified(&labels, 101, &mut derive(8, "subset")));
    }

    #[test]
    fn asking_for_more_than_there_is_keeps_everything() {
        let labels = vec![0, 1, 1];
        assert_eq!(stratified(&labels, 10, &mut derive(1, "s")), vec![0, 1, 2]);
    }
}
