//! Which rows go into which batch.
//!
//! Training batches are shuffled but length-bucketed: rows are shuffled, cut into
//! pools of [`POOL_BATCHES`] batches, each pool is sorted by length and cut into
//! batches, and the batch order is shuffled again. Padding each batch only to its
//! own longest row (dynamic padding) then wastes few positions, while every batch
//! still mixes rows from all over the split. Evaluation batches need no shuffling:
//! sorting by length wastes the least padding.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Batches per length-sorted pool: large enough that neighbours in a pool have
/// similar lengths, small enough that a pool is still a random sample of the split.
const POOL_BATCHES: usize = 50;

/// One epoch of training batches: row indices into `lengths`, every row exactly once.
pub fn train_batches(lengths: &[usize], batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::with_capacity(lengths.len().div_ceil(batch_size));
    for pool in order.chunks_mut(batch_size * POOL_BATCHES) {
        // Stable sort: ties keep their shuffled order, so the result depends on the rng only.
        pool.sort_by_key(|&i| lengths[i]);
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// Evaluation batches: rows sorted by length (ties by index), cut into batches.
pub fn eval_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Positions a batch occupies once padded to its longest row.
pub fn padded_len(lengths: &[usize], batch: &[usize]) -> usize {
    batch.iter().map(|&i| lengths[i]).max().unwrap_or(0) * batch.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    fn lengths(n: usize) -> Vec<usize> {
        (0..n).map(|i| 3 + (i * 7919) % 61).collect()
    }

    fn covers_each_row_once(batches: &[Vec<usize>], n: usize) {
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn train_batches_cover_every_row_once_and_are_seeded() {
        let lens = lengths(5000);
        let a = train_batches(&lens, 32, &mut derive(1, "batches"));
        covers_each_row_once(&a, lens.len());
        assert!(a.iter().all(|b| !b.is_empty() && b.len() <= 32));
        assert_eq!(a, train_batches(&lens, 32, &mut derive(1, "batches")));
        assert_ne!(a, train_batches(&lens, 32, &mut derive(2, "batches")));
    }

    #[test]
    fn bucketing_pads_far_less_than_random_batches() {
        let lens = lengths(6400);
        let bucketed: usize = train_batches(&lens, 32, &mut derive(3, "b")).iter().map(|b| padded_len(&lens, b)).sum();
        let mut order: Vec<usize> = (0..lens.len()).collect();
        order.shuffle(&mut derive(3, "plain"));
        let random: usize = order.chunks(32).map(|b| padded_len(&lens, b)).sum();
        let real: usize = lens.iter().sum();
        assert!(bucketed < real + real / 10, "bucketed {bucketed} vs real {real}");
        assert!(random > real + real / 2, "random {random} vs real {real}");
    }

    #[test]
    fn batch_order_is_shuffled_across_pools() {
        let lens = lengths(32 * 200);
        let batches = train_batches(&lens, 32, &mut derive(4, "b"));
        // With the batch order shuffled, the first pool's batches are spread over the epoch.
        let first_pool: std::collections::HashSet<usize> = {
            let mut order: Vec<usize> = (0..lens.len()).collect();
            order.shuffle(&mut derive(4, "b"));
            order[..32 * POOL_BATCHES].iter().copied().collect()
        };
        let positions: Vec<usize> =
            batches.iter().enumerate().filter(|(_, b)| first_pool.contains(&b[0])).map(|(p, _)| p).collect();
        assert_eq!(positions.len(), POOL_BATCHES);
        assert!(*positions.last().unwrap() >= POOL_BATCHES * 2, "{positions:?}");
    }

    #[test]
    fn eval_batches_are_sorted_by_length() {
        let lens = lengths(300);
        let batches = eval_batches(&lens, 128);
        covers_each_row_once(&batches, lens.len());
        let flat: Vec<usize> = batches.iter().flatten().map(|&i| lens[i]).collect();
        assert!(flat.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![128, 128, 44]);
    }
}
