//! [`SqlAuthStore`]: the basic-auth database on SQLite or PostgreSQL, created natively at
//! MLflow 3.17.2's auth head with the DDL its Alembic migrations leave behind.

use async_trait::async_trait;
use rsflow_core::{MlflowError, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row as _};

use super::query::{Dialect, Sql, db_err};
use super::uri::{BackendTarget, parse_backend_uri};
use super::{StoreOpenError, pool};
use crate::auth::{
    AUTH_ALEMBIC_HEAD, AuthStore, DEFAULT_WORKSPACE, GrantRow, RolePermissionRow, RoleRow, UserRow,
    user_role_name,
};

/// The tables `migrate(engine, "head")` leaves in an SQLite file (3.17.2), in creation order.
const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE alembic_version_auth (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_auth_pkc PRIMARY KEY (version_num)\n)",
    "CREATE TABLE users (\n\tid INTEGER NOT NULL, \n\tusername VARCHAR(255), \n\tpassword_hash VARCHAR(255), \n\tis_admin BOOLEAN, \n\tPRIMARY KEY (id), \n\tUNIQUE (username)\n)",
    "CREATE TABLE experiment_permissions (\n\tid INTEGER NOT NULL, \n\texperiment_id VARCHAR(255) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_experiment_user UNIQUE (experiment_id, user_id)\n)",
    "CREATE TABLE scorer_permissions (\n\tid INTEGER NOT NULL, \n\texperiment_id VARCHAR(255) NOT NULL, \n\tscorer_name VARCHAR(256) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_scorer_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_scorer_user UNIQUE (experiment_id, scorer_name, user_id)\n)",
    "CREATE TABLE gateway_secret_permissions (\n\tid INTEGER NOT NULL, \n\tsecret_id VARCHAR(255) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_gateway_secret_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_secret_user UNIQUE (secret_id, user_id)\n)",
    "CREATE TABLE gateway_endpoint_permissions (\n\tid INTEGER NOT NULL, \n\tendpoint_id VARCHAR(255) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_gateway_endpoint_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_endpoint_user UNIQUE (endpoint_id, user_id)\n)",
    "CREATE TABLE gateway_model_definition_permissions (\n\tid INTEGER NOT NULL, \n\tmodel_definition_id VARCHAR(255) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_gateway_model_def_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_model_def_user UNIQUE (model_definition_id, user_id)\n)",
    "CREATE TABLE workspace_permissions (\n\tworkspace VARCHAR(63) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(32) NOT NULL, \n\tCONSTRAINT workspace_permissions_pk PRIMARY KEY (workspace, user_id), \n\tFOREIGN KEY(user_id) REFERENCES users (id)\n)",
    "CREATE INDEX idx_workspace_permissions_user_id ON workspace_permissions (user_id)",
    "CREATE INDEX idx_workspace_permissions_workspace ON workspace_permissions (workspace)",
    "CREATE TABLE \"registered_model_permissions\" (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(255) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tpermission VARCHAR(255), \n\tworkspace VARCHAR(63) DEFAULT 'default' NOT NULL, \n\tPRIMARY KEY (id), \n\tCONSTRAINT fk_user_id FOREIGN KEY(user_id) REFERENCES users (id), \n\tCONSTRAINT unique_workspace_name_user UNIQUE (workspace, name, user_id)\n)",
    "CREATE TABLE roles (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(255) NOT NULL, \n\tworkspace VARCHAR(63) NOT NULL, \n\tdescription VARCHAR(1024), \n\tPRIMARY KEY (id), \n\tCONSTRAINT unique_workspace_role_name UNIQUE (workspace, name)\n)",
    "CREATE INDEX idx_roles_workspace ON roles (workspace)",
    "CREATE TABLE role_permissions (\n\tid INTEGER NOT NULL, \n\trole_id INTEGER NOT NULL, \n\tresource_type VARCHAR(64) NOT NULL, \n\tresource_pattern VARCHAR(255) NOT NULL, \n\tpermission VARCHAR(255) NOT NULL, \n\tPRIMARY KEY (id), \n\tCONSTRAINT unique_role_resource_perm UNIQUE (role_id, resource_type, resource_pattern), \n\tFOREIGN KEY(role_id) REFERENCES roles (id)\n)",
    "CREATE INDEX idx_role_permissions_role_id ON role_permissions (role_id)",
    "CREATE TABLE user_role_assignments (\n\tid INTEGER NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\trole_id INTEGER NOT NULL, \n\tPRIMARY KEY (id), \n\tCONSTRAINT unique_user_role UNIQUE (user_id, role_id), \n\tFOREIGN KEY(user_id) REFERENCES users (id), \n\tFOREIGN KEY(role_id) REFERENCES roles (id)\n)",
    "CREATE INDEX idx_user_role_assignments_user_id ON user_role_assignments (user_id)",
    "CREATE INDEX idx_user_role_assignments_role_id ON user_role_assignments (role_id)",
];

