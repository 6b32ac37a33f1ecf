//! The basic-auth database (`SqlAuthStore`) on SQLite and, with `RSFLOW_TEST_PG_URL`, on
//! PostgreSQL: the same behaviour on both, and the schema rsflow creates against the one that
//! MLflow 3.17.2's auth migrations create (`SqlAlchemyStore().init_db(database_uri)`, what
//! `mlflow server --app-name basic-auth` runs at start) on a fresh database of each kind.
//! Without the variable the PostgreSQL tests print why they skipped and return; without the
//! reference venv the comparisons with MLflow do.

use std::path::Path;

use rsflow_core::ErrorCode;
use rsflow_store::auth::{RolePermissionRow, RoleRow};
use rsflow_store::{AUTH_ALEMBIC_HEAD, AuthStore, SqlAuthStore};
use sqlx::postgres::PgPool;

use crate::common::{PgDbs, assert_same_pg, reference_venv, schema_model};

/// Every method of [`AuthStore`], with the rows MLflow's own store would leave.
async fn exercise(store: &SqlAuthStore, what: &str) {
    // Users.
    let alice = store.create_user("alice", "hash-a", false).await.unwrap();
    let admin = store.create_user("root", "hash-r", true).await.unwrap();
    assert!(
        alice.id > 0 && admin.id > alice.id,
        "{what}: ids {alice:?} {admin:?}"
    );
    assert!(!alice.is_admin && admin.is_admin, "{what}");
    let dup = store.create_user("alice", "x", false).await.unwrap_err();
    assert_eq!(
        dup.code,
        ErrorCode::ResourceAlreadyExists,
        "{what}: {dup:?}"
    );
    assert!(dup.message.contains("alice"), "{what}: {}", dup.message);
    assert_eq!(
        store
            .get_user("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-a"
    );
    assert_eq!(store.get_user("nobody").await.unwrap(), None, "{what}");
    assert_eq!(
        store
            .get_user_by_id(admin.id)
            .await
            .unwrap()
            .unwrap()
            .username,
        "root"
    );
    assert_eq!(
        store
            .list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["alice", "root"],
        "{what}"
    );
    store.update_password("alice", "hash-a2").await.unwrap();
    store.update_admin("alice", true).await.unwrap();
    let a = store.get_user("alice").await.unwrap().unwrap();
    assert_eq!((a.password_hash.as_str(), a.is_admin), ("hash-a2", true));
    store.update_admin("alice", false).await.unwrap();
    for err in [
        store.update_password("nobody", "h").await.unwrap_err(),
        store.update_admin("nobody", true).await.unwrap_err(),
        store.delete_user("nobody").await.unwrap_err(),
    ] {
        assert_eq!(err.code, ErrorCode::ResourceDoesNotExist, "{what}: {err:?}");
    }

    // A user's own grants live in its synthetic role `__user_<id>__`, created on first use.
    assert!(
        store
            .grants_for_user(alice.id, "default")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .revoke_user_permission(alice.id, "experiment", "1")
            .await
            .unwrap(),
        "{what}: nothing to revoke"
    );
    store
        .grant_user_permission(alice.id, "experiment", "1", "READ")
        .await
        .unwrap();
    store
        .grant_user_permission(alice.id, "experiment", "1", "EDIT")
        .await
        .unwrap();
    store
        .grant_user_permission(alice.id, "registered_model", "m1", "MANAGE")
        .await
        .unwrap();
    let grants = store.grants_for_user(alice.id, "default").await.unwrap();
    let own = format!("__user_{}__", alice.id);
    assert_eq!(
        grants
            .iter()
            .map(|g| (
                g.role_name.as_str(),
                g.resource_type.as_str(),
                g.resource_pattern.as_str(),
                g.permission.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (own.as_str(), "experiment", "1", "EDIT"),
            (own.as_str(), "registered_model", "m1", "MANAGE"),
        ],
        "{what}: the second grant updates the first"
    );
    assert!(
        store
            .grants_for_user(alice.id, "other-ws")
            .await
            .unwrap()
            .is_empty()
    );
    store
        .rename_grants("registered_model", "m1", "m2")
        .await
        .unwrap();
    let patterns: Vec<String> = store
        .grants_for_user(alice.id, "default")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.resource_pattern)
        .collect();
    assert_eq!(patterns, ["1", "m2"], "{what}");
    store
        .delete_grants_for_resource("registered_model", "m2")
        .await
        .unwrap();
    assert!(
        store
            .revoke_user_permission(alice.id, "experiment", "1")
            .await
            .unwrap()
    );
    assert!(
        store
            .grants_for_user(alice.id, "default")
            .await
            .unwrap()
            .is_empty()
    );

    // Roles, their permissions and assignments.
    let role = store
        .create_role("readers", "default", Some("read everything"))
        .await
        .unwrap();
    assert_eq!(
        (role.name.as_str(), role.workspace.as_str()),
        ("readers", "default")
    );
    assert_eq!(role.description.as_deref(), Some("read everything"));
    let err = store
        .create_role("readers", "default", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::ResourceAlreadyExists,
        "{what}: {err:?}"
    );
    let other = store.create_role("readers", "team-b", None).await.unwrap();
    assert_eq!(other.description, None);
    let perm = store
        .add_role_permission(role.id, "experiment", "*", "READ")
        .await
        .unwrap();
    assert_eq!(
        (perm.role_id, perm.resource_pattern.as_str()),
        (role.id, "*")
    );
    let err = store
        .add_role_permission(role.id, "experiment", "*", "EDIT")
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::ResourceAlreadyExists,
        "{what}: {err:?}"
    );
    store.update_role_permission(perm.id, "USE").await.unwrap();
    assert_eq!(
        store
            .get_role_permission(perm.id)
            .await
            .unwrap()
            .unwrap()
            .permission,
        "USE"
    );
    store
        .update_role(role.id, Some("viewers"), Some("renamed"))
        .await
        .unwrap();
    let got = store.get_role(role.id).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.description.as_deref()),
        ("viewers", Some("renamed"))
    );
    let updated = RolePermissionRow {
        permission: "USE".into(),
        ..perm.clone()
    };
    assert_eq!(got.permissions, [updated]);
    // Synthetic user roles are left out of listings.
    let names = |roles: Vec<RoleRow>| roles.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_roles(None).await.unwrap()),
        ["viewers", "readers"]
    );
    assert_eq!(
        names(store.list_roles(Some("team-b")).await.unwrap()),
        ["readers"]
    );
    let assignment = store.assign_role(alice.id, role.id).await.unwrap();
    let err = store.assign_role(alice.id, role.id).await.unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::ResourceAlreadyExists,
        "{what}: {err:?}"
    );
    assert_eq!(
        store.list_role_users(role.id).await.unwrap(),
        [(assignment, alice.id, role.id)]
    );
    assert!(names(store.list_user_roles(alice.id).await.unwrap()).contains(&"viewers".to_owned()));
    let via_role = store.grants_for_user(alice.id, "default").await.unwrap();
    assert_eq!(via_role.len(), 1, "{what}: {via_role:?}");
    assert_eq!(
        (
            via_role[0].role_name.as_str(),
            via_role[0].permission.as_str()
        ),
        ("viewers", "USE")
    );
    store.unassign_role(alice.id, role.id).await.unwrap();
    assert!(store.list_role_users(role.id).await.unwrap().is_empty());
    store.remove_role_permission(perm.id).await.unwrap();
    assert_eq!(store.get_role_permission(perm.id).await.unwrap(), None);

    // Deleting a user takes its synthetic role and assignments with it; shared roles stay.
    store
        .grant_user_permission(alice.id, "experiment", "7", "MANAGE")
        .await
        .unwrap();
    store.assign_role(alice.id, other.id).await.unwrap();
    let own_role = store
        .list_user_roles(alice.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == own)
        .expect("synthetic role");
    store.delete_user("alice").await.unwrap();
    assert_eq!(store.get_user("alice").await.unwrap(), None);
    assert_eq!(store.get_role(own_role.id).await.unwrap(), None, "{what}");
    assert!(store.list_role_users(other.id).await.unwrap().is_empty());
    assert!(store.get_role(other.id).await.unwrap().is_some());
    store.delete_role(role.id).await.unwrap();
    assert_eq!(store.get_role(role.id).await.unwrap(), None);
    // A name freed by a deleted user can be taken again.
    let again = store.create_user("alice", "hash-new", false).await.unwrap();
    assert!(again.id > admin.id, "{what}: {again:?}");
}

