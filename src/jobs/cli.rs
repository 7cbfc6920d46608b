//! `baitech jobs ...`: the operator's view of the queue from the shell,
//! through [`crate::jobs::inspect`] (the same functions the dashboard
//! uses). Safe while the server runs: each command is one short SQLite
//! transaction, and a requeued job is picked up by the running workers.

use std::path::Path;

use clap::Subcommand;
use rusqlite::{Connection, OpenFlags};

use crate::config::Config;
use crate::http::page::Page;
use crate::ids::iso;
use crate::jobs::inspect;

/// The `jobs` subcommands.
#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// List jobs, newest first (all statuses unless --status).
    List {
        /// queued, running, done or dead.
        #[arg(long)]
        status: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Put a dead job back in the queue, due now, with a fresh give-up age.
    Requeue { id: i64 },
    /// Run a queued job (waiting out a retry backoff) now.
    Retry { id: i64 },
}

fn open(data_dir: &Path) -> Result<Connection, String> {
    let path = data_dir.join("baitech.db");
    if !path.is_file() {
        return Err(format!(
            "no BaiTech database in {}: is this the service's data dir?",
            data_dir.display()
        ));
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Runs one `jobs` subcommand; the message is printed by `main` on error.
pub fn run(config: &Config, cmd: &JobsCommand) -> Result<(), String> {
    let conn = open(&config.data_dir)?;
    match cmd {
        JobsCommand::List { status, limit } => {
            if let Some(s) = status.as_deref() {
                if !inspect::STATUSES.contains(&s) {
                    return Err(format!(
                        "--status must be one of {}",
                        inspect::STATUSES.join(", ")
                    ));
                }
            }
            let page = Page {
                page: 1,
                limit: (*limit).clamp(1, 10_000),
            };
            let (rows, total) =
                inspect::list(&conn, status.as_deref(), page).map_err(|e| e.to_string())?;
            println!(
                "{:>8}  {:<24} {:<8} {:>8}  {:<24} last error",
                "id", "kind", "status", "attempts", "run at"
            );
            for j in &rows {
                println!(
                    "{:>8}  {:<24} {:<8} {:>8}  {:<24} {}",
                    j.id,
                    j.kind,
                    j.status,
                    j.attempts,
                    iso(j.run_at),
                    j.last_error.as_deref().unwrap_or("").replace('\n', " ")
                );
            }
            println!("{} of {total} shown", rows.len());
            Ok(())
        }
        JobsCommand::Requeue { id } => {
            inspect::requeue(&conn, *id).map_err(|e| e.to_string())?;
            println!("job {id} requeued");
            Ok(())
        }
        JobsCommand::Retry { id } => {
            inspect::retry_now(&conn, *id).map_err(|e| e.to_string())?;
            println!("job {id} is due now");
            Ok(())
        }
    }
}
