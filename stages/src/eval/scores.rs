//! One scored example: the model's two logits and the true label, from which
//! probabilities, the prediction and its confidence follow.

/// Class 0 = negative, 1 = positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub logits: [f64; 2],
    pub label: u8,
}

impl Scored {
    /// Softmax, shifted by the max logit so large logits cannot overflow.
    pub fn probs(&self) -> [f64; 2] {
        let m = self.logits[0].max(self.logits[1]);
        let e = [(self.logits[0] - m).exp(), (self.logits[1] - m).exp()];
        let z = e[0] + e[1];
        [e[0] / z, e[1] / z]
    }

    pub fn p_positive(&self) -> f64 {
        self.probs()[1]
    }

    /// Argmax; a tie goes to the negative class (as `argmax` returns the first maximum).
    pub fn pred(&self) -> u8 {
        u8::from(self.logits[1] > self.logits[0])
    }

    /// Probability of the predicted class.
    pub fn confidence(&self) -> f64 {
        let p = self.probs();
        p[0].max(p[1])
    }

    pub fn correct(&self) -> bool {
        self.pred() == self.label
    }

    /// `ln p(label)` by log-softmax: finite even when the probability rounds to 0.
    pub fn log_p_true(&self) -> f64 {
        let m = self.logits[0].max(self.logits[1]);
        let lse = m + ((self.logits[0] - m).exp() + (self.logits[1] - m).exp()).ln();
        self.logits[usize::from(self.label.min(1))] - lse
    }

    /// The same example with logits divided by temperature `t` (> 0).
    pub fn with_temperature(&self, t: f64) -> Scored {
        Scored { logits: [self.logits[0] / t, self.logits[1] / t], label: self.label }
    }
}
