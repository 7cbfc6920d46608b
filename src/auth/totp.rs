//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with a ±1 step window, where each
//! accepted step is remembered so a code is accepted once.

use totp_rs::{Algorithm, Secret, TOTP};

fn totp(secret_b32: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("BaiTech".into()),
        account.to_string(),
    )
    .ok()
}

/// A new random base32 secret.
pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

/// The `otpauth://` URI for authenticator apps.
pub fn otpauth_url(secret_b32: &str, account: &str) -> Option<String> {
    totp(secret_b32, account).map(|t| t.get_url())
}

/// The QR code of the URI as a PNG data URL.
pub fn qr_data_url(secret_b32: &str, account: &str) -> Option<String> {
    totp(secret_b32, account)?
        .get_qr_base64()
        .ok()
        .map(|b64| format!("data:image/png;base64,{b64}"))
}

/// The time step at which `code` is valid (within ±1 step of `now_secs`) and
/// later than `last_step`, or `None`.
pub fn accepted_step(secret_b32: &str, code: &str, now_secs: u64, last_step: i64) -> Option<i64> {
    let t = totp(secret_b32, "")?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = (now_secs / 30) as i64;
    (current - 1..=current + 1).find(|&step| {
        step > last_step
            && step >= 0
            && constant_time_eq(t.generate(step as u64 * 30).as_bytes(), code.as_bytes())
    })
}

/// The code for `now_secs` (tests and tools).
pub fn code_at(secret_b32: &str, now_secs: u64) -> Option<String> {
    totp(secret_b32, "").map(|t| t.generate(now_secs))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_replay() {
        let secret = new_secret();
        let now = 1_700_000_000u64;
        let code = code_at(&secret, now).unwrap();
        let step = accepted_step(&secret, &code, now, 0).unwrap();
        assert_eq!(step, (now / 30) as i64);
        // the same code again after it was used
        assert_eq!(accepted_step(&secret, &code, now, step), None);
        // previous step is accepted, two steps back is not
        let prev = code_at(&secret, now - 30).unwrap();
        assert!(accepted_step(&secret, &prev, now, 0).is_some());
        let old = code_at(&secret, now - 90).unwrap();
        if old != code && old != prev && old != code_at(&secret, now + 30).unwrap() {
            assert_eq!(accepted_step(&secret, &old, now, 0), None);
        }
        assert_eq!(accepted_step(&secret, "12345", now, 0), None);
        assert!(otpauth_url(&secret, "a@b.co")
            .unwrap()
            .starts_with("otpauth://totp/"));
    }

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T=59 -> 94287082 (8 digits); 6 digits: 287082
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(code_at(&secret, 59).unwrap(), "287082");
    }
}
