//! The `baitech` command line: serve, migrate, config, user, backup, restore, check, openapi.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
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
    #[arg(long, global = true, env = "BAITECH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the HTTP server (creates the data dir on first start).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets masked.
    Config,
    /// Manage accounts from the shell (admins and support agents).
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the database to FILE with SQLite's online backup (safe while serving).
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the database with a backup (refused while a server holds the data dir).
    Restore {
        #[arg(long)]
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
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account of any role; asks for the password on a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin")]
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
        #[arg(long)]
        role: Option<String>,
    },
    /// Change an account's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
}

/// Runs a non-serve command; `Err` is printed by `main` with exit code 1.
pub fn run_offline(command: &Command, config: &Config) -> Result<(), String> {
    match command {
        Command::Serve => unreachable!("serve is run by main"),
        Command::Config => {
            for (name, value, help) in config.describe() {
                println!("# {help}\n{name} = {value}\n");
            }
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

fn open_existing(config: &Config) -> Result<Connection, String> {
    let path = db_path(config);
    if !path.exists() {
        return Err(format!(
            "{} does not exist (run `baitech migrate` or `baitech serve` first)",
            path.display()
        ));
    }
    Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|e| e.to_string())
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

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} pages ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn copy_database(src: &Connection, dst: &mut Connection, what: &str) -> Result<(), String> {
    let backup = rusqlite::backup::Backup::new(src, dst).map_err(|e| e.to_string())?;
    let bar = progress(0, what);
    loop {
        let step = backup.step(256).map_err(|e| e.to_string())?;
        let p = backup.progress();
        bar.set_length(p.pagecount as u64);
        bar.set_position((p.pagecount - p.remaining) as u64);
        match step {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => {}
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    bar.finish();
    Ok(())
}

fn backup(config: &Config, to: &PathBuf) -> Result<(), String> {
    let src = open_existing(config)?;
    if to.exists() {
        return Err(format!(
            "{} already exists; refusing to overwrite",
            to.display()
        ));
    }
    let mut dst = Connection::open(to).map_err(|e| format!("{}: {e}", to.display()))?;
    copy_database(&src, &mut dst, "backup")?;
    let ok: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if ok != "ok" {
        return Err(format!("backup integrity check failed: {ok}"));
    }
    println!("backup written to {}", to.display());
    Ok(())
}

fn restore(config: &Config, from: &PathBuf) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
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
    let mut dst = Connection::open(db_path(config)).map_err(|e| e.to_string())?;
    copy_database(&src, &mut dst, "restore")?;
    // The index describes the replaced database; the next start rebuilds it.
    crate::search::discard(&config.data_dir)?;
    crate::search::posts::discard_posts(&config.data_dir)?;
    println!(
        "restored {} into {}",
        from.display(),
        db_path(config).display()
    );
    Ok(())
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
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
    let db = Db::open(&db_path(config), 1)?;
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
                        "UPDATE users SET role = ?2, token_version = token_version + 1, updated_at = ?3 WHERE email = ?1",
                        rusqlite::params![email, role.as_str(), crate::ids::now_ms()],
                    )?;
                    if n == 1 {
                        let id: String = tx.query_row("SELECT id FROM users WHERE email = ?1", [&email], |r| r.get(0))?;
                        crate::events::emit(tx, "user.role_changed", Some(&id), None, &serde_json::json!({"role": role.as_str()}))?;
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
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
    // The running server owns the index writer; the same lock keeps them apart.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let db = Db::open(&db_path(config), 1)?;
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
