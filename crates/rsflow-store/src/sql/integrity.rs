//! The text of SQLAlchemy's IntegrityError as MLflow forwards it in a few messages (duplicate
//! experiment name, rename clash, repeated model output), in the wording of the DB-API driver
//! MLflow would use for the same URI: sqlite3, psycopg2 or psycopg 3 (SQLAlchemy 2.1's default
//! for a plain `postgresql://`), with the driver's placeholders and parameters.

/// Which driver's words an IntegrityError is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFlavor {
    Sqlite,
    /// `postgresql+psycopg2://`.
    Psycopg2,
    /// `postgresql://` and `postgresql+psycopg://` (also used for `+pg8000`, whose messages
    /// carry server source-file positions).
    Psycopg,
}

impl ErrorFlavor {
    /// The flavor MLflow's SQLAlchemy picks for a backend store URI.
    pub fn for_uri(uri: &str) -> ErrorFlavor {
        let scheme = uri.split_once("://").map_or(uri, |(s, _)| s);
        match scheme.split_once('+') {
            _ if scheme.starts_with("sqlite") => ErrorFlavor::Sqlite,
            Some((_, "psycopg2")) => ErrorFlavor::Psycopg2,
            _ => ErrorFlavor::Psycopg,
        }
    }
}

/// A unique-constraint failure on one statement.
pub(crate) struct Violation<'a> {
    pub table: &'a str,
    /// Columns of the violated unique key, with the values that clashed.
    pub key: &'a [(&'a str, &'a str)],
    /// PostgreSQL's name for the constraint.
    pub constraint: &'a str,
    pub statement: Statement<'a>,
    /// Every bound parameter as `(column, Python repr)`, in statement order.
    pub params: &'a [(&'a str, String)],
}

pub(crate) enum Statement<'a> {
    /// `INSERT INTO table (columns) VALUES (...)`, with `RETURNING <col>` on PostgreSQL.
    Insert { returning: Option<&'a str> },
    /// `UPDATE table SET <params but the last>=... WHERE table.<last param> = ...`.
    UpdateWhere,
}

const HINT: &str = "(Background on this error at: https://sqlalche.me/e/21/gkpj)";

/// The SQL type psycopg 3's SQLAlchemy dialect casts a bound column to.
fn cast(column: &str) -> &'static str {
    match column {
        "creation_time" | "last_update_time" | "step" => "BIGINT",
        "experiment_id" => "INTEGER",
        _ => "VARCHAR",
    }
}

