//! Linear warmup then linear decay to 0, as transformers'
//! `get_linear_schedule_with_warmup` (LambdaLR, the step index counts optimizer steps from 0).

#[derive(Debug, Clone)]
pub struct LinearSchedule {
    base_lr: f64,
    warmup_steps: usize,
    total_steps: usize,
}

impl LinearSchedule {
    pub fn new(base_lr: f64, warmup_steps: usize, total_steps: usize) -> LinearSchedule {
        LinearSchedule { base_lr, warmup_steps, total_steps }
    }

    /// Warmup steps for a ratio of the run, rounded up (transformers' `get_warmup_steps`).
    pub fn warmup_steps(total_steps: usize, warmup_ratio: f64) -> usize {
        (total_steps as f64 * warmup_ratio).ceil() as usize
    }

    /// Learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        let factor = if step < self.warmup_steps {
            step as f64 / self.warmup_steps.max(1) as f64
        } else {
            let left = self.total_steps.saturating_sub(step) as f64;
            (left / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64).max(0.0)
        };
        self.base_lr * factor
    }
}
