//! MLflow 3.17.2's permission levels (`permissions.py`) and how a user's grants resolve
//! (`requirements.py`: `fold_grants_for_key`, `floor_positive_permission`, tier rungs).

use rsflow_store::auth::GrantRow;

use super::rules::Action;

/// A permission level, in priority order (DENY -1 .. MANAGE 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Perm {
    Deny,
    NoPermissions,
    Read,
    Use,
    Edit,
    Manage,
}

impl Perm {
    pub fn parse(name: &str) -> Option<Perm> {
        Some(match name {
            "DENY" => Perm::Deny,
            "NO_PERMISSIONS" => Perm::NoPermissions,
            "READ" => Perm::Read,
            "USE" => Perm::Use,
            "EDIT" => Perm::Edit,
            "MANAGE" => Perm::Manage,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Perm::Deny => "DENY",
            Perm::NoPermissions => "NO_PERMISSIONS",
            Perm::Read => "READ",
            Perm::Use => "USE",
            Perm::Edit => "EDIT",
            Perm::Manage => "MANAGE",
        }
    }

    pub fn allows(self, action: Action) -> bool {
        let need = match action {
            Action::Read => Perm::Read,
            Action::Use => Perm::Use,
            Action::Update => Perm::Edit,
            Action::Delete | Action::Manage => Perm::Manage,
        };
        self >= need
    }

    /// A positive grant never falls below `default_permission`; DENY and NO_PERMISSIONS stay.
    fn floor(self, default: Perm) -> Perm {
        match self {
            Perm::Deny | Perm::NoPermissions => self,
            p => p.max(default),
        }
    }
}

/// The resource types whose grants take an id (`TYPE` in `permissions.py`); the others are
/// wildcard-only tiers.
pub const ID_TYPES: &[&str] = &[
    "experiment",
    "registered_model",
    "prompt",
    "scorer",
    "gateway_secret",
    "gateway_endpoint",
    "gateway_model_definition",
    "mcp_server",
];
pub const TIER_TYPES: &[&str] = &[
    "workspace",
    "run",
    "trace",
    "assessment",
    "logged_model",
    "review_queue",
    "registered_model_version",
    "prompt_version",
    "scorer_version",
    "mcp_server_version",
];

/// `fold_grants_for_key`: the grants on (type, id or `*`); any DENY wins, else the highest.
fn fold(grants: &[GrantRow], resource_type: &str, id: &str) -> Option<Perm> {
    let wildcard_only = TIER_TYPES.contains(&resource_type);
    let mut best: Option<Perm> = None;
    for g in grants.iter().filter(|g| g.resource_type == resource_type) {
        let applies = g.resource_pattern == "*" || (!wildcard_only && g.resource_pattern == id);
        if !applies {
            continue;
        }
        let Some(p) = Perm::parse(&g.permission) else {
            continue;
        };
        if p == Perm::Deny {
            return Some(Perm::Deny);
        }
        best = Some(best.map_or(p, |b| b.max(p)));
    }
    best
}

/// The permission that governs an action on `(resource_type, id)`: a workspace admin grant
/// first, then the tier's wildcard grant (run, trace, logged model ...), then the resource's
/// own grant, then `default_permission`.
pub fn resolve(
    grants: &[GrantRow],
    default: Perm,
    tier: Option<&str>,
    resource_type: &str,
    id: &str,
) -> Perm {
    if grants.iter().any(|g| {
        g.resource_type == "workspace" && g.resource_pattern == "*" && g.permission == "MANAGE"
    }) {
        return Perm::Manage;
    }
    if let Some(t) = tier
        && let Some(p) = fold(grants, t, "*")
    {
        return p.floor(default);
    }
    match fold(grants, resource_type, id) {
        Some(p) => p.floor(default),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(t: &str, p: &str, perm: &str) -> GrantRow {
        GrantRow {
            role_id: 1,
            role_name: "__user_2__".into(),
            workspace: "default".into(),
            resource_type: t.into(),
            resource_pattern: p.into(),
            permission: perm.into(),
        }
    }

    #[test]
    fn deny_wins_and_defaults_floor_positive_grants() {
        let grants = vec![g("experiment", "1", "MANAGE"), g("experiment", "*", "DENY")];
        assert_eq!(
            resolve(&grants, Perm::Read, None, "experiment", "1"),
            Perm::Deny
        );
        let grants = vec![g("experiment", "1", "READ")];
        assert_eq!(
            resolve(&grants, Perm::Edit, None, "experiment", "1"),
            Perm::Edit
        );
        assert_eq!(
            resolve(&[], Perm::NoPermissions, None, "experiment", "1"),
            Perm::NoPermissions
        );
        let grants = vec![g("experiment", "1", "EDIT"), g("run", "*", "DENY")];
        assert_eq!(
            resolve(&grants, Perm::Read, Some("run"), "experiment", "1"),
            Perm::Deny
        );
        let grants = vec![g("workspace", "*", "MANAGE"), g("experiment", "1", "DENY")];
        assert_eq!(
            resolve(&grants, Perm::Read, None, "experiment", "1"),
            Perm::Manage
        );
        assert!(Perm::Use.allows(Action::Read) && !Perm::Use.allows(Action::Update));
        assert!(Perm::Edit.allows(Action::Update) && !Perm::Edit.allows(Action::Delete));
    }
}