/// The same on PostgreSQL: Alembic's `Integer` primary keys become `SERIAL`.
const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE alembic_version_auth (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_auth_pkc PRIMARY KEY (version_num))",
    "CREATE TABLE users (id SERIAL NOT NULL, username VARCHAR(255), password_hash VARCHAR(255), is_admin BOOLEAN, PRIMARY KEY (id), UNIQUE (username))",
    "CREATE TABLE experiment_permissions (id SERIAL NOT NULL, experiment_id VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), PRIMARY KEY (id), CONSTRAINT fk_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_experiment_user UNIQUE (experiment_id, user_id))",
    "CREATE TABLE scorer_permissions (id SERIAL NOT NULL, experiment_id VARCHAR(255) NOT NULL, scorer_name VARCHAR(256) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), PRIMARY KEY (id), CONSTRAINT fk_scorer_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_scorer_user UNIQUE (experiment_id, scorer_name, user_id))",
    "CREATE TABLE gateway_secret_permissions (id SERIAL NOT NULL, secret_id VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), PRIMARY KEY (id), CONSTRAINT fk_gateway_secret_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_secret_user UNIQUE (secret_id, user_id))",
    "CREATE TABLE gateway_endpoint_permissions (id SERIAL NOT NULL, endpoint_id VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), PRIMARY KEY (id), CONSTRAINT fk_gateway_endpoint_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_endpoint_user UNIQUE (endpoint_id, user_id))",
    "CREATE TABLE gateway_model_definition_permissions (id SERIAL NOT NULL, model_definition_id VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), PRIMARY KEY (id), CONSTRAINT fk_gateway_model_def_perm_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_model_def_user UNIQUE (model_definition_id, user_id))",
    "CREATE TABLE workspace_permissions (workspace VARCHAR(63) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(32) NOT NULL, CONSTRAINT workspace_permissions_pk PRIMARY KEY (workspace, user_id), FOREIGN KEY(user_id) REFERENCES users (id))",
    "CREATE INDEX idx_workspace_permissions_user_id ON workspace_permissions (user_id)",
    "CREATE INDEX idx_workspace_permissions_workspace ON workspace_permissions (workspace)",
    "CREATE TABLE registered_model_permissions (id SERIAL NOT NULL, name VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL, permission VARCHAR(255), workspace VARCHAR(63) DEFAULT 'default' NOT NULL, PRIMARY KEY (id), CONSTRAINT fk_user_id FOREIGN KEY(user_id) REFERENCES users (id), CONSTRAINT unique_workspace_name_user UNIQUE (workspace, name, user_id))",
    "CREATE TABLE roles (id SERIAL NOT NULL, name VARCHAR(255) NOT NULL, workspace VARCHAR(63) NOT NULL, description VARCHAR(1024), PRIMARY KEY (id), CONSTRAINT unique_workspace_role_name UNIQUE (workspace, name))",
    "CREATE INDEX idx_roles_workspace ON roles (workspace)",
    "CREATE TABLE role_permissions (id SERIAL NOT NULL, role_id INTEGER NOT NULL, resource_type VARCHAR(64) NOT NULL, resource_pattern VARCHAR(255) NOT NULL, permission VARCHAR(255) NOT NULL, PRIMARY KEY (id), CONSTRAINT unique_role_resource_perm UNIQUE (role_id, resource_type, resource_pattern), FOREIGN KEY(role_id) REFERENCES roles (id))",
    "CREATE INDEX idx_role_permissions_role_id ON role_permissions (role_id)",
    "CREATE TABLE user_role_assignments (id SERIAL NOT NULL, user_id INTEGER NOT NULL, role_id INTEGER NOT NULL, PRIMARY KEY (id), CONSTRAINT unique_user_role UNIQUE (user_id, role_id), FOREIGN KEY(user_id) REFERENCES users (id), FOREIGN KEY(role_id) REFERENCES roles (id))",
    "CREATE INDEX idx_user_role_assignments_user_id ON user_role_assignments (user_id)",
    "CREATE INDEX idx_user_role_assignments_role_id ON user_role_assignments (role_id)",
];

