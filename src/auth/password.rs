//! argon2id password hashing, always on a blocking thread.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{ApiError, ApiResult};

/// The hashing cost, from configuration (OWASP: 19 MiB, 2 iterations, 1 lane).
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
}

fn hasher(cost: Cost) -> ApiResult<Argon2<'static>> {
    let params =
        Params::new(cost.memory_kib, cost.iterations, 1, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes synchronously; callers on the async runtime use [`hash`].
pub fn hash_blocking(password: &str, cost: Cost) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher(cost)?
        .hash_password(password.as_bytes(), &salt)
        .map_err(ApiError::internal)?
        .to_string())
}

/// Verifies against a stored PHC string (its own parameters apply).
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Hashes on a blocking thread.
pub async fn hash(password: String, cost: Cost) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password, cost)).await?
}

/// Verifies on a blocking thread.
pub async fn verify(password: String, stored: String) -> ApiResult<bool> {
    Ok(tokio::task::spawn_blocking(move || verify_blocking(&password, &stored)).await?)
}

/// A hash of a random password: verified against when the email is unknown,
/// so a miss costs as long as a hit and does not reveal which emails exist.
pub fn decoy_hash(cost: Cost) -> String {
    hash_blocking(&crate::ids::random_token(16), cost).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cost = Cost {
            memory_kib: 1024,
            iterations: 1,
        };
        let h = hash_blocking("correct horse", cost).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong horse", &h));
        assert!(!verify_blocking("x", "not a hash"));
    }
}
