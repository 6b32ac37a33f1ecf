//! The basic-auth app's store: users, roles, role permissions and assignments, in MLflow's
//! own auth schema (its Alembic table `alembic_version_auth`, head [`AUTH_ALEMBIC_HEAD`]), so
//! that a `basic_auth.db` written by `mlflow server --app-name basic-auth` keeps working with
//! rsflow and the other way round (mlflow-genai §8).

use async_trait::async_trait;
use rsflow_core::Result;

/// MLflow 3.17.2's auth migrations head (`f1a2b3c4d5e6_promote_prompt_resource_type`).
pub const AUTH_ALEMBIC_HEAD: &str = "f1a2b3c4d5e6";
/// Grants live in the `default` workspace when workspaces are off, as in MLflow.
pub const DEFAULT_WORKSPACE: &str = "default";

/// A row of `users`. `Debug` leaves the hash out, so no log line can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// A row of `role_permissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermissionRow {
    pub id: i64,
    pub role_id: i64,
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: String,
}

/// A row of `roles` with its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub id: i64,
    pub name: String,
    pub workspace: String,
    pub description: Option<String>,
    pub permissions: Vec<RolePermissionRow>,
}

/// One permission a user holds through a role (MLflow's `RoleGrantRow` plus the role's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub role_id: i64,
    pub role_name: String,
    pub workspace: String,
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: String,
}

/// The name of the synthetic role that holds a user's own grants (MLflow's `__user_<id>__`).
pub fn user_role_name(user_id: i64) -> String {
    format!("__user_{user_id}__")
}

/// What the auth layer needs from the auth database.
#[async_trait]
pub trait AuthStore: Send + Sync {
    async fn get_user(&self, username: &str) -> Result<Option<UserRow>>;
    async fn get_user_by_id(&self, id: i64) -> Result<Option<UserRow>>;
    async fn list_users(&self) -> Result<Vec<UserRow>>;
    /// `RESOURCE_ALREADY_EXISTS` when the name is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<UserRow>;
    async fn update_password(&self, username: &str, password_hash: &str) -> Result<()>;
    async fn update_admin(&self, username: &str, is_admin: bool) -> Result<()>;
    /// Deletes the user, its assignments, its synthetic role and its legacy permission rows.
    async fn delete_user(&self, username: &str) -> Result<()>;
    /// Every grant the user holds in `workspace` (through any assigned role).
    async fn grants_for_user(&self, user_id: i64, workspace: &str) -> Result<Vec<GrantRow>>;
    /// Upserts a grant in the user's synthetic role (created on first use).
    async fn grant_user_permission(
        &self,
        user_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: &str,
    ) -> Result<()>;
    /// Removes a grant from the user's synthetic role; `false` when there was none.
    async fn revoke_user_permission(
        &self,
        user_id: i64,
        resource_type: &str,
        resource_pattern: &str,
    ) -> Result<bool>;
    /// Drops every grant on one resource (a deleted registered model's name can be reused).
    async fn delete_grants_for_resource(&self, resource_type: &str, pattern: &str) -> Result<()>;
    /// Moves grants from one resource id to another (a renamed registered model).
    async fn rename_grants(&self, resource_type: &str, from: &str, to: &str) -> Result<()>;

    async fn create_role(
        &self,
        name: &str,
        workspace: &str,
        description: Option<&str>,
    ) -> Result<RoleRow>;
    async fn get_role(&self, role_id: i64) -> Result<Option<RoleRow>>;
    /// Roles of a workspace (all workspaces for `None`), synthetic user roles excluded.
    async fn list_roles(&self, workspace: Option<&str>) -> Result<Vec<RoleRow>>;
    async fn update_role(
        &self,
        role_id: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()>;
    async fn delete_role(&self, role_id: i64) -> Result<()>;
    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: &str,
    ) -> Result<RolePermissionRow>;
    async fn get_role_permission(&self, id: i64) -> Result<Option<RolePermissionRow>>;
    async fn remove_role_permission(&self, id: i64) -> Result<()>;
    async fn update_role_permission(&self, id: i64, permission: &str) -> Result<()>;
    /// The new assignment's id.
    async fn assign_role(&self, user_id: i64, role_id: i64) -> Result<i64>;
    async fn unassign_role(&self, user_id: i64, role_id: i64) -> Result<()>;
    /// Roles assigned to a user (synthetic ones included).
    async fn list_user_roles(&self, user_id: i64) -> Result<Vec<RoleRow>>;
    /// The role's assignments: (assignment id, user id, role id).
    async fn list_role_users(&self, role_id: i64) -> Result<Vec<(i64, i64, i64)>>;
}
