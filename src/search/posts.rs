//! The posts index (`<data_dir>/search/posts`): captions and hashtags of
//! published posts, typo-tolerant like the users search (same analyzer,
//! same query plan: each word must match exactly, within its edit
//! distance, or as a prefix while typing).
//!
//! It follows SQLite through the outbox consumer [`POSTS_CONSUMER`]
//! ([`on_post_events`]) and is rebuilt at start when missing, written by
//! another schema version or ahead of the database, and by `baitech
//! reindex` ([`rebuild_posts`]). It only answers "which posts, in which
//! order"; visibility is decided by the posts module in SQL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rusqlite::params;
use serde_json::json;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STRING,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::query::{plan, PlannedToken};
use super::schema::{register, WORDS};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::state::AppState;

/// Name of the outbox consumer that keeps the posts index current.
pub const POSTS_CONSUMER: &str = "search.posts";

/// Bumped when the schema changes: an index of another version is rebuilt
/// (2: the id is a fast field, read without the document store).
const POSTS_SCHEMA_VERSION: u64 = 2;

/// Most posts one search ranks (the feed pages through these).
pub const MAX_POST_RESULTS: usize = 1000;

fn err(e: impl std::fmt::Display) -> String {
    format!("posts index: {e}")
}

/// Where the posts index lives under `data_dir`.
pub fn posts_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search").join("posts")
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    caption: Field,
    hashtags: Field,
}

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | FAST),
        caption: b.add_text_field("caption", text.clone()),
        hashtags: b.add_text_field("hashtags", text),
    };
    (b.build(), fields)
}

fn document(f: &Fields, id: &str, caption: &str, hashtags: &[String]) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.id, id);
    doc.add_text(f.caption, caption);
    for tag in hashtags {
        doc.add_text(f.hashtags, tag);
    }
    doc
}

fn payload(last: i64) -> String {
    json!({"schema": POSTS_SCHEMA_VERSION, "lastEventId": last}).to_string()
}

fn read_payload(index: &Index) -> Option<(u64, i64)> {
    let meta = index.load_metas().ok()?;
    let p: serde_json::Value = serde_json::from_str(meta.payload.as_deref()?).ok()?;
    Some((p["schema"].as_u64()?, p["lastEventId"].as_i64()?))
}

fn max_event_id(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
}

/// The posts index, open for searching and, by its consumer, writing.
pub struct PostIndex {
    fields: Fields,
    index: Index,
    reader: IndexReader,
    /// Opened on the first write (an idle server keeps no writer arena).
    writer: Mutex<Option<IndexWriter>>,
    caught_up: AtomicI64,
}

impl PostIndex {
    /// Opens the posts index of `data_dir`, rebuilding it first when it
    /// cannot be kept; ensures the consumer's cursor exists.
    pub fn open(data_dir: &Path, db: &Db) -> Result<PostIndex, String> {
        let dir = posts_dir(data_dir);
        let keep = Index::open_in_dir(&dir)
            .ok()
            .and_then(|i| read_payload(&i))
            .is_some_and(|(version, last)| {
                version == POSTS_SCHEMA_VERSION
                    && db
                        .read_blocking(|c| Ok(max_event_id(c)?))
                        .is_ok_and(|newest| last <= newest)
            });
        if !keep {
            let n = rebuild_posts(data_dir, db)?;
            tracing::info!(posts = n, "posts search index built");
        }
        let index = Index::open_in_dir(&dir).map_err(err)?;
        register(&index);
        let (expected, fields) = build_schema();
        if index.schema() != expected {
            return Err(err("schema differs from this binary's"));
        }
        let last = read_payload(&index).map(|p| p.1).unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO event_cursors (consumer, last_id) VALUES (?1, ?2)",
                params![POSTS_CONSUMER, last],
            )?;
            Ok(())
        })
        .map_err(err)?;
        Ok(PostIndex {
            fields,
            index,
            reader,
            writer: Mutex::new(None),
            caught_up: AtomicI64::new(last),
        })
    }

    /// Replaces the documents of `ids` by `rows` (`(id, caption, hashtags)`
    /// of those still published) in one commit recording `last_event_id`.
    pub fn apply(
        &self,
        ids: &[String],
        rows: &[(String, String, Vec<String>)],
        last_event_id: i64,
    ) -> Result<(), String> {
        let mut slot = self.writer.lock().map_err(|_| err("writer poisoned"))?;
        let writer = match &mut *slot {
            Some(w) => w,
            empty => empty.insert(
                self.index
                    .writer_with_options(
                        IndexWriterOptions::builder()
                            .memory_budget_per_thread(15_000_000)
                            .num_worker_threads(1)
                            .num_merge_threads(1)
                            .build(),
                    )
                    .map_err(err)?,
            ),
        };
        let staged = (|| -> tantivy::Result<()> {
            for id in ids {
                writer.delete_term(Term::from_field_text(self.fields.id, id));
            }
            for (id, caption, tags) in rows {
                writer.add_document(document(&self.fields, id, caption, tags))?;
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
        self.caught_up.fetch_max(last_event_id, Ordering::AcqRel);
        Ok(())
    }

    /// The outbox event up to which searches see every post change.
    pub fn last_event_id(&self) -> i64 {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Ids of posts matching `text`, best first, at most `limit` (capped at
    /// [`MAX_POST_RESULTS`]); empty when `text` has no words. CPU work:
    /// call it from a blocking thread.
    pub fn search(&self, text: &str, limit: usize) -> ApiResult<Vec<String>> {
        let planned = plan(text);
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = planned
            .iter()
            .map(|t| {
                let occur = if t.is_required {
                    Occur::Must
                } else {
                    Occur::Should
                };
                (occur, self.token_query(t))
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &query,
                &TopDocs::with_limit(limit.clamp(1, MAX_POST_RESULTS)),
            )
            .map_err(ApiError::internal)?;
        // Ids from the fast-field column: a document-store read per hit
        // (decompressing a block each) cost more than the search itself.
        let mut columns = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(top.len());
        for (_, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let reader = searcher.segment_reader(address.segment_ord);
                    let column = reader
                        .fast_fields()
                        .str("id")
                        .map_err(ApiError::internal)?
                        .ok_or_else(|| ApiError::internal("posts index without an id column"))?;
                    e.insert(column)
                }
            };
            let mut id = String::new();
            if let Some(ord) = column.term_ords(address.doc_id).next() {
                column
                    .ord_to_str(ord, &mut id)
                    .map_err(ApiError::internal)?;
                out.push(id);
            }
        }
        Ok(out)
    }

    /// One word: exact in hashtags (×2) or caption, else within its edit
    /// distance or as a prefix being typed, scored below exact matches.
    fn token_query(&self, t: &PlannedToken) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, weight) in [(self.fields.hashtags, 2.0), (self.fields.caption, 1.0)] {
            let term = Term::from_field_text(field, &t.text);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    weight,
                )),
            ));
            if t.distance > 0 {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term.clone(), t.distance, true)),
                        0.3 * weight,
                    )),
                ));
            }
            if t.is_prefix {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, t.prefix_distance, true)),
                        0.3 * weight,
                    )),
                ));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// Builds a new posts index from one database snapshot, swaps it in and
