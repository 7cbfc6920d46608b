//! Search: the tantivy users index follows SQLite through the outbox, finds
//! misspelled and half-typed words, ranks technicians by rating, survives
//! restarts, and `baitech reindex` rebuilds it.
//!
//! Users are set up with SQL plus a `user.updated` event in the same
//! transaction, as the users module does on every profile change.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use baitech::events::emit;
use baitech::ids::{new_id, now_ms};
use futures_util::future::join_all;
use serde_json::json;

use crate::harness::TestServer;

/// A user to insert: `skills` are `(name, category)`.
#[derive(Clone, Default)]
struct Person {
    first: &'static str,
    last: &'static str,
    role: &'static str,
    bio: String,
    skills: Vec<(&'static str, &'static str)>,
    rating: f64,
    business: Option<&'static str>,
}

fn person(first: &'static str, last: &'static str, role: &'static str, bio: &str) -> Person {
    Person {
        first,
        last,
        role,
        bio: bio.to_string(),
        ..Default::default()
    }
}

fn insert_person(conn: &rusqlite::Connection, p: &Person) -> rusqlite::Result<String> {
    let id = new_id();
    let now = now_ms();
    conn.execute(
        "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, bio,
                            rating_avg, rating_count, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'x', ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
        rusqlite::params![
            id,
            format!("{id}@example.com"),
            format!("+999{}", &id[12..]),
            p.first,
            p.last,
            p.role,
            p.bio,
            p.rating,
            now
        ],
    )?;
    if p.role == "technician" {
        conn.execute(
            "INSERT INTO technician_profiles (user_id, business_name, updated_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, p.business, now],
        )?;
    }
    for (name, category) in &p.skills {
        conn.execute(
            "INSERT INTO user_skills (user_id, name, category) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, name, category],
        )?;
    }
    Ok(id)
}

/// Inserts `p` and its `user.updated` event in one transaction.
async fn add(s: &TestServer, p: Person) -> String {
    s.state
        .db
        .write(move |tx| {
            let id = insert_person(tx, &p)?;
            emit(tx, "user.updated", Some(&id), Some(&id), &json!({}))?;
            Ok(id)
        })
        .await
        .unwrap()
}

