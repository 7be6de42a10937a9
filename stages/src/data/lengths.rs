//! Token length statistics of a split (before truncation, so they show how much
//! `max_len` cuts off).

use crate::Context;

/// Records `<split>_len_mean`, `_len_p50`, `_len_p95`, `_len_max` and `<split>_truncated`
/// (rows longer than `max_len`). Percentiles are nearest-rank. Nothing for an empty split
/// but a zero truncated count.
pub fn record(ctx: &mut Context, split: &str, lengths: &[usize], max_len: usize) {
    ctx.metric(&format!("{split}_truncated"), lengths.iter().filter(|&&n| n > max_len).count());
    if lengths.is_empty() {
        return;
    }
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable();
    let mean = sorted.iter().sum::<usize>() as f64 / sorted.len() as f64;
    ctx.metric(&format!("{split}_len_mean"), mean);
    ctx.metric(&format!("{split}_len_p50"), percentile(&sorted, 0.50));
    ctx.metric(&format!("{split}_len_p95"), percentile(&sorted, 0.95));
    ctx.metric(&format!("{split}_len_max"), sorted[sorted.len() - 1]);
}

/// Nearest-rank percentile of a sorted, non-empty slice.
fn percentile(sorted: &[usize], p: f64) -> usize {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<usize> = (1..=20).collect();
        assert_eq!(percentile(&sorted, 0.5), 10);
        assert_eq!(percentile(&sorted, 0.95), 19);
        assert_eq!(percentile(&[7], 0.95), 7);
    }
}
