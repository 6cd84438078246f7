//! Text clients send, as it is stored: names, free text and search
//! queries, each cleaned and bounded in one place.

use crate::error::{Error, Result};

/// A display name (agent, visitor, group, tenant) as it is stored: without
/// control characters or bidirectional overrides (which can disguise a name
/// in someone else's view), trimmed, 1-64 characters.
pub fn clean_name(field: &'static str, value: &str) -> Result<String> {
    let kept: String = value.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
    let name = kept.trim();
    if (1..=64).contains(&name.chars().count()) {
        Ok(name.to_string())
    } else {
        Err(Error::invalid("invalid_field", format!("{field} must be 1-64 characters")))
    }
}

/// Unicode's bidirectional marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Free text as stored (a note, a comment): control characters but line
/// breaks dropped, trimmed, at most `max` characters; empty is none.
pub fn clean_text(field: &str, text: &str, max: usize) -> Result<Option<String>> {
    let kept: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    let kept = kept.trim();
    if kept.chars().count() > max {
        return Err(Error::invalid("invalid_field", format!("{field} is limited to {max} characters")));
    }
    Ok((!kept.is_empty()).then(|| kept.to_string()))
}

/// A list's search query, as stored text is searched: trimmed and
/// lower-cased, at most 64 characters; empty is no search.
pub fn search_query(q: Option<String>) -> Result<Option<String>> {
    let q = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 64) {
        return Err(Error::invalid("invalid_field", "q is limited to 64 characters"));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_control_and_bidi_characters() {
        assert_eq!(clean_name("name", "  Wang\u{202E}fang\u{0007} ").unwrap(), "Wangfang");
        assert_eq!(clean_name("name", "\u{2066}小芳\u{2069}\n").unwrap(), "小芳");
        assert_eq!(clean_name("name", "\u{202E}\u{200F} \t").unwrap_err().code(), "invalid_field");
        assert!(clean_name("name", &"x".repeat(65)).is_err());
        assert_eq!(clean_name("name", &"字".repeat(64)).unwrap().chars().count(), 64);
    }

    #[test]
    fn search_queries_are_trimmed_lower_cased_and_bounded() {
        assert_eq!(search_query(Some("  Wang ".into())).unwrap().as_deref(), Some("wang"));
        assert_eq!(search_query(Some("   ".into())).unwrap(), None);
        assert_eq!(search_query(None).unwrap(), None);
        assert_eq!(search_query(Some("x".repeat(65))).unwrap_err().code(), "invalid_field");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            /// A name is stored clean or refused: no control character or
            /// bidirectional override survives, it is trimmed and 1-64
            /// characters; nothing panics.
            #[test]
            fn names_are_stored_clean_or_refused(raw in "(\\PC|[\\x00-\\x1f\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}]){0,80}") {
                match clean_name("nickname", &raw) {
                    Ok(name) => {
                        prop_assert!(!name.chars().any(|c| c.is_control() || is_bidi_control(c)));
                        prop_assert_eq!(name.trim(), name.as_str());
                        prop_assert!((1..=64).contains(&name.chars().count()));
                    }
                    Err(e) => prop_assert_eq!(e.code(), "invalid_field"),
                }
                if let Ok(Some(text)) = clean_text("note", &raw, 40) {
                    prop_assert!(text.chars().count() <= 40 && !text.is_empty());
                    prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
                }
            }
        }
    }
}