/// Runs `sql` (with the user id as ?1) and emits `kind` for the user, in one transaction.
async fn change(s: &TestServer, id: &str, sql: &'static str, kind: &'static str) {
    let id = id.to_string();
    s.state
        .db
        .write(move |tx| {
            tx.execute(sql, [&id])?;
            emit(tx, kind, Some(&id), Some(&id), &json!({}))?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Waits until the search consumer has committed every event written so
/// far (its cursor only moves after the index commit).
async fn settle(s: &TestServer) {
    s.eventually("the search consumer to catch up", || async {
        s.query(|c| {
            c.query_row(
                "SELECT (SELECT last_id FROM event_cursors WHERE consumer = 'search.users')
                        >= (SELECT COALESCE(MAX(id), 0) FROM events)",
                [],
                |r| r.get::<_, Option<bool>>(0),
            )
        })
        .await
        .unwrap_or(false)
    })
    .await;
}

async fn find(s: &TestServer, text: &str) -> Vec<String> {
    let (search, text) = (s.state.search.clone(), text.to_string());
    tokio::task::spawn_blocking(move || search.search_users(&text, 50))
        .await
        .unwrap()
        .unwrap()
}

async fn find_in(s: &TestServer, text: &str, status: Option<&str>) -> Vec<String> {
    let (search, text, status) = (
        s.state.search.clone(),
        text.to_string(),
        status.map(str::to_string),
    );
    tokio::task::spawn_blocking(move || search.search_users_in_status(&text, status.as_deref(), 50))
        .await
        .unwrap()
        .unwrap()
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[tokio::test]
async fn misspelled_and_half_typed_words_find_technicians_ranked_by_rating() {
    let s = TestServer::start().await;
    let plumbing = vec![("Plumber", "plumbing")];
    let bio = "Fixing leaking pipes across Nairobi";
    let juma = add(
        &s,
        Person {
            rating: 4.5,
            skills: plumbing.clone(),
            business: Some("Juma Pipeworks"),
            ..person("Juma", "Otieno", "technician", bio)
        },
    )
    .await;
    let wanjiku = add(
        &s,
        Person {
            rating: 2.0,
            skills: plumbing.clone(),
            ..person("Wanjiku", "Kamau", "technician", bio)
        },
    )
    .await;
    let achieng = add(
        &s,
        Person {
            rating: 3.0,
            skills: vec![("Electrician", "electrical")],
            ..person(
                "Achieng",
                "Odhiambo",
                "technician",
                "Wiring and solar installations",
            )
        },
    )
    .await;
    let peter = add(
        &s,
        person("Peter", "Mwangi", "customer", "Looking for a good plumber"),
    )
    .await;
    settle(&s).await;

    // Exact: the better-rated technician first, the customer who only
    // mentions the word in his bio last.
    assert_eq!(
        find(&s, "plumber ").await,
        vec![juma.clone(), wanjiku.clone(), peter.clone()]
    );
    // Misspelled skills.
    let plumbr = find(&s, "plumbr").await;
    assert_eq!(&plumbr[..2], &[juma.clone(), wanjiku.clone()]);
    assert!(!plumbr.contains(&achieng));
    assert_eq!(find(&s, "electrcian").await, vec![achieng.clone()]);
    assert_eq!(find(&s, "Electrician ").await, vec![achieng.clone()]);
    // Prefixes while typing.
    let plu = find(&s, "plu").await;
    assert_eq!(&plu[..2], &[juma.clone(), wanjiku.clone()]);
    assert!(!plu.contains(&achieng));
    assert_eq!(find(&s, "Juma plu").await, vec![juma.clone()]);
    assert_eq!(find(&s, "elec").await, vec![achieng.clone()]);
    assert_eq!(find(&s, "electrci").await, vec![achieng.clone()]);
    // Other fields: bio words, business name, categories, last names.
    assert_eq!(find(&s, "solar wiring").await, vec![achieng.clone()]);
    assert_eq!(find(&s, "pipeworks").await, vec![juma.clone()]);
    assert_eq!(find(&s, "electrical").await, vec![achieng.clone()]);
    assert_eq!(find(&s, "Kamau").await, vec![wanjiku.clone()]);
    // Every required word must match; stop words are optional.
    assert!(find(&s, "Kamau solar").await.is_empty());
    assert_eq!(
        find(&s, "the plumber of Nairobi").await,
        vec![juma.clone(), wanjiku.clone()]
    );
    // Nothing to search for.
    assert!(find(&s, "  !? ").await.is_empty());
    assert!(find(&s, "zzzzqqqq").await.is_empty());

    // A new review moves the rating (as the reviews module does, in the
    // review's transaction with a `review.created` naming the reviewee).
    let reviewed = juma.clone();
    s.state
        .db
        .write(move |tx| {
            baitech::users::technician::set_rating(tx, &reviewed, 1.0, 2)?;
            emit(
                tx,
                "review.created",
                Some(&new_id()),
                None,
                &json!({"revieweeId": reviewed, "rating": 1}),
            )?;
            Ok(())
        })
        .await
        .unwrap();
    settle(&s).await;
    assert_eq!(find(&s, "plumber ").await, vec![wanjiku, juma, peter]);
    s.stop().await;
}

#[tokio::test]
async fn updates_suspensions_and_deletes_reach_the_index() {
    let s = TestServer::start().await;
    let id = add(
        &s,
        person(
            "Grace",
            "Njeri",
            "customer",
            "Collector of vintage motorcycles",
        ),
    )
    .await;
    settle(&s).await;
    assert_eq!(find(&s, "motorcycles").await, vec![id.clone()]);

    change(
        &s,
        &id,
        "UPDATE users SET bio = 'Breeds rare orchids' WHERE id = ?1",
        "user.updated",
    )
    .await;
    settle(&s).await;
    assert_eq!(find(&s, "orchids").await, vec![id.clone()]);
    assert!(find(&s, "motorcycles").await.is_empty());
    assert!(find(&s, "vintage").await.is_empty());

    change(
        &s,
        &id,
        "UPDATE users SET status = 'suspended' WHERE id = ?1",
        "user.status_changed",
    )
    .await;
    settle(&s).await;
    assert!(find(&s, "orchids").await.is_empty());
    assert_eq!(
        find_in(&s, "orchids", Some("suspended")).await,
        vec![id.clone()]
    );

    change(
        &s,
        &id,
        "UPDATE users SET deleted_at = 1, status = 'deleted' WHERE id = ?1",
        "user.deleted",
    )
    .await;
    settle(&s).await;
    assert!(find_in(&s, "orchids", Some("suspended")).await.is_empty());
    assert!(find_in(&s, "orchids", None).await.is_empty());
    assert!(!s.state.search.indexed_ids().unwrap().contains(&id));
    s.stop().await;
}

#[tokio::test]
async fn registration_over_http_is_indexed() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    settle(&s).await;
    assert!(find(&s, "Test technician").await.contains(&tech.id));
    // An event the index has nothing to do for still counts as seen.
    let other = s
        .state
        .db
        .write(|tx| emit(tx, "booking.created", Some(&new_id()), None, &json!({})))
        .await
        .unwrap();
    let search = s.state.search.clone();
    s.eventually("the index to pass an unrelated event", || {
        let search = search.clone();
        async move { search.last_event_id() >= other }
    })
    .await;
    s.stop().await;
}

/// A per-user word of three characters: matched exactly, never fuzzily.
fn tag(n: usize) -> String {
    format!("t{n:02}")
}

#[tokio::test]
async fn the_index_agrees_with_sqlite_after_concurrent_updates_and_deletes() {
    let s = TestServer::start().await;
    // 40 users written concurrently (the consumer sees them in batches).
    let writes = (0..40).map(|n| {
        let p = Person {
            skills: if n % 2 == 0 {
                vec![("Painter", "painting")]
            } else {
                vec![]
            },
            rating: (n % 5) as f64,
            ..person(
                "Amina",
                "Hassan",
                if n % 2 == 0 { "technician" } else { "customer" },
                &format!("member {}", tag(n)),
            )
        };
        add(&s, p)
    });
    let ids: Vec<String> = join_all(writes).await;
    // Then a burst of changes: new bios, soft deletes, status deleted, hard deletes, new skills.
    let changes = ids.iter().enumerate().map(|(n, id)| {
        let id = id.clone();
        let db = s.state.db.clone();
        async move {
            db.write(move |tx| {
                let kind = match n % 6 {
                    0 => {
                        tx.execute("UPDATE users SET bio = 'member t' || (?1 + 50) WHERE id = ?2", rusqlite::params![n as i64, id])?;
                        "user.updated"
                    }
                    1 => {
                        tx.execute("UPDATE users SET deleted_at = 1 WHERE id = ?1", [&id])?;
                        "user.deleted"
                    }
                    2 => {
                        tx.execute("UPDATE users SET status = 'deleted' WHERE id = ?1", [&id])?;
                        "user.deleted"
                    }
                    3 => {
                        tx.execute("DELETE FROM users WHERE id = ?1", [&id])?;
                        "user.deleted"
                    }
                    4 => {
                        tx.execute(
                            "INSERT OR IGNORE INTO user_skills (user_id, name, category) VALUES (?1, 'Roofer', 'roofing')",
                            [&id],
                        )?;
                        "user.updated"
                    }
                    _ => return Ok(()),
                };
                emit(tx, kind, Some(&id), None, &json!({}))?;
                Ok(())
            })
            .await
            .unwrap()
        }
    });
    join_all(changes).await;
    settle(&s).await;

    let expected: Vec<String> = s
        .query(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM users WHERE deleted_at IS NULL AND status <> 'deleted' ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .await;
    assert_eq!(expected.len(), 40 - 7 - 7 - 7);
    assert_eq!(s.state.search.indexed_ids().unwrap(), expected);
    for (n, id) in ids.iter().enumerate() {
        let old = find(&s, &format!("{} ", tag(n))).await;
        match n % 6 {
            0 => {
                assert!(old.is_empty(), "old bio of user {n} still found");
                assert_eq!(
                    find(&s, &format!("{} ", tag(n + 50))).await,
                    vec![id.clone()]
                );
            }
            1..=3 => assert!(old.is_empty(), "deleted user {n} still found"),
            _ => assert_eq!(old, vec![id.clone()], "user {n} not found by its bio"),
        }
    }
    let roofers = find(&s, "roofer ").await;
    let expected_roofers: Vec<&String> = ids
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 6 == 4)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(roofers.len(), expected_roofers.len());
    assert!(expected_roofers.iter().all(|id| roofers.contains(id)));
    s.stop().await;
}

async fn start_on(dir: &Path) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::start_with(move |c| c.data_dir = dir).await
}

#[tokio::test]
async fn a_restart_applies_events_written_while_no_consumer_ran() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let first = add(&s, person("Otieno", "Ouma", "customer", "Keeps bees")).await;
    settle(&s).await;
    s.stop().await;
    let index = baitech::search::index_dir(dir.path());
    let before = inode(&index);

    // Written while no server runs: the cursor is behind these events.
    let conn = rusqlite::Connection::open(dir.path().join("baitech.db")).unwrap();
    let second = insert_person(
        &conn,
        &person("Halima", "Abdi", "customer", "Restores clocks"),
    )
    .unwrap();
    emit(&conn, "user.registered", Some(&second), None, &json!({})).unwrap();
    conn.execute(
        "UPDATE users SET bio = 'Keeps goats' WHERE id = ?1",
        [&first],
    )
    .unwrap();
    emit(&conn, "user.updated", Some(&first), None, &json!({})).unwrap();
    drop(conn);

    let s = start_on(dir.path()).await;
    settle(&s).await;
    assert_eq!(find(&s, "clocks").await, vec![second]);
    assert_eq!(find(&s, "goats").await, vec![first]);
    assert!(find(&s, "bees").await.is_empty());
    // Replayed into the same index, not rebuilt.
    assert_eq!(inode(&index), before);
    s.stop().await;
}

#[tokio::test]
async fn an_index_ahead_of_its_database_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let gone = add(
        &s,
        person("Baraka", "Kiprop", "customer", "Plays the nyatiti"),
    )
    .await;
    settle(&s).await;
    s.stop().await;
    let index = baitech::search::index_dir(dir.path());
    let before = inode(&index);

    // As after restoring an older backup: the user and the events are not there.
    let conn = rusqlite::Connection::open(dir.path().join("baitech.db")).unwrap();
    conn.execute("DELETE FROM users WHERE id = ?1", [&gone])
        .unwrap();
    conn.execute("DELETE FROM events", []).unwrap();
    let kept = insert_person(
        &conn,
        &person("Zawadi", "Mutua", "customer", "Plays the nyatiti"),
    )
    .unwrap();
    drop(conn);

    let s = start_on(dir.path()).await;
    assert_ne!(inode(&index), before);
    assert_eq!(s.state.search.indexed_ids().unwrap(), vec![kept.clone()]);
    assert_eq!(find(&s, "nyatiti").await, vec![kept]);
    s.stop().await;
}

