//! `logits.json`: the raw logits of test and dev with their labels, written by
//! `evaluate` so that calibration can rescale logits without rerunning the model.
//! `{"test": [[l0, l1], ...], "dev": [...], "test_labels": [...], "dev_labels": [...]}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scores::Scored;
use crate::StageError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logits {
    pub test: Vec<[f64; 2]>,
    pub dev: Vec<[f64; 2]>,
    pub test_labels: Vec<u8>,
    pub dev_labels: Vec<u8>,
}

impl Logits {
    pub fn new(test: &[Scored], dev: &[Scored]) -> Logits {
        Logits {
            test: test.iter().map(|s| s.logits).collect(),
            dev: dev.iter().map(|s| s.logits).collect(),
            test_labels: test.iter().map(|s| s.label).collect(),
            dev_labels: dev.iter().map(|s| s.label).collect(),
        }
    }

    pub fn read(path: &Path) -> Result<Logits, StageError> {
        let logits: Logits = crate::json::read(path)?;
        for (name, l, y) in [("test", &logits.test, &logits.test_labels), ("dev", &logits.dev, &logits.dev_labels)] {
            if l.len() != y.len() {
                return Err(StageError::Input(format!(
                    "{}: {} {name} logits but {} labels",
                    path.display(),
                    l.len(),
                    y.len()
                )));
            }
            if let Some(bad) = y.iter().find(|&&y| y > 1) {
                return Err(StageError::Input(format!("{}: {name} label {bad} is not 0 or 1", path.display())));
            }
        }
        Ok(logits)
    }

    pub fn test_scored(&self) -> Vec<Scored> {
        zip(&self.test, &self.test_labels)
    }

    pub fn dev_scored(&self) -> Vec<Scored> {
        zip(&self.dev, &self.dev_labels)
    }
}

fn zip(logits: &[[f64; 2]], labels: &[u8]) -> Vec<Scored> {
    logits.iter().zip(labels).map(|(&logits, &label)| Scored { logits, label }).collect()
}
