//! The text of SQLAlchemy's IntegrityError as MLflow forwards it in a few messages (duplicate
//! experiment name, rename clash, repeated model output), per dialect: sqlite3's and
//! psycopg2's wording, the statement with the driver's placeholders, and the parameters.

use super::query::Dialect;

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

impl Violation<'_> {
    pub(crate) fn message(&self, dialect: Dialect) -> String {
        let table = self.table;
        let names: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
        let placeholder = |pg_name: &str| match dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("%({pg_name})s"),
        };
        let sql = match self.statement {
            Statement::Insert { returning } => {
                let values: Vec<String> = names.iter().map(|n| placeholder(n)).collect();
                let mut sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    values.join(", ")
                );
                if let (Dialect::Postgres, Some(col)) = (dialect, returning) {
                    sql.push_str(&format!(" RETURNING {table}.{col}"));
                }
                sql
            }
            Statement::UpdateWhere => {
                let (last, set) = names.split_last().unwrap_or((&"", &[]));
                let set: Vec<String> = set
                    .iter()
                    .map(|n| format!("{n}={}", placeholder(n)))
                    .collect();
                format!(
                    "UPDATE {table} SET {} WHERE {table}.{last} = {}",
                    set.join(", "),
                    placeholder(&format!("{table}_{last}"))
                )
            }
        };
        match dialect {
            Dialect::Sqlite => {
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
            Dialect::Postgres => {
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
                format!(
                    "(psycopg2.errors.UniqueViolation) duplicate key value violates unique \
                     constraint \"{}\"\nDETAIL:  Key ({})=({}) already exists.\n\n[SQL: {sql}]\n\
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
            rename().message(Dialect::Sqlite),
            "(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, \
             experiments.name\n[SQL: UPDATE experiments SET name=?, last_update_time=? WHERE \
             experiments.experiment_id = ?]\n[parameters: ('a', 1795867806052, 2)]\n\
             (Background on this error at: https://sqlalche.me/e/21/gkpj)"
        );
        assert_eq!(
            rename().message(Dialect::Postgres),
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
            v.message(Dialect::Postgres),
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
            v.message(Dialect::Sqlite),
            "(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, \
             experiments.name\n[SQL: INSERT INTO experiments (name, workspace, \
             artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, \
             ?, ?, ?, ?)]\n[parameters: ('a', 'default', None, 'active', 1795867806048, \
             1795867806048)]\n(Background on this error at: https://sqlalche.me/e/21/gkpj)"
        );
    }
}
