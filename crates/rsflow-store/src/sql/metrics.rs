//! Metric history: full or paged per run, and the sampled multi-run view the UI charts use.

use rsflow_core::wire::{Metric, Page};
use rsflow_core::{MlflowError, Result, page_token};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Sql, db_err};
use super::run_data::stored_value;
use crate::BulkIntervalQuery;

/// (value, timestamp, step, is_nan) as stored.
type Sample = (f64, i64, i64, i64);

fn sample_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<Sample, sqlx::Error> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
}

/// MLflow's `_sample_rows_with_window_functions`: NTILE the ordered history into
/// `max_results` buckets, keep each bucket's first row, and make sure the last row is there.
async fn sample_run(
    conn: &mut AnyConnection,
    run_id: &str,
    key: &str,
    max_results: i64,
    steps: Option<(i64, i64)>,
) -> Result<Vec<Sample>> {
    let push_filter = |q: &mut Sql| {
        q.push(" FROM metrics WHERE run_uuid = ")
            .bind(run_id)
            .push(" AND key = ")
            .bind(key);
        if let Some((start, end)) = steps {
            q.push(" AND step >= ")
                .bind(start)
                .push(" AND step <= ")
                .bind(end);
        }
    };

    let mut q = Sql::new("WITH bucketed AS (SELECT value, timestamp, step, is_nan, NTILE(CAST(");
    q.bind(max_results)
        .push(" AS INTEGER)) OVER (ORDER BY step, timestamp, value, is_nan) AS bucket");
    push_filter(&mut q);
    q.push(
        "), ranked AS (SELECT value, timestamp, step, is_nan, ROW_NUMBER() OVER \
         (PARTITION BY bucket ORDER BY step, timestamp, value, is_nan) AS rn FROM bucketed) \
         SELECT value, timestamp, step, CAST(is_nan AS INTEGER) FROM ranked WHERE rn = 1 \
         ORDER BY step, timestamp, value, is_nan",
    );
    let mut rows: Vec<Sample> = q
        .query()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(sample_from_row)
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err)?;

    let mut last = Sql::new("SELECT value, timestamp, step, CAST(is_nan AS INTEGER)");
    push_filter(&mut last);
    last.push(" ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1");
    let last_row = last
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|r| sample_from_row(&r))
        .transpose()
        .map_err(db_err)?;

    // Compared as MLflow does: a NaN's stored value does not count.
    let row_key = |s: &Sample| (s.2, s.1, if s.3 != 0 { None } else { Some(s.0) }, s.3);
    if let Some(last_row) = last_row
        && rows.last().is_none_or(|r| row_key(r) != row_key(&last_row))
    {
        if rows.len() as i64 >= max_results {
            if let Some(r) = rows.last_mut() {
                *r = last_row;
            }
        } else {
            rows.push(last_row);
        }
    }
    Ok(rows)
}

impl SqlStore {
    pub(crate) async fn get_metric_history_impl(
        &self,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        token: Option<&str>,
    ) -> Result<Page<Metric>> {
        let offset = page_token::decode_offset(token)?;
        let mut q = Sql::new(
            "SELECT key, value, timestamp, step, CAST(is_nan AS INTEGER) FROM metrics WHERE run_uuid = ",
        );
        q.bind(run_id)
            .push(" AND key = ")
            .bind(metric_key)
            .push(" ORDER BY timestamp, step, value LIMIT ")
            .bind(max_results.map_or(i64::MAX, |m| m.saturating_add(1)))
            .push(" OFFSET ")
            .bind(offset);
        let mut conn = self.read.acquire().await.map_err(db_err)?;
        let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(Metric {
                    key: r.try_get(0)?,
                    value: stored_value(r.try_get(1)?, r.try_get(4)?),
                    timestamp: r.try_get(2)?,
                    step: r.try_get(3)?,
                    ..Default::default()
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
        let mut next_page_token = None;
        if let Some(max) = max_results
            && items.len() as i64 == max.saturating_add(1)
        {
            items.truncate(max as usize);
            next_page_token = Some(page_token::encode_offset(offset + max));
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn get_metric_history_bulk_interval_impl(
        &self,
        query: &BulkIntervalQuery,
    ) -> Result<Vec<Metric>> {
        let steps = match (query.start_step, query.end_step) {
            (Some(s), Some(e)) => Some((s, e)),
            (None, None) => None,
            _ => {
                return Err(MlflowError::invalid_param(
                    "Both start_step and end_step must be specified together, or neither may be \
                     specified.",
                ));
            }
        };
        let max_results = query.max_results.max(1);
        let mut tx = self.read_tx().await?;
        let mut out = Vec::new();
        for run_id in &query.run_ids {
            for (value, timestamp, step, is_nan) in
                sample_run(&mut tx, run_id, &query.metric_key, max_results, steps).await?
            {
                out.push(Metric {
                    key: query.metric_key.clone(),
                    value: stored_value(value, is_nan),
                    timestamp,
                    step,
                    run_id: Some(run_id.clone()),
                    ..Default::default()
                });
            }
        }
        Ok(out)
    }
}
