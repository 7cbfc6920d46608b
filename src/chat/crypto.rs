//! Message text at rest: AES-256-GCM with a random 96-bit nonce per text,
//! stored as `nonce || ciphertext+tag`. The key is configured
//! (`chat_key`, 64 hex) or generated once into `<data_dir>/chat.key`
//! (mode 0600), like the JWT secret: losing that file loses the texts.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::config::Config;

const NONCE_LEN: usize = 12;

/// Seals and opens message texts; cheap to share.
pub struct TextCipher {
    cipher: Aes256Gcm,
}

impl TextCipher {
    /// A cipher over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> TextCipher {
        TextCipher {
            cipher: Aes256Gcm::new(&(*key).into()),
        }
    }

    /// The configured key, or the one kept in (or first written to) the data dir.
    pub fn open(config: &Config) -> Result<TextCipher, String> {
        let hex_key = if !config.chat_key.is_empty() {
            config.chat_key.trim().to_string()
        } else {
            load_or_create_key(&config.data_dir.join("chat.key"))?
        };
        let bytes = hex::decode(&hex_key).map_err(|_| "chat_key must be 64 hex characters")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "chat_key must be 64 hex characters (32 bytes)")?;
        Ok(TextCipher::new(&key))
    }

    /// `nonce || ciphertext`; a fresh random nonce every time.
    pub fn seal(&self, plain: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .expect("AES-GCM encryption of an in-memory text cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The text, or `None` when the blob was not sealed with this key (or was altered).
    pub fn open_text(&self, blob: &[u8]) -> Option<String> {
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), sealed).ok()?;
        String::from_utf8(plain).ok()
    }
}

fn load_or_create_key(path: &std::path::Path) -> Result<String, String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if existing.len() == 64 {
            return Ok(existing);
        }
        return Err(format!(
            "{}: expected 64 hex characters; refusing to replace a key that may still decrypt messages",
            path.display()
        ));
    }
    let key = crate::ids::random_token(32);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(key.as_bytes()).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_fresh_nonces_and_detects_tampering() {
        let c = TextCipher::new(&[7u8; 32]);
        let a = c.seal("habari");
        let b = c.seal("habari");
        assert_ne!(a, b, "nonces must differ");
        assert!(!a.windows(6).any(|w| w == b"habari"));
        assert_eq!(c.open_text(&a).as_deref(), Some("habari"));
        let mut bad = a.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(c.open_text(&bad), None);
        assert_eq!(TextCipher::new(&[8u8; 32]).open_text(&a), None);
        assert_eq!(c.open_text(&[1, 2]), None);
    }

    #[test]
    fn key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.key");
        let k1 = load_or_create_key(&path).unwrap();
        let k2 = load_or_create_key(&path).unwrap();
        assert_eq!(k1, k2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
