//! `rsflow`: an MLflow-compatible tracking server and artifact store.

mod artifacts;
mod auth_config;
mod client;
mod config;
mod gc;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rsflow_api::{AppState, router};
use rsflow_core::SecretUri;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc, for Rust and, through its `override` feature, for the
/// bundled SQLite too. The span and search paths make many small allocations that are freed on
/// another thread than the one that made them, where glibc's arenas take locks and consolidate
/// (a third of the CPU of a trace search, 40% of a `get_trace`). Its default (v3) line: v2 kept
/// the upload chunks freed on the blocking pool (150-200 MiB of peak RSS for a 256 MiB upload,
/// against 26 MiB with glibc; v3: 30-32). Transparent huge pages are off for its memory
/// (`no_thp`): they raised the peak RSS of a 10,000-span `get_trace` to 75-90 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::config::{ClientArgs, ConnectionLimits, GcArgs, MigrateArgs, ServerArgs, VerifyArgs};

#[derive(Parser)]
#[command(
    name = "rsflow",
    version,
    about = "MLflow-compatible tracking server and artifact store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the tracking server (the flags of `mlflow server`).
    Server(Box<ServerArgs>),
    /// Inspect or migrate a backend store database (as `mlflow db`, natively).
    #[command(subcommand)]
    Db(DbCommand),
    /// Permanently delete runs, logged models and experiments in the `deleted` lifecycle
    /// stage, artifacts first (the flags of `mlflow gc`, plus --dry-run).
    Gc(Box<GcArgs>),
    /// Artifact tools.
    #[command(subcommand)]
    Artifacts(ArtifactsCommand),
}

