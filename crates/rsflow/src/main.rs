//! `rsflow`: an MLflow-compatible tracking server and artifact store.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rsflow_api::{AppState, router};
use tracing_subscriber::EnvFilter;

use crate::config::ServerArgs;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RSFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Server(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("failed to start the async runtime")?;
            runtime.block_on(serve(*args))
        }
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    let tracking = rsflow_store::open_tracking_store(
        &settings.backend_store_uri,
        &settings.server.default_artifact_root,
    )
    .await
    .with_context(|| {
        format!(
            "cannot open backend store {}",
            config::redact(&settings.backend_store_uri)
        )
    })?;
    let mut state = AppState::new(settings.server.clone(), tracking);
    if settings.server.serve_artifacts {
        let destination =
            rsflow_artifacts::open_destination(&settings.server.artifacts_destination)
                .await
                .with_context(|| {
                    format!(
                        "cannot open artifacts destination {}",
                        config::redact(&settings.server.artifacts_destination)
                    )
                })?;
        state = state.with_artifacts(destination);
    }
    let app = router(state);

    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = %config::redact(&settings.backend_store_uri),
        artifact_root = %settings.server.default_artifact_root,
        "rsflow listening"
    );
    axum::serve(listener, app)
        .tcp_nodelay(true)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    tracing::info!("rsflow stopped");
    Ok(())
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