const USER_COLUMNS: &str = "CAST(id AS BIGINT), username, password_hash, \
     CAST(CASE WHEN is_admin THEN 1 ELSE 0 END AS BIGINT)";

/// The auth database.
#[derive(Debug, Clone)]
pub struct SqlAuthStore {
    pool: AnyPool,
    dialect: Dialect,
}

fn user_from(r: &sqlx::any::AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        id: r.try_get(0).map_err(db_err)?,
        username: r
            .try_get::<Option<String>, _>(1)
            .map_err(db_err)?
            .unwrap_or_default(),
        password_hash: r
            .try_get::<Option<String>, _>(2)
            .map_err(db_err)?
            .unwrap_or_default(),
        is_admin: r.try_get::<i64, _>(3).map_err(db_err)? != 0,
    })
}

fn perm_from(r: &sqlx::any::AnyRow) -> Result<RolePermissionRow> {
    Ok(RolePermissionRow {
        id: r.try_get(0).map_err(db_err)?,
        role_id: r.try_get(1).map_err(db_err)?,
        resource_type: r.try_get(2).map_err(db_err)?,
        resource_pattern: r.try_get(3).map_err(db_err)?,
        permission: r.try_get(4).map_err(db_err)?,
    })
}

const PERM_COLUMNS: &str = "CAST(id AS BIGINT), CAST(role_id AS BIGINT), resource_type, \
     resource_pattern, permission";
const ROLE_COLUMNS: &str = "CAST(id AS BIGINT), name, workspace, description";

impl SqlAuthStore {
    /// Opens (creating at [`AUTH_ALEMBIC_HEAD`] when empty) the auth database at `uri`
    /// (`database_uri` of `basic_auth.ini`). A database at another auth revision is refused.
    pub async fn open(uri: &str) -> Result<SqlAuthStore, StoreOpenError> {
        sqlx::any::install_default_drivers();
        let target = parse_backend_uri(uri).map_err(StoreOpenError::InvalidUri)?;
        let (pool, dialect) = match target {
            BackendTarget::SqliteFile(path) => {
                let url = super::sqlite_url(&path, "rwc");
                let opts: AnyConnectOptions = url.parse()?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(
                                &mut *conn,
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                (pool, Dialect::Sqlite)
            }
            BackendTarget::SqliteMemory => {
                let opts: AnyConnectOptions = "sqlite::memory:".parse()?;
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts)
                    .await?;
                (pool, Dialect::Sqlite)
            }
            BackendTarget::Postgres(url) => (
                pool::open_postgres(&url, &pool::PoolSettings::default()).await?,
                Dialect::Postgres,
            ),
            BackendTarget::Mysql(_) => {
                return Err(StoreOpenError::Config(
                    "rsflow keeps the basic-auth database on SQLite or PostgreSQL; a MySQL \
                     database_uri in basic_auth.ini is not supported yet"
                        .into(),
                ));
            }
        };
        let store = SqlAuthStore { pool, dialect };
        store.ensure_schema().await?;
        Ok(store)
    }

