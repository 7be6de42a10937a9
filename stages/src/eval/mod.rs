//! (module being built)

pub fn register(_r: &mut crate::Registry) {}