fn reindex(data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baitech"))
        .arg("reindex")
        .env("BAITECH_DATA_DIR", data_dir)
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run baitech reindex")
}

#[tokio::test]
async fn reindex_rebuilds_a_removed_index_and_waits_for_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let mut ids = Vec::new();
    for bio in ["Tiles bathrooms", "Tiles kitchens", "Paints murals"] {
        ids.push(add(&s, person("Neema", "Wafula", "technician", bio)).await);
    }
    settle(&s).await;
    s.stop().await;

    std::fs::remove_dir_all(dir.path().join("search")).unwrap();
    let out = reindex(dir.path());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("search index rebuilt: 3 users"), "{text}");
    let index = baitech::search::index_dir(dir.path());
    assert!(index.join("meta.json").exists());
    let built = inode(&index);

    // The server keeps the rebuilt index (no second rebuild) and its
    // cursor starts after the events the rebuild already covered.
    let s = start_on(dir.path()).await;
    assert_eq!(inode(&index), built);
    let (cursor, newest): (i64, i64) = s
        .query(|c| {
            c.query_row(
                "SELECT (SELECT last_id FROM event_cursors WHERE consumer = 'search.users'),
                        (SELECT MAX(id) FROM events)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await;
    assert_eq!(cursor, newest);
    let mut tilers = find(&s, "tiles").await;
    tilers.sort();
    let mut expected = ids[..2].to_vec();
    expected.sort();
    assert_eq!(tilers, expected);
    assert_eq!(find(&s, "murals").await, vec![ids[2].clone()]);
    s.stop().await;

    // Refused while a server holds the data dir.
    let lock = baitech::db::lock::DataDirLock::acquire(dir.path()).unwrap();
    let out = reindex(dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    drop(lock);
    assert!(reindex(dir.path()).status.success());
}

fn baitech_cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baitech"))
        .args(args)
        .env("BAITECH_DATA_DIR", data_dir)
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run baitech")
}

#[tokio::test]
async fn after_a_restore_the_index_describes_the_restored_database() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let s = start_on(dir.path()).await;
    let kept = add(&s, person("Imani", "Rono", "customer", "Weaves baskets")).await;
    settle(&s).await;
    s.stop().await;
    let out = baitech_cli(dir.path(), &["backup", "--to", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // After the backup: a new user, and a changed bio.
    let s = start_on(dir.path()).await;
    let later = add(&s, person("Jabari", "Langat", "customer", "Weaves mats")).await;
    change(
        &s,
        &kept,
        "UPDATE users SET bio = 'Carves stools' WHERE id = ?1",
        "user.updated",
    )
    .await;
    settle(&s).await;
    assert_eq!(find(&s, "weaves").await, vec![later.clone()]);
    s.stop().await;

    let out = baitech_cli(dir.path(), &["restore", "--from", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!baitech::search::index_dir(dir.path()).exists());
    let s = start_on(dir.path()).await;
    assert_eq!(s.state.search.indexed_ids().unwrap(), vec![kept.clone()]);
    assert_eq!(find(&s, "weaves").await, vec![kept]);
    assert!(find(&s, "stools").await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn the_users_list_pages_and_filters_search_results() {
    let s = TestServer::start().await;
    let plumber = |first, rating| Person {
        rating,
        skills: vec![("Plumber", "plumbing")],
        ..person(first, "Fundi", "technician", "Fixes pipes")
    };
    let best = add(&s, plumber("Kibet", 4.5)).await;
    let good = add(&s, plumber("Langat", 3.0)).await;
    let fair = add(&s, plumber("Mumbi", 2.0)).await;
    let customer = add(&s, person("Nafula", "Fundi", "customer", "Needs a plumber")).await;
    let sparky = add(
        &s,
        Person {
            rating: 5.0,
            skills: vec![("Electrician", "electrical")],
            ..person("Odera", "Fundi", "technician", "Wires houses")
        },
    )
    .await;
    settle(&s).await;
    let list = |q: &str| format!("/api/v1/users?{q}");
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["_id"].as_str().unwrap().to_string())
            .collect()
    };

    // Ranked and paged by the index: technicians by rating, then the customer.
    let body = s
        .get(&list("search=plumbr&limit=2"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![best.clone(), good.clone()]);
    assert_eq!(
        (body["total"].as_i64(), body["pages"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(body["count"], 2);
    let body = s
        .get(&list("search=plumbr&limit=2&page=2"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![fair.clone(), customer.clone()]);
    let body = s
        .get(&list("search=plumbr&limit=2&page=400"), None)
        .await
        .expect(200);
    assert!(ids(&body).is_empty());
    assert_eq!(body["total"], 4);
    // Role narrows in the index too.
    let body = s
        .get(&list("search=plu&role=customer"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![customer.clone()]);
    assert_eq!(body["total"], 1);
    // Other filters apply in SQL to the ranked candidates, keeping the rank.
    let body = s
        .get(&list("search=plumber&minRating=2.5"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![best.clone(), good.clone()]);
    assert_eq!(body["total"], 2);
    // A sort by rating is paged by the index as well; other sorts by SQL.
    let body = s
        .get(&list("search=plumbr&sort=rating&limit=2"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![customer.clone(), fair.clone()]);
    assert_eq!(body["total"], 4);
    let body = s
        .get(&list("search=plumbr&sort=-rating&limit=2&page=2"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![fair.clone(), customer.clone()]);
    let body = s
        .get(&list("search=fundi&sort=-rating&minRating=2.5"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![sparky.clone(), best.clone(), good.clone()]);
    assert_eq!(body["total"], 3);
    let body = s
        .get(&list("search=fundi&skills=plumbing&sort=firstName"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![best.clone(), good.clone(), fair.clone()]);
    let body = s
        .get(&list("search=fundi&skills=Plumber&limit=10"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![best.clone(), good.clone(), fair.clone()]);
    assert_eq!(body["total"], 3);
    let body = s
        .get(&list("search=fundi&skills=electrical,wiring"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![sparky.clone()]);
    let body = s
        .get(&list("search=fundi&minRating=4&lat=-1.29&lng=36.82"), None)
        .await
        .expect(200);
    assert!(ids(&body).is_empty(), "nobody has a location");
    let body = s.get(&list("search=electrcian"), None).await.expect(200);
    assert_eq!(ids(&body), vec![sparky.clone()]);
    // A suspended account leaves everyone's results.
    change(
        &s,
        &best,
        "UPDATE users SET status = 'suspended' WHERE id = ?1",
        "user.status_changed",
    )
    .await;
    settle(&s).await;
    let body = s.get(&list("search=plumbr"), None).await.expect(200);
    assert_eq!(ids(&body), vec![good, fair, customer]);
    // Blank search text is no search.
    let body = s
        .get(&list("search=%20%20&limit=100"), None)
        .await
        .expect(200);
    assert_eq!(body["total"], 4);
    s.stop().await;
}
