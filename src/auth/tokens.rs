//! Access tokens (HS256 JWT, pinned) and the short-lived 2FA challenge token.
//!
//! Claims carry the original's `id` plus `typ` (`access` or `2fa`) and `ver`,
//! the user's token version: bumping it (password change or reset) makes
//! every access token issued before it invalid at once.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Token kinds; a challenge token is never accepted where an access token is.
pub const ACCESS: &str = "access";
pub const CHALLENGE: &str = "2fa";

/// The JWT payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id, as the original server put it.
    pub id: String,
    pub typ: String,
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
    /// Present on challenge tokens, as the original's `requires2FA`.
    #[serde(
        rename = "requires2FA",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub requires_2fa: bool,
    /// The sign-in (refresh-token family) an access token belongs to:
    /// revoking that family (logout) makes the access token invalid too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Signing and verification keys derived from the configured secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Signs a token of `typ` for `user_id` valid for `ttl_secs`.
    pub fn sign(&self, user_id: &str, typ: &str, ver: i64, ttl_secs: u64) -> String {
        self.sign_session(user_id, typ, ver, ttl_secs, None)
    }

    /// [`JwtKeys::sign`] for a token tied to the sign-in `sid` (access tokens).
    pub fn sign_session(
        &self,
        user_id: &str,
        typ: &str,
        ver: i64,
        ttl_secs: u64,
        sid: Option<&str>,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            id: user_id.to_string(),
            typ: typ.to_string(),
            ver,
            iat: now,
            exp: now + ttl_secs as i64,
            requires_2fa: typ == CHALLENGE,
            sid: sid.map(String::from),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Verifies signature, algorithm (HS256 only), expiry and kind.
    pub fn verify(&self, token: &str, typ: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat"]);
        let data = decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.typ == typ).then_some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_do_not_mix_and_secrets_matter() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let access = keys.sign("u1", ACCESS, 3, 60);
        let challenge = keys.sign("u1", CHALLENGE, 3, 60);
        assert_eq!(keys.verify(&access, ACCESS).unwrap().ver, 3);
        assert!(keys.verify(&access, CHALLENGE).is_none());
        assert!(keys.verify(&challenge, ACCESS).is_none());
        assert!(keys.verify(&challenge, CHALLENGE).unwrap().requires_2fa);
        let other = JwtKeys::new(b"another secret another secret 12");
        assert!(other.verify(&access, ACCESS).is_none());
    }

    #[test]
    fn expired_and_unsigned_tokens_fail() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            id: "u".into(),
            typ: ACCESS.into(),
            ver: 0,
            iat: now - 100,
            exp: now - 50,
            requires_2fa: false,
            sid: None,
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(keys.verify(&expired, ACCESS).is_none());
        // alg=none with the same payload
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            expired.split('.').nth(1).unwrap()
        );
        assert!(keys.verify(&none, ACCESS).is_none());
    }
}
