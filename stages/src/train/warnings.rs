//! Params that run but do not do what they seem to: said on stderr, the training
//! itself unchanged (its key and bytes are what the params give).

use super::params::TrainParams;
use super::trainer::Recipe;

/// `train_subset` above the split's row count: stratified sampling then keeps every row.
pub fn subset_exceeds(n: usize, rows: usize) -> Option<String> {
    (n > rows).then(|| format!("`train_subset` {n} is more than the {rows} training rows: training on all of them"))
}

/// A warmup as long as the run: the schedule's first step is at lr 0 (as transformers'),
/// so a single step updates no weight, and a longer run never reaches `lr`.
pub fn warmup_covers_all(p: &TrainParams, rows: usize, recipe: &Recipe) -> Option<String> {
    let (steps, warmup) = (recipe.total_steps, recipe.warmup_steps);
    if steps == 0 || warmup < steps {
        return None;
    }
    let subset = if p.train_subset.is_some() { " (`train_subset`)" } else { "" };
    let effect = if steps == 1 {
        "its one step runs at lr 0, so no weight is updated and the checkpoint is the starting model".to_string()
    } else {
        format!("the learning rate never reaches `lr` {}", p.lr)
    };
    Some(format!(
        "the warmup (`warmup_ratio` {} of {steps} step(s), rounded up: {warmup}) covers every optimizer step \
         ({rows} training rows{subset} in batches of `batch_size` {}, `epochs` {}): {effect}",
        p.warmup_ratio, p.batch_size, p.epochs
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(p: &TrainParams, rows: usize) -> Recipe {
        p.recipe(rows.div_ceil(p.batch_size) * p.epochs)
    }

    #[test]
    fn a_warmup_covering_every_step_is_named_with_its_params() {
        let p = TrainParams { batch_size: 100_000, epochs: 1, ..TrainParams::default() };
        assert_eq!(
            warmup_covers_all(&p, 256, &recipe(&p, 256)).unwrap(),
            "the warmup (`warmup_ratio` 0.06 of 1 step(s), rounded up: 1) covers every optimizer step (256 training \
             rows in batches of `batch_size` 100000, `epochs` 1): its one step runs at lr 0, so no weight is \
             updated and the checkpoint is the starting model"
        );
        let p = TrainParams { warmup_ratio: 1.0, train_subset: Some(64), ..TrainParams::default() };
        let text = warmup_covers_all(&p, 64, &recipe(&p, 64)).unwrap();
        assert!(
            text.contains("rounded up: 6) covers every optimizer step (64 training rows (`train_subset`)"),
            "{text}"
        );
        assert!(text.ends_with("never reaches `lr` 0.00002"), "{text}");
    }

    #[test]
    fn a_warmup_shorter_than_the_run_or_none_says_nothing() {
        let p = TrainParams::default();
        assert_eq!(warmup_covers_all(&p, 256, &recipe(&p, 256)), None);
        let p = TrainParams { batch_size: 100_000, warmup_ratio: 0.0, ..TrainParams::default() };
        assert_eq!(warmup_covers_all(&p, 256, &recipe(&p, 256)), None);
    }

    #[test]
    fn a_subset_above_the_row_count_is_named() {
        assert_eq!(
            subset_exceeds(10_000_000, 60_614).unwrap(),
            "`train_subset` 10000000 is more than the 60614 training rows: training on all of them"
        );
        assert_eq!(subset_exceeds(60_614, 60_614), None);
    }
}
