//! [`SftpStore`]: artifacts under a directory of an SFTP server (`sftp://user@host:port/dir`).
//!
//! The system `ssh` client carries the connection (through the `openssh` crate), so keys,
//! agents and host-key checks behave as for `ssh` itself. As MLflow's paramiko-based store does,
//! `~` means `$HOME`: `$HOME/.ssh/config` (`Host` aliases, `HostName`, `Port`, `User`,
//! `IdentityFile`) and `$HOME/.ssh/known_hosts` are used, and the first of
//! `$HOME/.ssh/id_{ed25519,ecdsa,rsa}` is offered. Unknown host keys are refused.
//! A password in the URI logs in by password instead of keys (`ssh_askpass`: the password
//! reaches `ssh` through its environment, never its arguments). Uploads go to a hidden temp file that is renamed over the target (atomic with the
//! `posix-rename` extension OpenSSH servers offer).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use openssh_sftp_client::error::SftpErrorKind;
use openssh_sftp_client::file::TokioCompatFile;
use openssh_sftp_client::metadata::MetaData;
use openssh_sftp_client::{Error as SftpError, Sftp, SftpOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio_util::io::ReaderStream;

use crate::path::{ALT_TEMP_PREFIX, ArtifactPath, PathError, TEMP_PREFIX, is_temp_name};
use crate::remote::{RemoteLocation, StorageTimeouts};
use crate::ssh_askpass::{MasterOptions, launch_master};
use crate::store::{
    ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, ObjectMeta, Stat, StoreError,
};

/// How long an ssh control master stays up with no client connected: while rsflow runs its sftp
/// channel is connected; when rsflow exits (even by SIGKILL) the master follows this long after.
pub(crate) const MASTER_IDLE: std::num::NonZeroUsize = std::num::NonZeroUsize::new(10).unwrap();

const READ_CHUNK: usize = 256 * 1024;
/// Directory trees deeper than this are not walked (nothing rsflow writes is that deep).
const MAX_DEPTH: usize = 128;

/// Files under one directory of an SFTP server.
pub struct SftpStore {
    host: String,
    port: Option<u16>,
    user: Option<String>,
    /// From the URI; never logged (`display` is the URI without it).
    password: Option<String>,
    dir: String,
    home: Option<PathBuf>,
    timeouts: StorageTimeouts,
    display: String,
    conn: Mutex<Option<Arc<Sftp>>>,
}

impl std::fmt::Debug for SftpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpStore")
            .field("uri", &self.display)
            .finish_non_exhaustive()
    }
}

impl SftpStore {
    pub(crate) fn new(
        location: &RemoteLocation,
        env: &dyn Fn(&str) -> Option<String>,
        timeouts: StorageTimeouts,
    ) -> Result<SftpStore, StoreError> {
        let RemoteLocation::Sftp {
            user,
            password,
            host,
            port,
            dir,
        } = location
        else {
            return Err(StoreError::Unsupported(format!(
                "{location} is not an SFTP location"
            )));
        };
        Ok(SftpStore {
            host: host.clone(),
            port: *port,
            user: user.clone(),
            password: password.clone(),
            dir: dir.trim_end_matches('/').to_owned(),
            home: env("HOME").map(PathBuf::from),
            timeouts,
            display: location.to_string(),
            conn: Mutex::new(None),
        })
    }

    fn remote(&self, path: &ArtifactPath) -> String {
        if path.is_root() {
            if self.dir.is_empty() {
                "/".into()
            } else {
                self.dir.clone()
            }
        } else {
            format!("{}/{path}", self.dir)
        }
    }

    fn fail(
        &self,
        op: &'static str,
        path: &ArtifactPath,
        message: String,
        denied: bool,
    ) -> StoreError {
        tracing::debug!(store = %self.display, op, path = %path, %message, "sftp operation failed");
        StoreError::Remote {
            store: self.display.clone(),
            op,
            path: path.to_string(),
            message,
            denied,
        }
    }

    fn sftp_err(&self, op: &'static str, path: &ArtifactPath, e: SftpError) -> StoreError {
        let denied = matches!(&e, SftpError::SftpError(SftpErrorKind::PermDenied, _));
        self.fail(op, path, e.to_string(), denied)
    }

