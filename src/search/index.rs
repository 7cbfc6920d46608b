//! The users index on disk (`<data_dir>/search/users`): opening it, keeping
//! it current, rebuilding it, searching it.
//!
//! Each commit carries a payload `{"schema": v, "lastEventId": n}`: the
//! outbox event up to which the index is current. At start that tells
//! whether the index can be kept (then the outbox consumer replays whatever
//! came after) or must be rebuilt: missing, unreadable, written by another
//! schema version, or ahead of the database (a restored backup).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rusqlite::params;
use serde_json::json;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::AllQuery;
use tantivy::schema::Value;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader,
    TantivyDocument, Term,
};

use super::query;
use super::schema::{self, UserFields, SCHEMA_VERSION};
use super::source::{self, UserDoc};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// Name of the outbox consumer that keeps the index current (its cursor).
pub const CONSUMER: &str = "search.users";

/// Memory the live writer buffers before it flushes a segment (tantivy's
/// minimum; updates come a few at a time).
const LIVE_BUDGET: usize = 15_000_000;

/// Memory per indexing thread during a rebuild.
const REBUILD_BUDGET: usize = 40_000_000;

/// Largest result list a search returns.
pub const MAX_RESULTS: usize = 10_000;

const NO_INDEX: &str = "no index yet";

/// Where the users index lives under `data_dir`.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search").join("users")
}

fn err(e: impl std::fmt::Display) -> String {
    format!("search index: {e}")
}

fn payload(last_event_id: i64) -> String {
    json!({"schema": SCHEMA_VERSION, "lastEventId": last_event_id}).to_string()
}

/// `(schema version, last event id)` of the index's last commit.
fn read_payload(index: &Index) -> Option<(u64, i64)> {
    let meta = index.load_metas().ok()?;
    let p: serde_json::Value = serde_json::from_str(meta.payload.as_deref()?).ok()?;
    Some((p["schema"].as_u64()?, p["lastEventId"].as_i64()?))
}

fn max_event_id(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Users indexed.
    pub users: u64,
    /// The outbox event the new index is current up to (the consumer's cursor now).
    pub last_event_id: i64,
}

/// What a search is narrowed to besides its text (`None` / empty: any),
/// with the users list's meaning of each filter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scope<'a> {
    /// Account status (`active`, `suspended`, ...).
    pub status: Option<&'a str>,
    /// Account role (`technician`, `customer`, ...).
    pub role: Option<&'a str>,
    /// Lower-case skill names or skill categories; any one matches.
    pub skills: &'a [String],
    /// Lowest average rating.
    pub min_rating: Option<f64>,
    /// Order by average rating (`Some(true)`: highest first) instead of
    /// relevance.
    pub by_rating: Option<bool>,
}

/// One page of ranked matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RankedPage {
    /// User ids, best first.
    pub ids: Vec<String>,
    /// How many users match in all.
    pub total: usize,
}

/// The users index, open for searching and, by the one outbox consumer,
/// for writing. Holds tantivy's writer lock from its first write on.
pub struct SearchIndex {
    fields: UserFields,
    index: Index,
    reader: IndexReader,
    /// Opened on the first write: an idle server keeps neither the
    /// writer's arena nor its three threads.
    writer: Mutex<Option<IndexWriter>>,
    /// The last outbox event whose effect searches see (committed and
    /// reloaded, or irrelevant to the index).
    caught_up: AtomicI64,
}

