//! The middleware: who is calling (Basic credentials, or the trusted header from a trusted
//! proxy), whether the route's declared need is met, and the after-request work MLflow's
//! app does (creator grants, listing filters).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsflow_core::MlflowError;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::perm::{Perm, resolve};
use super::rules::{Action, Id, Ids, Listing, Need};
use super::{Auth, Caller, password};
use crate::error::{ApiError, json_body};
use crate::extract::{parse_json_body, query_to_map};
use crate::state::AppState;

const NOT_AUTHENTICATED: &str = "You are not authenticated. Please see \
     https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to \
     authenticate.";
const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

pub(crate) struct CachedLogin {
    caller: Caller,
    expires: Instant,
    generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ThrottleKey {
    User(String),
    Addr(IpAddr),
}

pub(crate) struct Failures {
    count: u32,
    since: Instant,
}

/// 401 with MLflow's text as a JSON error, and `WWW-Authenticate` so browsers ask.
fn unauthenticated() -> Response {
    let err = MlflowError::new(rsflow_core::ErrorCode::Unauthenticated, NOT_AUTHENTICATED);
    let mut resp = (StatusCode::UNAUTHORIZED, json_body(&err.to_json())).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mlflow\""),
    );
    resp
}

fn forbidden() -> Response {
    ApiError(MlflowError::permission_denied("Permission denied")).into_response()
}

fn throttled(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs().max(1);
    let err = MlflowError::new(
        rsflow_core::ErrorCode::ResourceExhausted,
        format!("Too many failed logins; retry in {secs} s."),
    );
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, json_body(&err.to_json())).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// The path the router matches, without the static prefix.
fn route_path<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(auth) = state.auth.clone() else {
        return next.run(req).await;
    };
    let path = route_path(req.uri().path(), &state.config.static_prefix).to_owned();
    let lookup = auth.rules.lookup(req.method(), &path);
    if let Some((Need::Public, _)) = lookup {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let caller = match authenticate(&auth, req.headers(), peer).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut req = req;
    req.extensions_mut().insert(caller.clone());
    let Some((need, path_params)) = lookup else {
        // Undeclared: admins only (MLflow's fail-closed net).
        return if caller.is_admin {
            next.run(req).await
        } else {
            forbidden()
        };
    };
    // The parameters, read as the handler's `Params` reads them.
    let (req, params) = match request_params(&state, req, need).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if !caller.is_admin {
        match allowed(
            &state,
            &auth,
            &caller,
            need,
            &path_params,
            &params,
            req.headers(),
        )
        .await
        {
            Ok(true) => {}
            Ok(false) => return forbidden(),
            Err(e) => return ApiError(e).into_response(),
        }
    }
    let method = req.method().clone();
    let resp = next.run(req).await;
    after(&state, &auth, &caller, &method, &path, need, &params, resp).await
}

