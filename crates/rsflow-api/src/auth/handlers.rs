//! The auth app's users, roles and permissions endpoints (mlflow-genai §8), under `/api` and
//! `/ajax-api`. Answers are plain JSON as MLflow's; who may call is checked here (self, admin,
//! MANAGE on the resource), the route table marks them `Handler` or `Admin`.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use rsflow_core::MlflowError;
use rsflow_store::auth::{RolePermissionRow, RoleRow, UserRow};
use serde_json::{Value, json};

use super::perm::{ID_TYPES, Perm, TIER_TYPES};
use super::rules::Action;
use super::{Caller, password};
use crate::error::{ApiError, ApiResult, json_body};
use crate::extract::Params;
use crate::state::AppState;

type Me = Option<Extension<Caller>>;

/// Routes under `/api/2.0` and `/ajax-api/2.0`.
pub fn v2_routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/users/create", post(create_user))
        .route("/mlflow/users/get", get(get_user))
        .route("/mlflow/users/current", get(current_user))
        .route("/mlflow/users/list", get(list_users))
        .route("/mlflow/users/update-password", patch(update_password))
        .route("/mlflow/users/update-admin", patch(update_admin))
        .route("/mlflow/users/delete", delete(delete_user))
}

/// Routes under `/api/3.0` and `/ajax-api/3.0`.
pub fn v3_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/mlflow/users/current/permissions",
            get(current_permissions),
        )
        .route("/mlflow/users/permissions/list", get(list_permissions))
        .route("/mlflow/users/permissions/get", get(get_permission))
        .route("/mlflow/users/permissions/grant", post(grant))
        .route("/mlflow/users/permissions/revoke", post(revoke))
        .route("/mlflow/users/roles/list", get(user_roles))
        .route("/mlflow/roles/create", post(create_role))
        .route("/mlflow/roles/get", get(get_role))
        .route("/mlflow/roles/list", get(list_roles))
        .route("/mlflow/roles/update", patch(update_role))
        .route("/mlflow/roles/delete", delete(delete_role))
        .route("/mlflow/roles/permissions/add", post(add_role_permission))
        .route(
            "/mlflow/roles/permissions/remove",
            delete(remove_role_permission),
        )
        .route("/mlflow/roles/permissions/list", get(list_role_permissions))
        .route(
            "/mlflow/roles/permissions/update",
            patch(update_role_permission),
        )
        .route("/mlflow/roles/assign", post(assign_role))
        .route("/mlflow/roles/unassign", delete(unassign_role))
        .route("/mlflow/roles/users/list", get(role_users))
}

fn auth(state: &AppState) -> ApiResult<&super::Auth> {
    state
        .auth
        .as_deref()
        .ok_or_else(|| ApiError(MlflowError::not_found("The basic-auth app is not enabled.")))
}

fn me(caller: Me) -> ApiResult<Caller> {
    caller
        .map(|Extension(c)| c)
        .ok_or_else(|| ApiError(MlflowError::permission_denied("Permission denied")))
}

fn denied() -> ApiError {
    ApiError(MlflowError::permission_denied("Permission denied"))
}

fn s(p: &Params, name: &str) -> ApiResult<String> {
    match p.0.get(name) {
        Some(Value::String(v)) => Ok(v.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ApiError(MlflowError::invalid_param(format!(
            "Missing value for required parameter '{name}'. See the API docs for more \
             information about request parameters."
        )))),
    }
}

fn int(p: &Params, name: &str) -> ApiResult<i64> {
    let raw = s(p, name)?;
    raw.trim().parse().map_err(|_| {
        ApiError(MlflowError::invalid_param(format!(
            "Parameter '{name}' must be an integer. Got: '{raw}'"
        )))
    })
}

fn user_json(u: &UserRow) -> Value {
    json!({ "id": u.id, "username": u.username, "is_admin": u.is_admin })
}

fn perm_json(p: &RolePermissionRow) -> Value {
    json!({ "id": p.id, "role_id": p.role_id, "resource_type": p.resource_type,
            "resource_pattern": p.resource_pattern, "permission": p.permission })
}

fn role_json(r: &RoleRow) -> Value {
    json!({ "id": r.id, "name": r.name, "workspace": r.workspace, "description": r.description,
            "permissions": r.permissions.iter().map(perm_json).collect::<Vec<_>>() })
}

async fn user_by_name(state: &AppState, name: &str) -> ApiResult<UserRow> {
    auth(state)?.store.get_user(name).await?.ok_or_else(|| {
        ApiError(MlflowError::not_found(format!(
            "User with username={name} not found"
        )))
    })
}

