//! Identifiers. Ids end up inside DynamoDB keys joined by `#`, so anything a
//! client chooses is checked against a strict alphabet first.

use crate::error::{Error, Result};

/// A fresh random id with a readable prefix, e.g. `s_3f2a…` for a session.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Ids clients may choose or send back: 1–64 of `[A-Za-z0-9_.:-]`.
pub fn check(field: &'static str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_id",
            format!("{field} must be 1-64 characters of letters, digits, '_', '-', '.', ':'"),
        ))
    }
}

/// Tenant ids are chosen by operators and appear in URLs: 2–40 of `[a-z0-9-]`.
pub fn check_tenant(value: &str) -> Result<()> {
    let ok = (2..=40).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("invalid_id", "tenant id must be 2-40 characters of a-z, 0-9 and '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_break_a_key_are_refused() {
        assert!(check("sessionId", "s_abc-1.2:3").is_ok());
        assert!(check("sessionId", "T#other#S#x").is_err());
        assert!(check("sessionId", "").is_err());
        assert!(check("sessionId", &"x".repeat(65)).is_err());
        assert!(check_tenant("acme-2").is_ok());
        assert!(check_tenant("Acme").is_err());
        assert!(new_id("s").starts_with("s_"));
        assert_ne!(new_id("s"), new_id("s"));
    }
}
