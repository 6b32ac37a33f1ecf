//! Reading the registry's rows into entities: registered models with tags, aliases and latest
//! versions per stage; model versions with tags and aliases; MLflow's not-found errors.

use std::collections::HashMap;

use rsflow_core::wire::KeyValue;
use rsflow_core::wire_models::{
    ModelVersion, RegisteredModel, RegisteredModelAlias, STAGE_DELETED_INTERNAL, STAGE_NONE,
};
use rsflow_core::{MlflowError, Result};
use sqlx::{AnyConnection, Row as _};

use super::query::{Sql, db_err};
use super::registry::{MV_COLUMNS, WORKSPACE};
use super::registry_rules as rules;

pub(crate) fn rm_not_found(name: &str) -> MlflowError {
    MlflowError::not_found(format!("Registered Model with name={name} not found"))
}

pub(crate) fn mv_not_found(name: &str, version: impl std::fmt::Display) -> MlflowError {
    MlflowError::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

/// A `model_versions` row decoded in [`MV_COLUMNS`] order (tags and aliases come later).
pub(crate) fn version_from_row(r: &sqlx::any::AnyRow) -> Result<ModelVersion> {
    let get = || -> std::result::Result<ModelVersion, sqlx::Error> {
        Ok(ModelVersion {
            name: r.try_get(0)?,
            version: r.try_get::<i64, _>(1)?.to_string(),
            creation_timestamp: r.try_get::<Option<i64>, _>(2)?.unwrap_or_default(),
            last_updated_timestamp: r.try_get(3)?,
            description: r.try_get(4)?,
            user_id: r.try_get(5)?,
            current_stage: r
                .try_get::<Option<String>, _>(6)?
                .unwrap_or_else(|| STAGE_NONE.into()),
            source: r.try_get(7)?,
            run_id: r.try_get(8)?,
            status: r
                .try_get::<Option<String>, _>(9)?
                .unwrap_or_else(|| "READY".into()),
            status_message: r
                .try_get::<Option<String>, _>(10)?
                .filter(|m| !m.is_empty()),
            run_link: r.try_get(11)?,
            tags: vec![],
            aliases: vec![],
        })
    };
    get().map_err(db_err)
}

/// The registered model's row, or MLflow's 404.
pub(crate) async fn fetch_model_row(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<RegisteredModel> {
    rules::model_name(name)?;
    let mut q = Sql::new(
        "SELECT name, creation_time, last_updated_time, description FROM registered_models \
         WHERE workspace = ",
    );
    q.bind(WORKSPACE).push(" AND name = ").bind(name);
    let row = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| rm_not_found(name))?;
    let get = || -> std::result::Result<RegisteredModel, sqlx::Error> {
        Ok(RegisteredModel {
            name: row.try_get(0)?,
            creation_timestamp: row.try_get(1)?,
            // MLflow emits these two only when truthy.
            last_updated_timestamp: row.try_get::<Option<i64>, _>(2)?.filter(|t| *t != 0),
            description: row
                .try_get::<Option<String>, _>(3)?
                .filter(|d| !d.is_empty()),
            ..Default::default()
        })
    };
    get().map_err(db_err)
}

/// Tags of registered models by name, ordered by key.
pub(crate) async fn fetch_model_tags(
    conn: &mut AnyConnection,
    names: &[String],
) -> Result<HashMap<String, Vec<KeyValue>>> {
    let mut out: HashMap<String, Vec<KeyValue>> = HashMap::new();
    for chunk in names.chunks(400) {
        let mut q =
            Sql::new("SELECT name, key, value FROM registered_model_tags WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name IN ")
            .bind_list(chunk)
            .push(" ORDER BY name, key");
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let name: String = r.try_get(0).map_err(db_err)?;
            out.entry(name).or_default().push(KeyValue {
                key: r.try_get(1).map_err(db_err)?,
                value: r
                    .try_get::<Option<String>, _>(2)
                    .map_err(db_err)?
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Aliases of registered models by name, ordered by alias.
pub(crate) async fn fetch_aliases(
    conn: &mut AnyConnection,
    names: &[String],
) -> Result<HashMap<String, Vec<(String, i64)>>> {
    let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for chunk in names.chunks(400) {
        let mut q = Sql::new(
            "SELECT name, alias, version FROM registered_model_aliases WHERE workspace = ",
        );
        q.bind(WORKSPACE)
            .push(" AND name IN ")
            .bind_list(chunk)
            .push(" ORDER BY name, alias");
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let name: String = r.try_get(0).map_err(db_err)?;
            out.entry(name)
                .or_default()
                .push((r.try_get(1).map_err(db_err)?, r.try_get(2).map_err(db_err)?));
        }
    }
    Ok(out)
}

/// Fill `tags` of versions (one query per chunk of names).
pub(crate) async fn attach_version_tags(
    conn: &mut AnyConnection,
    versions: &mut [ModelVersion],
) -> Result<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
    names.sort();
    names.dedup();
    let mut tags: HashMap<(String, i64), Vec<KeyValue>> = HashMap::new();
    for chunk in names.chunks(400) {
        let mut q =
            Sql::new("SELECT name, version, key, value FROM model_version_tags WHERE workspace = ");
        q.bind(WORKSPACE)
            .push(" AND name IN ")
            .bind_list(chunk)
            .push(" ORDER BY name, version, key");
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let key = (
                r.try_get::<String, _>(0).map_err(db_err)?,
                r.try_get::<i64, _>(1).map_err(db_err)?,
            );
            tags.entry(key).or_default().push(KeyValue {
                key: r.try_get(2).map_err(db_err)?,
                value: r
                    .try_get::<Option<String>, _>(3)
                    .map_err(db_err)?
                    .unwrap_or_default(),
            });
        }
    }
    for v in versions.iter_mut() {
        v.tags = tags
            .remove(&(v.name.clone(), v.version_number()))
            .unwrap_or_default();
    }
    Ok(())
}

/// The latest live version per stage of each model, stages in order of first appearance
/// (the order MLflow's entity builds them in).
pub(crate) async fn latest_versions(
    conn: &mut AnyConnection,
    names: &[String],
) -> Result<HashMap<String, Vec<ModelVersion>>> {
    let mut out: HashMap<String, Vec<ModelVersion>> = HashMap::new();
    for chunk in names.chunks(400) {
        let mut q = Sql::new(&format!(
            "SELECT {cols}, latest.first_version FROM model_versions mv JOIN (\
             SELECT name AS l_name, current_stage AS l_stage, MAX(version) AS l_version, \
             MIN(version) AS first_version FROM model_versions WHERE workspace = ",
            cols = MV_COLUMNS
                .split(", ")
                .map(|c| format!("mv.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        q.bind(WORKSPACE)
            .push(" AND current_stage != ")
            .bind(STAGE_DELETED_INTERNAL)
            .push(" AND name IN ")
            .bind_list(chunk)
            .push(
                " GROUP BY name, current_stage) latest ON mv.name = latest.l_name \
                 AND mv.version = latest.l_version WHERE mv.workspace = ",
            )
            .bind(WORKSPACE)
            .push(" ORDER BY mv.name, latest.first_version");
        let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
        let mut versions = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        attach_version_tags(conn, &mut versions).await?;
        for v in versions {
            out.entry(v.name.clone()).or_default().push(v);
        }
    }
    Ok(out)
}

/// Registered-model entities for rows already read, with tags, aliases and latest versions.
pub(crate) async fn complete_models(
    conn: &mut AnyConnection,
    mut models: Vec<RegisteredModel>,
) -> Result<Vec<RegisteredModel>> {
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let mut tags = fetch_model_tags(conn, &names).await?;
    let mut aliases = fetch_aliases(conn, &names).await?;
    let mut latest = latest_versions(conn, &names).await?;
    for m in &mut models {
        m.tags = tags.remove(&m.name).unwrap_or_default();
        m.aliases = aliases
            .remove(&m.name)
            .unwrap_or_default()
            .into_iter()
            .map(|(alias, version)| RegisteredModelAlias {
                alias,
                version: version.to_string(),
            })
            .collect();
        m.latest_versions = latest.remove(&m.name).unwrap_or_default();
    }
    Ok(models)
}

pub(crate) async fn get_model(conn: &mut AnyConnection, name: &str) -> Result<RegisteredModel> {
    let row = fetch_model_row(conn, name).await?;
    Ok(complete_models(conn, vec![row])
        .await?
        .pop()
        .unwrap_or_default())
}

/// A live version (not `Deleted_Internal`) without tags or aliases, or MLflow's 404.
pub(crate) async fn fetch_version(
    conn: &mut AnyConnection,
    name: &str,
    version: &str,
) -> Result<ModelVersion> {
    rules::model_name(name)?;
    let number = rules::model_version(version)?;
    let mut q = Sql::new(&format!(
        "SELECT {MV_COLUMNS} FROM model_versions WHERE workspace = "
    ));
    q.bind(WORKSPACE)
        .push(" AND name = ")
        .bind(name)
        .push(" AND version = ")
        .bind(number)
        .push(" AND current_stage != ")
        .bind(STAGE_DELETED_INTERNAL);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => version_from_row(&r),
        None => Err(mv_not_found(name, number)),
    }
}

/// A live version with its tags and the aliases pointing at it.
pub(crate) async fn get_version(
    conn: &mut AnyConnection,
    name: &str,
    version: &str,
) -> Result<ModelVersion> {
    let mut mv = fetch_version(conn, name, version).await?;
    attach_version_tags(conn, std::slice::from_mut(&mut mv)).await?;
    populate_aliases(conn, &mut mv).await?;
    Ok(mv)
}

pub(crate) async fn populate_aliases(
    conn: &mut AnyConnection,
    mv: &mut ModelVersion,
) -> Result<()> {
    let aliases = fetch_aliases(conn, std::slice::from_ref(&mv.name)).await?;
    let number = mv.version_number();
    mv.aliases = aliases
        .get(&mv.name)
        .map(|list| {
            list.iter()
                .filter(|(_, v)| *v == number)
                .map(|(a, _)| a.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(())
}
