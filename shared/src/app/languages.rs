//! G3: the languages a translation may go to or from, for the workbench's
//! pickers.

use serde::Serialize;

use crate::auth::Principal;
use crate::domain::translation::{self, Language};
use crate::error::{Error, Result};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Languages {
    /// The language the names are in.
    pub display: &'static str,
    pub languages: Vec<Language>,
    /// Languages translated only to and from these (G3).
    pub only_with: Vec<OnlyWith>,
}

#[derive(Debug, Serialize)]
pub struct OnlyWith {
    pub code: &'static str,
    pub with: [&'static str; 1],
}

/// `display` is `zh` or `en` (default `en`).
pub fn list(who: &Principal, display: Option<&str>) -> Result<Languages> {
    who.require_staff()?;
    let display = match display.unwrap_or("en") {
        "zh" => "zh",
        "en" => "en",
        other => return Err(Error::invalid("invalid_field", format!("display must be zh or en, not {other:?}"))),
    };
    Ok(Languages {
        display,
        languages: translation::languages(display),
        only_with: translation::ONLY_WITH_CHINESE.iter().map(|code| OnlyWith { code, with: ["zh"] }).collect(),
    })
}
