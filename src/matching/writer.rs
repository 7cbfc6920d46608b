//! Storing new search sessions with group commit.
//!
//! Every find-technicians call stores a session and its matches. Under load
//! one transaction per call would queue many small transactions on the
//! single writer (and each commit wakes every job worker and event
//! consumer). Instead calls hand their session to one thread that writes
//! whatever has queued up meanwhile in a single transaction (the thread
//! ends when the application state is dropped). Each caller
//! still waits for the commit of its own session before answering, so a
//! returned match is always stored; when the server is idle a batch is one
//! session and nothing waits.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

use super::store::{self, NewMatch, NewSession};

/// Most sessions written in one transaction.
const MAX_BATCH: usize = 64;

struct Pending {
    session: NewSession,
    matches: Vec<NewMatch>,
    done: oneshot::Sender<ApiResult<()>>,
}

/// The queue of sessions to store; its task starts on first use.
#[derive(Default)]
pub struct SessionWriter {
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

fn write_one(
    tx: &rusqlite::Connection,
    session: &NewSession,
    matches: &[NewMatch],
) -> ApiResult<()> {
    store::insert_session(tx, session, matches)?;
    store::count_request(tx, &session.customer_id, matches.len())
}

/// The writer thread: blocks on the queue, writes what has gathered, answers each caller.
fn run(db: Db, mut queue: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let together = db.write_blocking(|tx| {
            for p in &batch {
                write_one(tx, &p.session, &p.matches)?;
            }
            Ok(())
        });
        if together.is_ok() || batch.len() == 1 {
            for p in batch {
                let _ = p
                    .done
                    .send(together.as_ref().map(|_| ()).map_err(ApiError::internal));
            }
            continue;
        }
        // One bad session must not fail the others: write them one by one.
        for p in batch {
            let one = db.write_blocking(|tx| write_one(tx, &p.session, &p.matches));
            let _ = p.done.send(one);
        }
    }
}

impl SessionWriter {
    /// Stores a session with its matches (and counts the request on the
    /// customer's preference); returns once that is committed.
    pub async fn store(
        &self,
        db: &Db,
        session: NewSession,
        matches: Vec<NewMatch>,
    ) -> ApiResult<()> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let db = db.clone();
            let spawned = std::thread::Builder::new()
                .name("matching-sessions".into())
                .spawn(move || run(db, rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the matching session writer");
            }
            tx
        });
        let (done, wait) = oneshot::channel();
        queue
            .send(Pending {
                session,
                matches,
                done,
            })
            .map_err(|_| ApiError::internal("session writer stopped"))?;
        wait.await
            .map_err(|_| ApiError::internal("session writer dropped a session"))?
    }
}