async fn authenticate(
    auth: &Auth,
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Caller, Response> {
    if let (Some(name), Some(ip)) = (&auth.config.trusted_header, peer)
        && auth.trusted_peer(ip)
        && let Some(user) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
        && !user.is_empty()
    {
        return trusted_user(auth, user).await;
    }
    let Some((username, password)) = basic_credentials(headers) else {
        return Err(unauthenticated());
    };
    let key = cache_key(auth, &username, &password);
    let generation = auth.cred_generation.load(Ordering::SeqCst);
    if auth.config.cache_ttl > Duration::ZERO
        && let Some(hit) = auth.creds.lock().expect("cache lock").get(&key)
        && hit.generation == generation
        && hit.expires > Instant::now()
    {
        return Ok(hit.caller.clone());
    }
    // Throttling applies to logins that would need a hash check.
    let keys = [
        ThrottleKey::User(username.clone()),
        ThrottleKey::Addr(peer.unwrap_or(IpAddr::from([0, 0, 0, 0]))),
    ];
    if let Some(wait) = throttle_wait(auth, &keys) {
        return Err(throttled(wait));
    }
    let user = auth
        .store
        .get_user(&username)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => password::verify(&hash, &password),
        // The same work for an unknown name, so timing does not tell names apart.
        None => {
            password::verify(DUMMY_HASH, "x");
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        record_failure(auth, &keys);
        tracing::info!(peer = ?peer, "basic-auth login failed");
        return Err(unauthenticated());
    };
    let caller = Caller {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
    };
    if auth.config.cache_ttl > Duration::ZERO {
        let mut cache = auth.creds.lock().expect("cache lock");
        if cache.len() >= auth.config.cache_max_size {
            let now = Instant::now();
            cache.retain(|_, v| v.expires > now);
            if cache.len() >= auth.config.cache_max_size {
                cache.clear();
            }
        }
        cache.insert(
            key,
            CachedLogin {
                caller: caller.clone(),
                expires: Instant::now() + auth.config.cache_ttl,
                generation,
            },
        );
    }
    Ok(caller)
}

/// An scrypt hash of nothing in particular, checked for unknown user names.
const DUMMY_HASH: &str = "scrypt:32768:8:1$2aof9XFiM1YWx9Cl$6e2773a9e3b608a687a9bccf2243410ec0e6c4cf43f4cbe410fa2a2a7b85bff69bef2e9d348cd170322a2f09c2479c782ee027f6f7d3e78705492ac49833ca74";

async fn trusted_user(auth: &Auth, username: &str) -> Result<Caller, Response> {
    let user = match auth.store.get_user(username).await {
        Ok(Some(u)) => u,
        // A user the proxy vouches for is created on first sight, with no password (so it
        // cannot log in with Basic credentials) and no grants beyond the default.
        Ok(None) => match auth.store.create_user(username, "", false).await {
            Ok(u) => u,
            Err(_) => match auth.store.get_user(username).await {
                Ok(Some(u)) => u,
                _ => return Err(unauthenticated()),
            },
        },
        Err(e) => return Err(ApiError(e).into_response()),
    };
    Ok(Caller {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
    })
}

fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn cache_key(auth: &Auth, username: &str, password: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(&auth.cache_key).expect("any key length");
    mac.update(&(username.len() as u64).to_le_bytes());
    mac.update(username.as_bytes());
    mac.update(password.as_bytes());
    mac.finalize().into_bytes().into()
}

fn throttle_wait(auth: &Auth, keys: &[ThrottleKey]) -> Option<Duration> {
    let map = auth.failures.lock().expect("throttle lock");
    let now = Instant::now();
    keys.iter()
        .filter_map(|k| map.get(k).map(|f| (k, f)))
        .filter(|(k, f)| {
            f.count
                >= match k {
                    ThrottleKey::User(_) => auth.config.max_failures,
                    ThrottleKey::Addr(_) => auth.config.max_failures_per_address,
                }
        })
        .map(|(_, f)| f)
        .filter_map(|f| (f.since + auth.config.failure_window).checked_duration_since(now))
        .max()
}

fn record_failure(auth: &Auth, keys: &[ThrottleKey]) {
    let mut map = auth.failures.lock().expect("throttle lock");
    let now = Instant::now();
    let window = auth.config.failure_window;
    if map.len() > 100_000 {
        map.retain(|_, f| f.since + window > now);
    }
    for k in keys {
        let f = map.entry(k.clone()).or_insert(Failures {
            count: 0,
            since: now,
        });
        if f.since + window <= now {
            f.count = 0;
            f.since = now;
        }
        f.count += 1;
    }
}

/// Whether the need reads request parameters (and so the body).
fn reads_params(need: Need) -> bool {
    matches!(
        need,
        Need::Experiment(_, Id::Param(_) | Id::Pointer(_))
            | Need::ExperimentByName(_)
            | Need::ExperimentIds(..)
            | Need::Run(_)
            | Need::RunIds(_)
            | Need::Trace(_, Id::Param(_))
            | Need::TraceIds(_)
            | Need::Model(_)
            | Need::ArtifactProxy(_)
    )
}

/// The request's parameters as the handler's `Params` sees them: the query of a GET, else
/// the JSON body (taken and put back); a POST/PUT that is not JSON (the upload routes) by
/// its query.
async fn request_params(
    state: &AppState,
    req: Request,
    need: Need,
) -> Result<(Request, Map<String, Value>), Response> {
    if !reads_params(need) && !matches!(need, Need::Graphql) {
        return Ok((req, Map::new()));
    }
    let query = req.uri().query().unwrap_or_default().to_owned();
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    let method = req.method().clone();
    if (method == Method::GET && !query.is_empty())
        || ((method == Method::POST || method == Method::PUT) && !is_json)
        || matches!(need, Need::ArtifactProxy(_) | Need::Graphql)
    {
        return Ok((req, query_to_map(&query)));
    }
    let (parts, body) = req.into_parts();
    let limit = state.config.limits.max_json_body;
    let bytes: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Err(ApiError(MlflowError::payload_too_large(format!(
                "Request body larger than {limit} bytes."
            )))
            .into_response());
        }
    };
    let params = parse_json_body(&bytes).map_err(IntoResponse::into_response)?;
    Ok((Request::from_parts(parts, Body::from(bytes)), params))
}