fn check_password(p: &str) -> ApiResult<()> {
    if p.chars().count() < 12 {
        return Err(ApiError(MlflowError::invalid_param(
            "Password must be at least 12 characters.",
        )));
    }
    Ok(())
}

async fn create_user(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let username = s(&p, "username")?;
    let pw = s(&p, "password")?;
    if username.is_empty() {
        return Err(ApiError(MlflowError::invalid_param(
            "Username cannot be empty.",
        )));
    }
    check_password(&pw)?;
    let hash = tokio::task::spawn_blocking(move || password::generate(&pw))
        .await
        .map_err(|e| ApiError(MlflowError::internal(e.to_string())))?;
    let user = a.store.create_user(&username, &hash, false).await?;
    Ok(json_body(&json!({ "user": user_json(&user) })))
}

async fn get_user(State(state): State<AppState>, caller: Me, p: Params) -> ApiResult<Response> {
    let c = me(caller)?;
    let name = s(&p, "username")?;
    if !c.is_admin && c.username != name {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    Ok(json_body(&json!({ "user": user_json(&user) })))
}

async fn current_user(State(state): State<AppState>, caller: Me) -> ApiResult<Response> {
    let c = me(caller)?;
    let user = user_by_name(&state, &c.username).await?;
    Ok(json_body(
        &json!({ "user": user_json(&user), "is_basic_auth": true }),
    ))
}

async fn list_users(State(state): State<AppState>) -> ApiResult<Response> {
    let a = auth(&state)?;
    let mut out = Vec::new();
    for u in a.store.list_users().await? {
        let roles = a.store.list_user_roles(u.id).await?;
        let mut j = user_json(&u);
        j["roles"] = Value::Array(roles.iter().map(role_json).collect());
        out.push(j);
    }
    Ok(json_body(&json!({ "users": out })))
}

async fn update_password(
    State(state): State<AppState>,
    caller: Me,
    p: Params,
) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let name = s(&p, "username")?;
    let pw = s(&p, "password")?;
    if !c.is_admin && c.username != name {
        return Err(denied());
    }
    check_password(&pw)?;
    let user = user_by_name(&state, &name).await?;
    if !c.is_admin || c.username == name {
        // Changing one's own password needs the current one, as in MLflow.
        let current = s(&p, "current_password")?;
        let stored = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || password::verify(&stored, &current))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(ApiError(MlflowError::invalid_param(
                "Current password is incorrect.",
            )));
        }
    }
    let hash = tokio::task::spawn_blocking(move || password::generate(&pw))
        .await
        .map_err(|e| ApiError(MlflowError::internal(e.to_string())))?;
    a.store.update_password(&name, &hash).await?;
    a.logins_changed();
    Ok(json_body(&json!({})))
}

async fn update_admin(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let name = s(&p, "username")?;
    let is_admin = match p.0.get("is_admin") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) => v.eq_ignore_ascii_case("true"),
        _ => {
            return Err(ApiError(MlflowError::invalid_param(
                "Missing value for required parameter 'is_admin'.",
            )));
        }
    };
    a.store.update_admin(&name, is_admin).await?;
    a.logins_changed();
    Ok(json_body(&json!({})))
}

