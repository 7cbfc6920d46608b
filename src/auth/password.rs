//! argon2id password hashing, always on a blocking thread.

use argon2::password_hash::{
    self, rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use std::sync::mpsc::RecvTimeoutError;

use crate::error::{ApiError, ApiResult};

/// The hashing cost, from configuration (OWASP: 19 MiB, 2 iterations, 1 lane).
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
}

/// argon2id v1.3 at `cost`, one lane.
fn ours(cost: Cost) -> ApiResult<(Algorithm, Version, Params)> {
    let params =
        Params::new(cost.memory_kib, cost.iterations, 1, None).map_err(ApiError::internal)?;
    Ok((Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes synchronously; callers on the async runtime use [`hash`].
pub fn hash_blocking(password: &str, cost: Cost) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(phc_hash(ours(cost)?, password.as_bytes(), salt.as_salt())
        .map_err(ApiError::internal)?
        .to_string())
}

/// Verifies against a stored PHC string (its own parameters apply).
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    // `Output`'s equality is constant-time.
    phc_hash((algorithm, version, params), password.as_bytes(), salt)
        .is_ok_and(|h| h.hash == Some(expected))
}

/// What `PasswordHasher::hash_password` does, but on this thread's reused
/// block memory when it has some (the hashing pool's threads): a fresh
/// 19 MiB buffer per hash costs a mapping, ~5,000 page faults and the
/// kernel zeroing it, a third of the time of the hash itself.
fn phc_hash<'a>(
    (algorithm, version, params): (Algorithm, Version, Params),
    password: &[u8],
    salt: Salt<'a>,
) -> password_hash::Result<PasswordHash<'a>> {
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let params = &params;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        with_blocks(params.block_count(), |blocks| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, blocks)
                .map_err(password_hash::Error::from)
        })
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

std::thread_local! {
    /// argon2's block memory, kept between hashes on the hashing pool's
    /// threads (`None` elsewhere: a one-off hash in the CLI or at start must
    /// not leave 19 MiB behind).
    static BLOCKS: std::cell::RefCell<Option<Vec<Block>>> = const { std::cell::RefCell::new(None) };
}

fn with_blocks<R>(count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    BLOCKS.with_borrow_mut(|kept| match kept {
        Some(blocks) => {
            if blocks.len() < count {
                blocks.resize(count, Block::default());
            }
            f(&mut blocks[..count])
        }
        None => f(&mut vec![Block::default(); count]),
    })
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

/// How long a hashing thread keeps its block memory without work.
const KEEP_BLOCKS_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// argon2 runs on its own few threads (one per core) at a lower CPU
/// priority (nice 10). A login flood then uses every idle cycle but cannot
/// delay other requests, and at most one 19 MiB argon2 buffer per core is
/// ever alive (on tokio's blocking pool a flood of logins would allocate one
/// per waiting request); each thread reuses its buffer while logins keep
/// coming and frees it after [`KEEP_BLOCKS_IDLE`] without any.
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
                    BLOCKS.with_borrow_mut(|b| *b = Some(Vec::new()));
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv_timeout(KEEP_BLOCKS_IDLE),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Quiet for a while: give the memory back.
                            Err(RecvTimeoutError::Timeout) => {
                                BLOCKS.with_borrow_mut(|b| *b = Some(Vec::new()))
                            }
                            Err(RecvTimeoutError::Disconnected) => return,
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

    #[test]
    fn agrees_with_the_argon2_crates_own_phc_strings() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(2048, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"pa55word", &salt)
            .unwrap()
            .to_string();
        let mine = phc_hash(
            (Algorithm::Argon2id, Version::V0x13, params),
            b"pa55word",
            salt.as_salt(),
        )
        .unwrap()
        .to_string();
        assert_eq!(mine, theirs);
        assert!(verify_blocking("pa55word", &theirs));
        // Hashes made with other parameters (older settings, argon2i) verify too.
        let old = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(1024, 3, 1, None).unwrap(),
        )
        .hash_password(b"pa55word", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking("pa55word", &old));
        assert!(!verify_blocking("pa55wore", &old));
        let h = hash_blocking(
            "pa55word",
            Cost {
                memory_kib: 1024,
                iterations: 1,
            },
        )
        .unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"pa55word", &parsed)
            .is_ok());
        // A stored hash whose cost was edited no longer matches.
        let tampered = h.replace("t=1", "t=2");
        assert!(!verify_blocking("pa55word", &tampered));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_reuses_its_memory_across_costs() {
        let (big, small) = (
            Cost {
                memory_kib: 4096,
                iterations: 1,
            },
            Cost {
                memory_kib: 1024,
                iterations: 1,
            },
        );
        let mut stored = Vec::new();
        for cost in [big, small, big, small] {
            stored.push(hash("same password".into(), cost).await.unwrap());
        }
        for h in &stored {
            assert!(verify("same password".into(), h.clone()).await.unwrap());
            assert!(!verify("other password".into(), h.clone()).await.unwrap());
        }
        // Every hash is its own (fresh salt), whatever memory was reused.
        let distinct: std::collections::HashSet<_> = stored.iter().collect();
        assert_eq!(distinct.len(), stored.len());
    }
}
