//! The embedded font, registered once per process under the family name plotters
//! uses by default (`sans-serif`), so mesh labels need no extra configuration.

use std::sync::Once;

use plotters::style::{register_font, FontStyle};

use crate::StageError;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();

/// Makes [`FAMILY`] available to plotters. Cheap after the first call.
pub fn ensure() -> Result<(), StageError> {
    let mut ok = true;
    REGISTER.call_once(|| ok = register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(StageError::Failed("the embedded font assets/DejaVuSans.ttf could not be parsed".into()))
    }
}