impl SearchIndex {
    /// Opens the index of `data_dir`, rebuilding it from the database first
    /// when it cannot be kept (see the module doc). Ensures the consumer's
    /// cursor exists, at the index's last event when it did not.
    pub fn open(data_dir: &Path, db: &Db) -> Result<SearchIndex, String> {
        let dir = index_dir(data_dir);
        if let Some(reason) = Self::must_rebuild(&dir, db)? {
            if reason == NO_INDEX {
                tracing::info!(reason, "building the search index");
            } else {
                tracing::warn!(reason, "rebuilding the search index");
            }
            let started = std::time::Instant::now();
            let done = rebuild(data_dir, db, &mut |_, _| {})?;
            tracing::info!(
                users = done.users,
                ms = started.elapsed().as_millis() as u64,
                "search index rebuilt"
            );
        }
        let opened = Self::open_dir(&dir)?;
        let last = read_payload(&opened.index).map(|p| p.1).unwrap_or(0);
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO event_cursors (consumer, last_id) VALUES (?1, ?2)",
                params![CONSUMER, last],
            )?;
            Ok(())
        })
        .map_err(err)?;
        Ok(opened)
    }

    /// Why the index at `dir` cannot be kept, or `None` when it can.
    fn must_rebuild(dir: &Path, db: &Db) -> Result<Option<&'static str>, String> {
        if !dir.join("meta.json").exists() {
            return Ok(Some(NO_INDEX));
        }
        let index = match Index::open_in_dir(dir) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "search index unreadable");
                return Ok(Some("index unreadable"));
            }
        };
        let Some((version, last)) = read_payload(&index) else {
            return Ok(Some("index has no commit payload"));
        };
        if version != SCHEMA_VERSION as u64 {
            return Ok(Some("index written by another schema version"));
        }
        let newest = db.read_blocking(|c| Ok(max_event_id(c)?)).map_err(err)?;
        if last > newest {
            return Ok(Some(
                "index is ahead of the database (restored from a backup?)",
            ));
        }
        Ok(None)
    }

    fn open_dir(dir: &Path) -> Result<SearchIndex, String> {
        let index = Index::open_in_dir(dir).map_err(err)?;
        schema::register(&index);
        let fields = fields_of(&index)?;
        let last = read_payload(&index).map(|p| p.1).unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(SearchIndex {
            fields,
            index,
            reader,
            caught_up: AtomicI64::new(last),
            writer: Mutex::new(None),
        })
    }

    /// The live writer: tantivy's minimum budget, one indexing thread.
    fn live_writer(&self) -> tantivy::Result<IndexWriter> {
        self.index.writer_with_options(
            IndexWriterOptions::builder()
                .memory_budget_per_thread(LIVE_BUDGET)
                .num_worker_threads(1)
                .num_merge_threads(1)
                .build(),
        )
    }

    /// Replaces the documents of `ids` by the searchable ones among `users`
    /// (their current rows; an id without a searchable row is removed) and
    /// commits, recording `last_event_id`. Visible to searches on return.
    /// On error nothing of this call is kept: the caller retries it whole.
    pub fn apply(
        &self,
        ids: &[String],
        users: &[UserDoc],
        last_event_id: i64,
    ) -> Result<(), String> {
        let mut slot = self
            .writer
            .lock()
            .map_err(|_| err("writer mutex poisoned"))?;
        let writer = match &mut *slot {
            Some(w) => w,
            empty => empty.insert(self.live_writer().map_err(err)?),
        };
        let staged = (|| -> tantivy::Result<()> {
            for id in ids {
                writer.delete_term(Term::from_field_text(self.fields.id, id));
            }
            for user in users.iter().filter(|u| u.is_searchable()) {
                writer.add_document(self.fields.document(user))?;
            }
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&payload(last_event_id));
            commit.commit()?;
            Ok(())
        })();
        if let Err(e) = staged {
            let _ = writer.rollback();
            return Err(err(e));
        }
        drop(slot);
        self.reader.reload().map_err(err)?;
        self.passed(last_event_id);
        Ok(())
    }

    /// Records that events up to `event_id` need nothing from the index
    /// (the consumer's batch named no user).
    pub fn passed(&self, event_id: i64) {
        self.caught_up.fetch_max(event_id, Ordering::AcqRel);
    }

    /// Ids of active users matching `text`, best first, at most `limit`
    /// (capped at [`MAX_RESULTS`]). Empty when `text` has no words. CPU
    /// work of a few milliseconds: call it from a blocking thread.
    pub fn search_users(&self, text: &str, limit: usize) -> ApiResult<Vec<String>> {
        self.search_users_in_status(text, Some("active"), limit)
    }

    /// [`SearchIndex::search_users`] among users whose account status is
    /// `status`, or of any status with `None` (admins may list suspended
    /// accounts); deleted users are never in the index.
    pub fn search_users_in_status(
        &self,
        text: &str,
        status: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<String>> {
        let scope = Scope {
            status,
            ..Scope::default()
        };
        Ok(self.search_page(text, scope, 0, limit)?.ids)
    }

    /// One page of the users matching `text` within `scope`, best first:
    /// `limit` ids after skipping `offset`, and how many match in all. Ranks
    /// past [`MAX_RESULTS`] are not served (the page is empty, the total
    /// still counts them). Empty when `text` has no words.
    pub fn search_page(
        &self,
        text: &str,
        scope: Scope,
        offset: usize,
        limit: usize,
    ) -> ApiResult<RankedPage> {
        let plan = query::plan(text);
        let f = &self.fields;
        let mut filters = Vec::new();
        if let Some(status) = scope.status {
            filters.push(query::equals(f.status, status));
        }
        if let Some(role) = scope.role {
            filters.push(query::equals(f.role, role));
        }
        if !scope.skills.is_empty() {
            filters.push(query::any_of(f.tags, scope.skills));
        }
        if let Some(min) = scope.min_rating {
            filters.push(query::at_least(f.rating, min));
        }
        let Some(q) = query::build(f, &plan, filters) else {
            return Ok(RankedPage::default());
        };
        let searcher = self.reader.searcher();
        if offset >= MAX_RESULTS {
            let total = searcher.search(&q, &Count).map_err(ApiError::internal)?;
            return Ok(RankedPage {
                ids: Vec::new(),
                total,
            });
        }
        let limit = limit.clamp(1, MAX_RESULTS - offset);
        if let Some(descending) = scope.by_rating {
            let order = if descending {
                tantivy::Order::Desc
            } else {
                tantivy::Order::Asc
            };
            let collector = TopDocs::with_limit(limit)
                .and_offset(offset)
                .order_by_fast_field::<f64>("rating", order);
            let (total, top) = searcher
                .search(&q, &(Count, collector))
                .map_err(ApiError::internal)?;
            let ids = self.ids_of(&searcher, top.into_iter().map(|(_, a)| a))?;
            return Ok(RankedPage { ids, total });
        }
        let collector =
            TopDocs::with_limit(limit)
                .and_offset(offset)
                .tweak_score(|segment: &SegmentReader| {
                    let boost = segment
                        .fast_fields()
                        .f64("boost")
                        .ok()
                        .map(|c| c.first_or_default_col(1.0));
                    move |doc, score: Score| match &boost {
                        Some(b) => score * b.get_val(doc) as Score,
                        None => score,
                    }
                });
        let (total, top) = searcher
            .search(&q, &(Count, collector))
            .map_err(ApiError::internal)?;
        let ids = self.ids_of(&searcher, top.into_iter().map(|(_, a)| a))?;
        Ok(RankedPage { ids, total })
    }

    fn ids_of(
        &self,
        searcher: &tantivy::Searcher,
        addresses: impl Iterator<Item = DocAddress>,
    ) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address).map_err(ApiError::internal)?;
            if let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_str()) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    /// Every indexed user id, sorted (to compare the index with the database).
    pub fn indexed_ids(&self) -> ApiResult<Vec<String>> {
        let searcher = self.reader.searcher();
        let all = searcher
            .search(&AllQuery, &DocSetCollector)
            .map_err(ApiError::internal)?;
        let mut ids = self.ids_of(&searcher, all.into_iter())?;
        ids.sort();
        Ok(ids)
    }

    /// The outbox event up to which searches see every change: tests and
    /// callers that just wrote wait for it to pass their event's id.
    pub fn last_event_id(&self) -> i64 {
        self.caught_up.load(Ordering::Acquire)
    }
}

