//! The threads that decode and encode images.
//!
//! All pixel work runs on a few dedicated threads (one per core) instead of
//! the shared blocking pool: that bounds how many images are in memory at
//! once, and keeps their large buffers in the allocator arenas of those few
//! threads, so memory freed by one image is reused by the next instead of
//! piling up in the arenas of dozens of pool threads.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::error::{ApiError, ApiResult};

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of image threads fed through a queue; they stop when this is dropped.
pub struct ImageWorkers {
    queue: Mutex<mpsc::Sender<Task>>,
}

impl ImageWorkers {
    /// Starts `threads` workers (at least one).
    pub fn start(threads: usize) -> ImageWorkers {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("media-image-{n}"))
                .spawn(move || loop {
                    let task = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match task {
                        // A panic fails that one job (its caller sees a 500), not the worker.
                        Ok(task) => {
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(task));
                        }
                        Err(_) => return,
                    }
                });
        }
        ImageWorkers {
            queue: Mutex::new(tx),
        }
    }

    /// Runs `f` on an image thread and waits for its result. If the caller
    /// goes away, `f` still runs to completion and its result is dropped
    /// (so temporary files it owns are removed by their guards).
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = tx.send(f());
        });
        self.queue
            .lock()
            .map_err(|_| ApiError::internal("image queue poisoned"))?
            .send(task)
            .map_err(|_| ApiError::internal("image workers stopped"))?;
        rx.await.map_err(|_| ApiError::internal("image job failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let w = ImageWorkers::start(2);
        assert_eq!(w.run(|| 40 + 2).await.unwrap(), 42);
        assert!(w.run(|| -> u8 { panic!("bad image") }).await.is_err());
        let all = futures_util::future::join_all((0..8).map(|i| w.run(move || i * 2))).await;
        assert_eq!(all.into_iter().map(Result::unwrap).sum::<i32>(), 56);
    }
}
