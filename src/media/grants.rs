//! Signed tokens: direct-upload grants and transformation URLs.
//!
//! A grant is `base64url(claims JSON) "." hex(HMAC-SHA256(key, "grant:" + payload))`:
//! it names the owner, folder, allowed kind, byte limit, expiry and a
//! single-use nonce, so a client can upload without its JWT and can change
//! none of these. Transformation URLs carry a truncated HMAC over the
//! transformation and the publicId, so only transformations this server
//! issued are ever rendered.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a direct-upload grant allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The user the upload will belong to.
    pub owner: String,
    pub folder: String,
    /// `image`, `video` or `auto` (either).
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Byte limit of the file.
    pub max: u64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Single-use marker.
    pub nonce: String,
}

/// Why a grant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// Malformed, or its signature does not match (tampered).
    Invalid,
    Expired,
}

fn mac(key: &[u8], domain: &str, message: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(domain.as_bytes());
    m.update(message.as_bytes());
    m
}

/// The token and its hex signature for `claims`.
pub fn sign_grant(key: &[u8], claims: &GrantClaims) -> (String, String) {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signature = hex::encode(mac(key, "grant:", &payload).finalize().into_bytes());
    (format!("{payload}.{signature}"), signature)
}

/// The claims of a genuine, unexpired grant. The signature is compared in
/// constant time before the payload is even decoded.
pub fn verify_grant(key: &[u8], token: &str, now_secs: i64) -> Result<GrantClaims, GrantRefusal> {
    let (payload, signature) = token.trim().split_once('.').ok_or(GrantRefusal::Invalid)?;
    let signature = hex::decode(signature).map_err(|_| GrantRefusal::Invalid)?;
    mac(key, "grant:", payload)
        .verify_slice(&signature)
        .map_err(|_| GrantRefusal::Invalid)?;
    let raw = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| GrantRefusal::Invalid)?;
    let claims: GrantClaims = serde_json::from_slice(&raw).map_err(|_| GrantRefusal::Invalid)?;
    if now_secs >= claims.exp {
        return Err(GrantRefusal::Expired);
    }
    Ok(claims)
}

/// The signature segment of a transformation URL (16 base64url characters).
pub fn sign_transform(key: &[u8], transformation: &str, public_id: &str) -> String {
    let bytes = mac(key, "t:", &format!("{transformation}/{public_id}"))
        .finalize()
        .into_bytes();
    URL_SAFE_NO_PAD.encode(&bytes[..12])
}

/// Whether `signature` is the one this key gives the transformation (constant time).
pub fn transform_is_signed(
    key: &[u8],
    transformation: &str,
    public_id: &str,
    signature: &str,
) -> bool {
    let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    if given.len() != 12 {
        return false;
    }
    let expected = mac(key, "t:", &format!("{transformation}/{public_id}"))
        .finalize()
        .into_bytes();
    let mut diff = 0u8;
    for (a, b) in given.iter().zip(&expected[..12]) {
        diff |= a ^ b;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> GrantClaims {
        GrantClaims {
            owner: "0123456789abcdef01234567".into(),
            folder: "baitech/users/x".into(),
            resource_type: "image".into(),
            max: 1000,
            iat: 100,
            exp: 200,
            nonce: "n1".into(),
        }
    }

    #[test]
    fn grants_round_trip_and_expire() {
        let (token, sig) = sign_grant(b"k", &claims());
        assert!(token.ends_with(&sig));
        assert_eq!(verify_grant(b"k", &token, 150), Ok(claims()));
        assert_eq!(verify_grant(b"k", &token, 200), Err(GrantRefusal::Expired));
        assert_eq!(
            verify_grant(b"other", &token, 150),
            Err(GrantRefusal::Invalid)
        );
    }

    #[test]
    fn tampered_grants_are_invalid() {
        let (token, sig) = sign_grant(b"k", &claims());
        let mut bigger = claims();
        bigger.max = 10_000_000;
        let (forged_payload, _) = sign_grant(b"x", &bigger);
        let forged = format!("{}.{sig}", forged_payload.split('.').next().unwrap());
        assert_eq!(verify_grant(b"k", &forged, 150), Err(GrantRefusal::Invalid));
        for bad in ["", "abc", "abc.def", &token.replace('.', "")] {
            assert_eq!(verify_grant(b"k", bad, 150), Err(GrantRefusal::Invalid));
        }
    }

    #[test]
    fn transform_signatures_bind_both_parts() {
        let s = sign_transform(b"k", "f_webp,w_300", "baitech/a");
        assert_eq!(s.len(), 16);
        assert!(transform_is_signed(b"k", "f_webp,w_300", "baitech/a", &s));
        assert!(!transform_is_signed(b"k", "f_webp,w_301", "baitech/a", &s));
        assert!(!transform_is_signed(b"k", "f_webp,w_300", "baitech/b", &s));
        assert!(!transform_is_signed(
            b"k",
            "f_webp,w_300",
            "baitech/a",
            "short"
        ));
    }
}
