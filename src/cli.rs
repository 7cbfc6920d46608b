//! The `baitech` command line: serve, migrate, config, user, backup, restore, check, openapi.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::{Connection, OpenFlags};

use crate::auth::{password, policy, store, Role};
use crate::config::{Config, Flags};
use crate::db::{lock::DataDirLock, Db};

/// BaiTech: the services-marketplace backend in one binary.
#[derive(Parser, Debug)]
#[command(name = "baitech", version, about)]
pub struct Cli {
    /// TOML configuration file (default: ./baitech.toml when present).
    #[arg(
        long,
        global = true,
        env = "BAITECH_CONFIG",
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// The service's data folder (holding baitech.db); else BAITECH_DATA_DIR, then the file's data_dir, then ./data. Packaged setup: /var/lib/baitech.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The settings given on the command line: the server settings `serve`
    /// and `config` take, plus the global `--data-dir` every command takes,
    /// so every command resolves its data dir and file the same way.
    pub fn flags(&self) -> Flags {
        let mut flags = match &self.command {
            Command::Serve(f) | Command::Config(f) => f.clone(),
            _ => Flags::default(),
        };
        flags.data_dir = self.data_dir.clone();
        flags
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the HTTP server (creates the data dir on first start).
    Serve(Flags),
    /// Apply pending database migrations and exit (creates the database when there is none).
    Migrate,
    /// Print the effective configuration as a TOML file (secrets left out).
    Config(Flags),
    /// Manage accounts from the shell (admins and support agents).
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the database and its generated secrets to FILE (safe while serving; FILE appears only once complete).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Replace the database with a backup, keeping the replaced one beside it (refused while a server holds the data dir).
    Restore {
        /// A file written by `baitech backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Check database integrity and that migrations are current.
    Check,
    /// Print the OpenAPI document (JSON), for client generators.
    Openapi,
    /// Verify the payments ledger: every entry balances, every balance equals its postings, no wallet is negative.
    LedgerCheck,
    /// Rebuild the search index from the database (refused while a server holds the data dir).
    Reindex,
    /// Inspect the job queue: list jobs, requeue dead ones, retry waiting ones now.
    #[command(subcommand)]
    Jobs(crate::jobs::cli::JobsCommand),
    /// Fill an empty data dir with a demo Nairobi marketplace and print accounts to sign in with.
    SeedDemo {
        /// Generated technicians (besides the two named ones).
        #[arg(long, default_value_t = 200)]
        technicians: u32,
        /// Generated customers (besides the named one).
        #[arg(long, default_value_t = 500)]
        customers: u32,
        /// Bookings, in every status, with payments and reviews.
        #[arg(long, default_value_t = 2000)]
        bookings: u32,
        /// Random seed: the same seed plans the same marketplace.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account of any role; asks for the password on a terminal.
    Create {
        #[arg(long)]
        email: String,
        /// The account's role.
        #[arg(long, value_parser = ROLE_NAMES)]
        role: String,
        #[arg(long, default_value = "Admin")]
        first_name: String,
        #[arg(long, default_value = "User")]
        last_name: String,
        /// Phone number (E.164 or Kenyan 07.. form); a placeholder is generated when absent.
        #[arg(long)]
        phone: Option<String>,
        /// Read the password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        #[arg(long, value_parser = ROLE_NAMES)]
        role: Option<String>,
    },
    /// Change an account's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ROLE_NAMES)]
        role: String,
    },
}

/// Roles `--role` accepts.
const ROLE_NAMES: [&str; 5] = ["customer", "technician", "corporate", "admin", "support"];

/// Runs a non-serve command; `Err` is printed by `main` with exit code 1.
pub fn run_offline(command: &Command, config: &Config) -> Result<(), String> {
    match command {
        Command::Serve(_) => unreachable!("serve is run by main"),
        Command::Config(_) => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::Openapi => {
            let doc = crate::openapi_document()
                .to_pretty_json()
                .map_err(|e| e.to_string())?;
            println!("{doc}");
            Ok(())
        }
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
            Db::open(&db_path(config), 1)?;
            println!(
                "migrations applied (latest: V{})",
                crate::db::latest_embedded_migration()
            );
            Ok(())
        }
        Command::Check => check(config),
        Command::Backup { to } => backup(config, to),
        Command::Restore { from } => restore(config, from),
        Command::User(cmd) => user(config, cmd),
        Command::LedgerCheck => ledger_check(config),
        Command::Reindex => reindex(config),
        Command::Jobs(cmd) => crate::jobs::cli::run(config, cmd),
        Command::SeedDemo {
            technicians,
            customers,
            bookings,
            seed,
        } => {
            let options = crate::seed::Options {
                technicians: *technicians,
                customers: *customers,
                bookings: *bookings,
                seed: *seed,
            };
            let started = std::time::Instant::now();
            let sign_ins = crate::seed::run(config, options)?;
            crate::seed::print_sign_ins(&sign_ins, &options);
            println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

fn ledger_check(config: &Config) -> Result<(), String> {
    let conn = open_existing(config)?;
    let started = std::time::Instant::now();
    let report = crate::payments::ledger::check(&conn).map_err(|e| e.to_string())?;
    println!("{}", report.summary());
    println!(
        "checked in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if report.is_ok() {
        Ok(())
    } else {
        Err("ledger invariants violated".into())
    }
}

fn db_path(config: &Config) -> PathBuf {
    config.data_dir.join("baitech.db")
}

/// The database of the data dir, or why there is none: every command but
/// `serve` and `migrate` acts only on an existing database and never
/// creates one (a mistyped `--data-dir` must not look like an empty
/// marketplace).
pub fn existing_database(config: &Config) -> Result<PathBuf, String> {
    let path = db_path(config);
    let dir = config.data_dir.display();
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() > 0 => Ok(path),
        Ok(m) if m.is_file() => Err(format!(
            "{} is empty: is {dir} the service's data dir? (restore a backup with `baitech restore --from FILE`)",
            path.display()
        )),
        _ => Err(format!(
            "no BaiTech database in {dir}: is this the service's data dir? (give --data-dir DIR or BAITECH_DATA_DIR; `baitech migrate` creates a new database)"
        )),
    }
}

fn open_existing(config: &Config) -> Result<Connection, String> {
    let path = existing_database(config)?;
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

fn check(config: &Config) -> Result<(), String> {
    let mut conn = open_existing(config)?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let applied = crate::db::latest_applied_migration(&mut conn)?.unwrap_or(0);
    let embedded = crate::db::latest_embedded_migration();
    println!("integrity: {integrity}");
    println!("migrations: applied V{applied}, this binary V{embedded}");
    if integrity != "ok" {
        return Err("integrity check failed".into());
    }
    if applied != embedded {
        return Err("migrations are not current (run `baitech migrate`)".into());
    }
    println!("ok");
    Ok(())
}

/// Table inside a backup file holding the data dir's generated secrets.
const BACKUP_FILES_TABLE: &str = "baitech_backup_files";

/// Generated secrets in the data dir that a backup must carry for the
/// restored database to work (tokens, signed media URLs, M-Pesa callback
/// paths): every `*.secret` and `*.key` file.
fn secret_files(data_dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let is_secret = name.ends_with(".secret") || name.ends_with(".key");
        if is_secret && entry.file_type().is_ok_and(|t| t.is_file()) {
            let bytes = std::fs::read(entry.path())
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            out.push((name, bytes));
        }
    }
    out.sort();
    Ok(out)
}

/// An empty file only the owner may read, for SQLite to write a copy into.
fn create_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Copies the database `src` reads into the new file `to` in one read
/// transaction (`VACUUM INTO`): writers carry on, nothing restarts the copy.
fn vacuum_into(src: &Connection, to: &Path) -> Result<(), String> {
    create_private(to)?;
    let target = to.to_str().ok_or("the target path is not valid UTF-8")?;
    src.execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("copying into {}: {e}", to.display()))?;
    Ok(())
}

fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The folder a file lives in ("." for a bare name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn backup(config: &Config, to: &Path) -> Result<(), String> {
    let src = open_existing(config)?;
    if to.exists() {
        return Err(format!(
            "{} already exists; refusing to overwrite",
            to.display()
        ));
    }
    let name = to
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", to.display()))?
        .to_string_lossy()
        .to_string();
    let partial = parent_of(to).join(format!(".{name}.partial-{}", std::process::id()));
    let started = std::time::Instant::now();
    let written = write_backup(config, &src, &partial);
    drop(src);
    let secrets = match written {
        Ok(secrets) => secrets,
        Err(e) => {
            remove_with_sidecars(&partial);
            return Err(e);
        }
    };
    // Renamed into place only once complete: FILE is never a partial copy.
    if let Err(e) = std::fs::rename(&partial, to) {
        remove_with_sidecars(&partial);
        return Err(format!("{}: {e}", to.display()));
    }
    fsync_dir(&parent_of(to));
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written to {} ({:.1} MB in {:.1} s; includes {})",
        to.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        if secrets.is_empty() {
            "no generated secrets".to_string()
        } else {
            secrets.join(", ")
        }
    );
    Ok(())
}

/// Writes the complete backup into `partial`; returns the secrets it carries.
fn write_backup(config: &Config, src: &Connection, partial: &Path) -> Result<Vec<String>, String> {
    let secrets = secret_files(&config.data_dir)?;
    vacuum_into(src, partial)?;
    let dst = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    let fail = |e: rusqlite::Error| format!("{}: {e}", partial.display());
    // A plain rollback-journal file: readable anywhere, even read-only.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(fail)?;
    dst.execute_batch(&format!(
        "CREATE TABLE {BACKUP_FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)"
    ))
    .map_err(fail)?;
    for (name, content) in &secrets {
        dst.execute(
            &format!("INSERT INTO {BACKUP_FILES_TABLE} (name, content) VALUES (?1, ?2)"),
            rusqlite::params![name, content],
        )
        .map_err(fail)?;
    }
    let ok: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(fail)?;
    if ok != "ok" {
        return Err(format!("backup integrity check failed: {ok}"));
    }
    drop(dst);
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    Ok(secrets.into_iter().map(|(n, _)| n).collect())
}

/// A file-name-safe UTC time stamp, e.g. 20261205T141503Z.
fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

fn restore(config: &Config, from: &Path) -> Result<(), String> {
    let live = existing_database(config)?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let ok: String = src
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("{} is not a usable database: {e}", from.display()))?;
    if ok != "ok" {
        return Err(format!(
            "{} failed its integrity check: {ok}",
            from.display()
        ));
    }
    let stamp = stamp();
    // 1. The replaced database (with what its WAL holds) stays beside it.
    let kept = config.data_dir.join(format!("baitech.db.replaced-{stamp}"));
    {
        let current = open_existing(config)?;
        if let Err(e) = vacuum_into(&current, &kept) {
            remove_with_sidecars(&kept);
            return Err(format!("keeping the current database: {e}"));
        }
    }
    // 2. The backup is copied into the data dir beside the live file...
    let incoming = config.data_dir.join("baitech.db.restoring");
    remove_with_sidecars(&incoming);
    let files = vacuum_into(&src, &incoming).and_then(|_| take_backup_files(&incoming));
    drop(src);
    let files = match files {
        Ok(files) => files,
        Err(e) => {
            remove_with_sidecars(&incoming);
            return Err(e);
        }
    };
    // 3. ...and swapped in whole (no server holds the data dir: we hold its lock).
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = live.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&incoming, &live).map_err(|e| format!("{}: {e}", live.display()))?;
    fsync_dir(&config.data_dir);
    // 4. The generated secrets the backup carries; differing ones are kept aside.
    let mut restored = Vec::new();
    for (name, content) in files {
        let path = config.data_dir.join(&name);
        match std::fs::read(&path) {
            Ok(existing) if existing == content => continue,
            Ok(_) => {
                let aside = config.data_dir.join(format!("{name}.replaced-{stamp}"));
                std::fs::rename(&path, &aside).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Err(_) => {}
        }
        create_private(&path)?;
        std::fs::write(&path, &content).map_err(|e| format!("{}: {e}", path.display()))?;
        restored.push(name);
    }
    // The index describes the replaced database; the next start rebuilds it.
    crate::search::discard(&config.data_dir)?;
    crate::search::posts::discard_posts(&config.data_dir)?;
    println!("restored {} into {}", from.display(), live.display());
    println!("the replaced database is kept as {}", kept.display());
    if !restored.is_empty() {
        println!("restored generated secrets: {}", restored.join(", "));
    }
    Ok(())
}

/// Reads and removes the secrets table of a restored copy (older backups have none).
fn take_backup_files(path: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let fail = |e: rusqlite::Error| format!("{}: {e}", path.display());
    let present: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [BACKUP_FILES_TABLE],
            |r| r.get(0),
        )
        .map_err(fail)?;
    if present == 0 {
        return Ok(Vec::new());
    }
    let files = conn
        .prepare(&format!(
            "SELECT name, content FROM {BACKUP_FILES_TABLE} ORDER BY name"
        ))
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(fail)?;
    conn.execute_batch(&format!("DROP TABLE {BACKUP_FILES_TABLE}"))
        .map_err(fail)?;
    // Only plain names: a crafted backup must not write outside the data dir.
    Ok(files
        .into_iter()
        .filter(|(n, _)| {
            !n.contains('/')
                && !n.starts_with('.')
                && (n.ends_with(".secret") || n.ends_with(".key"))
        })
        .collect())
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| e.to_string())?;
        return Ok(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("passwords do not match".into());
    }
    Ok(first)
}

