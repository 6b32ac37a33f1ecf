//! The permission every route needs, in one table: MLflow 3.17.2's basic-auth map
//! (`BEFORE_REQUEST_HANDLERS`, the regex families, the Flask-only and FastAPI-native routes,
//! the public list), one line per method and path template, for every route of
//! `mlflow server --app-name basic-auth` whether rsflow serves it yet or not. A request that
//! matches no line is refused for everyone but admins (MLflow's `MLFLOW_BASIC_AUTH_FAIL_CLOSED`),
//! so a route family added without a line here is closed, never open.
//!
//! Validators whose logic rsflow does not model (gateway, review queues, issues by id,
//! datasets by id, jobs, workspaces, online scoring) are `Admin`: fail closed.

use axum::http::Method;

/// What a permission must allow (MLflow's `can_read` .. `can_manage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Use,
    Update,
    Delete,
    Manage,
}

/// Where a resource id is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// A request parameter: the query string for GET (and DELETE without a JSON body), the
    /// JSON body otherwise, as MLflow's `_get_request_param`.
    Param(&'static str),
    /// A path parameter of the template.
    Path(&'static str),
    /// A JSON pointer into the body.
    Pointer(&'static str),
    /// A request header.
    Header(&'static str),
}

/// Where a list of experiment ids is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    Param(&'static str),
    /// `locations[].mlflow_experiment.experiment_id` of `SearchTracesV3`.
    TraceLocations,
}

/// Listings answered to any user and filtered to what the caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Experiments,
    RegisteredModels,
    ModelVersions,
}

/// The check a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No credentials (`/health`, server-info, static UI files).
    Public,
    /// Any signed-in user.
    Authenticated,
    /// Admins only; also every route whose MLflow check rsflow does not model.
    Admin,
    /// The auth app's own user, role and permission routes: any signed-in user reaches the
    /// handler, which checks self / admin / MANAGE itself.
    Handler,
    /// `/graphql`: any signed-in user; every root field is checked like its REST route.
    Graphql,
    Experiment(Action, Id),
    ExperimentByName(Action),
    /// Every listed experiment (an empty list is refused).
    ExperimentIds(Action, Ids),
    /// The run's experiment (`run_id`, else `run_uuid`), with the `run` tier.
    Run(Action),
    /// Every run of `run_ids` (or `run_id`).
    RunIds(Action),
    /// The trace's experiment, with the `trace` tier.
    Trace(Action, Id),
    /// Every trace of `trace_ids`.
    TraceIds(Action),
    /// The logged model's experiment (path `model_id`), with the `logged_model` tier.
    LoggedModel(Action),
    /// A registered model or prompt by `name` (resource type from the prompt tag).
    Model(Action),
    /// The experiment named by the proxied artifact path's first segment.
    ArtifactProxy(Action),
    Filtered(Listing),
}

/// One declaration: method, path template (`{param}`, `{*rest}`), need.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub need: Need,
}

const fn r(method: &'static str, path: &'static str, need: Need) -> Rule {
    Rule { method, path, need }
}

use Action::*;
use Need::*;

