//! Garbage collection: permanently remove runs, logged models and experiments in the `deleted`
//! lifecycle stage, artifacts first, as `mlflow gc` does (spec: `mlflow/cli/__init__.py`,
//! `_gc_tracking_resources`), for `rsflow gc` and for the server's scheduled pass.
//!
//! Crash safety comes from the order: a page's artifacts are deleted (idempotently: a missing
//! file is not an error), then its rows in one transaction. A pass killed half way leaves rows
//! still marked deleted, whose artifacts may be partly gone; the next pass lists them again and
//! finishes. A row is only removed once its artifacts are; an artifact root that fails to
//! delete keeps its row for the next pass. Unlike `mlflow gc`, the logged models and traces of
//! an experiment being removed have their artifacts removed too.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use futures_util::StreamExt as _;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use rsflow_artifacts::{ArtifactPath, ArtifactResolver, ArtifactStore, Stat};
use rsflow_core::{MlflowError, Result, now_ms};
use rsflow_store::{DeletedRunFilter, GcLoggedModel, GcRun, MetadataStore};

/// What one pass removes, as `mlflow gc`'s flags say.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// `--older-than` in milliseconds, with its text for messages.
    pub older_than: Option<(i64, String)>,
    pub run_ids: Option<Vec<String>>,
    pub experiment_ids: Option<Vec<String>>,
    pub logged_model_ids: Option<Vec<String>>,
    /// List what would go and how many bytes it holds; change nothing.
    pub dry_run: bool,
    /// Rows per page (and per delete transaction).
    pub page_size: usize,
    /// Artifact roots deleted at once.
    pub concurrency: usize,
}

impl GcOptions {
    fn page(&self) -> usize {
        self.page_size.clamp(1, 10_000)
    }
}

/// Counters of gc work, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct GcProgress {
    pub passes: Counter,
    pub runs_deleted: Counter,
    pub logged_models_deleted: Counter,
    pub experiments_deleted: Counter,
    pub traces_deleted: Counter,
    pub artifact_roots_deleted: Counter,
    pub artifact_errors: Counter,
    /// Milliseconds since the epoch when the last pass ended (0: never).
    pub last_pass_end_ms: Gauge,
}

/// One line of gc output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcEvent {
    /// `Run with ID x has been permanently deleted.` (or "would be", with its bytes).
    Deleted {
        kind: &'static str,
        id: String,
        bytes: Option<u64>,
    },
    /// Something left for a later pass, and why.
    Skipped { what: String, why: String },
}

impl std::fmt::Display for GcEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcEvent::Deleted {
                kind,
                id,
                bytes: None,
            } => write!(f, "{kind} with ID {id} has been permanently deleted."),
            GcEvent::Deleted {
                kind,
                id,
                bytes: Some(b),
            } => write!(
                f,
                "{kind} with ID {id} would be permanently deleted ({b} artifact bytes)."
            ),
            GcEvent::Skipped { what, why } => write!(f, "Skipped {what}: {why}"),
        }
    }
}

/// What a pass did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub runs: u64,
    pub logged_models: u64,
    pub experiments: u64,
    pub traces: u64,
    /// Artifact bytes found under the roots (dry runs only).
    pub bytes: u64,
    /// Items left for a later pass.
    pub skipped: u64,
}

/// One pass of gc.
pub struct Collector<'a> {
    pub store: Arc<dyn MetadataStore>,
    pub resolver: ArtifactResolver,
    pub opts: GcOptions,
    pub progress: Option<Arc<GcProgress>>,
    pub out: &'a (dyn Fn(&GcEvent) + Send + Sync),
    /// Dry runs delete nothing, so a later page may list an item again: counted once.
    pub seen: std::sync::Mutex<HashSet<String>>,
}

/// How removing one artifact root went.
enum Cleared {
    /// Gone (or, in a dry run, this many bytes would go).
    Done(u64),
    /// The location cannot be resolved: MLflow warns and removes the row anyway.
    Unresolvable(String),
    /// The store failed: keep the row, a later pass retries.
    Failed(String),
}