fn sqlite_url(p: &Path) -> String {
    format!("sqlite:///{}", p.display())
}

/// What `mlflow server --app-name basic-auth` 3.17.2 does to its `database_uri` at start,
/// before it creates the admin: `SqlAlchemyStore().init_db(uri)` (Alembic to the auth head).
fn mlflow_init_auth_db(venv: &Path, uri: &str) {
    let out = std::process::Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import sys\nfrom mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore\n\
             SqlAlchemyStore().init_db(sys.argv[1])",
            uri,
        ])
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlflow auth init_db {uri} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sqlite_auth_store_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("basic_auth.db"));
    let store = SqlAuthStore::open(&url).await.unwrap();
    exercise(&store, "sqlite").await;
    // Reopened, the rows are there and the schema is accepted as it is.
    drop(store);
    let store = SqlAuthStore::open(&url).await.unwrap();
    assert!(store.get_user("root").await.unwrap().unwrap().is_admin);
}

#[tokio::test]
async fn sqlite_auth_schema_is_mlflows() {
    let Some(venv) = reference_venv() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours.db"), dir.path().join("mlflow.db"));
    drop(SqlAuthStore::open(&sqlite_url(&ours)).await.unwrap());
    mlflow_init_auth_db(&venv, &sqlite_url(&theirs));
    let (a, b) = (schema_model(&ours).await, schema_model(&theirs).await);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "objects differ"
    );
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k:?} differs");
    }
    // rsflow serves MLflow's database as it is.
    let store = SqlAuthStore::open(&sqlite_url(&theirs)).await.unwrap();
    exercise(&store, "sqlite, created by mlflow").await;
}