impl Violation<'_> {
    pub(crate) fn message(&self, flavor: ErrorFlavor) -> String {
        let table = self.table;
        let names: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
        let placeholder = |pg_name: &str, column: &str| match flavor {
            ErrorFlavor::Sqlite => "?".to_string(),
            ErrorFlavor::Psycopg2 => format!("%({pg_name})s"),
            ErrorFlavor::Psycopg => format!("%({pg_name})s::{}", cast(column)),
        };
        let sql = match self.statement {
            Statement::Insert { returning } => {
                let values: Vec<String> = names.iter().map(|n| placeholder(n, n)).collect();
                let mut sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    values.join(", ")
                );
                if let (true, Some(col)) = (flavor != ErrorFlavor::Sqlite, returning) {
                    sql.push_str(&format!(" RETURNING {table}.{col}"));
                }
                sql
            }
            Statement::UpdateWhere => {
                let (last, set) = names.split_last().unwrap_or((&"", &[]));
                let set: Vec<String> = set
                    .iter()
                    .map(|n| format!("{n}={}", placeholder(n, n)))
                    .collect();
                format!(
                    "UPDATE {table} SET {} WHERE {table}.{last} = {}",
                    set.join(", "),
                    placeholder(&format!("{table}_{last}"), last)
                )
            }
        };
        match flavor {
            ErrorFlavor::Sqlite => {
                let cols: Vec<String> = self
                    .key
                    .iter()
                    .map(|(c, _)| format!("{table}.{c}"))
                    .collect();
                let params: Vec<&str> = self.params.iter().map(|(_, v)| v.as_str()).collect();
                format!(
                    "(sqlite3.IntegrityError) UNIQUE constraint failed: {}\n[SQL: {sql}]\n\
                     [parameters: ({})]\n{HINT}",
                    cols.join(", "),
                    params.join(", ")
                )
            }
            ErrorFlavor::Psycopg2 | ErrorFlavor::Psycopg => {
                let cols: Vec<&str> = self.key.iter().map(|(c, _)| *c).collect();
                let vals: Vec<&str> = self.key.iter().map(|(_, v)| *v).collect();
                let params: Vec<String> = self
                    .params
                    .iter()
                    .map(|(n, v)| {
                        let n = match self.statement {
                            Statement::UpdateWhere if Some(n) == names.last() => {
                                format!("{table}_{n}")
                            }
                            _ => n.to_string(),
                        };
                        format!("'{n}': {v}")
                    })
                    .collect();
                // psycopg2's message ends its DETAIL line with a newline of its own.
                let (module, gap) = match flavor {
                    ErrorFlavor::Psycopg2 => ("psycopg2", "\n\n"),
                    _ => ("psycopg", "\n"),
                };
                format!(
                    "({module}.errors.UniqueViolation) duplicate key value violates unique \
                     constraint \"{}\"\nDETAIL:  Key ({})=({}) already exists.{gap}[SQL: {sql}]\n\
                     [parameters: {{{}}}]\n{HINT}",
                    self.constraint,
                    cols.join(", "),
                    vals.join(", "),
                    params.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename() -> Violation<'static> {
        Violation {
            table: "experiments",
            key: &[("workspace", "default"), ("name", "a")],
            constraint: "uq_experiments_workspace_name",
            statement: Statement::UpdateWhere,
            params: Box::leak(Box::new([
                ("name", "'a'".to_string()),
                ("last_update_time", "1795867806052".to_string()),
                ("experiment_id", "2".to_string()),
            ])),
        }
    }

    /// Both texts as the reference printed them (probed on SQLite and PostgreSQL).
    #[test]
    fn rename_clash_matches_reference_text() {
        assert_eq!(
            rename().message(ErrorFlavor::Sqlite),
            "(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, \
             experiments.name\n[SQL: UPDATE experiments SET name=?, last_update_time=? WHERE \
             experiments.experiment_id = ?]\n[parameters: ('a', 1795867806052, 2)]\n\
             (Background on this error at: https://sqlalche.me/e/21/gkpj)"
        );
        assert_eq!(
            rename().message(ErrorFlavor::Psycopg2),
            "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint \
             \"uq_experiments_workspace_name\"\nDETAIL:  Key (workspace, name)=(default, a) \
             already exists.\n\n[SQL: UPDATE experiments SET name=%(name)s, \
             last_update_time=%(last_update_time)s WHERE experiments.experiment_id = \
             %(experiments_experiment_id)s]\n[parameters: {'name': 'a', 'last_update_time': \
             1795867806052, 'experiments_experiment_id': 2}]\n(Background on this error at: \
             https://sqlalche.me/e/21/gkpj)"
        );
    }

    #[test]
    fn insert_clash_matches_reference_text() {
        let v = Violation {
            table: "experiments",
            key: &[("workspace", "default"), ("name", "a")],
            constraint: "uq_experiments_workspace_name",
            statement: Statement::Insert {
                returning: Some("experiment_id"),
            },
            params: &[
                ("name", "'a'".to_string()),
                ("workspace", "'default'".to_string()),
                ("artifact_location", "None".to_string()),
                ("lifecycle_stage", "'active'".to_string()),
                ("creation_time", "1795867806048".to_string()),
                ("last_update_time", "1795867806048".to_string()),
            ],
        };
        assert_eq!(
            v.message(ErrorFlavor::Psycopg2),
            "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint \
             \"uq_experiments_workspace_name\"\nDETAIL:  Key (workspace, name)=(default, a) \
             already exists.\n\n[SQL: INSERT INTO experiments (name, workspace, \
             artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES \
             (%(name)s, %(workspace)s, %(artifact_location)s, %(lifecycle_stage)s, \
             %(creation_time)s, %(last_update_time)s) RETURNING experiments.experiment_id]\n\
             [parameters: {'name': 'a', 'workspace': 'default', 'artifact_location': None, \
             'lifecycle_stage': 'active', 'creation_time': 1795867806048, 'last_update_time': \
             1795867806048}]\n(Background on this error at: https://sqlalche.me/e/21/gkpj)"
        );
        assert_eq!(
            v.message(ErrorFlavor::Sqlite),
            "(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, \
             experiments.name\n[SQL: INSERT INTO experiments (name, workspace, \
             artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, \
             ?, ?, ?, ?)]\n[parameters: ('a', 'default', None, 'active', 1795867806048, \
             1795867806048)]\n(Background on this error at: https://sqlalche.me/e/21/gkpj)"
        );
    }

    /// psycopg 3 (plain `postgresql://` under SQLAlchemy 2.1), as the reference printed it.
    #[test]
    fn psycopg3_texts_match_reference() {
        assert_eq!(
            rename().message(ErrorFlavor::Psycopg),
            "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint \
             \"uq_experiments_workspace_name\"\nDETAIL:  Key (workspace, name)=(default, a) \
             already exists.\n[SQL: UPDATE experiments SET name=%(name)s::VARCHAR, \
             last_update_time=%(last_update_time)s::BIGINT WHERE experiments.experiment_id = \
             %(experiments_experiment_id)s::INTEGER]\n[parameters: {'name': 'a', \
             'last_update_time': 1795867806052, 'experiments_experiment_id': 2}]\n(Background \
             on this error at: https://sqlalche.me/e/21/gkpj)"
        );
        let v = Violation {
            table: "inputs",
            key: &[
                ("source_type", "RUN_OUTPUT"),
                ("source_id", "r1"),
                ("destination_type", "MODEL_OUTPUT"),
                ("destination_id", "m-1"),
            ],
            constraint: "inputs_pk",
            statement: Statement::Insert { returning: None },
            params: &[
                ("input_uuid", "'u1'".to_string()),
                ("source_type", "'RUN_OUTPUT'".to_string()),
                ("source_id", "'r1'".to_string()),
                ("destination_type", "'MODEL_OUTPUT'".to_string()),
                ("destination_id", "'m-1'".to_string()),
                ("step", "3".to_string()),
            ],
        };
        assert_eq!(
            v.message(ErrorFlavor::Psycopg),
            "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint \
             \"inputs_pk\"\nDETAIL:  Key (source_type, source_id, destination_type, \
             destination_id)=(RUN_OUTPUT, r1, MODEL_OUTPUT, m-1) already exists.\n[SQL: INSERT \
             INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, \
             step) VALUES (%(input_uuid)s::VARCHAR, %(source_type)s::VARCHAR, \
             %(source_id)s::VARCHAR, %(destination_type)s::VARCHAR, \
             %(destination_id)s::VARCHAR, %(step)s::BIGINT)]\n[parameters: {'input_uuid': \
             'u1', 'source_type': 'RUN_OUTPUT', 'source_id': 'r1', 'destination_type': \
             'MODEL_OUTPUT', 'destination_id': 'm-1', 'step': 3}]\n(Background on this error \
             at: https://sqlalche.me/e/21/gkpj)"
        );
        assert_eq!(
            ErrorFlavor::for_uri("postgresql://h/db"),
            ErrorFlavor::Psycopg
        );
        assert_eq!(
            ErrorFlavor::for_uri("postgresql+psycopg2://h/db"),
            ErrorFlavor::Psycopg2
        );
        assert_eq!(ErrorFlavor::for_uri("sqlite:///x.db"), ErrorFlavor::Sqlite);
    }
}