impl Collector<'_> {
    fn emit(&self, e: GcEvent) {
        (self.out)(&e);
    }

    fn count(&self, f: impl Fn(&GcProgress) -> &Counter, n: u64) {
        if let Some(p) = &self.progress {
            f(p).inc_by(n);
        }
    }

    /// Run the pass. Bad arguments (ids that are not deleted, not old enough, missing) are
    /// refused before anything is deleted.
    pub async fn run(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        let cutoff = self.opts.older_than.as_ref().map(|(ms, _)| now_ms() - ms);
        let older_text = self.opts.older_than.as_ref().map(|(_, t)| t.as_str());

        // Experiments first decided (their deleted runs join the runs to remove).
        let experiments = self.experiments_to_delete(cutoff, older_text).await?;

        // Runs named on the command line, checked up front.
        if let Some(ids) = &self.opts.run_ids {
            let runs = self.checked_runs(ids, cutoff, older_text).await?;
            for page in runs.chunks(self.opts.page()) {
                self.delete_runs(page, &mut report).await?;
            }
        } else {
            let filter = DeletedRunFilter {
                deleted_before: Some(cutoff.unwrap_or_else(now_ms)),
                experiment_ids: None,
            };
            self.delete_run_pages(&filter, &mut report).await?;
        }
        if !experiments.is_empty() {
            // Deleted runs of those experiments, whatever their age (`mlflow gc` adds them).
            let filter = DeletedRunFilter {
                deleted_before: None,
                experiment_ids: Some(experiments.clone()),
            };
            self.delete_run_pages(&filter, &mut report).await?;
        }

        // Logged models.
        if let Some(ids) = &self.opts.logged_model_ids {
            let models = self.checked_models(ids, cutoff, older_text).await?;
            for page in models.chunks(self.opts.page()) {
                self.delete_models(page, false, &mut report).await?;
            }
        } else {
            let before = Some(cutoff.unwrap_or_else(now_ms));
            let mut after = String::new();
            loop {
                let page = self
                    .store
                    .gc_deleted_logged_models(before, &after, self.opts.page() as i64)
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.model_id.clone();
                self.delete_models(&page, false, &mut report).await?;
            }
        }

        // Experiments: their logged models and traces (artifacts too), then the rows.
        if !experiments.is_empty() {
            let mut after = String::new();
            loop {
                let page = self
                    .store
                    .gc_logged_models_of(&experiments, &after, self.opts.page() as i64)
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.model_id.clone();
                self.delete_models(&page, true, &mut report).await?;
            }
            self.clear_traces(&experiments, &mut report).await?;
            for id in &experiments {
                if self.opts.dry_run {
                    report.experiments += 1;
                    self.emit(GcEvent::Deleted {
                        kind: "Experiment",
                        id: id.clone(),
                        bytes: Some(0),
                    });
                    continue;
                }
                if self.store.gc_hard_delete_experiment(id).await? {
                    report.experiments += 1;
                    self.count(|p| &p.experiments_deleted, 1);
                    self.emit(GcEvent::Deleted {
                        kind: "Experiment",
                        id: id.clone(),
                        bytes: None,
                    });
                } else {
                    report.skipped += 1;
                    self.emit(GcEvent::Skipped {
                        what: format!("experiment {id}"),
                        why: "it still has runs (or was restored); a later pass retries".into(),
                    });
                }
            }
        }
        if let Some(p) = &self.progress {
            p.passes.inc();
            p.last_pass_end_ms.set(now_ms());
        }
        Ok(report)
    }

    async fn experiments_to_delete(
        &self,
        cutoff: Option<i64>,
        older_text: Option<&str>,
    ) -> Result<Vec<String>> {
        let Some(ids) = &self.opts.experiment_ids else {
            let found = self.store.gc_deleted_experiments(cutoff).await?;
            return Ok(found.into_iter().map(|e| e.experiment_id).collect());
        };
        let found = self.store.gc_experiments(ids).await?;
        let known: HashSet<&str> = found.iter().map(|e| e.experiment_id.as_str()).collect();
        if let Some(missing) = ids.iter().find(|i| !known.contains(i.trim())) {
            return Err(MlflowError::not_found(format!(
                "No Experiment with id={missing} exists"
            )));
        }
        let active: Vec<&str> = found
            .iter()
            .filter(|e| !e.deleted)
            .map(|e| e.experiment_id.as_str())
            .collect();
        if !active.is_empty() {
            return Err(MlflowError::invalid_param(format!(
                "Experiments {active:?} are not in the deleted lifecycle stage. Only experiments \
                 in the deleted lifecycle stage can be hard-deleted."
            )));
        }
        if let (Some(t), Some(text)) = (cutoff, older_text) {
            let young: Vec<&str> = found
                .iter()
                .filter(|e| e.last_update_time.is_none_or(|u| u >= t))
                .map(|e| e.experiment_id.as_str())
                .collect();
            if !young.is_empty() {
                return Err(MlflowError::invalid_param(format!(
                    "Experiments {young:?} are not older than the required age. Only \
                     experiments older than {text} can be deleted."
                )));
            }
        }
        let unique: BTreeSet<String> = found.into_iter().map(|e| e.experiment_id).collect();
        Ok(unique.into_iter().collect())
    }

    async fn checked_runs(
        &self,
        ids: &[String],
        cutoff: Option<i64>,
        older_text: Option<&str>,
    ) -> Result<Vec<GcRun>> {
        let unique: BTreeSet<String> = ids.iter().map(|i| i.trim().to_owned()).collect();
        let unique: Vec<String> = unique.into_iter().collect();
        let found = self.store.gc_runs(&unique).await?;
        let known: HashSet<&str> = found.iter().map(|r| r.run_id.as_str()).collect();
        if let Some(missing) = unique.iter().find(|i| !known.contains(i.as_str())) {
            return Err(MlflowError::not_found(format!(
                "Run with id={missing} not found"
            )));
        }
        for run in &found {
            if !run.deleted {
                return Err(MlflowError::invalid_param(format!(
                    "Run {} is not in `deleted` lifecycle stage. Only runs in `deleted` \
                     lifecycle stage can be deleted.",
                    run.run_id
                )));
            }
            if let (Some(t), Some(text)) = (cutoff, older_text)
                && run.deleted_time.is_none_or(|d| d > t)
            {
                return Err(MlflowError::invalid_param(format!(
                    "Run {} is not older than the required age. Only runs older than {text} \
                     can be deleted.",
                    run.run_id
                )));
            }
        }
        Ok(found)
    }

    async fn checked_models(
        &self,
        ids: &[String],
        cutoff: Option<i64>,
        older_text: Option<&str>,
    ) -> Result<Vec<GcLoggedModel>> {
        let unique: BTreeSet<String> = ids.iter().map(|i| i.trim().to_owned()).collect();
        let unique: Vec<String> = unique.into_iter().collect();
        let found = self.store.gc_logged_models(&unique).await?;
        let known: HashSet<&str> = found.iter().map(|m| m.model_id.as_str()).collect();
        if let Some(missing) = unique.iter().find(|i| !known.contains(i.as_str())) {
            return Err(MlflowError::not_found(format!(
                "Logged model with ID '{missing}' not found."
            )));
        }
        for m in &found {
            if !m.deleted {
                return Err(MlflowError::invalid_param(format!(
                    "Logged model {} is not in `deleted` lifecycle stage. Only logged models \
                     in `deleted` lifecycle stage can be deleted.",
                    m.model_id
                )));
            }
            if let (Some(t), Some(text)) = (cutoff, older_text)
                && m.last_updated_timestamp_ms > t
            {
                return Err(MlflowError::invalid_param(format!(
                    "Logged model {} is not older than the required age. Only logged models \
                     older than {text} can be deleted.",
                    m.model_id
                )));
            }
        }
        Ok(found)
    }

    async fn delete_run_pages(
        &self,
        filter: &DeletedRunFilter,
        report: &mut GcReport,
    ) -> Result<()> {
        let mut after = String::new();
        loop {
            let page = self
                .store
                .gc_deleted_runs(filter, &after, self.opts.page() as i64)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.run_id.clone();
            self.delete_runs(&page, report).await?;
        }
    }

    /// Clear the artifact roots of `items` (several at once), returning per item the outcome.
    async fn clear_roots(&self, roots: Vec<Option<String>>) -> Vec<Cleared> {
        let futures = roots.into_iter().map(|root| async move {
            match root {
                None => Cleared::Done(0),
                Some(uri) => self.clear_root(&uri).await,
            }
        });
        futures_util::stream::iter(futures)
            .buffered(self.opts.concurrency.max(1))
            .collect()
            .await
    }

    async fn clear_root(&self, uri: &str) -> Cleared {
        let root = match self.resolver.resolve(uri) {
            Ok(r) => r,
            Err(e) => return Cleared::Unresolvable(e.message),
        };
        if root.prefix.is_root() {
            // Never the whole store: such a location is shared by construction.
            return Cleared::Failed(format!(
                "the artifact location '{uri}' is the root of its store; not deleting it"
            ));
        }
        if self.opts.dry_run {
            return match tree_size(root.store.as_ref(), &root.prefix).await {
                Ok(n) => Cleared::Done(n),
                Err(e) => Cleared::Failed(e.to_string()),
            };
        }
        // The digest index rows first (a row never outlives its file), whatever store this
        // root is in: proxied roots are also forgotten by the indexed destination itself.
        let location = rsflow_artifacts::indexed::location(root.store.as_ref(), &root.prefix);
        if let Err(e) = self.store.unindex_artifacts(&location).await {
            self.count(|p| &p.artifact_errors, 1);
            return Cleared::Failed(format!(
                "cannot update the artifact digest index: {}",
                e.message
            ));
        }
        match root.store.delete(&root.prefix).await {
            Ok(()) => {
                self.count(|p| &p.artifact_roots_deleted, 1);
                Cleared::Done(0)
            }
            Err(e) => {
                self.count(|p| &p.artifact_errors, 1);
                Cleared::Failed(e.to_string())
            }
        }
    }

    /// Artifacts of a page of runs, then their rows.
    /// In a dry run, the items not listed before (all of them otherwise).
    fn unseen<T: Clone>(&self, page: &[T], id: impl Fn(&T) -> &str) -> Vec<T> {
        if !self.opts.dry_run {
            return page.to_vec();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        page.iter()
            .filter(|t| seen.insert(id(t).to_owned()))
            .cloned()
            .collect()
    }

    async fn delete_runs(&self, page: &[GcRun], report: &mut GcReport) -> Result<()> {
        let page = &self.unseen(page, |r| r.run_id.as_str())[..];
        let outcomes = self
            .clear_roots(page.iter().map(|r| r.artifact_uri.clone()).collect())
            .await;
        let mut ready = Vec::new();
        for (run, outcome) in page.iter().zip(outcomes) {
            match self.settle("run", &run.run_id, run.artifact_uri.as_deref(), outcome) {
                Some(bytes) => {
                    report.bytes += bytes;
                    ready.push(run.run_id.clone());
                }
                None => report.skipped += 1,
            }
        }
        if self.opts.dry_run {
            report.runs += ready.len() as u64;
            return Ok(());
        }
        let gone = self.store.gc_hard_delete_runs(&ready).await?;
        report.runs += gone.len() as u64;
        self.count(|p| &p.runs_deleted, gone.len() as u64);
        for id in gone {
            self.emit(GcEvent::Deleted {
                kind: "Run",
                id,
                bytes: None,
            });
        }
        Ok(())
    }

    async fn delete_models(
        &self,
        page: &[GcLoggedModel],
        whole_experiment: bool,
        report: &mut GcReport,
    ) -> Result<()> {
        let page = &self.unseen(page, |m| m.model_id.as_str())[..];
        let outcomes = self
            .clear_roots(page.iter().map(|m| m.artifact_location.clone()).collect())
            .await;
        let mut ready = Vec::new();
        for (m, outcome) in page.iter().zip(outcomes) {
            match self.settle(
                "logged model",
                &m.model_id,
                m.artifact_location.as_deref(),
                outcome,
            ) {
                Some(bytes) => {
                    report.bytes += bytes;
                    ready.push(m.model_id.clone());
                }
                None => report.skipped += 1,
            }
        }
        if self.opts.dry_run {
            report.logged_models += ready.len() as u64;
            return Ok(());
        }
        let gone = self
            .store
            .gc_hard_delete_logged_models(&ready, whole_experiment)
            .await?;
        report.logged_models += gone.len() as u64;
        self.count(|p| &p.logged_models_deleted, gone.len() as u64);
        for id in gone {
            self.emit(GcEvent::Deleted {
                kind: "Logged model",
                id,
                bytes: None,
            });
        }
        Ok(())
    }

    /// The artifacts of the traces of experiments being removed (their rows go with the
    /// experiment).
    async fn clear_traces(&self, experiments: &[String], report: &mut GcReport) -> Result<()> {
        let mut after = String::new();
        loop {
            let page = self
                .store
                .gc_traces_of(experiments, &after, self.opts.page() as i64)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.trace_id.clone();
            let outcomes = self
                .clear_roots(page.iter().map(|t| t.artifact_location.clone()).collect())
                .await;
            for (t, outcome) in page.iter().zip(outcomes) {
                if let Some(bytes) = self.settle(
                    "trace",
                    &t.trace_id,
                    t.artifact_location.as_deref(),
                    outcome,
                ) {
                    report.bytes += bytes;
                    report.traces += 1;
                    self.count(|p| &p.traces_deleted, u64::from(!self.opts.dry_run));
                }
            }
        }
    }

    /// `Some(bytes)` when the item's row may go; events for dry runs and failures.
    fn settle(
        &self,
        kind: &str,
        id: &str,
        location: Option<&str>,
        outcome: Cleared,
    ) -> Option<u64> {
        match outcome {
            Cleared::Done(bytes) => {
                if self.opts.dry_run {
                    self.emit(GcEvent::Deleted {
                        kind: display_kind(kind),
                        id: id.to_owned(),
                        bytes: Some(bytes),
                    });
                }
                Some(bytes)
            }
            Cleared::Unresolvable(why) => {
                self.emit(GcEvent::Skipped {
                    what: format!(
                        "the artifacts of {kind} {id} at '{}'",
                        location.unwrap_or_default()
                    ),
                    why: format!("{why}; the row is removed anyway, as mlflow gc does"),
                });
                Some(0)
            }
            Cleared::Failed(why) => {
                self.emit(GcEvent::Skipped {
                    what: format!("{kind} {id}"),
                    why: format!(
                        "its artifacts could not be deleted ({why}); a later pass retries"
                    ),
                });
                None
            }
        }
    }
}