fn user(config: &Config, cmd: &UserCommand) -> Result<(), String> {
    let db = Db::open(&existing_database(config)?, 1)?;
    match cmd {
        UserCommand::Create {
            email,
            role,
            first_name,
            last_name,
            phone,
            password_stdin,
        } => {
            let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}"))?;
            let email = policy::normalize_email(email).ok_or("not a valid email address")?;
            let phone = match phone {
                Some(p) => policy::normalize_phone(p).ok_or("not a valid phone number")?,
                // +999 is not assigned to any country: a placeholder that cannot collide with a real number.
                None => format!("+999{:011}", rand::random::<u64>() % 100_000_000_000),
            };
            let pw = read_password(*password_stdin)?;
            if let Some(problem) = policy::password_problem(&pw, &email) {
                return Err(problem.to_string());
            }
            let cost = password::Cost {
                memory_kib: config.argon2_memory_kib,
                iterations: config.argon2_iterations,
            };
            let hash = password::hash_blocking(&pw, cost).map_err(|e| e.to_string())?;
            let account = db
                .write_blocking(|tx| {
                    let a = store::insert(
                        tx,
                        &store::NewAccount {
                            email,
                            phone,
                            password_hash: hash,
                            first_name: first_name.clone(),
                            last_name: last_name.clone(),
                            role,
                            location: None,
                        },
                    )?;
                    tx.execute(
                        "UPDATE users SET is_email_verified = 1 WHERE id = ?1",
                        [&a.id],
                    )?;
                    crate::events::emit(
                        tx,
                        "user.registered",
                        Some(&a.id),
                        None,
                        &serde_json::json!({"role": role.as_str(), "via": "cli"}),
                    )?;
                    Ok(a)
                })
                .map_err(|e| e.to_string())?;
            println!(
                "created {} {} ({})",
                account.role.as_str(),
                account.email,
                account.id
            );
            Ok(())
        }
        UserCommand::List { role } => {
            let rows = db
                .read_blocking(|c| {
                    let mut stmt = c.prepare(
                        "SELECT id, email, role, status, first_name || ' ' || last_name FROM users
                         WHERE (?1 IS NULL OR role = ?1) ORDER BY created_at",
                    )?;
                    let rows = stmt
                        .query_map([role.as_deref()], |r| {
                            Ok(format!(
                                "{}  {:<32} {:<11} {:<10} {}",
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?
                            ))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows)
                })
                .map_err(|e| e.to_string())?;
            for row in rows {
                println!("{row}");
            }
            Ok(())
        }
        UserCommand::SetRole { email, role } => {
            let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}"))?;
            let email = policy::normalize_email(email).ok_or("not a valid email address")?;
            let changed = db
                .write_blocking(|tx| {
                    let n = tx.execute(
                        "UPDATE users SET role = ?2, updated_at = ?3 WHERE email = ?1",
                        rusqlite::params![email, role.as_str(), crate::ids::now_ms()],
                    )?;
                    if n == 1 {
                        let id: String =
                            tx.query_row("SELECT id FROM users WHERE email = ?1", [&email], |r| {
                                r.get(0)
                            })?;
                        crate::auth::sessions::sign_out_everywhere(tx, &id)?;
                        crate::events::emit(
                            tx,
                            "user.role_changed",
                            Some(&id),
                            None,
                            &serde_json::json!({"role": role.as_str()}),
                        )?;
                    }
                    Ok(n)
                })
                .map_err(|e| e.to_string())?;
            if changed == 0 {
                return Err(format!("no account with email {email}"));
            }
            println!("{email} is now {}", role.as_str());
            Ok(())
        }
    }
}

fn reindex(config: &Config) -> Result<(), String> {
    let path = existing_database(config)?;
    // The running server owns the index writer; the same lock keeps them apart.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let db = Db::open(&path, 1)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} users ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("reindex");
    let started = std::time::Instant::now();
    let done = crate::search::rebuild(&config.data_dir, &db, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish();
    println!(
        "search index rebuilt: {} users in {:.1} s (current to event {})",
        done.users,
        started.elapsed().as_secs_f64(),
        done.last_event_id
    );
    let started = std::time::Instant::now();
    let posts = crate::search::posts::rebuild_posts(&config.data_dir, &db)?;
    println!(
        "posts search index rebuilt: {posts} posts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