    async fn ensure_schema(&self) -> Result<(), StoreOpenError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(72570311)")
                .execute(&mut *tx)
                .await?;
        }
        let tables: Vec<String> = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&mut *tx)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::query_scalar(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                     WHERE table_schema = current_schema()",
                )
                .fetch_all(&mut *tx)
                .await?
            }
            // `open` refuses MySQL before a store exists.
            Dialect::Mysql => Vec::new(),
        };
        let has = |t: &str| tables.iter().any(|n| n == t);
        if has("alembic_version_auth") {
            let found: Option<String> =
                sqlx::query_scalar("SELECT version_num FROM alembic_version_auth")
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.as_deref() != Some(AUTH_ALEMBIC_HEAD) {
                return Err(StoreOpenError::Config(format!(
                    "The auth database is at revision {} but rsflow serves MLflow 3.17.2's auth \
                     schema ({AUTH_ALEMBIC_HEAD}); run `mlflow server --app-name basic-auth` \
                     with mlflow==3.17.2 once to migrate it (take a backup first).",
                    found.as_deref().unwrap_or("None")
                )));
            }
        } else if has("users") {
            return Err(StoreOpenError::Config(
                "The auth database has a users table but no alembic_version_auth table (an \
                 auth database from MLflow before 3.6); run `mlflow server --app-name \
                 basic-auth` with mlflow==3.17.2 once to migrate it."
                    .into(),
            ));
        } else {
            let ddl = match self.dialect {
                Dialect::Sqlite => SQLITE_SCHEMA,
                Dialect::Postgres | Dialect::Mysql => POSTGRES_SCHEMA,
            };
            for stmt in ddl {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO alembic_version_auth (version_num) VALUES ($1)")
                .bind(AUTH_ALEMBIC_HEAD)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn exec(&self, q: Sql) -> Result<u64> {
        Ok(q.query()
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected())
    }

    async fn user_role_id(&self, user_id: i64, create: bool) -> Result<Option<i64>> {
        let name = user_role_name(user_id);
        let mut q = Sql::new("SELECT CAST(id AS BIGINT) FROM roles WHERE workspace = ");
        q.bind(DEFAULT_WORKSPACE).push(" AND name = ").bind(&name);
        if let Some(r) = q.query().fetch_optional(&self.pool).await.map_err(db_err)? {
            return Ok(Some(r.try_get(0).map_err(db_err)?));
        }
        if !create {
            return Ok(None);
        }
        let role = self.create_role(&name, DEFAULT_WORKSPACE, None).await?;
        self.assign_role(user_id, role.id).await?;
        Ok(Some(role.id))
    }

    async fn role_permissions(&self, role_id: i64) -> Result<Vec<RolePermissionRow>> {
        let mut q = Sql::new(&format!(
            "SELECT {PERM_COLUMNS} FROM role_permissions WHERE role_id = "
        ));
        q.bind(role_id).push(" ORDER BY id");
        let rows = q.query().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(perm_from).collect()
    }

    async fn roles_from(&self, q: Sql) -> Result<Vec<RoleRow>> {
        let rows = q.query().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0).map_err(db_err)?;
            out.push(RoleRow {
                id,
                name: r.try_get(1).map_err(db_err)?,
                workspace: r.try_get(2).map_err(db_err)?,
                description: r.try_get(3).map_err(db_err)?,
                permissions: self.role_permissions(id).await?,
            });
        }
        Ok(out)
    }
}

fn not_found_user(username: &str) -> MlflowError {
    MlflowError::not_found(format!("User with username={username} not found"))
}