/// Every route of MLflow 3.17.2's basic-auth app (Flask `url_map` after `create_app`, its
/// validator named at the end of the line), then the FastAPI-native and rsflow-only routes.
pub const RULES: &[Rule] = &[
    r("GET", "/", Authenticated), // _allow_authenticated
    r(
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/artifacts",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Manage),
    ), // proxy:validate_can_delete_experiment_artifact_proxy
    r(
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r(
        "PUT",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/ajax-api/2.0/mlflow-artifacts/mpu/abort/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/ajax-api/2.0/mlflow-artifacts/mpu/complete/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/ajax-api/2.0/mlflow-artifacts/mpu/create/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/presigned/{*artifact_path}",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r("GET", "/ajax-api/2.0/mlflow/artifacts/list", Run(Read)), // validate_can_read_run
    r(
        "POST",
        "/ajax-api/2.0/mlflow/artifacts/presigned-download-url",
        Run(Read),
    ), // validate_can_read_run
    r(
        "POST",
        "/ajax-api/2.0/mlflow/artifacts/presigned-upload-url",
        Admin,
    ), // validate_can_update_run_or_logged_model
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/create",
        Authenticated,
    ), // validate_can_create_experiment
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/delete",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_experiment
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/delete-experiment-tag",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r(
        "GET",
        "/ajax-api/2.0/mlflow/experiments/get",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "GET",
        "/ajax-api/2.0/mlflow/experiments/get-by-name",
        ExperimentByName(Read),
    ), // validate_can_read_experiment_by_name
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/restore",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_experiment
    r(
        "GET",
        "/ajax-api/2.0/mlflow/experiments/search",
        Filtered(Listing::Experiments),
    ), // outside:filter_search_experiments
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/search",
        Filtered(Listing::Experiments),
    ), // outside:filter_search_experiments
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/search-datasets",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_datasets
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/set-experiment-tag",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/update",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r("GET", "/ajax-api/2.0/mlflow/gateway-proxy", Authenticated), // validate_gateway_proxy
    r("POST", "/ajax-api/2.0/mlflow/gateway-proxy", Authenticated), // validate_gateway_proxy
    r(
        "GET",
        "/ajax-api/2.0/mlflow/get-online-trace-details",
        Admin,
    ), // FAILCLOSED
    r(
        "GET",
        "/ajax-api/2.0/mlflow/get-trace-artifact",
        Trace(Read, Id::Param("request_id")),
    ), // validate_can_read_trace_artifact
    r(
        "POST",
        "/ajax-api/2.0/mlflow/logged-models",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_logged_model
    r(
        "POST",
        "/ajax-api/2.0/mlflow/logged-models/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_logged_models
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Delete),
    ), // validate_can_delete_logged_model
    r(
        "GET",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Read),
    ), // validate_can_read_logged_model
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "GET",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
        LoggedModel(Read),
    ), // validate_can_read_logged_model
    r(
        "GET",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
        LoggedModel(Read),
    ), // validate_can_read_logged_model
    r(
        "POST",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}/params",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}/tags",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}",
        LoggedModel(Delete),
    ), // validate_can_delete_logged_model
    r("GET", "/ajax-api/2.0/mlflow/metrics/get-history", Run(Read)), // validate_can_read_run
    r(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
        RunIds(Read),
    ), // validate_can_read_metric_history_bulk
    r(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        RunIds(Read),
    ), // validate_can_read_metric_history_bulk_interval
    r(
        "POST",
        "/ajax-api/2.0/mlflow/model-versions/create",
        Model(Update),
    ), // validate_can_create_model_version
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/model-versions/delete",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/model-versions/delete-tag",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version
    r(
        "GET",
        "/ajax-api/2.0/mlflow/model-versions/get",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "GET",
        "/ajax-api/2.0/mlflow/model-versions/get-download-uri",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "GET",
        "/ajax-api/2.0/mlflow/model-versions/search",
        Filtered(Listing::ModelVersions),
    ), // validate_can_search_model_versions
    r(
        "POST",
        "/ajax-api/2.0/mlflow/model-versions/set-tag",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "POST",
        "/ajax-api/2.0/mlflow/model-versions/transition-stage",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/model-versions/update",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/registered-models/alias",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version_alias
    r(
        "GET",
        "/ajax-api/2.0/mlflow/registered-models/alias",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/ajax-api/2.0/mlflow/registered-models/alias",
        Model(Update),
    ), // validate_can_set_model_or_prompt_version_alias
    r(
        "POST",
        "/ajax-api/2.0/mlflow/registered-models/create",
        Authenticated,
    ), // validate_can_create_registered_model
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/registered-models/delete",
        Model(Delete),
    ), // validate_can_delete_registered_model_or_prompt_cascade
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/registered-models/delete-tag",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "GET",
        "/ajax-api/2.0/mlflow/registered-models/get",
        Model(Read),
    ), // _validate_can_read_registered_model_or_prompt
    r(
        "GET",
        "/ajax-api/2.0/mlflow/registered-models/get-latest-versions",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/ajax-api/2.0/mlflow/registered-models/get-latest-versions",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/ajax-api/2.0/mlflow/registered-models/rename",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "GET",
        "/ajax-api/2.0/mlflow/registered-models/search",
        Filtered(Listing::RegisteredModels),
    ), // outside:filter_search_registered_models
    r(
        "POST",
        "/ajax-api/2.0/mlflow/registered-models/set-tag",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/registered-models/update",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "POST",
        "/ajax-api/2.0/mlflow/runs/create",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_run
    r(
        "POST",
        "/ajax-api/2.0/mlflow/runs/create-promptlab-run",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_promptlab_run
    r("POST", "/ajax-api/2.0/mlflow/runs/delete", Run(Delete)), // validate_can_delete_run
    r("POST", "/ajax-api/2.0/mlflow/runs/delete-tag", Run(Update)), // validate_can_update_run
    r("GET", "/ajax-api/2.0/mlflow/runs/get", Run(Read)), // validate_can_read_run
    r("POST", "/ajax-api/2.0/mlflow/runs/log-batch", Run(Update)), // validate_can_log_batch
    r("POST", "/ajax-api/2.0/mlflow/runs/log-inputs", Run(Update)), // validate_can_log_inputs
    r("POST", "/ajax-api/2.0/mlflow/runs/log-metric", Run(Update)), // validate_can_log_metric
    r("POST", "/ajax-api/2.0/mlflow/runs/log-model", Run(Update)), // validate_can_update_run
    r(
        "POST",
        "/ajax-api/2.0/mlflow/runs/log-parameter",
        Run(Update),
    ), // validate_can_update_run
    r("POST", "/ajax-api/2.0/mlflow/runs/outputs", Run(Update)), // validate_can_log_outputs
    r("POST", "/ajax-api/2.0/mlflow/runs/restore", Run(Delete)), // validate_can_delete_run
    r(
        "POST",
        "/ajax-api/2.0/mlflow/runs/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // outside:redact_search_runs_model_links
    r("POST", "/ajax-api/2.0/mlflow/runs/set-tag", Run(Update)), // validate_can_update_run
    r("POST", "/ajax-api/2.0/mlflow/runs/update", Run(Update)), // validate_can_update_run
    r(
        "GET",
        "/ajax-api/2.0/mlflow/traces",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_traces
    r(
        "POST",
        "/ajax-api/2.0/mlflow/traces",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_start_trace
    r(
        "POST",
        "/ajax-api/2.0/mlflow/traces/delete-traces",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_traces
    r(
        "POST",
        "/ajax-api/2.0/mlflow/traces/link-prompts",
        Trace(Update, Id::Param("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r(
        "POST",
        "/ajax-api/2.0/mlflow/traces/link-to-run",
        Run(Update),
    ), // validate_can_link_traces_to_run
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/traces/{request_id}",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r(
        "GET",
        "/ajax-api/2.0/mlflow/traces/{request_id}/info",
        Trace(Read, Id::Path("request_id")),
    ), // validate_can_read_trace_by_request_id
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/traces/{request_id}/tags",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/traces/{request_id}/tags",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r("GET", "/ajax-api/2.0/mlflow/unified-traces", Admin), // FAILCLOSED
    r("POST", "/ajax-api/2.0/mlflow/upload-artifact", Run(Update)), // validate_can_update_run_artifact
    r("POST", "/ajax-api/2.0/mlflow/users/create", Admin),          // validate_can_create_user
    r("GET", "/ajax-api/2.0/mlflow/users/current", Handler),        // <lambda>
    r("DELETE", "/ajax-api/2.0/mlflow/users/delete", Admin),        // validate_can_delete_user
    r("GET", "/ajax-api/2.0/mlflow/users/get", Handler),            // validate_can_read_user
    r("GET", "/ajax-api/2.0/mlflow/users/list", Admin),             // validate_can_list_users
    r("PATCH", "/ajax-api/2.0/mlflow/users/update-admin", Admin), // validate_can_update_user_admin
    r(
        "PATCH",
        "/ajax-api/2.0/mlflow/users/update-password",
        Handler,
    ), // validate_can_update_user_password
    r("GET", "/ajax-api/2.0/mlflow/webhooks", Admin),             // sender_is_admin
    r("POST", "/ajax-api/2.0/mlflow/webhooks", Admin),            // sender_is_admin
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow/webhooks/{webhook_id}",
        Admin,
    ), // sender_is_admin
    r("GET", "/ajax-api/2.0/mlflow/webhooks/{webhook_id}", Admin), // sender_is_admin
    r("PATCH", "/ajax-api/2.0/mlflow/webhooks/{webhook_id}", Admin), // sender_is_admin
    r(
        "POST",
        "/ajax-api/2.0/mlflow/webhooks/{webhook_id}/test",
        Admin,
    ), // sender_is_admin
    r(
        "POST",
        "/ajax-api/2.0mlflow/experiments/search-datasets",
        Admin,
    ), // FAILCLOSED
    r("POST", "/ajax-api/3.0/jobs", Admin),                       // fastapi jobs
    r("GET", "/ajax-api/3.0/jobs/{*rest}", Admin),                // fastapi jobs
    r("PATCH", "/ajax-api/3.0/jobs/{*rest}", Admin),              // fastapi jobs
    r("POST", "/ajax-api/3.0/jobs/{*rest}", Admin),               // fastapi jobs
    r(
        "GET",
        "/ajax-api/3.0/mlflow/assistant/{*rest}",
        Authenticated,
    ), // fastapi assistant
    r(
        "POST",
        "/ajax-api/3.0/mlflow/assistant/{*rest}",
        Authenticated,
    ), // fastapi assistant
    r(
        "POST",
        "/ajax-api/3.0/mlflow/datasets/create",
        ExperimentIds(Update, Ids::Param("experiment_ids")),
    ), // validate_can_create_dataset
    r(
        "GET",
        "/ajax-api/3.0/mlflow/datasets/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_evaluation_datasets
    r(
        "POST",
        "/ajax-api/3.0/mlflow/datasets/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_evaluation_datasets
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}",
        Admin,
    ), // validate_can_delete_dataset
    r("GET", "/ajax-api/3.0/mlflow/datasets/{dataset_id}", Admin), // validate_can_read_dataset
    r(
        "POST",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/add-experiments",
        Admin,
    ), // validate_can_add_dataset_to_experiments
    r(
        "GET",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/experiment-ids",
        Admin,
    ), // validate_can_read_dataset
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_update_dataset
    r(
        "GET",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_read_dataset
    r(
        "POST",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_update_dataset
    r(
        "POST",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/remove-experiments",
        Admin,
    ), // validate_can_update_dataset
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/tags",
        Admin,
    ), // validate_can_update_dataset
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/datasets/{dataset_id}/tags/{key}",
        Admin,
    ), // validate_can_update_dataset
    r("POST", "/ajax-api/3.0/mlflow/demo/delete", Admin),         // sender_is_admin
    r("POST", "/ajax-api/3.0/mlflow/demo/generate", Authenticated), // _allow_authenticated
    r("POST", "/ajax-api/3.0/mlflow/gateway/budgets/create", Admin), // sender_is_admin
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/budgets/delete",
        Admin,
    ), // sender_is_admin
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/budgets/get",
        Authenticated,
    ), // _allow_authenticated
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/budgets/list",
        Authenticated,
    ), // _allow_authenticated
    r("POST", "/ajax-api/3.0/mlflow/gateway/budgets/update", Admin), // sender_is_admin
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/budgets/windows",
        Authenticated,
    ), // _allow_authenticated
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/bindings/create",
        Admin,
    ), // validate_can_create_gateway_endpoint_binding
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/endpoints/bindings/delete",
        Admin,
    ), // validate_can_delete_gateway_endpoint_binding
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/endpoints/bindings/list",
        Admin,
    ), // validate_can_list_gateway_endpoint_bindings
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/create",
        Admin,
    ), // validate_can_create_gateway_endpoint
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/endpoints/delete",
        Admin,
    ), // validate_can_delete_gateway_endpoint
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/endpoints/delete-tag",
        Admin,
    ), // validate_can_delete_gateway_endpoint_tag
    r("GET", "/ajax-api/3.0/mlflow/gateway/endpoints/get", Admin), // validate_can_read_gateway_endpoint
    r("GET", "/ajax-api/3.0/mlflow/gateway/endpoints/list", Admin), // outside:filter_list_gateway_endpoints
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/models/attach",
        Admin,
    ), // validate_can_attach_model_to_gateway_endpoint
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/models/detach",
        Admin,
    ), // validate_can_detach_model_from_gateway_endpoint
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/set-tag",
        Admin,
    ), // validate_can_set_gateway_endpoint_tag
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/endpoints/update",
        Admin,
    ), // validate_can_update_gateway_endpoint
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/guardrails/add-to-endpoint",
        Admin,
    ), // validate_can_add_guardrail_to_gateway_endpoint
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/guardrails/create",
        Admin,
    ), // sender_is_admin
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/guardrails/delete",
        Admin,
    ), // sender_is_admin
    r("GET", "/ajax-api/3.0/mlflow/gateway/guardrails/get", Admin), // sender_is_admin
    r("GET", "/ajax-api/3.0/mlflow/gateway/guardrails/list", Admin), // sender_is_admin
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/guardrails/list-for-endpoint",
        Admin,
    ), // validate_can_read_gateway_endpoint_guardrail_configs
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/guardrails/remove-from-endpoint",
        Admin,
    ), // validate_can_remove_guardrail_from_gateway_endpoint
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/gateway/guardrails/update-config",
        Admin,
    ), // validate_can_update_gateway_endpoint_guardrail_config
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/model-definitions/create",
        Admin,
    ), // validate_can_create_gateway_model_definition
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/model-definitions/delete",
        Admin,
    ), // validate_can_delete_gateway_model_definition
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/model-definitions/get",
        Admin,
    ), // validate_can_read_gateway_model_definition
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/model-definitions/list",
        Admin,
    ), // validate_can_list_gateway_model_definitions
    r(
        "POST",
        "/ajax-api/3.0/mlflow/gateway/model-definitions/update",
        Admin,
    ), // validate_can_update_gateway_model_definition
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/provider-config",
        Authenticated,
    ), // _allow_authenticated
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/secrets/config",
        Authenticated,
    ), // _allow_authenticated
    r("POST", "/ajax-api/3.0/mlflow/gateway/secrets/create", Admin), // validate_can_create_gateway_secret
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/gateway/secrets/delete",
        Admin,
    ), // validate_can_delete_gateway_secret
    r("GET", "/ajax-api/3.0/mlflow/gateway/secrets/get", Admin), // validate_can_read_gateway_secret
    r("GET", "/ajax-api/3.0/mlflow/gateway/secrets/list", Admin), // outside:filter_list_gateway_secrets
    r("POST", "/ajax-api/3.0/mlflow/gateway/secrets/update", Admin), // validate_can_update_gateway_secret
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/supported-models",
        Authenticated,
    ), // _allow_authenticated
    r(
        "GET",
        "/ajax-api/3.0/mlflow/gateway/supported-providers",
        Authenticated,
    ), // _allow_authenticated
    r("POST", "/ajax-api/3.0/mlflow/genai/evaluate/invoke", Admin), // validate_can_invoke_genai_evaluate
    r(
        "GET",
        "/ajax-api/3.0/mlflow/get-trace-artifact",
        Trace(Read, Id::Param("request_id")),
    ), // validate_can_read_trace_artifact
    r(
        "POST",
        "/ajax-api/3.0/mlflow/issues",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_issue
    r("POST", "/ajax-api/3.0/mlflow/issues/invoke", Admin), // validate_can_invoke_issue_detection
    r("POST", "/ajax-api/3.0/mlflow/issues/search", Admin), // validate_can_search_issues
    r("GET", "/ajax-api/3.0/mlflow/issues/{issue_id}", Admin), // validate_can_read_issue
    r("PATCH", "/ajax-api/3.0/mlflow/issues/{issue_id}", Admin), // validate_can_update_issue
    r("PATCH", "/ajax-api/3.0/mlflow/jobs/cancel/{job_id}", Admin), // validate_is_job_owner
    r("GET", "/ajax-api/3.0/mlflow/jobs/{job_id}", Admin),  // validate_is_job_owner
    r(
        "POST",
        "/ajax-api/3.0/mlflow/label-schemas/create",
        Experiment(Manage, Id::Param("experiment_id")),
    ), // validate_can_create_label_schema
    r("DELETE", "/ajax-api/3.0/mlflow/label-schemas/delete", Admin), // validate_can_manage_label_schema
    r("GET", "/ajax-api/3.0/mlflow/label-schemas/get", Admin), // validate_can_read_label_schema
    r(
        "GET",
        "/ajax-api/3.0/mlflow/label-schemas/get-by-name",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "GET",
        "/ajax-api/3.0/mlflow/label-schemas/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r("PATCH", "/ajax-api/3.0/mlflow/label-schemas/update", Admin), // validate_can_manage_label_schema
    r(
        "POST",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs",
        Admin,
    ), // validate_can_create_prompt_optimization_job
    r(
        "GET",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs/search",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "POST",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs/search",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs/{job_id}",
        Admin,
    ), // FAILCLOSED
    r(
        "GET",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs/{job_id}",
        Admin,
    ), // FAILCLOSED
    r(
        "POST",
        "/ajax-api/3.0/mlflow/prompt-optimization/jobs/{job_id}/cancel",
        Admin,
    ), // FAILCLOSED
    r("POST", "/ajax-api/3.0/mlflow/review-queues/create", Admin), // validate_can_create_review_queue
    r("POST", "/ajax-api/3.0/mlflow/review-queues/delete", Admin), // validate_can_delete_review_queue
    r("GET", "/ajax-api/3.0/mlflow/review-queues/get", Admin),     // validate_can_view_review_queue
    r(
        "GET",
        "/ajax-api/3.0/mlflow/review-queues/get-by-name",
        Admin,
    ), // validate_can_view_review_queue_by_name
    r(
        "POST",
        "/ajax-api/3.0/mlflow/review-queues/get-or-create-user",
        Admin,
    ), // validate_can_get_or_create_user_queue
    r(
        "POST",
        "/ajax-api/3.0/mlflow/review-queues/items/add",
        Admin,
    ), // validate_can_add_items_to_review_queue
    r(
        "GET",
        "/ajax-api/3.0/mlflow/review-queues/items/list",
        Admin,
    ), // validate_can_view_review_queue
    r(
        "POST",
        "/ajax-api/3.0/mlflow/review-queues/items/remove",
        Admin,
    ), // validate_can_remove_items_from_review_queue
    r(
        "POST",
        "/ajax-api/3.0/mlflow/review-queues/items/set-status",
        Admin,
    ), // validate_can_review_queue_item
    r(
        "GET",
        "/ajax-api/3.0/mlflow/review-queues/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r("POST", "/ajax-api/3.0/mlflow/review-queues/update", Admin), // validate_can_update_review_queue
    r("POST", "/ajax-api/3.0/mlflow/roles/assign", Admin),         // validate_can_manage_roles
    r("POST", "/ajax-api/3.0/mlflow/roles/create", Admin),         // validate_can_manage_roles
    r("DELETE", "/ajax-api/3.0/mlflow/roles/delete", Admin),       // validate_can_manage_roles
    r("GET", "/ajax-api/3.0/mlflow/roles/get", Admin),             // validate_can_view_roles
    r("GET", "/ajax-api/3.0/mlflow/roles/list", Admin),            // validate_can_list_roles
    r("POST", "/ajax-api/3.0/mlflow/roles/permissions/add", Admin), // validate_can_manage_roles
    r("GET", "/ajax-api/3.0/mlflow/roles/permissions/list", Admin), // validate_can_view_roles
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/roles/permissions/remove",
        Admin,
    ), // validate_can_manage_roles
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/roles/permissions/update",
        Admin,
    ), // validate_can_manage_roles
    r("DELETE", "/ajax-api/3.0/mlflow/roles/unassign", Admin),     // validate_can_manage_roles
    r("PATCH", "/ajax-api/3.0/mlflow/roles/update", Admin),        // validate_can_manage_roles
    r("GET", "/ajax-api/3.0/mlflow/roles/users/list", Admin),      // validate_can_manage_roles
    r("POST", "/ajax-api/3.0/mlflow/scorer/invoke", Admin),        // validate_can_invoke_scorer
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/scorers/delete",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_scorer
    r(
        "GET",
        "/ajax-api/3.0/mlflow/scorers/get",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer
    r(
        "GET",
        "/ajax-api/3.0/mlflow/scorers/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer_list
    r("PUT", "/ajax-api/3.0/mlflow/scorers/online-config", Admin), // validate_can_update_online_scoring_config
    r("GET", "/ajax-api/3.0/mlflow/scorers/online-configs", Admin), // validate_can_read_online_scoring_configs
    r(
        "POST",
        "/ajax-api/3.0/mlflow/scorers/register",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_register_scorer
    r(
        "GET",
        "/ajax-api/3.0/mlflow/scorers/versions",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer
    r("GET", "/ajax-api/3.0/mlflow/server-info", Public),           // public
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces",
        Experiment(
            Update,
            Id::Pointer("/trace/trace_info/trace_location/mlflow_experiment/experiment_id"),
        ),
    ), // validate_can_start_trace_v3
    r(
        "GET",
        "/ajax-api/3.0/mlflow/traces/batchGet",
        TraceIds(Read),
    ), // validate_can_batch_get_traces
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/batchGetInfos",
        TraceIds(Read),
    ), // validate_can_batch_get_traces
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/calculate-filter-correlation",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_read_traces_by_experiment_ids
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/delete-traces",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_traces
    r(
        "GET",
        "/ajax-api/3.0/mlflow/traces/get",
        Trace(Read, Id::Param("trace_id")),
    ), // validate_can_read_trace_by_trace_id
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/metrics",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_query_trace_metrics
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/search",
        ExperimentIds(Read, Ids::TraceLocations),
    ), // validate_can_search_traces_v3
    r(
        "GET",
        "/ajax-api/3.0/mlflow/traces/{trace_id}",
        Trace(Read, Id::Path("trace_id")),
    ), // validate_can_read_trace_by_trace_id
    r(
        "POST",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/assessments",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_create_assessment
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_delete_assessment
    r(
        "GET",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Read, Id::Path("trace_id")),
    ), // validate_can_get_assessment
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_assessment
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/tags",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/traces/{trace_id}/tags",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r("GET", "/ajax-api/3.0/mlflow/ui-telemetry", Authenticated),   // _allow_authenticated
    r("POST", "/ajax-api/3.0/mlflow/ui-telemetry", Authenticated),  // _allow_authenticated
    r(
        "GET",
        "/ajax-api/3.0/mlflow/users/current/permissions",
        Handler,
    ), // <lambda>
    r("GET", "/ajax-api/3.0/mlflow/users/permissions/get", Handler), // validate_can_get_user_permission
    r(
        "POST",
        "/ajax-api/3.0/mlflow/users/permissions/grant",
        Handler,
    ), // validate_can_manage_resource
    r(
        "GET",
        "/ajax-api/3.0/mlflow/users/permissions/list",
        Handler,
    ), // validate_can_view_user_roles
    r(
        "POST",
        "/ajax-api/3.0/mlflow/users/permissions/revoke",
        Handler,
    ), // validate_can_manage_resource
    r("GET", "/ajax-api/3.0/mlflow/users/roles/list", Handler),      // validate_can_view_user_roles
    r("GET", "/ajax-api/3.0/mlflow/workspaces", Admin), // outside:filter_list_workspaces
    r("POST", "/ajax-api/3.0/mlflow/workspaces", Admin), // sender_is_admin
    r(
        "DELETE",
        "/ajax-api/3.0/mlflow/workspaces/{workspace_name}",
        Admin,
    ), // FAILCLOSED
    r(
        "GET",
        "/ajax-api/3.0/mlflow/workspaces/{workspace_name}",
        Admin,
    ), // FAILCLOSED
    r(
        "PATCH",
        "/ajax-api/3.0/mlflow/workspaces/{workspace_name}",
        Admin,
    ), // FAILCLOSED
    r(
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r(
        "DELETE",
        "/api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Manage),
    ), // proxy:validate_can_delete_experiment_artifact_proxy
    r(
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r(
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/abort/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/complete/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/create/{*artifact_path}",
        ArtifactProxy(Update),
    ), // proxy:validate_can_update_experiment_artifact_proxy
    r(
        "GET",
        "/api/2.0/mlflow-artifacts/presigned/{*artifact_path}",
        ArtifactProxy(Read),
    ), // proxy:validate_can_read_experiment_artifact_proxy
    r("GET", "/api/2.0/mlflow/artifacts/list", Run(Read)), // validate_can_read_run
    r(
        "POST",
        "/api/2.0/mlflow/artifacts/presigned-download-url",
        Run(Read),
    ), // validate_can_read_run
    r(
        "POST",
        "/api/2.0/mlflow/artifacts/presigned-upload-url",
        Admin,
    ), // validate_can_update_run_or_logged_model
    r("POST", "/api/2.0/mlflow/experiments/create", Authenticated), // validate_can_create_experiment
    r(
        "POST",
        "/api/2.0/mlflow/experiments/delete",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_experiment
    r(
        "POST",
        "/api/2.0/mlflow/experiments/delete-experiment-tag",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r(
        "GET",
        "/api/2.0/mlflow/experiments/get",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name",
        ExperimentByName(Read),
    ), // validate_can_read_experiment_by_name
    r(
        "POST",
        "/api/2.0/mlflow/experiments/restore",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_experiment
    r(
        "GET",
        "/api/2.0/mlflow/experiments/search",
        Filtered(Listing::Experiments),
    ), // outside:filter_search_experiments
    r(
        "POST",
        "/api/2.0/mlflow/experiments/search",
        Filtered(Listing::Experiments),
    ), // outside:filter_search_experiments
    r(
        "POST",
        "/api/2.0/mlflow/experiments/set-experiment-tag",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r(
        "POST",
        "/api/2.0/mlflow/experiments/update",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_update_experiment
    r("GET", "/api/2.0/mlflow/get-online-trace-details", Admin),    // FAILCLOSED
    r(
        "POST",
        "/api/2.0/mlflow/logged-models",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_logged_model
    r(
        "POST",
        "/api/2.0/mlflow/logged-models/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_logged_models
    r(
        "DELETE",
        "/api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Delete),
    ), // validate_can_delete_logged_model
    r(
        "GET",
        "/api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Read),
    ), // validate_can_read_logged_model
    r(
        "PATCH",
        "/api/2.0/mlflow/logged-models/{model_id}",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "GET",
        "/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
        LoggedModel(Read),
    ), // validate_can_read_logged_model
    r(
        "POST",
        "/api/2.0/mlflow/logged-models/{model_id}/params",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "PATCH",
        "/api/2.0/mlflow/logged-models/{model_id}/tags",
        LoggedModel(Update),
    ), // validate_can_update_logged_model
    r(
        "DELETE",
        "/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}",
        LoggedModel(Delete),
    ), // validate_can_delete_logged_model
    r("GET", "/api/2.0/mlflow/metrics/get-history", Run(Read)),     // validate_can_read_run
    r(
        "GET",
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        RunIds(Read),
    ), // validate_can_read_metric_history_bulk_interval
    r(
        "POST",
        "/api/2.0/mlflow/model-versions/create",
        Model(Update),
    ), // validate_can_create_model_version
    r(
        "DELETE",
        "/api/2.0/mlflow/model-versions/delete",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version
    r(
        "DELETE",
        "/api/2.0/mlflow/model-versions/delete-tag",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version
    r("GET", "/api/2.0/mlflow/model-versions/get", Model(Read)), // validate_can_read_model_or_prompt_version
    r(
        "GET",
        "/api/2.0/mlflow/model-versions/get-download-uri",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "GET",
        "/api/2.0/mlflow/model-versions/search",
        Filtered(Listing::ModelVersions),
    ), // validate_can_search_model_versions
    r(
        "POST",
        "/api/2.0/mlflow/model-versions/set-tag",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "POST",
        "/api/2.0/mlflow/model-versions/transition-stage",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "PATCH",
        "/api/2.0/mlflow/model-versions/update",
        Model(Update),
    ), // validate_can_update_model_or_prompt_version
    r(
        "DELETE",
        "/api/2.0/mlflow/registered-models/alias",
        Model(Delete),
    ), // validate_can_delete_model_or_prompt_version_alias
    r(
        "GET",
        "/api/2.0/mlflow/registered-models/alias",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/api/2.0/mlflow/registered-models/alias",
        Model(Update),
    ), // validate_can_set_model_or_prompt_version_alias
    r(
        "POST",
        "/api/2.0/mlflow/registered-models/create",
        Authenticated,
    ), // validate_can_create_registered_model
    r(
        "DELETE",
        "/api/2.0/mlflow/registered-models/delete",
        Model(Delete),
    ), // validate_can_delete_registered_model_or_prompt_cascade
    r(
        "DELETE",
        "/api/2.0/mlflow/registered-models/delete-tag",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r("GET", "/api/2.0/mlflow/registered-models/get", Model(Read)), // _validate_can_read_registered_model_or_prompt
    r(
        "GET",
        "/api/2.0/mlflow/registered-models/get-latest-versions",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/api/2.0/mlflow/registered-models/get-latest-versions",
        Model(Read),
    ), // validate_can_read_model_or_prompt_version
    r(
        "POST",
        "/api/2.0/mlflow/registered-models/rename",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "GET",
        "/api/2.0/mlflow/registered-models/search",
        Filtered(Listing::RegisteredModels),
    ), // outside:filter_search_registered_models
    r(
        "POST",
        "/api/2.0/mlflow/registered-models/set-tag",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "PATCH",
        "/api/2.0/mlflow/registered-models/update",
        Model(Update),
    ), // _validate_can_update_registered_model_or_prompt
    r(
        "POST",
        "/api/2.0/mlflow/runs/create",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_run
    r("POST", "/api/2.0/mlflow/runs/delete", Run(Delete)),          // validate_can_delete_run
    r("POST", "/api/2.0/mlflow/runs/delete-tag", Run(Update)),      // validate_can_update_run
    r("GET", "/api/2.0/mlflow/runs/get", Run(Read)),                // validate_can_read_run
    r("POST", "/api/2.0/mlflow/runs/log-batch", Run(Update)),       // validate_can_log_batch
    r("POST", "/api/2.0/mlflow/runs/log-inputs", Run(Update)),      // validate_can_log_inputs
    r("POST", "/api/2.0/mlflow/runs/log-metric", Run(Update)),      // validate_can_log_metric
    r("POST", "/api/2.0/mlflow/runs/log-model", Run(Update)),       // validate_can_update_run
    r("POST", "/api/2.0/mlflow/runs/log-parameter", Run(Update)),   // validate_can_update_run
    r("POST", "/api/2.0/mlflow/runs/outputs", Run(Update)),         // validate_can_log_outputs
    r("POST", "/api/2.0/mlflow/runs/restore", Run(Delete)),         // validate_can_delete_run
    r(
        "POST",
        "/api/2.0/mlflow/runs/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // outside:redact_search_runs_model_links
    r("POST", "/api/2.0/mlflow/runs/set-tag", Run(Update)),         // validate_can_update_run
    r("POST", "/api/2.0/mlflow/runs/update", Run(Update)),          // validate_can_update_run
    r(
        "GET",
        "/api/2.0/mlflow/traces",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_traces
    r(
        "POST",
        "/api/2.0/mlflow/traces",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_start_trace
    r(
        "POST",
        "/api/2.0/mlflow/traces/delete-traces",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_traces
    r(
        "POST",
        "/api/2.0/mlflow/traces/link-prompts",
        Trace(Update, Id::Param("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r("POST", "/api/2.0/mlflow/traces/link-to-run", Run(Update)), // validate_can_link_traces_to_run
    r(
        "PATCH",
        "/api/2.0/mlflow/traces/{request_id}",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r(
        "GET",
        "/api/2.0/mlflow/traces/{request_id}/info",
        Trace(Read, Id::Path("request_id")),
    ), // validate_can_read_trace_by_request_id
    r(
        "DELETE",
        "/api/2.0/mlflow/traces/{request_id}/tags",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r(
        "PATCH",
        "/api/2.0/mlflow/traces/{request_id}/tags",
        Trace(Update, Id::Path("request_id")),
    ), // validate_can_update_trace_by_request_id
    r("GET", "/api/2.0/mlflow/unified-traces", Admin),            // FAILCLOSED
    r("POST", "/api/2.0/mlflow/users/create", Admin),             // validate_can_create_user
    r("POST", "/api/2.0/mlflow/users/create-ui", Admin),          // FAILCLOSED
    r("GET", "/api/2.0/mlflow/users/current", Handler),           // <lambda>
    r("DELETE", "/api/2.0/mlflow/users/delete", Admin),           // validate_can_delete_user
    r("GET", "/api/2.0/mlflow/users/get", Handler),               // validate_can_read_user
    r("GET", "/api/2.0/mlflow/users/list", Admin),                // validate_can_list_users
    r("PATCH", "/api/2.0/mlflow/users/update-admin", Admin),      // validate_can_update_user_admin
    r("PATCH", "/api/2.0/mlflow/users/update-password", Handler), // validate_can_update_user_password
    r("GET", "/api/2.0/mlflow/webhooks", Admin),                  // sender_is_admin
    r("POST", "/api/2.0/mlflow/webhooks", Admin),                 // sender_is_admin
    r("DELETE", "/api/2.0/mlflow/webhooks/{webhook_id}", Admin),  // sender_is_admin
    r("GET", "/api/2.0/mlflow/webhooks/{webhook_id}", Admin),     // sender_is_admin
    r("PATCH", "/api/2.0/mlflow/webhooks/{webhook_id}", Admin),   // sender_is_admin
    r("POST", "/api/2.0/mlflow/webhooks/{webhook_id}/test", Admin), // sender_is_admin
    r("POST", "/api/2.0mlflow/experiments/search-datasets", Admin), // FAILCLOSED
    r(
        "POST",
        "/api/3.0/mlflow/datasets/create",
        ExperimentIds(Update, Ids::Param("experiment_ids")),
    ), // validate_can_create_dataset
    r(
        "GET",
        "/api/3.0/mlflow/datasets/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_evaluation_datasets
    r(
        "POST",
        "/api/3.0/mlflow/datasets/search",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_search_evaluation_datasets
    r("DELETE", "/api/3.0/mlflow/datasets/{dataset_id}", Admin),  // validate_can_delete_dataset
    r("GET", "/api/3.0/mlflow/datasets/{dataset_id}", Admin),     // validate_can_read_dataset
    r(
        "POST",
        "/api/3.0/mlflow/datasets/{dataset_id}/add-experiments",
        Admin,
    ), // validate_can_add_dataset_to_experiments
    r(
        "GET",
        "/api/3.0/mlflow/datasets/{dataset_id}/experiment-ids",
        Admin,
    ), // validate_can_read_dataset
    r(
        "DELETE",
        "/api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_update_dataset
    r(
        "GET",
        "/api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_read_dataset
    r(
        "POST",
        "/api/3.0/mlflow/datasets/{dataset_id}/records",
        Admin,
    ), // validate_can_update_dataset
    r(
        "POST",
        "/api/3.0/mlflow/datasets/{dataset_id}/remove-experiments",
        Admin,
    ), // validate_can_update_dataset
    r("PATCH", "/api/3.0/mlflow/datasets/{dataset_id}/tags", Admin), // validate_can_update_dataset
    r(
        "DELETE",
        "/api/3.0/mlflow/datasets/{dataset_id}/tags/{key}",
        Admin,
    ), // validate_can_update_dataset
    r("POST", "/api/3.0/mlflow/gateway/budgets/create", Admin),   // sender_is_admin
    r("DELETE", "/api/3.0/mlflow/gateway/budgets/delete", Admin), // sender_is_admin
    r("GET", "/api/3.0/mlflow/gateway/budgets/get", Authenticated), // _allow_authenticated
    r("GET", "/api/3.0/mlflow/gateway/budgets/list", Authenticated), // _allow_authenticated
    r("POST", "/api/3.0/mlflow/gateway/budgets/update", Admin),   // sender_is_admin
    r(
        "GET",
        "/api/3.0/mlflow/gateway/budgets/windows",
        Authenticated,
    ), // _allow_authenticated
    r(
        "POST",
        "/api/3.0/mlflow/gateway/endpoints/bindings/create",
        Admin,
    ), // validate_can_create_gateway_endpoint_binding
    r(
        "DELETE",
        "/api/3.0/mlflow/gateway/endpoints/bindings/delete",
        Admin,
    ), // validate_can_delete_gateway_endpoint_binding
    r(
        "GET",
        "/api/3.0/mlflow/gateway/endpoints/bindings/list",
        Admin,
    ), // validate_can_list_gateway_endpoint_bindings
    r("POST", "/api/3.0/mlflow/gateway/endpoints/create", Admin), // validate_can_create_gateway_endpoint
    r("DELETE", "/api/3.0/mlflow/gateway/endpoints/delete", Admin), // validate_can_delete_gateway_endpoint
    r(
        "DELETE",
        "/api/3.0/mlflow/gateway/endpoints/delete-tag",
        Admin,
    ), // validate_can_delete_gateway_endpoint_tag
    r("GET", "/api/3.0/mlflow/gateway/endpoints/get", Admin), // validate_can_read_gateway_endpoint
    r("GET", "/api/3.0/mlflow/gateway/endpoints/list", Admin), // outside:filter_list_gateway_endpoints
    r(
        "POST",
        "/api/3.0/mlflow/gateway/endpoints/models/attach",
        Admin,
    ), // validate_can_attach_model_to_gateway_endpoint
    r(
        "POST",
        "/api/3.0/mlflow/gateway/endpoints/models/detach",
        Admin,
    ), // validate_can_detach_model_from_gateway_endpoint
    r("POST", "/api/3.0/mlflow/gateway/endpoints/set-tag", Admin), // validate_can_set_gateway_endpoint_tag
    r("POST", "/api/3.0/mlflow/gateway/endpoints/update", Admin), // validate_can_update_gateway_endpoint
    r(
        "POST",
        "/api/3.0/mlflow/gateway/guardrails/add-to-endpoint",
        Admin,
    ), // validate_can_add_guardrail_to_gateway_endpoint
    r("POST", "/api/3.0/mlflow/gateway/guardrails/create", Admin), // sender_is_admin
    r("DELETE", "/api/3.0/mlflow/gateway/guardrails/delete", Admin), // sender_is_admin
    r("GET", "/api/3.0/mlflow/gateway/guardrails/get", Admin),    // sender_is_admin
    r("GET", "/api/3.0/mlflow/gateway/guardrails/list", Admin),   // sender_is_admin
    r(
        "GET",
        "/api/3.0/mlflow/gateway/guardrails/list-for-endpoint",
        Admin,
    ), // validate_can_read_gateway_endpoint_guardrail_configs
    r(
        "DELETE",
        "/api/3.0/mlflow/gateway/guardrails/remove-from-endpoint",
        Admin,
    ), // validate_can_remove_guardrail_from_gateway_endpoint
    r(
        "PATCH",
        "/api/3.0/mlflow/gateway/guardrails/update-config",
        Admin,
    ), // validate_can_update_gateway_endpoint_guardrail_config
    r(
        "POST",
        "/api/3.0/mlflow/gateway/model-definitions/create",
        Admin,
    ), // validate_can_create_gateway_model_definition
    r(
        "DELETE",
        "/api/3.0/mlflow/gateway/model-definitions/delete",
        Admin,
    ), // validate_can_delete_gateway_model_definition
    r(
        "GET",
        "/api/3.0/mlflow/gateway/model-definitions/get",
        Admin,
    ), // validate_can_read_gateway_model_definition
    r(
        "GET",
        "/api/3.0/mlflow/gateway/model-definitions/list",
        Admin,
    ), // validate_can_list_gateway_model_definitions
    r(
        "POST",
        "/api/3.0/mlflow/gateway/model-definitions/update",
        Admin,
    ), // validate_can_update_gateway_model_definition
    r("POST", "/api/3.0/mlflow/gateway/secrets/create", Admin), // validate_can_create_gateway_secret
    r("DELETE", "/api/3.0/mlflow/gateway/secrets/delete", Admin), // validate_can_delete_gateway_secret
    r("GET", "/api/3.0/mlflow/gateway/secrets/get", Admin), // validate_can_read_gateway_secret
    r("GET", "/api/3.0/mlflow/gateway/secrets/list", Admin), // outside:filter_list_gateway_secrets
    r("POST", "/api/3.0/mlflow/gateway/secrets/update", Admin), // validate_can_update_gateway_secret
    r(
        "POST",
        "/api/3.0/mlflow/issues",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_create_issue
    r("POST", "/api/3.0/mlflow/issues/search", Admin),          // validate_can_search_issues
    r("GET", "/api/3.0/mlflow/issues/{issue_id}", Admin),       // validate_can_read_issue
    r("PATCH", "/api/3.0/mlflow/issues/{issue_id}", Admin),     // validate_can_update_issue
    r(
        "POST",
        "/api/3.0/mlflow/label-schemas/create",
        Experiment(Manage, Id::Param("experiment_id")),
    ), // validate_can_create_label_schema
    r("DELETE", "/api/3.0/mlflow/label-schemas/delete", Admin), // validate_can_manage_label_schema
    r("GET", "/api/3.0/mlflow/label-schemas/get", Admin),       // validate_can_read_label_schema
    r(
        "GET",
        "/api/3.0/mlflow/label-schemas/get-by-name",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "GET",
        "/api/3.0/mlflow/label-schemas/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r("PATCH", "/api/3.0/mlflow/label-schemas/update", Admin),  // validate_can_manage_label_schema
    r("POST", "/api/3.0/mlflow/prompt-optimization/jobs", Admin), // validate_can_create_prompt_optimization_job
    r(
        "GET",
        "/api/3.0/mlflow/prompt-optimization/jobs/search",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "POST",
        "/api/3.0/mlflow/prompt-optimization/jobs/search",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r(
        "DELETE",
        "/api/3.0/mlflow/prompt-optimization/jobs/{job_id}",
        Admin,
    ), // FAILCLOSED
    r(
        "GET",
        "/api/3.0/mlflow/prompt-optimization/jobs/{job_id}",
        Admin,
    ), // FAILCLOSED
    r(
        "POST",
        "/api/3.0/mlflow/prompt-optimization/jobs/{job_id}/cancel",
        Admin,
    ), // FAILCLOSED
    r("POST", "/api/3.0/mlflow/review-queues/create", Admin), // validate_can_create_review_queue
    r("POST", "/api/3.0/mlflow/review-queues/delete", Admin), // validate_can_delete_review_queue
    r("GET", "/api/3.0/mlflow/review-queues/get", Admin),     // validate_can_view_review_queue
    r("GET", "/api/3.0/mlflow/review-queues/get-by-name", Admin), // validate_can_view_review_queue_by_name
    r(
        "POST",
        "/api/3.0/mlflow/review-queues/get-or-create-user",
        Admin,
    ), // validate_can_get_or_create_user_queue
    r("POST", "/api/3.0/mlflow/review-queues/items/add", Admin), // validate_can_add_items_to_review_queue
    r("GET", "/api/3.0/mlflow/review-queues/items/list", Admin), // validate_can_view_review_queue
    r("POST", "/api/3.0/mlflow/review-queues/items/remove", Admin), // validate_can_remove_items_from_review_queue
    r(
        "POST",
        "/api/3.0/mlflow/review-queues/items/set-status",
        Admin,
    ), // validate_can_review_queue_item
    r(
        "GET",
        "/api/3.0/mlflow/review-queues/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_experiment
    r("POST", "/api/3.0/mlflow/review-queues/update", Admin), // validate_can_update_review_queue
    r("POST", "/api/3.0/mlflow/roles/assign", Admin),         // validate_can_manage_roles
    r("POST", "/api/3.0/mlflow/roles/create", Admin),         // validate_can_manage_roles
    r("DELETE", "/api/3.0/mlflow/roles/delete", Admin),       // validate_can_manage_roles
    r("GET", "/api/3.0/mlflow/roles/get", Admin),             // validate_can_view_roles
    r("GET", "/api/3.0/mlflow/roles/list", Admin),            // validate_can_list_roles
    r("POST", "/api/3.0/mlflow/roles/permissions/add", Admin), // validate_can_manage_roles
    r("GET", "/api/3.0/mlflow/roles/permissions/list", Admin), // validate_can_view_roles
    r("DELETE", "/api/3.0/mlflow/roles/permissions/remove", Admin), // validate_can_manage_roles
    r("PATCH", "/api/3.0/mlflow/roles/permissions/update", Admin), // validate_can_manage_roles
    r("DELETE", "/api/3.0/mlflow/roles/unassign", Admin),     // validate_can_manage_roles
    r("PATCH", "/api/3.0/mlflow/roles/update", Admin),        // validate_can_manage_roles
    r("GET", "/api/3.0/mlflow/roles/users/list", Admin),      // validate_can_manage_roles
    r(
        "DELETE",
        "/api/3.0/mlflow/scorers/delete",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_scorer
    r(
        "GET",
        "/api/3.0/mlflow/scorers/get",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer
    r(
        "GET",
        "/api/3.0/mlflow/scorers/list",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer_list
    r("PUT", "/api/3.0/mlflow/scorers/online-config", Admin), // validate_can_update_online_scoring_config
    r("GET", "/api/3.0/mlflow/scorers/online-configs", Admin), // validate_can_read_online_scoring_configs
    r(
        "POST",
        "/api/3.0/mlflow/scorers/register",
        Experiment(Update, Id::Param("experiment_id")),
    ), // validate_can_register_scorer
    r(
        "GET",
        "/api/3.0/mlflow/scorers/versions",
        Experiment(Read, Id::Param("experiment_id")),
    ), // validate_can_read_scorer
    r("GET", "/api/3.0/mlflow/server-info", Public),           // public
    r(
        "POST",
        "/api/3.0/mlflow/traces",
        Experiment(
            Update,
            Id::Pointer("/trace/trace_info/trace_location/mlflow_experiment/experiment_id"),
        ),
    ), // validate_can_start_trace_v3
    r("GET", "/api/3.0/mlflow/traces/batchGet", TraceIds(Read)), // validate_can_batch_get_traces
    r(
        "POST",
        "/api/3.0/mlflow/traces/batchGetInfos",
        TraceIds(Read),
    ), // validate_can_batch_get_traces
    r(
        "POST",
        "/api/3.0/mlflow/traces/calculate-filter-correlation",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_read_traces_by_experiment_ids
    r(
        "POST",
        "/api/3.0/mlflow/traces/delete-traces",
        Experiment(Delete, Id::Param("experiment_id")),
    ), // validate_can_delete_traces
    r(
        "GET",
        "/api/3.0/mlflow/traces/get",
        Trace(Read, Id::Param("trace_id")),
    ), // validate_can_read_trace_by_trace_id
    r(
        "POST",
        "/api/3.0/mlflow/traces/metrics",
        ExperimentIds(Read, Ids::Param("experiment_ids")),
    ), // validate_can_query_trace_metrics
    r(
        "POST",
        "/api/3.0/mlflow/traces/search",
        ExperimentIds(Read, Ids::TraceLocations),
    ), // validate_can_search_traces_v3
    r(
        "GET",
        "/api/3.0/mlflow/traces/{trace_id}",
        Trace(Read, Id::Path("trace_id")),
    ), // validate_can_read_trace_by_trace_id
    r(
        "POST",
        "/api/3.0/mlflow/traces/{trace_id}/assessments",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_create_assessment
    r(
        "DELETE",
        "/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_delete_assessment
    r(
        "GET",
        "/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Read, Id::Path("trace_id")),
    ), // validate_can_get_assessment
    r(
        "PATCH",
        "/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_assessment
    r(
        "DELETE",
        "/api/3.0/mlflow/traces/{trace_id}/tags",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r(
        "PATCH",
        "/api/3.0/mlflow/traces/{trace_id}/tags",
        Trace(Update, Id::Path("trace_id")),
    ), // validate_can_update_trace_by_trace_id
    r("GET", "/api/3.0/mlflow/users/current/permissions", Handler), // <lambda>
    r("GET", "/api/3.0/mlflow/users/permissions/get", Handler), // validate_can_get_user_permission
    r("POST", "/api/3.0/mlflow/users/permissions/grant", Handler), // validate_can_manage_resource
    r("GET", "/api/3.0/mlflow/users/permissions/list", Handler), // validate_can_view_user_roles
    r("POST", "/api/3.0/mlflow/users/permissions/revoke", Handler), // validate_can_manage_resource
    r("GET", "/api/3.0/mlflow/users/roles/list", Handler),     // validate_can_view_user_roles
    r("GET", "/api/3.0/mlflow/workspaces", Admin),             // outside:filter_list_workspaces
    r("POST", "/api/3.0/mlflow/workspaces", Admin),            // sender_is_admin
    r(
        "DELETE",
        "/api/3.0/mlflow/workspaces/{workspace_name}",
        Admin,
    ), // FAILCLOSED
    r("GET", "/api/3.0/mlflow/workspaces/{workspace_name}", Admin), // FAILCLOSED
    r(
        "PATCH",
        "/api/3.0/mlflow/workspaces/{workspace_name}",
        Admin,
    ), // FAILCLOSED
    r("GET", "/build/{*filename}", Admin),                     // FAILCLOSED
    r("GET", "/favicon.ico", Public),                          // public prefix
    r("GET", "/get-artifact", Run(Read)),                      // validate_can_read_run_artifact
    r("GET", "/graphql", Graphql),                             // outside
    r("POST", "/graphql", Graphql),                            // outside
    r("GET", "/health", Public),                               // public
    r("GET", "/metrics", Admin),                               // rsflow/prometheus
    r("GET", "/model-versions/get-artifact", Model(Read)), // validate_can_read_model_version_artifact
    r("GET", "/signup", Admin),                            // validate_can_create_user
    r("GET", "/static-files/{*path}", Public),             // public
    r(
        "POST",
        "/v1/traces",
        Experiment(Update, Id::Header("x-mlflow-experiment-id")),
    ), // fastapi otlp
    r("GET", "/version", Authenticated),                   // _allow_authenticated
    // rsflow's spellings of served routes: the proxy listing with a trailing slash (Flask's
    // `artifacts/<path>` with an empty path), the assistant's two answered routes.
    r(
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Read),
    ),
    r(
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Read),
    ),
    r(
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Update),
    ),
    r(
        "PUT",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Update),
    ),
    r(
        "DELETE",
        "/api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Manage),
    ),
    r(
        "DELETE",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/",
        ArtifactProxy(Manage),
    ),
    r(
        "GET",
        "/ajax-api/3.0/mlflow/assistant/config",
        Authenticated,
    ),
    r(
        "GET",
        "/ajax-api/3.0/mlflow/assistant/providers",
        Authenticated,
    ),
];

/// The rules by path, for lookups by method and concrete path.
pub struct RuleTable {
    router: matchit::Router<Vec<(Method, Need)>>,
}

impl RuleTable {
    pub fn new() -> RuleTable {
        let mut by_path: Vec<(&str, Vec<(Method, Need)>)> = Vec::new();
        for rule in RULES {
            let method = Method::from_bytes(rule.method.as_bytes()).expect("a valid method");
            match by_path.iter_mut().find(|(p, _)| *p == rule.path) {
                Some((_, v)) => v.push((method, rule.need)),
                None => by_path.push((rule.path, vec![(method, rule.need)])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, needs) in by_path {
            router
                .insert(path, needs)
                .unwrap_or_else(|e| panic!("rule {path}: {e}"));
        }
        RuleTable { router }
    }

    /// The need of a request and its path parameters (raw, as in the path); `None` when no
    /// line declares this method and path.
    pub fn lookup(&self, method: &Method, path: &str) -> Option<(Need, Vec<(String, String)>)> {
        let matched = self.router.at(path).ok()?;
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let need = matched
            .value
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, n)| *n)?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some((need, params))
    }
}

impl Default for RuleTable {
    fn default() -> Self {
        RuleTable::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_builds_and_matches_templates() {
        let t = RuleTable::new();
        let (need, _) = t.lookup(&Method::GET, "/api/2.0/mlflow/runs/get").unwrap();
        assert_eq!(need, Run(Read));
        let (need, params) = t
            .lookup(&Method::GET, "/api/3.0/mlflow/traces/tr-1/assessments/a-1")
            .unwrap();
        assert_eq!(need, Trace(Read, Id::Path("trace_id")));
        assert_eq!(params[0], ("trace_id".to_owned(), "tr-1".to_owned()));
        assert!(
            t.lookup(&Method::GET, "/api/2.0/mlflow/runs/get/")
                .is_none()
        );
        assert!(t.lookup(&Method::GET, "/API/2.0/mlflow/runs/get").is_none());
        assert!(
            t.lookup(&Method::GET, "/api/2.0/mlflow%2Fruns/get")
                .is_none()
        );
        assert!(t.lookup(&Method::PUT, "/api/2.0/mlflow/runs/get").is_none());
    }

    /// Every `.route("...")` literal in this crate's sources has a line in the table under
    /// some prefix: a route family added without a declaration fails here (it would be
    /// admin-only at run time, never open).
    #[test]
    fn every_route_the_crate_declares_has_a_rule() {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut literals = Vec::new();
        collect_routes(std::path::Path::new(src), &mut literals);
        assert!(
            literals.len() > 50,
            "found {} route literals",
            literals.len()
        );
        let normal = |p: &str| {
            let mut out = String::new();
            let mut in_param = false;
            for c in p.chars() {
                match c {
                    '{' => {
                        in_param = true;
                        out.push('{');
                    }
                    '}' => {
                        in_param = false;
                        out.push('}');
                    }
                    _ if in_param => {}
                    _ => out.push(c),
                }
            }
            out
        };
        let rules: Vec<String> = RULES.iter().map(|r| normal(r.path)).collect();
        let mut missing = Vec::new();
        for (file, lit) in literals {
            let lit = normal(&lit);
            // `/slow` is lib.rs's own test router.
            if lit == "/" || lit == "/slow" {
                continue;
            }
            if !rules.iter().any(|r| r.ends_with(&lit)) {
                missing.push(format!("{file}: {lit}"));
            }
        }
        assert!(missing.is_empty(), "routes without a rule: {missing:#?}");
    }

    fn collect_routes(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_routes(&path, out);
            } else if path.ends_with("auth/rules.rs") {
                continue;
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut rest = text.as_str();
                while let Some(i) = rest.find(".route(") {
                    rest = &rest[i + 7..];
                    let trimmed = rest.trim_start();
                    if let Some(s) = trimmed.strip_prefix('"')
                        && let Some(end) = s.find('"')
                    {
                        out.push((path.display().to_string(), s[..end].to_owned()));
                    }
                }
            }
        }
    }
}