fn display_kind(kind: &str) -> &'static str {
    match kind {
        "run" => "Run",
        "logged model" => "Logged model",
        "trace" => "Trace",
        _ => "Item",
    }
}

/// Total size of the files under `dir`.
async fn tree_size(store: &dyn ArtifactStore, dir: &ArtifactPath) -> Result<u64> {
    match store.stat(dir).await? {
        None => return Ok(0),
        Some(Stat::File(meta)) => return Ok(meta.size),
        Some(Stat::Dir) => {}
    }
    let mut total = 0;
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for entry in store.list(&d).await? {
            let child = d.join(&ArtifactPath::parse(&entry.path)?)?;
            if entry.is_dir {
                todo.push(child);
            } else {
                total += entry.file_size.unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// `mlflow gc --older-than`: `#d#h#m#s` (each part optional, decimals allowed) in ms.
pub fn parse_older_than(text: &str) -> Result<i64> {
    let bad = || {
        MlflowError::invalid_param(format!(
            "Could not parse any time information from '{text}'. Examples of valid strings: \
             '8h', '2d8h5m20s', '2m4s'"
        ))
    };
    let mut rest = text;
    let mut total = 0.0_f64;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if end == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..end].parse().map_err(|_| bad())?;
        let unit = rest[end..].chars().next().ok_or_else(bad)?;
        let (rank, secs) = match unit {
            'd' => (1, 86_400.0),
            'h' => (2, 3_600.0),
            'm' => (3, 60.0),
            's' => (4, 1.0),
            _ => return Err(bad()),
        };
        if rank <= last_unit {
            return Err(bad());
        }
        last_unit = rank;
        total += number * secs;
        rest = &rest[end + 1..];
    }
    // `--older-than ''` matches MLflow's regex (every part optional): no age limit.
    Ok((total * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_older_than;

    #[test]
    fn older_than_formats() {
        assert_eq!(parse_older_than("1d2h3m4s").unwrap(), 93_784_000);
        assert_eq!(parse_older_than("1.5h").unwrap(), 5_400_000);
        assert_eq!(parse_older_than("2m4s").unwrap(), 124_000);
        assert_eq!(parse_older_than("0s").unwrap(), 0);
        for bad in ["1x", "h", "1h1d", "1d1d", "5", "-1d"] {
            assert!(parse_older_than(bad).is_err(), "{bad}");
        }
    }
}