fn fields_of(index: &Index) -> Result<UserFields, String> {
    let (expected, fields) = UserFields::build();
    if index.schema() != expected {
        return Err(err("schema differs from this binary's"));
    }
    Ok(fields)
}

/// Removes the users index of `data_dir` (after the database was replaced
/// by a restore), so the next start rebuilds it from the new database. The
/// caller holds the data-dir lock.
pub fn discard(data_dir: &Path) -> Result<(), String> {
    let dir = index_dir(data_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(err)?;
    }
    Ok(())
}

/// Builds a new users index from the database in one read snapshot, then
/// swaps it in for the old one and moves the consumer's cursor to the
/// snapshot's last event. `progress(done, total)` is called per user.
///
/// The caller guarantees nothing else holds the index: `baitech reindex`
/// holds the data-dir lock (so no server runs), `build_state` calls it
/// before any consumer starts. A crash midway leaves the old index in place.
pub fn rebuild(
    data_dir: &Path,
    db: &Db,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Rebuilt, String> {
    let dirs = super::Rebuild::start(index_dir(data_dir), "users").map_err(err)?;
    let (schema_def, fields) = UserFields::build();
    let index = Index::create(
        MmapDirectory::open(&dirs.fresh).map_err(err)?,
        schema_def,
        Default::default(),
    )
    .map_err(err)?;
    schema::register(&index);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    let mut writer: IndexWriter = index
        .writer_with_options(
            IndexWriterOptions::builder()
                .memory_budget_per_thread(REBUILD_BUDGET)
                .num_worker_threads(threads)
                .num_merge_threads(1)
                .build(),
        )
        .map_err(err)?;
    let (users, last_event_id) = db
        .read_blocking(|c| {
            // One snapshot: the users read are exactly those as of `last`.
            let tx = c.unchecked_transaction()?;
            let last = max_event_id(&tx)?;
            let total = source::count_searchable(&tx)?;
            let mut done = 0u64;
            progress(0, total);
            source::for_each_searchable(&tx, |user| {
                writer
                    .add_document(fields.document(&user))
                    .map_err(ApiError::internal)?;
                done += 1;
                progress(done, total.max(done));
                Ok(())
            })?;
            Ok((done, last))
        })
        .map_err(err)?;
    let mut commit = writer.prepare_commit().map_err(err)?;
    commit.set_payload(&payload(last_event_id));
    commit.commit().map_err(err)?;
    let segments = index.searchable_segment_ids().map_err(err)?;
    if segments.len() > 1 {
        writer.merge(&segments).wait().map_err(err)?;
    }
    writer.wait_merging_threads().map_err(err)?;
    dirs.finish(db, CONSUMER, last_event_id).map_err(err)?;
    Ok(Rebuilt {
        users,
        last_event_id,
    })
}