#[async_trait]
impl AuthStore for SqlAuthStore {
    async fn get_user(&self, username: &str) -> Result<Option<UserRow>> {
        let mut q = Sql::new(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = "
        ));
        q.bind(username);
        match q.query().fetch_optional(&self.pool).await.map_err(db_err)? {
            Some(r) => user_from(&r).map(Some),
            None => Ok(None),
        }
    }

    async fn get_user_by_id(&self, id: i64) -> Result<Option<UserRow>> {
        let mut q = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = "));
        q.bind(id);
        match q.query().fetch_optional(&self.pool).await.map_err(db_err)? {
            Some(r) => user_from(&r).map(Some),
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> Result<Vec<UserRow>> {
        let q = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"));
        let rows = q.query().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(user_from).collect()
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<UserRow> {
        let mut q = Sql::new("INSERT INTO users (username, password_hash, is_admin) VALUES (");
        q.bind(username)
            .push(", ")
            .bind(password_hash)
            .push(", ")
            .bind(is_admin)
            .push(")");
        match q.query().execute(&self.pool).await {
            Ok(_) => {}
            Err(e) => {
                let err = crate::DbError::from(e);
                if matches!(err, crate::DbError::Unique(_)) {
                    return Err(MlflowError::already_exists(format!(
                        "User (username={username}) already exists."
                    )));
                }
                return Err(err.into());
            }
        }
        self.get_user(username)
            .await?
            .ok_or_else(|| not_found_user(username))
    }

    async fn update_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let mut q = Sql::new("UPDATE users SET password_hash = ");
        q.bind(password_hash)
            .push(" WHERE username = ")
            .bind(username);
        if self.exec(q).await? == 0 {
            return Err(not_found_user(username));
        }
        Ok(())
    }

    async fn update_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let mut q = Sql::new("UPDATE users SET is_admin = ");
        q.bind(is_admin).push(" WHERE username = ").bind(username);
        if self.exec(q).await? == 0 {
            return Err(not_found_user(username));
        }
        Ok(())
    }

    async fn delete_user(&self, username: &str) -> Result<()> {
        let user = self
            .get_user(username)
            .await?
            .ok_or_else(|| not_found_user(username))?;
        let own_role = self.user_role_id(user.id, false).await?;
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin_write())
            .await
            .map_err(db_err)?;
        for table in [
            "user_role_assignments",
            "experiment_permissions",
            "registered_model_permissions",
            "scorer_permissions",
            "gateway_secret_permissions",
            "gateway_endpoint_permissions",
            "gateway_model_definition_permissions",
            "workspace_permissions",
        ] {
            let mut q = Sql::new(&format!("DELETE FROM {table} WHERE user_id = "));
            q.bind(user.id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        if let Some(role_id) = own_role {
            for stmt in [
                "DELETE FROM user_role_assignments WHERE role_id = ",
                "DELETE FROM role_permissions WHERE role_id = ",
                "DELETE FROM roles WHERE id = ",
            ] {
                let mut q = Sql::new(stmt);
                q.bind(role_id);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        let mut q = Sql::new("DELETE FROM users WHERE id = ");
        q.bind(user.id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn grants_for_user(&self, user_id: i64, workspace: &str) -> Result<Vec<GrantRow>> {
        let mut q = Sql::new(
            "SELECT CAST(r.id AS BIGINT), r.name, r.workspace, rp.resource_type, \
             rp.resource_pattern, rp.permission FROM user_role_assignments ura \
             JOIN roles r ON r.id = ura.role_id JOIN role_permissions rp ON rp.role_id = r.id \
             WHERE ura.user_id = ",
        );
        q.bind(user_id)
            .push(" AND r.workspace = ")
            .bind(workspace)
            .push(" ORDER BY rp.id");
        let rows = q.query().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(GrantRow {
                    role_id: r.try_get(0).map_err(db_err)?,
                    role_name: r.try_get(1).map_err(db_err)?,
                    workspace: r.try_get(2).map_err(db_err)?,
                    resource_type: r.try_get(3).map_err(db_err)?,
                    resource_pattern: r.try_get(4).map_err(db_err)?,
                    permission: r.try_get(5).map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn grant_user_permission(
        &self,
        user_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: &str,
    ) -> Result<()> {
        let role_id = self
            .user_role_id(user_id, true)
            .await?
            .expect("created on demand");
        let mut q = Sql::new("UPDATE role_permissions SET permission = ");
        q.bind(permission)
            .push(" WHERE role_id = ")
            .bind(role_id)
            .push(" AND resource_type = ")
            .bind(resource_type)
            .push(" AND resource_pattern = ")
            .bind(resource_pattern);
        if self.exec(q).await? == 0 {
            self.add_role_permission(role_id, resource_type, resource_pattern, permission)
                .await?;
        }
        Ok(())
    }

    async fn revoke_user_permission(
        &self,
        user_id: i64,
        resource_type: &str,
        resource_pattern: &str,
    ) -> Result<bool> {
        let Some(role_id) = self.user_role_id(user_id, false).await? else {
            return Ok(false);
        };
        let mut q = Sql::new("DELETE FROM role_permissions WHERE role_id = ");
        q.bind(role_id)
            .push(" AND resource_type = ")
            .bind(resource_type)
            .push(" AND resource_pattern = ")
            .bind(resource_pattern);
        Ok(self.exec(q).await? > 0)
    }

    async fn delete_grants_for_resource(&self, resource_type: &str, pattern: &str) -> Result<()> {
        let mut q = Sql::new("DELETE FROM role_permissions WHERE resource_type = ");
        q.bind(resource_type)
            .push(" AND resource_pattern = ")
            .bind(pattern);
        self.exec(q).await?;
        Ok(())
    }

    async fn rename_grants(&self, resource_type: &str, from: &str, to: &str) -> Result<()> {
        let mut q = Sql::new("UPDATE role_permissions SET resource_pattern = ");
        q.bind(to)
            .push(" WHERE resource_type = ")
            .bind(resource_type)
            .push(" AND resource_pattern = ")
            .bind(from);
        self.exec(q).await?;
        Ok(())
    }

    async fn create_role(
        &self,
        name: &str,
        workspace: &str,
        description: Option<&str>,
    ) -> Result<RoleRow> {
        let mut q = Sql::new("INSERT INTO roles (name, workspace, description) VALUES (");
        q.bind(name)
            .push(", ")
            .bind(workspace)
            .push(", ")
            .bind(description)
            .push(")");
        if let Err(e) = q.query().execute(&self.pool).await {
            let err = crate::DbError::from(e);
            if matches!(err, crate::DbError::Unique(_)) {
                return Err(MlflowError::already_exists(format!(
                    "Role (name={name}, workspace={workspace}) already exists."
                )));
            }
            return Err(err.into());
        }
        let mut q = Sql::new(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE workspace = "
        ));
        q.bind(workspace).push(" AND name = ").bind(name);
        self.roles_from(q)
            .await?
            .pop()
            .ok_or_else(|| MlflowError::internal("role vanished after insert"))
    }

    async fn get_role(&self, role_id: i64) -> Result<Option<RoleRow>> {
        let mut q = Sql::new(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE id = "));
        q.bind(role_id);
        Ok(self.roles_from(q).await?.pop())
    }

    async fn list_roles(&self, workspace: Option<&str>) -> Result<Vec<RoleRow>> {
        let mut q = Sql::new(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE name NOT LIKE '\\_\\_user\\_%' ESCAPE '\\'"
        ));
        if let Some(ws) = workspace {
            q.push(" AND workspace = ").bind(ws);
        }
        q.push(" ORDER BY id");
        self.roles_from(q).await
    }

    async fn update_role(
        &self,
        role_id: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        if let Some(name) = name {
            let mut q = Sql::new("UPDATE roles SET name = ");
            q.bind(name).push(" WHERE id = ").bind(role_id);
            self.exec(q).await?;
        }
        if let Some(d) = description {
            let mut q = Sql::new("UPDATE roles SET description = ");
            q.bind(d).push(" WHERE id = ").bind(role_id);
            self.exec(q).await?;
        }
        Ok(())
    }

    async fn delete_role(&self, role_id: i64) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin_write())
            .await
            .map_err(db_err)?;
        for stmt in [
            "DELETE FROM user_role_assignments WHERE role_id = ",
            "DELETE FROM role_permissions WHERE role_id = ",
            "DELETE FROM roles WHERE id = ",
        ] {
            let mut q = Sql::new(stmt);
            q.bind(role_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: &str,
    ) -> Result<RolePermissionRow> {
        let mut q = Sql::new(
            "INSERT INTO role_permissions (role_id, resource_type, resource_pattern, permission) \
             VALUES (",
        );
        q.bind(role_id)
            .push(", ")
            .bind(resource_type)
            .push(", ")
            .bind(resource_pattern)
            .push(", ")
            .bind(permission)
            .push(")");
        if let Err(e) = q.query().execute(&self.pool).await {
            let err = crate::DbError::from(e);
            if matches!(err, crate::DbError::Unique(_)) {
                return Err(MlflowError::already_exists(format!(
                    "Role permission (role_id={role_id}, resource_type={resource_type}, \
                     resource_pattern={resource_pattern}) already exists."
                )));
            }
            return Err(err.into());
        }
        let mut q = Sql::new(&format!(
            "SELECT {PERM_COLUMNS} FROM role_permissions WHERE role_id = "
        ));
        q.bind(role_id)
            .push(" AND resource_type = ")
            .bind(resource_type)
            .push(" AND resource_pattern = ")
            .bind(resource_pattern);
        let r = q.query().fetch_one(&self.pool).await.map_err(db_err)?;
        perm_from(&r)
    }

    async fn get_role_permission(&self, id: i64) -> Result<Option<RolePermissionRow>> {
        let mut q = Sql::new(&format!(
            "SELECT {PERM_COLUMNS} FROM role_permissions WHERE id = "
        ));
        q.bind(id);
        match q.query().fetch_optional(&self.pool).await.map_err(db_err)? {
            Some(r) => perm_from(&r).map(Some),
            None => Ok(None),
        }
    }

    async fn remove_role_permission(&self, id: i64) -> Result<()> {
        let mut q = Sql::new("DELETE FROM role_permissions WHERE id = ");
        q.bind(id);
        self.exec(q).await?;
        Ok(())
    }

    async fn update_role_permission(&self, id: i64, permission: &str) -> Result<()> {
        let mut q = Sql::new("UPDATE role_permissions SET permission = ");
        q.bind(permission).push(" WHERE id = ").bind(id);
        self.exec(q).await?;
        Ok(())
    }

    async fn assign_role(&self, user_id: i64, role_id: i64) -> Result<i64> {
        let mut q = Sql::new("INSERT INTO user_role_assignments (user_id, role_id) VALUES (");
        q.bind(user_id).push(", ").bind(role_id).push(")");
        if let Err(e) = q.query().execute(&self.pool).await {
            let err = crate::DbError::from(e);
            if matches!(err, crate::DbError::Unique(_)) {
                return Err(MlflowError::already_exists(format!(
                    "Role {role_id} is already assigned to user {user_id}."
                )));
            }
            return Err(err.into());
        }
        let mut q =
            Sql::new("SELECT CAST(id AS BIGINT) FROM user_role_assignments WHERE user_id = ");
        q.bind(user_id).push(" AND role_id = ").bind(role_id);
        let r = q.query().fetch_one(&self.pool).await.map_err(db_err)?;
        r.try_get(0).map_err(db_err)
    }

    async fn unassign_role(&self, user_id: i64, role_id: i64) -> Result<()> {
        let mut q = Sql::new("DELETE FROM user_role_assignments WHERE user_id = ");
        q.bind(user_id).push(" AND role_id = ").bind(role_id);
        self.exec(q).await?;
        Ok(())
    }

    async fn list_user_roles(&self, user_id: i64) -> Result<Vec<RoleRow>> {
        let mut q = Sql::new(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE id IN \
             (SELECT role_id FROM user_role_assignments WHERE user_id = "
        ));
        q.bind(user_id).push(") ORDER BY id");
        self.roles_from(q).await
    }

    async fn list_role_users(&self, role_id: i64) -> Result<Vec<(i64, i64, i64)>> {
        let mut q = Sql::new(
            "SELECT CAST(id AS BIGINT), CAST(user_id AS BIGINT), CAST(role_id AS BIGINT) \
             FROM user_role_assignments WHERE role_id = ",
        );
        q.bind(role_id).push(" ORDER BY id");
        let rows = q.query().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db_err)?,
                    r.try_get(1).map_err(db_err)?,
                    r.try_get(2).map_err(db_err)?,
                ))
            })
            .collect()
    }
}