// ---- PostgreSQL ----

async fn pg_version(url: &str) -> Vec<String> {
    let pool = PgPool::connect(url).await.unwrap();
    let v = sqlx::query_scalar("SELECT version_num FROM alembic_version_auth")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    v
}

/// One catalogue listing, for a readable message beside pg_dump's: columns with type,
/// nullability and default; constraints with their definition; indexes with theirs.
async fn pg_catalogue(url: &str) -> Vec<String> {
    let pool = PgPool::connect(url).await.unwrap();
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT format('column %s.%s %s %s %s', table_name, column_name, \
           CASE WHEN character_maximum_length IS NULL THEN data_type \
                ELSE data_type || '(' || character_maximum_length || ')' END, \
           is_nullable, coalesce(column_default, '-')) \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    out.extend(
        sqlx::query_scalar::<_, String>(
            "SELECT format('constraint %s.%s %s', c.conrelid::regclass, c.conname, \
               pg_get_constraintdef(c.oid)) \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE n.nspname = current_schema() ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap(),
    );
    out.extend(
        sqlx::query_scalar::<_, String>(
            "SELECT format('index %s', indexdef) FROM pg_indexes \
             WHERE schemaname = current_schema() ORDER BY indexname",
        )
        .fetch_all(&pool)
        .await
        .unwrap(),
    );
    pool.close().await;
    out
}

#[tokio::test]
async fn postgres_auth_store_behaviour() {
    let Some(mut dbs) = PgDbs::new().await else {
        return;
    };
    let url = dbs.create().await;
    let store = SqlAuthStore::open(&url).await.unwrap();
    exercise(&store, "postgres").await;
    drop(store);
    // Reopened: the rows hold, the schema is not created twice.
    let store = SqlAuthStore::open(&url).await.unwrap();
    assert!(store.get_user("root").await.unwrap().unwrap().is_admin);
    assert_eq!(pg_version(&url).await, [AUTH_ALEMBIC_HEAD]);
    drop(store);
    // The URI forms of basic_auth.ini (SQLAlchemy's driver suffixes) open the same database.
    for driver in ["+psycopg2", "+psycopg"] {
        let alt = url.replacen("postgresql://", &format!("postgresql{driver}://"), 1);
        let store = SqlAuthStore::open(&alt).await.unwrap();
        assert!(store.get_user("alice").await.unwrap().is_some(), "{driver}");
    }
    dbs.drop_all().await;
}

/// Several servers starting at once on an empty database: one creates the schema, the
/// others wait for it (advisory lock) and find it.
#[tokio::test]
async fn postgres_concurrent_first_open() {
    let Some(mut dbs) = PgDbs::new().await else {
        return;
    };
    let url = dbs.create().await;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqlAuthStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for h in handles {
        stores.push(h.await.unwrap().unwrap());
    }
    assert_eq!(pg_version(&url).await, [AUTH_ALEMBIC_HEAD]);
    drop(stores);
    dbs.drop_all().await;
}

#[tokio::test]
async fn postgres_other_auth_revisions_are_refused() {
    let Some(mut dbs) = PgDbs::new().await else {
        return;
    };
    let url = dbs.create().await;
    drop(SqlAuthStore::open(&url).await.unwrap());
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE alembic_version_auth SET version_num = 'c3d4e5f6a7b8'")
        .execute(&pool)
        .await
        .unwrap();
    let err = SqlAuthStore::open(&url).await.unwrap_err().to_string();
    assert!(
        err.contains("c3d4e5f6a7b8") && err.contains(AUTH_ALEMBIC_HEAD),
        "{err}"
    );
    // A pre-3.6 auth database: users but no alembic_version_auth.
    sqlx::query("DROP TABLE alembic_version_auth")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqlAuthStore::open(&url).await.unwrap_err().to_string();
    assert!(err.contains("no alembic_version_auth"), "{err}");
    dbs.drop_all().await;
}

/// rsflow's auth schema on PostgreSQL is the one MLflow 3.17.2's migrations leave, object for
/// object (pg_dump of both, and the catalogue listing of columns, constraints and indexes);
/// each side opens the other's database without changing it.
#[tokio::test]
async fn postgres_auth_schema_is_mlflows() {
    let Some(mut dbs) = PgDbs::new().await else {
        return;
    };
    let Some(venv) = reference_venv() else {
        return;
    };
    let (ours, theirs) = (dbs.create().await, dbs.create().await);
    drop(SqlAuthStore::open(&ours).await.unwrap());
    mlflow_init_auth_db(&venv, &theirs);
    let (a, b) = (pg_catalogue(&ours).await, pg_catalogue(&theirs).await);
    let only_ours: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_theirs: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "catalogues differ\nonly rsflow: {only_ours:#?}\nonly mlflow: {only_theirs:#?}"
    );
    assert!(a.len() > 50, "{a:#?}");
    assert_same_pg(&ours, &theirs, "auth schema");
    assert_eq!(pg_version(&ours).await, [AUTH_ALEMBIC_HEAD]);
    assert_eq!(pg_version(&theirs).await, [AUTH_ALEMBIC_HEAD]);
    // MLflow's init_db on rsflow's database is a no-op; rsflow serves MLflow's.
    mlflow_init_auth_db(&venv, &ours);
    assert_same_pg(&ours, &theirs, "auth schema after mlflow opened rsflow's");
    let store = SqlAuthStore::open(&theirs).await.unwrap();
    exercise(&store, "postgres, created by mlflow").await;
    drop(store);
    dbs.drop_all().await;
}
