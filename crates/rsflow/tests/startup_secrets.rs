//! Every way start-up can fail with a URI that holds a password prints the URI redacted
//! (`bob:***@`) and never the password, in the error or in any log line before it (issue 22).

use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "s3cr3tpw";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `rsflow server` with `args` in a fresh directory; it must fail. Returns its stderr.
fn fails_without_leaking(what: &str, args: &[String]) -> String {
    fails_without_leaking_env(what, args, &[])
}

/// The same with extra environment variables.
fn fails_without_leaking_env(what: &str, args: &[String], envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rsflow"));
    cmd.arg("server")
        .args(["--port", &free_port().to_string()])
        .args(args)
        .current_dir(dir.path())
        // Debug logs too: no layer may print the password.
        .env("RSFLOW_LOG", "debug")
        .env("RSFLOW_DB_CONNECT_TIMEOUT_SECS", "2")
        .env("RSFLOW_STORAGE_CONNECT_TIMEOUT", "2")
        .env("RSFLOW_STORAGE_TIMEOUT", "2")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(envs.iter().copied());
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: too slow"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{what}: started\n{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "{what}: the password was printed\n{stderr}{stdout}"
    );
    assert!(
        stderr.contains("bob:***@"),
        "{what}: no redacted URI\n{stderr}"
    );
    stderr
}

fn sqlite() -> String {
    "sqlite:///mlflow.db".to_owned()
}

#[test]
fn unsupported_database_scheme() {
    let err = fails_without_leaking(
        "mssql backend",
        &[
            "--backend-store-uri".into(),
            format!("mssql://bob:{PASSWORD}@host/db"),
        ],
    );
    assert!(
        err.contains("Unsupported database URI scheme 'mssql'"),
        "{err}"
    );
}

#[test]
fn unreachable_mysql_with_a_password() {
    let port = free_port();
    for uri in [
        format!("mysql://bob:{PASSWORD}@127.0.0.1:{port}/db"),
        format!("mysql+pymysql://bob:{PASSWORD}@127.0.0.1:{port}/db?charset=utf8mb4"),
        format!("mysql+mysqldb://bob:{PASSWORD}@127.0.0.1:{port}/db?bogus=1"),
    ] {
        fails_without_leaking("mysql", &["--backend-store-uri".into(), uri]);
    }
}

#[test]
fn unreachable_postgresql_with_a_password() {
    let port = free_port();
    for uri in [
        format!("postgresql://bob:{PASSWORD}@127.0.0.1:{port}/db"),
        format!("postgresql://bob:{PASSWORD}@127.0.0.1:{port}/db?password={PASSWORD}"),
        // An unencoded `@` and `/` in the password.
        format!("postgresql://bob:{PASSWORD}@x/y@127.0.0.1:{port}/db"),
    ] {
        fails_without_leaking("postgresql", &["--backend-store-uri".into(), uri]);
    }
}

#[test]
fn registry_store_that_differs() {
    fails_without_leaking(
        "registry store",
        &[
            "--backend-store-uri".into(),
            format!("postgresql://bob:{PASSWORD}@127.0.0.1:1/db"),
            "--registry-store-uri".into(),
            format!("postgresql://bob:{PASSWORD}@127.0.0.1:1/other"),
        ],
    );
}

#[test]
fn artifact_destinations_with_credentials() {
    let port = free_port();
    for dest in [
        // A scheme rsflow does not serve.
        format!("ftp://bob:{PASSWORD}@127.0.0.1:{port}/x"),
        // An SFTP server that is not there.
        format!("sftp://bob:{PASSWORD}@127.0.0.1:{port}/x"),
        // A proxy URI cannot be a destination.
        format!("https://bob:{PASSWORD}@127.0.0.1:{port}/api"),
    ] {
        fails_without_leaking(
            &dest.replace(PASSWORD, "***"),
            &[
                "--backend-store-uri".into(),
                sqlite(),
                "--artifacts-destination".into(),
                dest.clone(),
            ],
        );
    }
}

/// `--app-name basic-auth` whose `database_uri` holds a password.
fn auth_config(dir: &std::path::Path, database_uri: &str) -> String {
    let ini = dir.join("basic_auth.ini");
    std::fs::write(
        &ini,
        format!("[mlflow]\ndatabase_uri = {database_uri}\nadmin_username = admin\n"),
    )
    .unwrap();
    ini.to_str().unwrap().to_owned()
}

/// A MySQL auth database (which MLflow takes) is refused before anything is opened, in one
/// line that names the URI redacted and what to use instead.
#[test]
fn auth_database_on_mysql_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ini = auth_config(
        dir.path(),
        &format!("mysql+pymysql://bob:{PASSWORD}@127.0.0.1:{port}/auth"),
    );
    let err = fails_without_leaking_env(
        "mysql auth database",
        &[
            "--backend-store-uri".into(),
            sqlite(),
            "--app-name".into(),
            "basic-auth".into(),
        ],
        &[
            ("MLFLOW_AUTH_CONFIG_PATH", &ini),
            ("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password-1234"),
        ],
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("MySQL")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("Error: database_uri = mysql+pymysql://bob:***@")
            && lines[0].contains("SQLite or PostgreSQL only, not MySQL")
            && !lines[0].contains("  "),
        "{err}"
    );
    assert!(!err.contains("Caused by"), "{err}");
}

#[test]
fn auth_database_on_unreachable_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ini = auth_config(
        dir.path(),
        &format!("postgresql://bob:{PASSWORD}@127.0.0.1:{port}/auth"),
    );
    let err = fails_without_leaking_env(
        "postgresql auth database",
        &[
            "--backend-store-uri".into(),
            sqlite(),
            "--app-name".into(),
            "basic-auth".into(),
        ],
        &[
            ("MLFLOW_AUTH_CONFIG_PATH", &ini),
            ("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password-1234"),
        ],
    );
    assert!(err.contains("cannot open the auth database"), "{err}");
}