#[derive(Subcommand)]
enum ArtifactsCommand {
    /// Check every artifact under a root against the SHA-256 stored at upload; exit status 1
    /// naming each corrupted or missing file.
    Verify(Box<VerifyArgs>),
    /// Upload a directory (--local-dir) or file (--local-file) to a run's artifacts.
    Upload(Box<ClientArgs>),
    /// Download a run's artifacts (resuming interrupted files, checking their SHA-256).
    Download(Box<ClientArgs>),
    /// List a run's artifacts (as `mlflow artifacts list`).
    List(Box<ClientArgs>),
    /// Delete an artifact file or directory of a run.
    Rm(Box<ClientArgs>),
    /// Copy an artifact root to another store (any two backends), verifying every object
    /// by its SHA-256; run it again to resume.
    Migrate(Box<MigrateArgs>),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Report the alembic revision found, whether rsflow serves it, and any drift from
    /// MLflow's schema at that revision (exit status 1 unless servable and drift-free).
    Check {
        /// Backend store URI (sqlite:///path.db, postgresql://...).
        url: String,
    },
    /// Migrate the schema to a newer MLflow revision in one transaction (from any revision
    /// since MLflow 2.0's head 97727af70f4d to 3.18.0's f4a9b2c7d1e6, data migrations
    /// included; on MySQL from 3.17.2's head dc11669786a5 only, one commit per step, as MySQL
    /// commits DDL as it runs).
    Upgrade {
        /// Backend store URI (sqlite:///path.db, postgresql://..., mysql://...).
        url: String,
        /// Stop at this revision (default: the newest, f4a9b2c7d1e6).
        #[arg(long, value_name = "REV")]
        to: Option<String>,
        /// Print the steps and their statements; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> anyhow::Result<()> {
    // `ssh` runs this executable to ask for an SFTP password (see `ssh_askpass`).
    if rsflow_artifacts::ssh_askpass::askpass_main(config::askpass_password()) {
        return Ok(());
    }
    let cli = Cli::parse();
    rsflow_artifacts::digest::set_enabled(config::artifact_digests());
    let filter = config::log_filter()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config::log_format() {
        // One JSON object per line, with the request's span (request_id, route) in it.
        config::LogFormat::Json => logs.json().with_current_span(true).init(),
        config::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    match cli.command {
        Command::Server(args) => runtime.block_on(serve(*args)),
        Command::Db(cmd) => runtime.block_on(db(cmd)),
        Command::Gc(args) => runtime.block_on(gc::run_cli(args.resolve()?)),
        Command::Artifacts(ArtifactsCommand::Verify(args)) => {
            runtime.block_on(artifacts::verify(args.resolve()?))
        }
        Command::Artifacts(ArtifactsCommand::Upload(a)) => runtime.block_on(client::upload(*a)),
        Command::Artifacts(ArtifactsCommand::Download(a)) => runtime.block_on(client::download(*a)),
        Command::Artifacts(ArtifactsCommand::List(a)) => runtime.block_on(client::list(*a)),
        Command::Artifacts(ArtifactsCommand::Rm(a)) => runtime.block_on(client::rm(*a)),
        Command::Artifacts(ArtifactsCommand::Migrate(a)) => {
            runtime.block_on(artifacts::migrate(a.resolve()?))
        }
    }
}

async fn db(cmd: DbCommand) -> anyhow::Result<()> {
    use rsflow_store::sql::migrate;
    match cmd {
        DbCommand::Check { url } => {
            let report = migrate::check(&url)
                .await
                .with_context(|| format!("cannot check {}", SecretUri::show(&url)))?;
            print!("{}", report.render());
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        DbCommand::Upgrade { url, to, dry_run } => {
            let started = std::time::Instant::now();
            let (report, _dialect) = migrate::upgrade(&url, to.as_deref(), dry_run)
                .await
                .with_context(|| format!("cannot upgrade {}", SecretUri::show(&url)))?;
            print!("{}", report.render());
            if !dry_run && !report.steps.is_empty() {
                println!("took {:.3} s", started.elapsed().as_secs_f64());
            }
            Ok(())
        }
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    settings.log_effective();
    let store = rsflow_store::open_metadata_store_with(
        settings.backend_store_uri.expose(),
        &settings.server.default_artifact_root,
        &settings.schema_revision,
        &settings.store,
    )
    .await
    .with_context(|| format!("cannot open backend store {}", settings.backend_store_uri))?;
    let gc_store = store.clone();
    let mut state = AppState::new(settings.server.clone(), store);
    if let Some(dir) = &settings.expose_prometheus {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --expose-prometheus {}", dir.display()))?;
        state = state.with_metrics();
    }
    if settings.server.serve_artifacts {
        let shown = SecretUri::show(&settings.server.artifacts_destination);
        let destination = rsflow_artifacts::open_destination_with(
            &settings.server.artifacts_destination,
            &settings.server.storage,
        )
        .await
        .with_context(|| format!("cannot open artifacts destination {shown}"))?;
        // Fail at startup, with the reason, rather than on the first upload.
        destination
            .check()
            .await
            .with_context(|| format!("the artifacts destination {shown} is not usable"))?;
        // The digest index (which files rsflow published, for `artifacts verify`'s MISSING)
        // is a table of rsflow's own in the backend database. A database user that may not
        // create tables (a schema managed by an administrator) still gets a working server,
        // without the index.
        let destination: Arc<dyn rsflow_artifacts::ArtifactStore> =
            match gc_store.ensure_artifact_index().await {
                Ok(()) => rsflow_artifacts::indexed::Indexed::wrap(
                    destination,
                    Arc::new(rsflow_api::DbDigestIndex(gc_store.clone())),
                ),
                Err(e) => {
                    tracing::warn!(
                        error = %e.message,
                        "no artifact digest index (its table cannot be created): \
                         `rsflow artifacts verify` will not name missing files"
                    );
                    destination
                }
            };
        state = state.with_artifacts(destination);
    }
    if let Some(schedule) = settings.gc.clone() {
        tracing::info!(
            interval_s = schedule.interval.as_secs_f64(),
            older_than = %schedule.older_than.1,
            "scheduled gc on"
        );
        gc::spawn_scheduled(
            gc_store,
            state.artifact_resolver(),
            schedule,
            state.gc_progress.clone(),
        );
    }
    if let Some(auth) = &settings.auth {
        let store = rsflow_store::SqlAuthStore::open(auth.database_uri.expose())
            .await
            .with_context(|| format!("cannot open the auth database {}", auth.database_uri))?;
        let app = rsflow_api::auth::Auth::new(Arc::new(store), auth.config.clone());
        app.bootstrap(auth.admin_password.as_deref())
            .await
            .map_err(anyhow::Error::msg)?;
        state = state.with_auth(Arc::new(app));
    }
    let app = router(state);

    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = %settings.backend_store_uri,
        artifact_root = %SecretUri::show(&settings.server.default_artifact_root),
        "rsflow listening"
    );
    accept_loop(listener, app, settings.connections).await;
    tracing::info!("rsflow stopped");
    Ok(())
}

/// How long a graceful shutdown waits for open requests before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serve HTTP/1.1 connections until SIGINT/SIGTERM. Unlike `axum::serve` this bounds the time a
/// client may take to send its request headers (slowloris, and idle keep-alive connections)
/// and the number of open connections, and gives in-flight requests a bounded grace period.
async fn accept_loop(listener: TcpListener, app: axum::Router, limits: ConnectionLimits) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON responses must not wait on Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        // The peer address, for the basic-auth throttle and the trusted-proxy check.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still open after {} s; exiting", SHUTDOWN_GRACE.as_secs());
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn mlflow_server_command_lines_parse() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "rsflow",
            "server",
            "-h",
            "0.0.0.0",
            "-p",
            "5001",
            "--backend-store-uri",
            "sqlite:///x.db",
            "--artifacts-destination",
            "/data",
            "--no-serve-artifacts",
            "--workers",
            "4",
        ])
        .unwrap();
        let super::Command::Server(args) = cli.command else {
            panic!("not the server command")
        };
        assert_eq!(args.host, "0.0.0.0");
        assert_eq!(args.port, 5001);
        assert!(args.no_serve_artifacts);
    }
}