fn param_str(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn param_list(params: &Map<String, Value>, name: &str) -> Vec<String> {
    match params.get(name) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn missing(name: &str) -> MlflowError {
    MlflowError::invalid_param(format!(
        "Missing value for required parameter '{name}'. See the API docs for more information \
         about request parameters."
    ))
}

fn path_param(path_params: &[(String, String)], name: &str) -> Option<String> {
    path_params.iter().find(|(k, _)| k == name).map(|(_, v)| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    })
}

fn id_value(
    id: Id,
    path_params: &[(String, String)],
    params: &Map<String, Value>,
    headers: &axum::http::HeaderMap,
) -> Result<String, MlflowError> {
    match id {
        Id::Param(n) => param_str(params, n).ok_or_else(|| missing(n)),
        Id::Path(n) => path_param(path_params, n).ok_or_else(|| missing(n)),
        Id::Header(n) => headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| missing(n)),
        Id::Pointer(p) => {
            let v = Value::Object(params.clone());
            match v.pointer(p) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(missing(p.rsplit('/').next().unwrap_or(p))),
            }
        }
    }
}

impl Auth {
    /// The user's grants in the default workspace, cached until a grant changes through this
    /// process and for at most `auth_cache_ttl_seconds`: another server on the same auth
    /// database (a replica, or `mlflow server`) changes grants behind this cache, and MLflow
    /// reads them on every request. A TTL of 0 reads them on every request too.
    async fn grants(
        &self,
        user_id: i64,
    ) -> rsflow_core::Result<Arc<Vec<rsflow_store::auth::GrantRow>>> {
        let generation = self.grant_generation.load(Ordering::SeqCst);
        let ttl = self.config.cache_ttl;
        if ttl > Duration::ZERO
            && let Some((g, expires, v)) = self.grants.lock().expect("cache lock").get(&user_id)
            && *g == generation
            && *expires > Instant::now()
        {
            return Ok(v.clone());
        }
        let rows = Arc::new(
            self.store
                .grants_for_user(user_id, rsflow_store::auth::DEFAULT_WORKSPACE)
                .await?,
        );
        if ttl > Duration::ZERO {
            let mut cache = self.grants.lock().expect("cache lock");
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(user_id, (generation, Instant::now() + ttl, rows.clone()));
        }
        Ok(rows)
    }

    pub(crate) async fn permission(
        &self,
        caller: &Caller,
        tier: Option<&str>,
        resource_type: &str,
        id: &str,
    ) -> rsflow_core::Result<Perm> {
        if caller.is_admin {
            return Ok(Perm::Manage);
        }
        let grants = self.grants(caller.id).await?;
        Ok(resolve(
            &grants,
            self.config.default_permission,
            tier,
            resource_type,
            id,
        ))
    }

