//! Compact HS256 JWTs: only the one algorithm Kefu issues is accepted, so
//! `alg: none` and algorithm-confusion tokens fail before any signature check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Claims;
use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub(crate) fn encode_part(v: &impl serde::Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("claims serialize"))
}

fn mac(secret: &[u8], signing_input: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac
}

pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), encode_part(claims));
    let sig = mac(secret, &input).finalize().into_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub fn verify(token: &str, secret: &[u8], now_secs: i64) -> Result<Claims> {
    let bad = || Error::unauthorized("invalid token");
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let header: serde_json::Value =
        URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(bad());
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    // Constant-time comparison.
    mac(secret, &format!("{h}.{p}")).verify_slice(&sig).map_err(|_| bad())?;
    let claims: Claims =
        URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
    if claims.exp <= now_secs {
        return Err(Error::unauthorized("token expired"));
    }
    Ok(claims)
}
