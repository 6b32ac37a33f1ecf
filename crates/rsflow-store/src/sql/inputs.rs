//! Run inputs and outputs: datasets (deduplicated per experiment by name and digest) with
//! their input tags, model inputs, and model outputs, in MLflow's `inputs` edge table; and the
//! dataset summaries of experiments that the web UI's dataset filter lists.

use std::collections::{HashMap, HashSet};

use rsflow_core::wire::{DatasetInput, DatasetSummary, ModelInput, ModelOutput};
use rsflow_core::{MlflowError, Result};
use sqlx::Row as _;

use super::SqlStore;
use super::experiments::parse_experiment_id;
use super::integrity::{Statement, Violation};
use super::logging::{Repeats, insert_rows};
use super::query::{DbErrorKind, Sql, classify, db_err, race_err};
use super::runs::fetch_run;
use rsflow_core::pyfmt::repr_str;

/// MLflow's `MAX_DATASET_SUMMARIES_RESULTS`.
const MAX_DATASET_SUMMARIES: i64 = 1000;

/// The input tag that says what a dataset was used for ("training", "eval", ...).
const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// `uuid.uuid4().hex`, as MLflow names datasets and inputs.
fn new_uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl SqlStore {
    pub(crate) async fn log_inputs_impl(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let run = fetch_run(&mut tx, run_id).await?;
        run.check_active()?;

        // One input per (name, digest): the first occurrence wins.
        let mut inputs: Vec<&DatasetInput> = Vec::new();
        let mut keys = HashSet::new();
        for d in datasets {
            if keys.insert((d.dataset.name.as_str(), d.dataset.digest.as_str())) {
                inputs.push(d);
            }
        }

        let mut dataset_uuids: HashMap<(String, String), String> = HashMap::new();
        if !inputs.is_empty() {
            let names: Vec<&str> = inputs.iter().map(|d| d.dataset.name.as_str()).collect();
            let digests: Vec<&str> = inputs.iter().map(|d| d.dataset.digest.as_str()).collect();
            let mut q =
                Sql::new("SELECT dataset_uuid, name, digest FROM datasets WHERE experiment_id = ");
            q.bind(run.experiment_id)
                .push(" AND name IN ")
                .bind_list(&names)
                .push(" AND digest IN ")
                .bind_list(&digests);
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                let uuid: String = r.try_get(0).map_err(db_err)?;
                dataset_uuids.insert(
                    (r.try_get(1).map_err(db_err)?, r.try_get(2).map_err(db_err)?),
                    uuid,
                );
            }
        }
        for d in &inputs {
            let key = (d.dataset.name.clone(), d.dataset.digest.clone());
            if dataset_uuids.contains_key(&key) {
                continue;
            }
            let uuid = new_uuid();
            let ds = &d.dataset;
            let mut q = Sql::new(
                "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, \
                 dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (",
            );
            q.bind(uuid.as_str())
                .push(", ")
                .bind(run.experiment_id)
                .push(", ")
                .bind(ds.name.as_str())
                .push(", ")
                .bind(ds.digest.as_str())
                .push(", ")
                .bind(ds.source_type.as_str())
                .push(", ")
                .bind(ds.source.as_str())
                .push(", ")
                .bind(ds.schema.clone())
                .push(", ")
                .bind(ds.profile.clone())
                .push(")");
            // Another request may have stored the same dataset since the lookup above.
            q.query().execute(&mut *tx).await.map_err(race_err)?;
            dataset_uuids.insert(key, uuid);
        }

        let mut linked: HashSet<String> = HashSet::new();
        if !inputs.is_empty() {
            let uuids: Vec<&String> = dataset_uuids.values().collect();
            let mut q = Sql::new(
                "SELECT source_id FROM inputs WHERE source_type = 'DATASET' AND destination_type = 'RUN' AND destination_id = ",
            );
            q.bind(run_id).push(" AND source_id IN ").bind_list(&uuids);
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                linked.insert(r.try_get(0).map_err(db_err)?);
            }
        }
        for d in &inputs {
            let dataset_uuid = &dataset_uuids[&(d.dataset.name.clone(), d.dataset.digest.clone())];
            if linked.contains(dataset_uuid) {
                continue;
            }
            let input_uuid = new_uuid();
            let mut q = Sql::new(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, \
                 destination_id, step) VALUES (",
            );
            q.bind(input_uuid.as_str())
                .push(", 'DATASET', ")
                .bind(dataset_uuid.as_str())
                .push(", 'RUN', ")
                .bind(run_id)
                .push(", 0)");
            q.query().execute(&mut *tx).await.map_err(race_err)?;
            insert_rows(
                &mut tx,
                "INSERT INTO input_tags (input_uuid, name, value) VALUES ",
                "",
                3,
                Repeats::Forbidden,
                &d.tags,
                |q, t| {
                    q.arg(input_uuid.as_str());
                    q.arg(t.key.as_str());
                    q.arg(t.value.as_str());
                },
            )
            .await?;
        }

        let mut model_ids: Vec<&str> = Vec::new();
        for m in models {
            if !model_ids.contains(&m.model_id.as_str()) {
                model_ids.push(&m.model_id);
            }
        }
        for model_id in model_ids {
            // MLflow merges on the edge's key: a repeated model input keeps one row.
            let mut q = Sql::new(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, \
                 destination_id, step) VALUES (",
            );
            q.bind(new_uuid())
                .push(", 'RUN_INPUT', ")
                .bind(run_id)
                .push(", 'MODEL_INPUT', ")
                .bind(model_id)
                .push(
                    ", 0) ON CONFLICT (source_type, source_id, destination_type, destination_id) \
                       DO UPDATE SET input_uuid = excluded.input_uuid",
                );
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// MLflow's `_search_datasets`: every experiment id counts, whatever its lifecycle, and an
    /// input without a context tag gives a summary without context (the LEFT JOIN).
    pub(crate) async fn search_dataset_summaries_impl(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<DatasetSummary>> {
        let ids = experiment_ids
            .iter()
            .map(|id| parse_experiment_id(id).map(|(id, _)| id))
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<i64> = ids.into_iter().flatten().collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        // MLflow joins on `source_id` alone; dataset uuids only ever appear as the source of
        // DATASET edges, and naming the type lets the join use the inputs primary key.
        // MLflow leaves the order (and so which 1000) unspecified; this one is stable.
        let mut q = Sql::new(
            "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value FROM datasets d \
             JOIN inputs i ON i.source_type = 'DATASET' AND i.source_id = d.dataset_uuid \
             LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = ",
        );
        q.bind(DATASET_CONTEXT_TAG)
            .push(" WHERE d.experiment_id IN ")
            .bind_list(&ids)
            .push(
                " ORDER BY d.experiment_id, d.name, d.digest, t.value NULLS FIRST \
                 LIMIT ",
            )
            .bind(MAX_DATASET_SUMMARIES);
        let mut conn = self.read.acquire().await.map_err(db_err)?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(DatasetSummary {
                    experiment_id: r.try_get::<i64, _>(0).map_err(db_err)?.to_string(),
                    name: r.try_get(1).map_err(db_err)?,
                    digest: r.try_get(2).map_err(db_err)?,
                    context: r.try_get(3).map_err(db_err)?,
                })
            })
            .collect()
    }

    pub(crate) async fn log_outputs_impl(
        &self,
        run_id: &str,
        models: &[ModelOutput],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_run(&mut tx, run_id).await?.check_active()?;
        for m in models {
            let uuid = new_uuid();
            let mut q = Sql::new(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, \
                 destination_id, step) VALUES (",
            );
            q.bind(uuid.as_str())
                .push(", 'RUN_OUTPUT', ")
                .bind(run_id)
                .push(", 'MODEL_OUTPUT', ")
                .bind(m.model_id.as_str())
                .push(", ")
                .bind(m.step)
                .push(")");
            match q.query().execute(&mut *tx).await {
                Ok(_) => {}
                Err(e) if classify(&e) == DbErrorKind::UniqueViolation => {
                    // MLflow forwards SQLAlchemy's IntegrityError text as BAD_REQUEST.
                    let step = m.step.to_string();
                    return Err(MlflowError::bad_request(
                        Violation {
                            table: "inputs",
                            key: &[
                                ("source_type", "RUN_OUTPUT"),
                                ("source_id", run_id),
                                ("destination_type", "MODEL_OUTPUT"),
                                ("destination_id", &m.model_id),
                            ],
                            constraint: "inputs_pk",
                            statement: Statement::Insert { returning: None },
                            params: &[
                                ("input_uuid", repr_str(&uuid)),
                                ("source_type", "'RUN_OUTPUT'".into()),
                                ("source_id", repr_str(run_id)),
                                ("destination_type", "'MODEL_OUTPUT'".into()),
                                ("destination_id", repr_str(&m.model_id)),
                                ("step", step),
                            ],
                        }
                        .message(self.error_flavor),
                    ));
                }
                Err(e) => return Err(db_err(e)),
            }
        }
        tx.commit().await.map_err(db_err)
    }
}
