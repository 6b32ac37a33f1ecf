//! The model registry on MLflow's tables (`registered_models`, `model_versions`,
//! `registered_model_tags`, `model_version_tags`, `registered_model_aliases`), always in the
//! `default` workspace. Every write is one transaction.

use async_trait::async_trait;
use rsflow_core::wire::{KeyValue, Page};
use rsflow_core::wire_models::{
    ALL_STAGES, IS_PROMPT_TAG_KEY, ModelVersion, RegisteredModel, STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL, STAGE_NONE, STAGE_PRODUCTION, STAGE_STAGING, canonical_stage,
};
use rsflow_core::{ErrorCode, MlflowError, Result, now_ms};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::experiments::dedupe_last;
use super::query::{DbErrorKind, Sql, classify, db_err};
use super::registry_rows::{fetch_model_row, fetch_version, get_model, get_version};
use super::registry_rules as rules;
use crate::{CreateModelVersion, ModelRegistryStore, SearchRegistry};

/// Registry rows all live in MLflow's single-tenant workspace.
pub(crate) const WORKSPACE: &str = "default";
pub(crate) const MV_COLUMNS: &str = "name, version, creation_time, last_updated_time, \
     description, user_id, current_stage, source, run_id, status, status_message, run_link";
const CREATE_VERSION_ATTEMPTS: usize = 3;

/// `get_canonical_stage`, MLflow's message included.
pub(crate) fn stage(stage: &str) -> Result<&'static str> {
    canonical_stage(stage).ok_or_else(|| {
        MlflowError::invalid_param(format!(
            "Invalid Model Version stage: {stage}. Value must be one of {}.",
            ALL_STAGES.join(", ")
        ))
    })
}

