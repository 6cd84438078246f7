//! Compact HS256 JWTs: only the one algorithm Kefu issues is accepted, so
//! `alg: none` and algorithm-confusion tokens fail before any signature check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{Key, KeySet};
use super::Claims;
use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

pub(crate) fn encode_part(v: &impl serde::Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("claims serialize"))
}

fn mac(secret: &[u8], signing_input: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac
}

fn signed(header: serde_json::Value, claims: &Claims, secret: &[u8]) -> String {
    let input = format!("{}.{}", encode_part(&header), encode_part(claims));
    let sig = mac(secret, &input).finalize().into_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Signs with `key`, naming it in the header (`kid`).
pub fn sign(claims: &Claims, key: &Key) -> String {
    signed(serde_json::json!({ "alg": "HS256", "typ": "JWT", "kid": key.id }), claims, key.secret())
}

/// As tokens were signed before key ids: for tests of old tokens.
#[cfg(test)]
pub(crate) fn sign_without_kid(claims: &Claims, secret: &[u8]) -> String {
    signed(serde_json::json!({ "alg": "HS256", "typ": "JWT" }), claims, secret)
}

fn header(token: &str) -> Option<serde_json::Value> {
    let h = token.split('.').next()?;
    URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// The key id a token names, if any (unverified: only to pick the key).
pub fn key_id(token: &str) -> Option<String> {
    header(token)?.get("kid")?.as_str().map(str::to_string)
}

/// Verifies with the key the token names, or, for a token naming none (or
/// one not in `keys`), with each key in turn.
pub fn verify(token: &str, keys: &KeySet, now_secs: i64) -> Result<Claims> {
    let bad = || Error::unauthorized("invalid token");
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let header = header(token).ok_or_else(bad)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(bad());
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let named = header.get("kid").and_then(|k| k.as_str()).and_then(|kid| keys.find(kid));
    let input = format!("{h}.{p}");
    // Constant-time comparison.
    let valid = match named {
        Some(key) => mac(key.secret(), &input).verify_slice(&sig).is_ok(),
        None => keys.all().any(|key| mac(key.secret(), &input).verify_slice(&sig).is_ok()),
    };
    if !valid {
        return Err(bad());
    }
    let claims: Claims =
        URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
    if claims.exp <= now_secs {
        return Err(Error::unauthorized("token expired"));
    }
    Ok(claims)
}
