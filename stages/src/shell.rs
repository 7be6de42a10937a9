pub fn register(_r: &mut crate::Registry) {}