async fn touch_model(conn: &mut AnyConnection, name: &str, now: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE registered_models SET last_updated_time = ");
    q.bind(now)
        .push(" WHERE workspace = ")
        .bind(WORKSPACE)
        .push(" AND name = ")
        .bind(name);
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

async fn upsert_model_tag(
    conn: &mut AnyConnection,
    name: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    let mut q =
        Sql::new("INSERT INTO registered_model_tags (workspace, key, name, value) VALUES (");
    q.bind(WORKSPACE)
        .push(", ")
        .bind(key)
        .push(", ")
        .bind(name)
        .push(", ")
        .bind(value)
        .push(") ON CONFLICT (workspace, key, name) DO UPDATE SET value = excluded.value");
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

async fn upsert_version_tag(
    conn: &mut AnyConnection,
    name: &str,
    version: i64,
    key: &str,
    value: &str,
) -> Result<()> {
    let mut q =
        Sql::new("INSERT INTO model_version_tags (workspace, key, name, version, value) VALUES (");
    q.bind(WORKSPACE)
        .push(", ")
        .bind(key)
        .push(", ")
        .bind(name)
        .push(", ")
        .bind(version)
        .push(", ")
        .bind(value)
        .push(") ON CONFLICT (workspace, key, name, version) DO UPDATE SET value = excluded.value");
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// MLflow's `handle_resource_already_exist_error`.
fn already_exists(name: &str, existing_is_prompt: bool, new_is_prompt: bool) -> MlflowError {
    let entity = |prompt: bool| if prompt { "Prompt" } else { "Registered Model" };
    let (old, new) = (entity(existing_is_prompt), entity(new_is_prompt));
    if old != new {
        return MlflowError::already_exists(format!(
            "Tried to create a {} with name '{name}', but the name is already taken by a {}. \
             MLflow does not allow creating a model and a prompt with the same name.",
            new.to_lowercase(),
            old.to_lowercase()
        ));
    }
    MlflowError::already_exists(format!("{new} (name={name}) already exists."))
}

impl SqlStore {
    async fn create_model_version_once(&self, mv: &CreateModelVersion) -> Result<ModelVersion> {
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, &mv.name).await?;
        let now = now_ms();
        touch_model(&mut tx, &mv.name, now).await?;
        let mut q = Sql::new("SELECT MAX(version) FROM model_versions WHERE workspace = ");
        q.bind(WORKSPACE).push(" AND name = ").bind(&mv.name);
        let max: Option<i64> = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_err)?;
        let version = max.unwrap_or(0) + 1;
        let mut q = Sql::new(
            "INSERT INTO model_versions (workspace, name, version, creation_time, \
             last_updated_time, description, user_id, current_stage, source, run_id, status, \
             status_message, run_link, storage_location) VALUES (",
        );
        q.bind(WORKSPACE)
            .push(", ")
            .bind(&mv.name)
            .push(", ")
            .bind(version)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(mv.description.clone())
            .push(", NULL, ")
            .bind(STAGE_NONE)
            .push(", ")
            .bind(&mv.source)
            .push(", ")
            .bind(mv.run_id.clone())
            .push(", 'READY', NULL, ")
            .bind(mv.run_link.clone())
            .push(", ")
            .bind(&mv.storage_location)
            .push(")");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let pairs = dedupe_last(mv.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
        for (k, v) in pairs {
            upsert_version_tag(&mut tx, &mv.name, version, k, v).await?;
        }
        let created = get_version(&mut tx, &mv.name, &version.to_string()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }
}

#[async_trait]
impl ModelRegistryStore for SqlStore {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: &[KeyValue],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        rules::model_name(name)?;
        for t in tags {
            rules::registered_model_tag(&t.key, &t.value)?;
        }
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        let mut q = Sql::new(
            "INSERT INTO registered_models (workspace, name, creation_time, last_updated_time, \
             description) VALUES (",
        );
        q.bind(WORKSPACE)
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(description.map(str::to_string))
            .push(")");
        if let Err(e) = q.query().execute(&mut *tx).await {
            if classify(&e) != DbErrorKind::UniqueViolation {
                return Err(db_err(e));
            }
            drop(tx);
            let existing = self.get_registered_model(name).await?;
            let new_is_prompt = tags.iter().any(|t| t.key == IS_PROMPT_TAG_KEY);
            return Err(already_exists(name, existing.is_prompt(), new_is_prompt));
        }
        for (k, v) in dedupe_last(tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))) {
            upsert_model_tag(&mut tx, name, k, v).await?;
        }
        let model = get_model(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(model)
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let mut tx = self.read_tx().await?;
        get_model(&mut tx, name).await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        let mut q = Sql::new("UPDATE registered_models SET description = ");
        q.bind(description.map(str::to_string))
            .push(", last_updated_time = ")
            .bind(now_ms())
            .push(" WHERE workspace = ")
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let model = get_model(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(model)
    }

    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        rules::new_model_name(new_name)?;
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        let now = now_ms();
        // Child rows follow through the schema's ON UPDATE CASCADE foreign keys.
        let mut q = Sql::new("UPDATE registered_models SET name = ");
        q.bind(new_name)
            .push(", last_updated_time = ")
            .bind(now)
            .push(" WHERE workspace = ")
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name);
        if let Err(e) = q.query().execute(&mut *tx).await {
            if classify(&e) == DbErrorKind::UniqueViolation {
                return Err(MlflowError::already_exists(format!(
                    "Registered Model (name={new_name}) already exists. Error: {e}"
                )));
            }
            return Err(db_err(e));
        }
        let mut q = Sql::new("UPDATE model_versions SET last_updated_time = ");
        q.bind(now)
            .push(" WHERE workspace = ")
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(new_name);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let model = get_model(&mut tx, new_name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(model)
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        for table in [
            "model_version_tags",
            "registered_model_aliases",
            "model_versions",
            "registered_model_tags",
            "registered_models",
        ] {
            let mut q = Sql::new(&format!("DELETE FROM {table} WHERE workspace = "));
            q.bind(WORKSPACE).push(" AND name = ").bind(name);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn search_registered_models(
        &self,
        query: &SearchRegistry,
    ) -> Result<Page<RegisteredModel>> {
        self.search_registered_models_impl(query).await
    }

    async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let wanted: Vec<&str> = if stages.is_empty() {
            ALL_STAGES.to_vec()
        } else {
            stages.iter().map(|s| stage(s)).collect::<Result<_>>()?
        };
        let mut tx = self.read_tx().await?;
        let model = get_model(&mut tx, name).await?;
        let mut out: Vec<ModelVersion> = model
            .latest_versions
            .into_iter()
            .filter(|mv| wanted.contains(&mv.current_stage.as_str()))
            .collect();
        for mv in &mut out {
            mv.aliases = model
                .aliases
                .iter()
                .filter(|a| a.version == mv.version)
                .map(|a| a.alias.clone())
                .collect();
        }
        Ok(out)
    }

    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        rules::model_name(name)?;
        rules::registered_model_tag(key, value)?;
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        upsert_model_tag(&mut tx, name, key, value).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        rules::model_name(name)?;
        rules::tag_name(key)?;
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        let mut q = Sql::new("DELETE FROM registered_model_tags WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND key = ")
            .bind(key);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn create_model_version(&self, mv: CreateModelVersion) -> Result<ModelVersion> {
        rules::model_name(&mv.name)?;
        for t in &mv.tags {
            rules::model_version_tag(&t.key, &t.value)?;
        }
        // On SQLite the single writer serialises creates; elsewhere two writers may pick the
        // same number, and the primary key turns the loser into a retry, as in MLflow.
        for _ in 0..CREATE_VERSION_ATTEMPTS {
            match self.retrying(|| self.create_model_version_once(&mv)).await {
                Err(e) if e.code == ErrorCode::BadRequest => continue,
                other => return other,
            }
        }
        Err(MlflowError::internal(format!(
            "Model Version creation error (name={}). Giving up after {CREATE_VERSION_ATTEMPTS} \
             attempts.",
            mv.name
        )))
    }

    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        let mut tx = self.read_tx().await?;
        get_version(&mut tx, name, version).await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        let mut tx = self.write_tx().await?;
        let mv = fetch_version(&mut tx, name, version).await?;
        let mut q = Sql::new("UPDATE model_versions SET description = ");
        q.bind(description.map(str::to_string))
            .push(", last_updated_time = ")
            .bind(now_ms())
            .push(" WHERE workspace = ")
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(mv.version_number());
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let updated = get_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        new_stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let canonical = stage(new_stage)?;
        let active = [STAGE_STAGING, STAGE_PRODUCTION];
        if archive_existing_versions && !active.contains(&canonical) {
            // MLflow raises this without an error code (a 500); it is the caller's mistake.
            return Err(MlflowError::invalid_param(format!(
                "Model version transition cannot archive existing model versions because \
                 '{new_stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"
            )));
        }
        let mut tx = self.write_tx().await?;
        let mv = fetch_version(&mut tx, name, version).await?;
        let number = mv.version_number();
        let now = now_ms();
        if archive_existing_versions {
            let mut q = Sql::new("UPDATE model_versions SET current_stage = ");
            q.bind(STAGE_ARCHIVED)
                .push(", last_updated_time = ")
                .bind(now)
                .push(" WHERE workspace = ")
                .bind(WORKSPACE)
                .push(" AND name = ")
                .bind(name)
                .push(" AND version != ")
                .bind(number)
                .push(" AND current_stage = ")
                .bind(canonical);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        let mut q = Sql::new("UPDATE model_versions SET current_stage = ");
        q.bind(canonical)
            .push(", last_updated_time = ")
            .bind(now)
            .push(" WHERE workspace = ")
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(number);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        touch_model(&mut tx, name, now).await?;
        let updated = get_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let mv = fetch_version(&mut tx, name, version).await?;
        let number = mv.version_number();
        let now = now_ms();
        touch_model(&mut tx, name, now).await?;
        let mut q = Sql::new("DELETE FROM registered_model_aliases WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(number);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        // MLflow keeps the row (so numbers are never reused) and redacts it.
        let mut q = Sql::new("UPDATE model_versions SET current_stage = ");
        q.bind(STAGE_DELETED_INTERNAL)
            .push(", last_updated_time = ")
            .bind(now)
            .push(
                ", description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', \
                 run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', \
                 status_message = NULL WHERE workspace = ",
            )
            .bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(number);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        let mut tx = self.read_tx().await?;
        let mv = fetch_version(&mut tx, name, version).await?;
        let mut q = Sql::new("SELECT storage_location FROM model_versions WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(mv.version_number());
        let location: Option<String> = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_err)?;
        Ok(location
            .filter(|l| !l.is_empty())
            .or(mv.source)
            .unwrap_or_default())
    }

    async fn search_model_versions(&self, query: &SearchRegistry) -> Result<Page<ModelVersion>> {
        self.search_model_versions_impl(query).await
    }

    async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        rules::model_name(name)?;
        let number = rules::model_version(version)?;
        rules::model_version_tag(key, value)?;
        let mut tx = self.write_tx().await?;
        fetch_version(&mut tx, name, version).await?;
        upsert_version_tag(&mut tx, name, number, key, value).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()> {
        rules::model_name(name)?;
        let number = rules::model_version(version)?;
        rules::tag_name(key)?;
        let mut tx = self.write_tx().await?;
        fetch_version(&mut tx, name, version).await?;
        let mut q = Sql::new("DELETE FROM model_version_tags WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND version = ")
            .bind(number)
            .push(" AND key = ")
            .bind(key);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        rules::model_name(name)?;
        rules::alias_name(alias)?;
        rules::alias_not_reserved(alias)?;
        let number = rules::model_version(version)?;
        let mut tx = self.write_tx().await?;
        fetch_version(&mut tx, name, version).await?;
        let mut q = Sql::new(
            "INSERT INTO registered_model_aliases (workspace, name, alias, version) VALUES (",
        );
        q.bind(WORKSPACE)
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(alias)
            .push(", ")
            .bind(number)
            .push(
                ") ON CONFLICT (workspace, name, alias) DO UPDATE SET version = excluded.version",
            );
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        rules::model_name(name)?;
        rules::alias_name(alias)?;
        let mut tx = self.write_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        let mut q = Sql::new("DELETE FROM registered_model_aliases WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND alias = ")
            .bind(alias);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        rules::model_name(name)?;
        rules::alias_name(alias)?;
        if alias.eq_ignore_ascii_case("latest") {
            let latest = self.get_latest_versions(name, &[]).await?;
            return latest
                .into_iter()
                .max_by_key(ModelVersion::version_number)
                .ok_or_else(|| {
                    MlflowError::not_found(format!("Latest version not found for model {name}."))
                });
        }
        let mut tx = self.read_tx().await?;
        fetch_model_row(&mut tx, name).await?;
        let mut q = Sql::new("SELECT version FROM registered_model_aliases WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name = ")
            .bind(name)
            .push(" AND alias = ")
            .bind(alias);
        let row = q.query().fetch_optional(&mut *tx).await.map_err(db_err)?;
        let Some(row) = row else {
            return Err(MlflowError::invalid_param(format!(
                "Registered model alias {alias} not found."
            )));
        };
        let version: i64 = row.try_get(0).map_err(db_err)?;
        get_version(&mut tx, name, &version.to_string()).await
    }
}