async fn delete_user(State(state): State<AppState>, caller: Me, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let name = s(&p, "username")?;
    if c.username == name {
        return Err(ApiError(MlflowError::invalid_param(
            "You cannot delete your own account.",
        )));
    }
    a.store.delete_user(&name).await?;
    a.logins_changed();
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn permissions_of(state: &AppState, user: &UserRow) -> ApiResult<Response> {
    let a = auth(state)?;
    let grants = a
        .store
        .grants_for_user(user.id, rsflow_store::auth::DEFAULT_WORKSPACE)
        .await?;
    let list: Vec<Value> = grants
        .iter()
        .map(|g| {
            json!({ "role_id": g.role_id, "role_name": g.role_name, "workspace": g.workspace,
                         "resource_type": g.resource_type, "resource_pattern": g.resource_pattern,
                         "permission": g.permission })
        })
        .collect();
    Ok(json_body(
        &json!({ "is_admin": user.is_admin, "permissions": list }),
    ))
}

async fn current_permissions(State(state): State<AppState>, caller: Me) -> ApiResult<Response> {
    let c = me(caller)?;
    let user = user_by_name(&state, &c.username).await?;
    permissions_of(&state, &user).await
}

async fn list_permissions(
    State(state): State<AppState>,
    caller: Me,
    p: Params,
) -> ApiResult<Response> {
    let c = me(caller)?;
    let name = s(&p, "username")?;
    if !c.is_admin && c.username != name {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    permissions_of(&state, &user).await
}

fn check_grant(resource_type: &str, resource_id: &str, permission: &str) -> ApiResult<()> {
    if !ID_TYPES.contains(&resource_type) && !TIER_TYPES.contains(&resource_type) {
        let mut all: Vec<&str> = ID_TYPES.iter().chain(TIER_TYPES).copied().collect();
        all.sort_unstable();
        return Err(ApiError(MlflowError::invalid_param(format!(
            "Invalid resource type '{resource_type}'. Valid resource types are: ({})",
            all.iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))));
    }
    if Perm::parse(permission).is_none() {
        return Err(ApiError(MlflowError::invalid_param(format!(
            "Invalid permission '{permission}'. Valid permissions are: ('READ', 'USE', 'EDIT', \
             'MANAGE', 'NO_PERMISSIONS', 'DENY')"
        ))));
    }
    if resource_type == "workspace" {
        if !matches!(permission, "USE" | "MANAGE") {
            return Err(ApiError(MlflowError::invalid_param(format!(
                "Invalid permission '{permission}' for resource_type='workspace'. Workspace-wide \
                 grants accept only: ('MANAGE', 'USE')."
            ))));
        }
    } else if permission == "NO_PERMISSIONS" {
        return Err(ApiError(MlflowError::invalid_param(format!(
            "Invalid permission '{permission}' for resource_type='{resource_type}'. \
             Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE')."
        ))));
    }
    if resource_id != "*" && TIER_TYPES.contains(&resource_type) {
        return Err(ApiError(MlflowError::invalid_param(format!(
            "Invalid resource_pattern '{resource_id}' for resource_type='{resource_type}'. This \
             resource type supports only wildcard ('*') grants."
        ))));
    }
    Ok(())
}

/// MANAGE on the resource (admins always; `*` needs an admin).
async fn may_manage(
    state: &AppState,
    c: &Caller,
    resource_type: &str,
    id: &str,
) -> ApiResult<bool> {
    if c.is_admin {
        return Ok(true);
    }
    if id == "*" || TIER_TYPES.contains(&resource_type) {
        return Ok(false);
    }
    Ok(auth(state)?
        .permission(c, None, resource_type, id)
        .await?
        .allows(Action::Manage))
}

async fn grant(State(state): State<AppState>, caller: Me, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let (name, ty, id, perm) = (
        s(&p, "username")?,
        s(&p, "resource_type")?,
        s(&p, "resource_id")?,
        s(&p, "permission")?,
    );
    check_grant(&ty, &id, &perm)?;
    if !may_manage(&state, &c, &ty, &id).await? {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    // MLflow's grant only inserts (`grant_user_resource_permission`): a grant the user already
    // holds on the resource is RESOURCE_ALREADY_EXISTS; revoke it first to change it.
    let own_role = rsflow_store::auth::user_role_name(user.id);
    let held = a
        .store
        .grants_for_user(user.id, rsflow_store::auth::DEFAULT_WORKSPACE)
        .await?;
    if held
        .iter()
        .any(|g| g.role_name == own_role && g.resource_type == ty && g.resource_pattern == id)
    {
        return Err(ApiError(MlflowError::already_exists(format!(
            "Permission for user={name} on resource_type={ty}, resource_id={id} already exists."
        ))));
    }
    a.store
        .grant_user_permission(user.id, &ty, &id, &perm)
        .await?;
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn revoke(State(state): State<AppState>, caller: Me, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let (name, ty, id) = (
        s(&p, "username")?,
        s(&p, "resource_type")?,
        s(&p, "resource_id")?,
    );
    if !may_manage(&state, &c, &ty, &id).await? {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    if !a.store.revoke_user_permission(user.id, &ty, &id).await? {
        return Err(ApiError(MlflowError::not_found(format!(
            "Permission for user={name} on resource_type={ty}, resource_id={id} not found."
        ))));
    }
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn get_permission(
    State(state): State<AppState>,
    caller: Me,
    p: Params,
) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let (name, ty, id) = (
        s(&p, "username")?,
        s(&p, "resource_type")?,
        s(&p, "resource_id")?,
    );
    if !c.is_admin && c.username != name {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    let target = super::Caller {
        id: user.id,
        username: user.username.clone(),
        is_admin: user.is_admin,
    };
    let tier = TIER_TYPES.contains(&ty.as_str()).then_some(ty.as_str());
    let perm = a.permission(&target, tier, &ty, &id).await?;
    Ok(json_body(
        &json!({ "allowed": perm.allows(Action::Read), "permission": perm.name() }),
    ))
}

async fn user_roles(State(state): State<AppState>, caller: Me, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let c = me(caller)?;
    let name = s(&p, "username")?;
    if !c.is_admin && c.username != name {
        return Err(denied());
    }
    let user = user_by_name(&state, &name).await?;
    let roles = a.store.list_user_roles(user.id).await?;
    Ok(json_body(
        &json!({ "roles": roles.iter().map(role_json).collect::<Vec<_>>() }),
    ))
}

async fn role(state: &AppState, id: i64) -> ApiResult<RoleRow> {
    auth(state)?.store.get_role(id).await?.ok_or_else(|| {
        ApiError(MlflowError::not_found(format!(
            "Role with id={id} not found"
        )))
    })
}

async fn create_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let name = s(&p, "name")?;
    let ws = s(&p, "workspace").unwrap_or_else(|_| "default".into());
    let desc = s(&p, "description").ok();
    let r = a.store.create_role(&name, &ws, desc.as_deref()).await?;
    Ok(json_body(&json!({ "role": role_json(&r) })))
}

async fn get_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let r = role(&state, int(&p, "role_id")?).await?;
    Ok(json_body(&json!({ "role": role_json(&r) })))
}

async fn list_roles(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let ws = s(&p, "workspace").ok();
    let roles = auth(&state)?.store.list_roles(ws.as_deref()).await?;
    Ok(json_body(
        &json!({ "roles": roles.iter().map(role_json).collect::<Vec<_>>() }),
    ))
}

async fn update_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let id = int(&p, "role_id")?;
    role(&state, id).await?;
    a.store
        .update_role(
            id,
            s(&p, "name").ok().as_deref(),
            s(&p, "description").ok().as_deref(),
        )
        .await?;
    let r = role(&state, id).await?;
    Ok(json_body(&json!({ "role": role_json(&r) })))
}

async fn delete_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let id = int(&p, "role_id")?;
    role(&state, id).await?;
    a.store.delete_role(id).await?;
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn add_role_permission(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let id = int(&p, "role_id")?;
    let (ty, pattern, perm) = (
        s(&p, "resource_type")?,
        s(&p, "resource_pattern")?,
        s(&p, "permission")?,
    );
    check_grant(&ty, &pattern, &perm)?;
    role(&state, id).await?;
    let rp = a
        .store
        .add_role_permission(id, &ty, &pattern, &perm)
        .await?;
    a.grants_changed();
    Ok(json_body(&json!({ "role_permission": perm_json(&rp) })))
}

async fn remove_role_permission(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let id = int(&p, "role_permission_id")?;
    a.store.remove_role_permission(id).await?;
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn list_role_permissions(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let r = role(&state, int(&p, "role_id")?).await?;
    Ok(json_body(
        &json!({ "role_permissions": r.permissions.iter().map(perm_json).collect::<Vec<_>>() }),
    ))
}

async fn update_role_permission(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let id = int(&p, "role_permission_id")?;
    let perm = s(&p, "permission")?;
    let Some(existing) = a.store.get_role_permission(id).await? else {
        return Err(ApiError(MlflowError::not_found(format!(
            "Role permission with id={id} not found"
        ))));
    };
    check_grant(&existing.resource_type, &existing.resource_pattern, &perm)?;
    a.store.update_role_permission(id, &perm).await?;
    a.grants_changed();
    let rp = a.store.get_role_permission(id).await?.unwrap_or(existing);
    Ok(json_body(&json!({ "role_permission": perm_json(&rp) })))
}

async fn assign_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let user = user_by_name(&state, &s(&p, "username")?).await?;
    let id = int(&p, "role_id")?;
    role(&state, id).await?;
    let assignment = a.store.assign_role(user.id, id).await?;
    a.grants_changed();
    Ok(json_body(
        &json!({ "assignment": { "id": assignment, "user_id": user.id, "role_id": id } }),
    ))
}

async fn unassign_role(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let a = auth(&state)?;
    let user = user_by_name(&state, &s(&p, "username")?).await?;
    a.store.unassign_role(user.id, int(&p, "role_id")?).await?;
    a.grants_changed();
    Ok(json_body(&json!({})))
}

async fn role_users(State(state): State<AppState>, p: Params) -> ApiResult<Response> {
    let rows = auth(&state)?
        .store
        .list_role_users(int(&p, "role_id")?)
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|(id, user_id, role_id)| json!({ "id": id, "user_id": user_id, "role_id": role_id }))
        .collect();
    Ok(json_body(&json!({ "assignments": list })))
}
