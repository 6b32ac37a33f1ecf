//! Password logins for SFTP (`sftp://user:password@host/dir`, as MLflow's pysftp store takes
//! them) through the system `ssh`, which reads passwords only from a terminal or an
//! `SSH_ASKPASS` program.
//!
//! The ssh master is started here rather than by `openssh`'s builder (which forces
//! `BatchMode=yes`, i.e. no passwords), with `SSH_ASKPASS` pointing at the running executable
//! and the password in that child's environment only (never in argv, which every user can
//! read, nor in rsflow's own environment or logs). `ssh` runs the executable to ask for the
//! password; [`askpass_main`], called first thing in `main`, sees the private variable,
//! prints the password and exits. A program embedding this crate must call it the same way
//! for password URIs to work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Carries the password from rsflow to `ssh` to the askpass child; private to this exchange.
pub const ASKPASS_ENV: &str = "RSFLOW_INTERNAL_SSH_ASKPASS_PASSWORD";

/// When this process was started by `ssh` as its askpass helper (`password` is the value of
/// [`ASKPASS_ENV`], which the binary reads): answer the prompt on stdout and return `true`
/// (the caller then exits at once). Otherwise `false`, touching nothing.
pub fn askpass_main(password: Option<OsString>) -> bool {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;

    let Some(password) = password else {
        return false;
    };
    let prompt = std::env::args_os().nth(1).unwrap_or_default();
    let reply = askpass_reply(&prompt.to_string_lossy(), password.as_bytes());
    let mut out = std::io::stdout().lock();
    // A failed write leaves ssh with an empty answer: authentication fails and says so.
    let _ = out.write_all(&reply).and_then(|()| out.flush());
    true
}

/// The password for password and keyboard-interactive prompts; `no` to any yes/no question
/// (host keys are checked strictly, so none should come, and none may be accepted blindly).
fn askpass_reply(prompt: &str, password: &[u8]) -> Vec<u8> {
    if prompt.contains("(yes/no") {
        return b"no\n".to_vec();
    }
    let mut reply = password.to_vec();
    reply.push(b'\n');
    reply
}

/// What the ssh master needs besides the password.
pub(crate) struct MasterOptions<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub user: Option<&'a str>,
    pub config_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub server_alive: Duration,
}

/// Start an ssh control master that logs in with `password`; the returned directory holds
/// its control socket (`master`) and log, as `openssh::Session::new_process_mux` expects.
pub(crate) async fn launch_master(
    opts: &MasterOptions<'_>,
    password: &str,
) -> Result<tempfile::TempDir, String> {
    let askpass = std::env::current_exe()
        .map_err(|e| format!("cannot find the rsflow executable to answer ssh's prompt: {e}"))?;
    let dir = tempfile::Builder::new()
        .prefix(".ssh-connection")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| format!("cannot create the ssh control directory: {e}"))?;
    let log = dir.path().join("log");
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .args(master_args(opts, &log, &dir.path().join("master")))
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(ASKPASS_ENV, password)
        .env_remove("DISPLAY");
    let status = cmd
        .status()
        .await
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if status.success() {
        return Ok(dir);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(if text.is_empty() {
        format!("ssh exited with {status}")
    } else {
        text
    })
}

/// `ssh` arguments for a backgrounded control master (as `openssh` builds them, but allowing
/// passwords): one password attempt, so a wrong one fails at once instead of re-asking.
fn master_args(opts: &MasterOptions<'_>, log: &Path, socket: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-E".into(), log.into(), "-S".into(), socket.into()];
    for a in ["-M", "-f", "-N"] {
        args.push(a.into());
    }
    let mut opt = |o: String| {
        args.push("-o".into());
        args.push(o.into());
    };
    opt(format!("ControlPersist={}s", crate::sftp::MASTER_IDLE));
    opt("BatchMode=no".into());
    opt("StrictHostKeyChecking=yes".into());
    opt("PreferredAuthentications=password,keyboard-interactive".into());
    opt("NumberOfPasswordPrompts=1".into());
    opt(format!(
        "ConnectTimeout={}",
        opts.connect_timeout.as_secs().max(1)
    ));
    opt(format!(
        "ServerAliveInterval={}",
        opts.server_alive.as_secs().max(1)
    ));
    if let Some(file) = &opts.known_hosts {
        opt(format!("UserKnownHostsFile={}", file.display()));
    }
    if let Some(port) = opts.port {
        args.push("-p".into());
        args.push(port.to_string().into());
    }
    if let Some(user) = opts.user {
        args.push("-l".into());
        args.push(user.into());
    }
    if let Some(config) = &opts.config_file {
        args.push("-F".into());
        args.push(config.into());
    }
    // `--` so a host that starts with `-` is never read as an option.
    args.push("--".into());
    args.push(opts.host.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(askpass_reply("me@h's password: ", b"s3cret"), b"s3cret\n");
        assert_eq!(askpass_reply("Password: ", b""), b"\n");
        assert_eq!(
            askpass_reply(
                "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
                b"s3cret"
            ),
            b"no\n"
        );
    }

    #[test]
    fn master_arguments() {
        let opts = MasterOptions {
            host: "example.org",
            port: Some(2222),
            user: Some("me"),
            config_file: None,
            known_hosts: Some(PathBuf::from("/h/.ssh/known_hosts")),
            connect_timeout: Duration::from_millis(300),
            server_alive: Duration::from_secs(15),
        };
        let args: Vec<String> = master_args(&opts, Path::new("/t/log"), Path::new("/t/master"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.windows(2).any(|w| w == ["-o", "BatchMode=no"]));
        assert!(
            args.windows(2)
                .any(|w| w == ["-o", "NumberOfPasswordPrompts=1"])
        );
        assert!(args.windows(2).any(|w| w == ["-o", "ConnectTimeout=1"]));
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.windows(2).any(|w| w == ["-l", "me"]));
        assert!(
            args.windows(2)
                .any(|w| w == ["-o", "UserKnownHostsFile=/h/.ssh/known_hosts"])
        );
        assert_eq!(&args[args.len() - 2..], ["--", "example.org"]);
    }
}
