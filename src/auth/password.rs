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

/// Hashes on the hashing pool.
pub async fn hash(password: String, cost: Cost) -> ApiResult<String> {
    on_hashing_pool(move || hash_blocking(&password, cost)).await?
}

/// Verifies on the hashing pool.
pub async fn verify(password: String, stored: String) -> ApiResult<bool> {
    on_hashing_pool(move || verify_blocking(&password, &stored)).await
}

type HashJob = Box<dyn FnOnce() + Send>;

/// argon2 runs on its own few threads (one per core) at a lower CPU
/// priority (nice 10). A login flood then uses every idle cycle but cannot
/// delay other requests, and at most one 19 MiB argon2 buffer per core is
/// ever alive (on tokio's blocking pool a flood of logins would allocate one
/// per waiting request).
fn hashing_pool() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<HashJob>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for n in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawn argon2 thread");
        }
        std::sync::Mutex::new(tx)
    })
}

/// Nice 10 for the calling thread (Linux keeps a nice value per thread).
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

async fn on_hashing_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = done.send(work());
    });
    hashing_pool()
        .lock()
        .map_err(|_| ApiError::internal("hashing pool poisoned"))?
        .send(job)
        .map_err(|_| ApiError::internal("hashing pool stopped"))?;
    result
        .await
        .map_err(|_| ApiError::internal("hashing job dropped"))
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