    async fn can(
        &self,
        caller: &Caller,
        tier: Option<&str>,
        resource_type: &str,
        id: &str,
        action: Action,
    ) -> rsflow_core::Result<bool> {
        Ok(self
            .permission(caller, tier, resource_type, id)
            .await?
            .allows(action))
    }

    async fn run_experiment(&self, state: &AppState, run_id: &str) -> rsflow_core::Result<String> {
        if let Some(e) = self.run_experiments.lock().expect("cache lock").get(run_id) {
            return Ok(e.clone());
        }
        let run = state.tracking.get_run(run_id).await?;
        let exp = run.info.experiment_id;
        let mut cache = self.run_experiments.lock().expect("cache lock");
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(run_id.to_owned(), exp.clone());
        Ok(exp)
    }
}

/// Registered model or prompt: the resource type its tags say.
async fn model_type(state: &AppState, name: &str) -> rsflow_core::Result<&'static str> {
    let model = state.registry.get_registered_model(name).await?;
    Ok(
        if model
            .tags
            .iter()
            .any(|t| t.key == PROMPT_TAG && t.value.eq_ignore_ascii_case("true"))
        {
            "prompt"
        } else {
            "registered_model"
        },
    )
}

/// The experiment a proxied artifact path belongs to (`[workspaces/<ws>/]<id>/...`).
fn proxy_experiment(path: &str) -> Option<String> {
    let path = path.trim_start_matches('/');
    let rest = match path.strip_prefix("workspaces/") {
        Some(r) => r.split_once('/')?.1,
        None => path,
    };
    let (first, _) = rest.split_once('/')?;
    (!first.is_empty() && first.bytes().all(|b| b.is_ascii_digit())).then(|| first.to_owned())
}

