//! A stop request (Ctrl-C, SIGTERM) ends scoring and the visualize stage at their next
//! check instead of after the whole split or every example. The request is
//! process-wide, so this file holds one test: no other test shares its process.

use pipe_stages::model::{Classifier, ModelError, ModelOptions};
use pipe_stages::testkit::run_stage;
use pipe_stages::{interrupt, StageError};
use serde_json::json;

mod viz_common;
use viz_common::{tiny_bert, upstream};

#[test]
fn a_stop_request_ends_scoring_and_visualize_at_their_next_check() {
    let model = Classifier::from_dir(&tiny_bert(), &ModelOptions::default()).unwrap();
    let rows: Vec<Vec<u32>> = (0..8).map(|i| vec![101, 2000 + i, 102]).collect();
    let root = tempfile::tempdir().unwrap();
    let inputs = upstream(root.path());
    let with = json!({"per_category": 1, "ig_steps": 4});

    // Before any request both finish.
    assert_eq!(model.predict_logits(&rows, 2).unwrap().len(), 8);
    run_stage("visualize", with.clone(), inputs.clone(), &root.path().join("before"), 1).unwrap();

    interrupt::request(libc::SIGINT);
    let scored = model.predict_logits(&rows, 2);
    assert!(matches!(scored, Err(ModelError::Interrupted)), "scoring went on: {scored:?}");
    assert!(matches!(StageError::from(ModelError::Interrupted), StageError::Interrupted));
    let visualized = run_stage("visualize", with, inputs, &root.path().join("after"), 1);
    assert!(matches!(visualized, Err(StageError::Interrupted)), "visualize went on: {:?}", visualized.map(|r| r.dir));
}