    async fn connect(&self) -> Result<Arc<Sftp>, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(sftp) = guard.as_ref() {
            return Ok(sftp.clone());
        }
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(self.timeouts.connect)
            .server_alive_interval(Duration::from_secs(15))
            // The control master outlives no rsflow: it exits once no client (the sftp channel
            // rsflow holds) has been connected for MASTER_IDLE, instead of staying forever.
            .control_persist(ControlPersist::IdleFor(MASTER_IDLE))
            .control_directory(std::env::temp_dir());
        if let Some(user) = &self.user {
            builder.user(user.clone());
        }
        if let Some(port) = self.port {
            builder.port(port);
        }
        if let Some(home) = &self.home {
            let ssh = home.join(".ssh");
            if ssh.join("config").is_file() {
                builder.config_file(ssh.join("config"));
            }
            builder.user_known_hosts_file(ssh.join("known_hosts"));
            if let Some(key) = ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|k| ssh.join(k))
                .find(|k| k.is_file())
            {
                builder.keyfile(key);
            }
        }
        let root = ArtifactPath::root();
        let login = async {
            match &self.password {
                None => builder
                    .connect(&self.host)
                    .await
                    .map_err(|e| ssh_message(&e)),
                Some(password) => {
                    let ssh = self.home.as_ref().map(|h| h.join(".ssh"));
                    let opts = MasterOptions {
                        host: &self.host,
                        port: self.port,
                        user: self.user.as_deref(),
                        config_file: ssh
                            .as_ref()
                            .map(|s| s.join("config"))
                            .filter(|c| c.is_file()),
                        known_hosts: ssh.as_ref().map(|s| s.join("known_hosts")),
                        connect_timeout: self.timeouts.connect,
                        server_alive: Duration::from_secs(15),
                    };
                    launch_master(&opts, password)
                        .await
                        .map(Session::new_process_mux)
                }
            }
        };
        let session = tokio::time::timeout(self.timeouts.control, login)
            .await
            .map_err(|_| {
                self.fail(
                    "connect",
                    &root,
                    "the server did not answer in time".into(),
                    false,
                )
            })?
            .map_err(|message| self.fail("connect", &root, message, false))?;
        let sftp = tokio::time::timeout(
            self.timeouts.control,
            Sftp::from_session(session, SftpOptions::default()),
        )
        .await
        .map_err(|_| {
            self.fail(
                "start sftp",
                &root,
                "the server did not answer in time".into(),
                false,
            )
        })?
        .map_err(|e| self.sftp_err("start sftp", &root, e))?;
        let sftp = Arc::new(sftp);
        *guard = Some(sftp.clone());
        Ok(sftp)
    }

    /// Forget a connection that failed below the SFTP protocol (server restarted, network cut),
    /// so the next call reconnects instead of failing forever (MLflow issue #14380).
    async fn drop_if_broken(&self, e: &SftpError) {
        if !matches!(e, SftpError::SftpError(..)) {
            *self.conn.lock().await = None;
        }
    }

    /// Run `f` on a connection within the control timeout; reconnect and retry once if the
    /// connection itself had died.
    async fn call<T, F, Fut>(
        &self,
        op: &'static str,
        path: &ArtifactPath,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Arc<Sftp>) -> Fut,
        Fut: Future<Output = Result<T, SftpError>>,
    {
        for attempt in 0..2 {
            let sftp = self.connect().await?;
            match tokio::time::timeout(self.timeouts.control, f(sftp)).await {
                Err(_) => {
                    *self.conn.lock().await = None;
                    return Err(self.fail(
                        op,
                        path,
                        "the server did not answer in time".into(),
                        false,
                    ));
                }
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => {
                    let broken = !matches!(e, SftpError::SftpError(..));
                    self.drop_if_broken(&e).await;
                    if broken && attempt == 0 {
                        continue;
                    }
                    return Err(self.sftp_err(op, path, e));
                }
            }
        }
        Err(self.fail(op, path, "the connection keeps failing".into(), false))
    }

    /// `Ok(None)` when nothing is at `remote`.
    async fn metadata(&self, path: &ArtifactPath) -> Result<Option<MetaData>, StoreError> {
        let remote = self.remote(path);
        let result = self
            .call("stat", path, |sftp| {
                let remote = remote.clone();
                async move {
                    match sftp.fs().metadata(&remote).await {
                        Ok(m) => Ok(Some(m)),
                        Err(e) if is_missing(&e) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        Ok(result)
    }

    /// The remote path of a sidecar key (relative to the store's directory).
    fn sidecar_remote(&self, key: &str) -> String {
        format!("{}/{key}", self.dir)
    }

    /// The sidecar of `path`, `None` when there is none (or it does not parse).
    async fn read_sidecar(
        &self,
        path: &ArtifactPath,
    ) -> Result<Option<crate::digest::Sidecar>, StoreError> {
        let Some(key) = crate::digest::sidecar_key(path) else {
            return Ok(None);
        };
        let remote = self.sidecar_remote(&key);
        self.call("read the digest of", path, |sftp| {
            let remote = remote.clone();
            async move {
                match sftp.fs().read(&remote).await {
                    Ok(b) => Ok(crate::digest::Sidecar::parse(&b)),
                    Err(e) if is_missing(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// `mkdir -p` of `dir` (a remote absolute path).
    async fn create_dirs(&self, dir: &str, path: &ArtifactPath) -> Result<(), StoreError> {
        let dir = dir.to_owned();
        let blocked = self
            .call("create the directories of", path, |sftp| {
                let dir = dir.clone();
                async move {
                    let mut fs = sftp.fs();
                    let mut current = PathBuf::from("/");
                    for part in Path::new(&dir).components().skip(1) {
                        current.push(part);
                        match fs.metadata(&current).await {
                            Ok(m) if is_dir(&m) => continue,
                            Ok(_) => return Ok(true),
                            Err(e) if is_missing(&e) => {}
                            Err(e) => return Err(e),
                        }
                        if let Err(e) = fs.create_dir(&current).await {
                            // Another upload may have created it meanwhile.
                            if !fs.metadata(&current).await.is_ok_and(|m| is_dir(&m)) {
                                return Err(e);
                            }
                        }
                    }
                    Ok(false)
                }
            })
            .await?;
        if blocked {
            return Err(StoreError::NotADirectory(path.clone()));
        }
        Ok(())
    }

    async fn remove_tree(&self, remote: &str, path: &ArtifactPath) -> Result<(), StoreError> {
        let remote = remote.to_owned();
        self.call("delete", path, |sftp| {
            let remote = remote.clone();
            async move {
                let mut fs = sftp.fs();
                // Depth-first: directories are removed once their children are gone.
                let mut stack = vec![(PathBuf::from(&remote), false, 0usize)];
                while let Some((dir, visited, depth)) = stack.pop() {
                    if visited {
                        match fs.remove_dir(&dir).await {
                            Ok(()) => {}
                            Err(e) if is_missing(&e) => {}
                            Err(e) => return Err(e),
                        }
                        continue;
                    }
                    stack.push((dir.clone(), true, depth));
                    let entries = match fs.open_dir(&dir).await {
                        Ok(d) => d.read_dir(),
                        Err(e) if is_missing(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    futures_util::pin_mut!(entries);
                    while let Some(entry) = entries.next().await {
                        let entry = entry?;
                        let name = entry.filename();
                        if name == Path::new(".") || name == Path::new("..") {
                            continue;
                        }
                        let child = dir.join(name);
                        let is_subdir = entry.file_type().is_some_and(|t| t.is_dir());
                        if is_subdir && depth < MAX_DEPTH {
                            stack.push((child, false, depth + 1));
                        } else {
                            match fs.remove_file(&child).await {
                                Ok(()) => {}
                                Err(e) if is_missing(&e) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                Ok(())
            }
        })
        .await
    }
}

fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::SftpError(SftpErrorKind::NoSuchFile, _))
}

fn is_dir(m: &MetaData) -> bool {
    m.file_type().is_some_and(|t| t.is_dir())
}

fn object_meta(m: &MetaData) -> ObjectMeta {
    let size = m.len().unwrap_or(0);
    let modified = m.modified().map(|t| t.as_system_time());
    let secs = m.modified().map_or(0, |t| t.into_raw());
    ObjectMeta {
        size,
        modified,
        etag: Some(format!("\"{size:x}-{secs:x}\"")),
        sha256: None,
    }
}

/// `ssh` explains connection failures on stderr (host key, auth); that text is the message.
fn ssh_message(e: &openssh::Error) -> String {
    let text = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut out = text;
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes an unpublished temp file when an upload fails or its future is dropped.
struct TempGuard {
    sftp: Option<Arc<Sftp>>,
    path: String,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(sftp) = self.sftp.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let path = std::mem::take(&mut self.path);
            handle.spawn(async move {
                let _ = sftp.fs().remove_file(&path).await;
            });
        }
    }
}

#[async_trait]
impl ArtifactStore for SftpStore {
    fn uri(&self) -> String {
        self.display.clone()
    }

    async fn put(&self, path: &ArtifactPath, mut body: ByteStream) -> Result<u64, StoreError> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return Err(PathError::NoFileName.into());
        };
        let parent_remote = self.remote(&parent);
        self.create_dirs(&parent_remote, path).await?;
        let temp = format!("{parent_remote}/{TEMP_PREFIX}{:016x}", fastrand::u64(..));
        let target = format!("{parent_remote}/{name}");
        let sftp = self.connect().await?;
        let file = tokio::time::timeout(
            self.timeouts.control,
            sftp.options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp),
        )
        .await
        .map_err(|_| {
            self.fail(
                "start writing",
                path,
                "the server did not answer in time".into(),
                false,
            )
        })?
        .map_err(|e| self.sftp_err("start writing", path, e))?;
        let mut guard = TempGuard {
            sftp: Some(sftp.clone()),
            path: temp.clone(),
        };
        let mut out = Box::pin(TokioCompatFile::new(file));
        let mut written = 0u64;
        let mut hasher = crate::digest::enabled().then(crate::digest::Hasher::default);
        let io = self.timeouts.io;
        let timed_out = |op| self.fail(op, path, "the server did not answer in time".into(), false);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StoreError::Body)?;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            tokio::time::timeout(io, out.write_all(&chunk))
                .await
                .map_err(|_| timed_out("write"))?
                .map_err(|e| self.fail("write", path, e.to_string(), false))?;
            written += chunk.len() as u64;
        }
        tokio::time::timeout(io, out.shutdown())
            .await
            .map_err(|_| timed_out("write"))?
            .map_err(|e| self.fail("write", path, e.to_string(), false))?;
        drop(out);
        let mut fs = sftp.fs();
        // The digest goes to the sidecar before the file is published, bound to the file's
        // size and time (a rename keeps both), so a reader never gets a digest for other bytes.
        if let Some(sha256) = hasher.map(crate::digest::Hasher::finish_hex)
            && let Some(key) = crate::digest::sidecar_key(path)
        {
            let kept = tokio::time::timeout(self.timeouts.control, async {
                let m = fs.metadata(&temp).await?;
                let version = object_meta(&m).etag.unwrap_or_default();
                let text = crate::digest::Sidecar {
                    sha256,
                    size: written,
                    version,
                }
                .render();
                fs.write(self.sidecar_remote(&key), text.as_bytes()).await
            })
            .await;
            if !matches!(kept, Ok(Ok(()))) {
                tracing::warn!(path = %path, "artifact digest not kept: the sidecar could not be written");
            }
        }
        let renamed = tokio::time::timeout(self.timeouts.control, async {
            match fs.rename(&temp, &target).await {
                Ok(()) => Ok(()),
                // Servers without posix-rename refuse to replace: remove, then rename.
                Err(_) => {
                    let _ = fs.remove_file(&target).await;
                    fs.rename(&temp, &target).await
                }
            }
        })
        .await
        .map_err(|_| timed_out("publish"))?;
        renamed.map_err(|e| self.sftp_err("publish", path, e))?;
        guard.sftp = None;
        Ok(written)
    }

    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError> {
        let Some(m) = self.metadata(path).await? else {
            return Err(StoreError::NotFound(path.clone()));
        };
        if is_dir(&m) || path.is_root() {
            return Err(StoreError::IsDirectory(path.clone()));
        }
        let mut meta = object_meta(&m);
        if let Ok(Some(sidecar)) = self.read_sidecar(path).await
            && sidecar.describes(&meta)
        {
            meta.sha256 = Some(sidecar.sha256);
        }
        let wanted = opts
            .range
            .filter(|_| opts.if_range.as_ref().is_none_or(|c| c.matches(&meta)));
        let range = match wanted {
            Some(r) => Some(r.resolve(meta.size).map_err(StoreError::Range)?),
            None => None,
        };
        let remote = self.remote(path);
        let file = self
            .call("open", path, |sftp| {
                let remote = remote.clone();
                async move { sftp.open(&remote).await }
            })
            .await?;
        let mut file = Box::pin(TokioCompatFile::new(file));
        if let Some((start, _)) = range {
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(|e| self.fail("read", path, e.to_string(), false))?;
        }
        let len = range.map_or(meta.size, |(a, b)| b - a + 1);
        let body = ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(GetObject {
            meta,
            range,
            body: Box::pin(body),
        })
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError> {
        let remote = self.remote(dir);
        let entries = self
            .call("list", dir, |sftp| {
                let remote = remote.clone();
                async move {
                    let mut fs = sftp.fs();
                    let handle = match fs.open_dir(&remote).await {
                        Ok(d) => d,
                        Err(SftpError::SftpError(
                            SftpErrorKind::NoSuchFile
                            | SftpErrorKind::Failure
                            | SftpErrorKind::BadMessage,
                            _,
                        )) => return Ok(vec![]),
                        Err(e) => return Err(e),
                    };
                    let stream = handle.read_dir();
                    futures_util::pin_mut!(stream);
                    let mut out = Vec::new();
                    while let Some(entry) = stream.next().await {
                        let entry = entry?;
                        let Some(name) = entry.filename().to_str().map(str::to_owned) else {
                            continue;
                        };
                        let mut meta = entry.metadata();
                        if meta.file_type().is_some_and(|t| t.is_symlink()) {
                            match fs.metadata(format!("{remote}/{name}")).await {
                                Ok(m) => meta = m,
                                Err(_) => continue,
                            }
                        }
                        out.push((name, meta));
                    }
                    Ok(out)
                }
            })
            .await?;
        let mut files: Vec<FileInfo> = entries
            .into_iter()
            .filter(|(name, _)| {
                name != "."
                    && name != ".."
                    && !is_temp_name(name.as_bytes())
                    && ArtifactPath::parse(name).is_ok_and(|p| p.as_str() == name)
            })
            .filter_map(|(name, m)| {
                let ft = m.file_type()?;
                if ft.is_dir() {
                    Some(FileInfo {
                        path: name,
                        is_dir: true,
                        file_size: None,
                    })
                } else if ft.is_file() {
                    let size = m.len().unwrap_or(0);
                    Some(FileInfo {
                        path: name,
                        is_dir: false,
                        file_size: (size > 0).then_some(size),
                    })
                } else {
                    None
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError> {
        if path.is_root() {
            return Err(StoreError::RootTarget);
        }
        let remote = self.remote(path);
        let kind = self
            .call("delete", path, |sftp| {
                let remote = remote.clone();
                async move {
                    match sftp.fs().symlink_metadata(&remote).await {
                        Ok(m) => Ok(Some(is_dir(&m))),
                        Err(e) if is_missing(&e) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        match kind {
            None => Ok(()),
            Some(true) => self.remove_tree(&remote, path).await,
            Some(false) => {
                let sidecar = crate::digest::sidecar_key(path).map(|k| self.sidecar_remote(&k));
                self.call("delete", path, |sftp| {
                    let remote = remote.clone();
                    let sidecar = sidecar.clone();
                    async move {
                        let mut fs = sftp.fs();
                        match fs.remove_file(&remote).await {
                            Err(e) if is_missing(&e) => {}
                            other => other?,
                        }
                        if let Some(sidecar) = sidecar {
                            match fs.remove_file(&sidecar).await {
                                Err(e) if is_missing(&e) => {}
                                other => other?,
                            }
                        }
                        Ok(())
                    }
                })
                .await
            }
        }
    }

    async fn stored_digest(&self, path: &ArtifactPath) -> Result<Option<String>, StoreError> {
        Ok(self.read_sidecar(path).await?.map(|s| s.sha256))
    }

    async fn digest_index(&self, dir: &ArtifactPath) -> Result<Vec<ArtifactPath>, StoreError> {
        let remote = self.remote(dir);
        let names = self
            .call("list", dir, |sftp| {
                let remote = remote.clone();
                async move {
                    let handle = match sftp.fs().open_dir(&remote).await {
                        Ok(d) => d,
                        Err(e) if is_missing(&e) => return Ok(vec![]),
                        Err(e) => return Err(e),
                    };
                    let stream = handle.read_dir();
                    futures_util::pin_mut!(stream);
                    let mut out = Vec::new();
                    while let Some(entry) = stream.next().await {
                        if let Some(name) = entry?.filename().to_str() {
                            out.push(name.to_owned());
                        }
                    }
                    Ok(out)
                }
            })
            .await?;
        Ok(names
            .iter()
            .filter_map(|n| crate::digest::file_of_sidecar(dir, n))
            .collect())
    }

    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError> {
        Ok(self.metadata(path).await?.and_then(|m| {
            if is_dir(&m) {
                Some(Stat::Dir)
            } else if m.file_type().is_some_and(|t| t.is_file()) {
                Some(Stat::File(object_meta(&m)))
            } else {
                None
            }
        }))
    }

    async fn check(&self) -> Result<(), StoreError> {
        let root = ArtifactPath::root();
        self.create_dirs(&self.remote(&root), &root).await?;
        let probe = format!(
            "{}/{ALT_TEMP_PREFIX}check-{:016x}",
            self.remote(&root),
            fastrand::u64(..)
        );
        let same = self
            .call("write a probe file", &root, |sftp| {
                let probe = probe.clone();
                async move {
                    let mut fs = sftp.fs();
                    fs.write(&probe, b"rsflow").await?;
                    let back = fs.read(&probe).await;
                    fs.remove_file(&probe).await?;
                    Ok(&back?[..] == b"rsflow")
                }
            })
            .await?;
        if !same {
            return Err(self.fail(
                "read back a probe file",
                &root,
                "the server returned different bytes than were written".into(),
                false,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(uri: &str) -> Result<SftpStore, StoreError> {
        let loc = RemoteLocation::parse(uri).unwrap();
        SftpStore::new(
            &loc,
            &|k: &str| (k == "HOME").then(|| "/home/x".to_owned()),
            StorageTimeouts {
                control: Duration::from_secs(1),
                io: Duration::from_secs(1),
                connect: Duration::from_secs(1),
            },
        )
    }

    #[test]
    fn remote_paths_stay_under_the_directory() {
        let s = store("sftp://u@h:2222/srv/art/").unwrap();
        assert_eq!(s.remote(&ArtifactPath::root()), "/srv/art");
        assert_eq!(
            s.remote(&ArtifactPath::parse("1/r/a.txt").unwrap()),
            "/srv/art/1/r/a.txt"
        );
        let s = store("sftp://h").unwrap();
        assert_eq!(s.remote(&ArtifactPath::root()), "/");
        assert_eq!(s.remote(&ArtifactPath::parse("x").unwrap()), "/x");
    }

    #[test]
    fn passwords_are_kept_but_never_shown() {
        let s = store("sftp://u:s%40cret@h/srv").unwrap();
        assert_eq!(s.password.as_deref(), Some("s@cret"));
        assert_eq!(s.uri(), "sftp://u@h/srv");
        assert!(!format!("{s:?}").contains("cret"));
    }
}