/// moves the consumer's cursor to the snapshot's last event. The caller
/// guarantees nothing else holds the index (as for the users index).
pub fn rebuild_posts(data_dir: &Path, db: &Db) -> Result<u64, String> {
    let dirs = super::Rebuild::start(posts_dir(data_dir), "posts").map_err(err)?;
    let (schema, fields) = build_schema();
    let index = Index::create(
        MmapDirectory::open(&dirs.fresh).map_err(err)?,
        schema,
        Default::default(),
    )
    .map_err(err)?;
    register(&index);
    let mut writer: IndexWriter = index
        .writer_with_options(
            IndexWriterOptions::builder()
                .memory_budget_per_thread(40_000_000)
                .num_worker_threads(1)
                .num_merge_threads(1)
                .build(),
        )
        .map_err(err)?;
    let (n, last) = db
        .read_blocking(|c| {
            let tx = c.unchecked_transaction()?;
            let last = max_event_id(&tx)?;
            let n = crate::posts::store::for_each_published(&tx, &mut |id, caption, tags| {
                writer
                    .add_document(document(&fields, &id, &caption, &tags))
                    .map_err(ApiError::internal)?;
                Ok(())
            })?;
            Ok((n, last))
        })
        .map_err(err)?;
    let mut commit = writer.prepare_commit().map_err(err)?;
    commit.set_payload(&payload(last));
    commit.commit().map_err(err)?;
    writer.wait_merging_threads().map_err(err)?;
    dirs.finish(db, POSTS_CONSUMER, last).map_err(err)?;
    Ok(n)
}

/// Removes the posts index (after a restore) so the next start rebuilds it.
pub fn discard_posts(data_dir: &Path) -> Result<(), String> {
    let dir = posts_dir(data_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(err)?;
    }
    Ok(())
}

/// Events that change what the index holds of a post (its subject).
const INDEXED: &[&str] = &[
    "post.created",
    "post.updated",
    "post.deleted",
    "post.removed",
];

/// Applies one batch of outbox events to the posts index.
pub async fn on_post_events(state: AppState, events: Vec<Event>) -> Result<(), String> {
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(());
    };
    let ids: Vec<String> = events
        .iter()
        .filter(|e| INDEXED.contains(&e.kind.as_str()))
        .filter_map(|e| e.subject_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = state.posts.index.clone();
    if ids.is_empty() {
        index.caught_up.fetch_max(last, Ordering::AcqRel);
        return Ok(());
    }
    let wanted = ids.clone();
    let rows = state
        .db
        .read(move |c| crate::posts::store::search_rows(c, &wanted))
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<(String, String, Vec<String>)> = rows
        .into_iter()
        .filter(|r| r.is_published)
        .map(|r| (r.id, r.caption, r.hashtags))
        .collect();
    tokio::task::spawn_blocking(move || index.apply(&ids, &rows, last))
        .await
        .map_err(|e| e.to_string())?
}
