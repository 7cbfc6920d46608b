//! `baitech`: parses the command line and runs one command.

use baitech::cli::{run_offline, Cli, Command};
use baitech::config::{log_filter, unknown_env_vars, Config, LogFormat};
use baitech::db::lock::DataDirLock;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Logs go to stderr: BaiTech's lines at `log_level`, other libraries at
/// `warn`, colour only on a terminal (never escape codes in a log file).
fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(log_filter(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log_format == LogFormat::Json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

/// Large allocations (argon2's 19 MiB buffers) always go straight to mmap
/// and back to the OS when freed; glibc's adaptive threshold would otherwise
/// keep them in per-thread arenas and let the resident size grow with load.
fn return_large_allocations_to_the_os() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() {
    return_large_allocations_to_the_os();
    baitech::files::private_umask();
    let cli = Cli::parse();
    let names = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned());
    for name in unknown_env_vars(names) {
        eprintln!("baitech: warning: {name} is not a BaiTech setting and is ignored (`baitech config` lists them)");
    }
    let config = match Config::load(&cli.flags(), cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baitech: configuration: {e}");
            std::process::exit(2);
        }
    };
    init_logging(&config);
    let result = match &cli.command {
        Command::Serve(_) => serve(config),
        other => run_offline(other, &config),
    };
    if let Err(e) = result {
        eprintln!("baitech: {e}");
        std::process::exit(1);
    }
}

fn serve(config: Config) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listen = config.listen.clone();
        let state = baitech::build_state(config)?;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        tracing::info!(addr = %listen, ready_ms = state.started.elapsed().as_millis() as u64, "BaiTech API listening");
        baitech::serve(listener, state, baitech::shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    })
}