#[allow(clippy::too_many_arguments)]
async fn allowed(
    state: &AppState,
    auth: &Auth,
    caller: &Caller,
    need: Need,
    path_params: &[(String, String)],
    params: &Map<String, Value>,
    headers: &axum::http::HeaderMap,
) -> rsflow_core::Result<bool> {
    match need {
        Need::Public | Need::Authenticated | Need::Handler | Need::Graphql | Need::Filtered(_) => {
            Ok(true)
        }
        Need::Admin => Ok(false),
        Need::Experiment(action, id) => {
            let exp = id_value(id, path_params, params, headers)?;
            auth.can(caller, None, "experiment", &exp, action).await
        }
        Need::ExperimentByName(action) => {
            let name =
                param_str(params, "experiment_name").ok_or_else(|| missing("experiment_name"))?;
            match state.tracking.get_experiment_by_name(&name).await? {
                Some(e) => {
                    auth.can(caller, None, "experiment", &e.experiment_id, action)
                        .await
                }
                None => Ok(true),
            }
        }
        Need::ExperimentIds(action, ids) => {
            let list = match ids {
                Ids::Param(n) => param_list(params, n),
                Ids::TraceLocations => match params.get("locations") {
                    Some(Value::Array(locs)) => locs
                        .iter()
                        .filter_map(|l| {
                            l.pointer("/mlflow_experiment/experiment_id")
                                .and_then(|v| v.as_str().map(str::to_owned))
                        })
                        .collect(),
                    _ => Vec::new(),
                },
            };
            if list.is_empty() {
                return Ok(false);
            }
            for exp in list {
                if !auth.can(caller, None, "experiment", &exp, action).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Need::Run(action) => {
            let run_id = param_str(params, "run_id")
                .or_else(|| param_str(params, "run_uuid"))
                .ok_or_else(|| missing("run_id"))?;
            let exp = auth.run_experiment(state, &run_id).await?;
            auth.can(caller, Some("run"), "experiment", &exp, action)
                .await
        }
        Need::RunIds(action) => {
            let mut ids = param_list(params, "run_ids");
            if ids.is_empty() {
                ids = param_list(params, "run_id");
            }
            for run_id in ids {
                let exp = auth.run_experiment(state, &run_id).await?;
                if !auth
                    .can(caller, Some("run"), "experiment", &exp, action)
                    .await?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Need::Trace(action, id) => {
            let trace_id = id_value(id, path_params, params, headers)
                .or_else(|_| id_value(Id::Param("trace_id"), path_params, params, headers))?;
            let info = state.traces.get_trace_info(&trace_id).await?;
            auth.can(
                caller,
                Some("trace"),
                "experiment",
                &info.experiment_id,
                action,
            )
            .await
        }
        Need::TraceIds(action) => {
            for trace_id in param_list(params, "trace_ids") {
                let Ok(info) = state.traces.get_trace_info(&trace_id).await else {
                    return Ok(false);
                };
                if !auth
                    .can(
                        caller,
                        Some("trace"),
                        "experiment",
                        &info.experiment_id,
                        action,
                    )
                    .await?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Need::LoggedModel(action) => {
            let id = path_param(path_params, "model_id").ok_or_else(|| missing("model_id"))?;
            let model = state.logged_models.get_logged_model(&id, true).await?;
            auth.can(
                caller,
                Some("logged_model"),
                "experiment",
                &model.info.experiment_id,
                action,
            )
            .await
        }
        Need::Model(action) => {
            let name = param_str(params, "name").ok_or_else(|| missing("name"))?;
            let ty = model_type(state, &name).await?;
            auth.can(caller, None, ty, &name, action).await
        }
        Need::ArtifactProxy(action) => {
            let path = path_param(path_params, "artifact_path")
                .or_else(|| param_str(params, "path"))
                .unwrap_or_default();
            match proxy_experiment(&path) {
                Some(exp) => auth.can(caller, None, "experiment", &exp, action).await,
                None => Ok(auth.config.default_permission.allows(action)),
            }
        }
    }
}

/// What MLflow's after-request handlers do: MANAGE for the creator of an experiment,
/// registered model or prompt; grants swept or moved on delete and rename; listings
/// filtered to what the caller may read.
#[allow(clippy::too_many_arguments)]
async fn after(
    state: &AppState,
    auth: &Auth,
    caller: &Caller,
    method: &Method,
    path: &str,
    need: Need,
    params: &Map<String, Value>,
    resp: Response,
) -> Response {
    let _ = state;
    if !resp.status().is_success() {
        return resp;
    }
    let tail = path
        .trim_start_matches("/ajax-api")
        .trim_start_matches("/api");
    let tail = tail.split_once("/mlflow/").map_or("", |(_, t)| t);
    let creates = *method == Method::POST
        && matches!(tail, "experiments/create" | "registered-models/create");
    let sweeps = matches!(
        tail,
        "registered-models/delete" | "registered-models/rename"
    );
    let filters = matches!(need, Need::Filtered(_)) && !caller.is_admin;
    if !creates && !sweeps && !filters {
        return resp;
    }
    if sweeps {
        if let Some(name) = param_str(params, "name") {
            let result = if tail == "registered-models/delete" {
                for ty in ["registered_model", "prompt"] {
                    let _ = auth.store.delete_grants_for_resource(ty, &name).await;
                }
                Ok(())
            } else if let Some(new) = param_str(params, "new_name") {
                let mut r = Ok(());
                for ty in ["registered_model", "prompt"] {
                    r = r.and(auth.store.rename_grants(ty, &name, &new).await);
                }
                r
            } else {
                Ok(())
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not update grants after a registry change");
            }
            auth.grants_changed();
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if creates {
        let grant = if tail == "experiments/create" {
            json.get("experiment_id")
                .and_then(Value::as_str)
                .map(|id| ("experiment", id.to_owned()))
        } else {
            json.pointer("/registered_model").map(|m| {
                let prompt = m["tags"].as_array().is_some_and(|tags| {
                    tags.iter().any(|t| {
                        t["key"] == PROMPT_TAG
                            && t["value"]
                                .as_str()
                                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    })
                });
                (
                    if prompt { "prompt" } else { "registered_model" },
                    m["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
        };
        if let Some((ty, id)) = grant {
            if let Err(e) = auth
                .store
                .grant_user_permission(caller.id, ty, &id, "MANAGE")
                .await
            {
                tracing::warn!(error = %e, "could not grant MANAGE to the creator");
            }
            auth.grants_changed();
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Need::Filtered(listing) = need else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let (field, keep_key) = match listing {
        Listing::Experiments => ("experiments", "experiment_id"),
        Listing::RegisteredModels => ("registered_models", "name"),
        Listing::ModelVersions => ("model_versions", "name"),
    };
    if let Some(Value::Array(rows)) = json.get_mut(field) {
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows.drain(..) {
            let id = row[keep_key].as_str().unwrap_or_default().to_owned();
            let ok = match listing {
                Listing::Experiments => {
                    auth.can(caller, None, "experiment", &id, Action::Read)
                        .await
                }
                _ => {
                    let ty = model_type(state, &id).await.unwrap_or("registered_model");
                    auth.can(caller, None, ty, &id, Action::Read).await
                }
            };
            if ok.unwrap_or(false) {
                kept.push(row);
            }
        }
        *rows = kept;
    }
    let mut resp = json_body(&json);
    *resp.status_mut() = parts.status;
    resp
}

/// GraphQL root fields are checked as their REST routes are: `mlflowGetExperiment` needs read
/// on the experiment, `mlflowGetRun`/`mlflowListArtifacts` on the run's, the bulk metric
/// field on every run's, the searches on every listed experiment. A denied field resolves to
/// null, as in MLflow's Graphene middleware.
pub(crate) async fn graphql_field_allowed(
    state: &AppState,
    caller: Option<&Caller>,
    field: &str,
    params: &Map<String, Value>,
) -> bool {
    let (Some(auth), Some(caller)) = (state.auth.as_ref(), caller) else {
        return state.auth.is_none();
    };
    if caller.is_admin {
        return true;
    }
    let read = Action::Read;
    let need = match field {
        "mlflowGetExperiment" => Need::Experiment(read, Id::Param("experiment_id")),
        "mlflowGetRun" | "mlflowListArtifacts" => Need::Run(read),
        "mlflowGetMetricHistoryBulkInterval" => Need::RunIds(read),
        "mlflowSearchRuns" | "mlflowSearchDatasets" => {
            Need::ExperimentIds(read, Ids::Param("experiment_ids"))
        }
        "mlflowSearchModelVersions" => Need::Admin,
        "test" | "testMutation" | "__typename" => return true,
        _ => return false,
    };
    let headers = axum::http::HeaderMap::new();
    allowed(state, auth, caller, need, &[], params, &headers)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsflow_store::{AuthStore, SqlAuthStore};

    /// A grant changed behind the cache (by another server on the same auth database) is seen
    /// once the TTL has passed, and at once with a TTL of 0 (MLflow reads grants per request).
    #[tokio::test]
    async fn grants_changed_elsewhere_are_seen_after_the_ttl() {
        for ttl in [Duration::ZERO, Duration::from_millis(300)] {
            let store = Arc::new(SqlAuthStore::open("sqlite:///:memory:").await.unwrap());
            let user = store.create_user("u", "h", false).await.unwrap();
            let auth = Auth::new(
                store.clone(),
                crate::auth::AuthConfig {
                    cache_ttl: ttl,
                    ..Default::default()
                },
            );
            let caller = Caller {
                id: user.id,
                username: "u".into(),
                is_admin: false,
            };
            let perm = || auth.permission(&caller, None, "experiment", "1");
            assert_eq!(perm().await.unwrap(), Perm::Read, "the default");
            store
                .grant_user_permission(user.id, "experiment", "1", "DENY")
                .await
                .unwrap();
            if ttl > Duration::ZERO {
                assert_eq!(perm().await.unwrap(), Perm::Read, "cached");
                tokio::time::sleep(ttl + Duration::from_millis(50)).await;
            }
            assert_eq!(perm().await.unwrap(), Perm::Deny, "ttl {ttl:?}");
        }
    }
}
