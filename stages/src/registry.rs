use std::collections::BTreeMap;

use serde_json::Value;

use crate::Stage;

/// The stage kinds a pipeline may `use`, by name.
pub struct Registry {
    stages: BTreeMap<&'static str, Box<dyn Stage>>,
}

impl Registry {
    pub fn empty() -> Self {
        Registry { stages: BTreeMap::new() }
    }

    /// Every built-in stage.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        crate::shell::register(&mut r);
        crate::data::register(&mut r);
        crate::train::register(&mut r);
        crate::eval::register(&mut r);
        crate::viz::register(&mut r);
        crate::report::register(&mut r);
        r
    }

    pub fn add(&mut self, stage: Box<dyn Stage>) {
        self.stages.insert(stage.kind(), stage);
    }

    pub fn get(&self, kind: &str) -> Option<&dyn Stage> {
        self.stages.get(kind).map(|s| s.as_ref())
    }

    /// Resolved params of a `kind` instance as people read them (run records,
    /// `pipe status --why`, `pipe diff`): with the values the stage leaves out of
    /// its key (`Stage::implicit`) filled in.
    pub fn shown(&self, kind: &str, params: &Value) -> Value {
        let mut shown = params.clone();
        if let (Some(stage), Value::Object(map)) = (self.get(kind), &mut shown) {
            if let Value::Object(implicit) = stage.implicit() {
                for (k, v) in implicit {
                    map.entry(k).or_insert(v);
                }
            }
        }
        shown
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stages.keys().copied()
    }
}
