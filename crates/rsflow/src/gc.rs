//! `rsflow gc` and the server's scheduled gc: both run [`rsflow_api::gc::Collector`] passes.

use std::sync::Arc;

use anyhow::Context as _;
use rsflow_api::gc::{Collector, GcEvent, GcOptions, GcProgress};
use rsflow_artifacts::{ArtifactResolver, HostPolicy, HttpStore};
use rsflow_core::SecretUri;
use rsflow_store::MetadataStore;

use crate::config::{GcSettings, ScheduledGc};

/// The artifact route of a running server, below its tracking URI.
const ARTIFACT_API: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// `rsflow gc`: one pass against the stores directly (proxied locations through
/// `--artifacts-destination`, or through the server at `MLFLOW_TRACKING_URI`).
pub async fn run_cli(settings: GcSettings) -> anyhow::Result<()> {
    let store = rsflow_store::open_metadata_store_with(
        settings.backend_store_uri.expose(),
        "./mlruns",
        rsflow_store::ALEMBIC_HEAD,
        &settings.store,
    )
    .await
    .with_context(|| format!("cannot open backend store {}", settings.backend_store_uri))?;
    let destination = match (&settings.artifacts_destination, &settings.tracking_server) {
        (Some(dest), _) => Some(match rsflow_artifacts::ArtifactUri::parse(dest) {
            // Attached, not opened: opening a local destination sweeps it for abandoned
            // uploads, a walk of the whole tree that gc does not need.
            Ok(rsflow_artifacts::ArtifactUri::Local(dir)) => {
                Arc::new(rsflow_artifacts::LocalStore::attach(&dir).with_context(|| {
                    format!("cannot open artifacts destination {}", dir.display())
                })?) as Arc<dyn rsflow_artifacts::ArtifactStore>
            }
            _ => rsflow_artifacts::open_destination_with(dest, &settings.storage)
                .await
                .with_context(|| {
                    format!(
                        "cannot open artifacts destination {}",
                        SecretUri::show(dest)
                    )
                })?,
        }),
        (None, Some(server)) => Some(Arc::new(
            HttpStore::with_timeouts(
                &format!("{server}{ARTIFACT_API}"),
                &settings.storage.timeouts(),
            )
            .with_context(|| format!("cannot reach the tracking server {server}"))?,
        ) as Arc<dyn rsflow_artifacts::ArtifactStore>),
        (None, None) => None,
    };
    // An operator's tool: it may reach every store the database names.
    let mut schemes: Vec<String> = rsflow_core::uri::STORE_SCHEMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    schemes.extend(["http".to_owned(), "https".to_owned()]);
    let resolver = ArtifactResolver::new(destination)
        .with_host_policy(HostPolicy {
            trusted_roots: Vec::new(),
            allowed_schemes: schemes,
        })
        .with_storage_env(settings.storage.clone());
    let dry_run = settings.options.dry_run;
    let print = |e: &GcEvent| match e {
        GcEvent::Skipped { .. } => eprintln!("{e}"),
        GcEvent::Deleted { .. } => println!("{e}"),
    };
    let report = Collector {
        store,
        resolver,
        opts: settings.options,
        progress: None,
        out: &print,
        seen: Default::default(),
    }
    .run()
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", e.code.as_str(), e.message))?;
    if dry_run {
        println!(
            "Dry run: {} runs, {} logged models, {} experiments, {} traces would be permanently \
             deleted, freeing {} artifact bytes.",
            report.runs, report.logged_models, report.experiments, report.traces, report.bytes
        );
    }
    if report.skipped > 0 {
        eprintln!(
            "{} items were left for a later pass (see the messages above).",
            report.skipped
        );
        std::process::exit(1);
    }
    Ok(())
}

/// Run gc every `schedule.interval` inside the server, one replica at a time (the store's gc
/// lease), logging what it removes.
pub fn spawn_scheduled(
    store: Arc<dyn MetadataStore>,
    resolver: ArtifactResolver,
    schedule: ScheduledGc,
    progress: Arc<GcProgress>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(schedule.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once: wait one interval after start instead.
        tick.tick().await;
        loop {
            tick.tick().await;
            let lease = match store.gc_lease().await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    tracing::debug!("gc skipped: another process holds the gc lease");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "gc lease failed");
                    continue;
                }
            };
            let log = |e: &GcEvent| match e {
                GcEvent::Deleted { kind, id, .. } => {
                    tracing::info!(kind, id = %id, "gc permanently deleted")
                }
                GcEvent::Skipped { what, why } => {
                    tracing::warn!(what = %what, why = %why, "gc skipped")
                }
            };
            let collector = Collector {
                store: store.clone(),
                resolver: resolver.clone(),
                opts: GcOptions {
                    older_than: Some(schedule.older_than.clone()),
                    page_size: 500,
                    concurrency: 16,
                    ..GcOptions::default()
                },
                progress: Some(progress.clone()),
                out: &log,
                seen: Default::default(),
            };
            match collector.run().await {
                Ok(r) => tracing::info!(
                    runs = r.runs,
                    logged_models = r.logged_models,
                    experiments = r.experiments,
                    traces = r.traces,
                    skipped = r.skipped,
                    "gc pass done"
                ),
                Err(e) => tracing::warn!(error = %e.message, "gc pass failed"),
            }
            drop(lease);
        }
    });
}
