//! `rsflow`: an MLflow-compatible tracking server and artifact store.

mod config;

use anyhow::Context;
use axum::serve::ListenerExt;
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let store = rsflow_store::open_metadata_store(
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
    let mut state = AppState::new(settings.server.clone(), store);
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
        // Fail at startup, with the reason, rather than on the first upload.
        destination.check().await.with_context(|| {
            format!(
                "the artifacts destination {} is not usable",
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
    // Small JSON responses must not wait on Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
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
        let super::Command::Server(args) = cli.command;
        assert_eq!(args.host, "0.0.0.0");
        assert_eq!(args.port, 5001);
        assert!(args.no_serve_artifacts);
    }
}
