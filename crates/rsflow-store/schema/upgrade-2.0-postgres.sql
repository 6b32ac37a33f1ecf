-- MLflow's migrations 97727af70f4d (MLflow 2.0's head) -> dc11669786a5 (MLflow 3.17.2's head) on PostgreSQL: the statements alembic runs
-- (mlflow==3.17.2, `alembic upgrade` one revision at a time, online), captured with an
-- SQLAlchemy before_cursor_execute listener by scripts/upgrade_steps.py; do not edit.
-- Reads and alembic_version writes are left out. `-- reads:` lists what a migration read
-- of the user tables (its Python data migration: ported in src/sql/migrate/).
-- {NOW_MS} is the upgrade's time in milliseconds (MLflow's int(time.time() * 1000)).

-- step 3500859a5d39: Add Model Aliases table
CREATE TABLE registered_model_aliases (
	alias VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	CONSTRAINT registered_model_alias_pk PRIMARY KEY (name, alias), 
	CONSTRAINT registered_model_alias_name_fkey FOREIGN KEY(name) REFERENCES registered_models (name) ON DELETE cascade ON UPDATE cascade
)

-- step 7f2a7d5fae7d: add datasets inputs input_tags tables
CREATE TABLE datasets (
	dataset_uuid VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	digest VARCHAR(36) NOT NULL, 
	dataset_source_type VARCHAR(36) NOT NULL, 
	dataset_source TEXT NOT NULL, 
	dataset_schema TEXT, 
	dataset_profile TEXT, 
	CONSTRAINT dataset_pk PRIMARY KEY (experiment_id, name, digest), 
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)
-- ;;
CREATE INDEX index_datasets_dataset_uuid ON datasets (dataset_uuid)
-- ;;
CREATE INDEX index_datasets_experiment_id_dataset_source_type ON datasets (experiment_id, dataset_source_type)
-- ;;
CREATE TABLE inputs (
	input_uuid VARCHAR(36) NOT NULL, 
	source_type VARCHAR(36) NOT NULL, 
	source_id VARCHAR(36) NOT NULL, 
	destination_type VARCHAR(36) NOT NULL, 
	destination_id VARCHAR(36) NOT NULL, 
	CONSTRAINT inputs_pk PRIMARY KEY (source_type, source_id, destination_type, destination_id)
)
-- ;;
CREATE INDEX index_inputs_destination_type_destination_id_source_type ON inputs (destination_type, destination_id, source_type)
-- ;;
CREATE INDEX index_inputs_input_uuid ON inputs (input_uuid)
-- ;;
CREATE TABLE input_tags (
	input_uuid VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	value VARCHAR(500) NOT NULL, 
	CONSTRAINT input_tags_pk PRIMARY KEY (input_uuid, name)
)

-- step 2d6e25af4d3e: increase max param val length from 500 to 8000
ALTER TABLE params ALTER COLUMN value TYPE VARCHAR(8000)

-- step acf3f17fdcc7: add storage location field to model versions
ALTER TABLE model_versions ADD COLUMN storage_location VARCHAR(500)

-- step 867495a8f9d4: add trace tables
CREATE TABLE trace_info (
	request_id VARCHAR(50) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	timestamp_ms BIGINT NOT NULL, 
	execution_time_ms BIGINT, 
	status VARCHAR(50) NOT NULL, 
	CONSTRAINT trace_info_pk PRIMARY KEY (request_id), 
	CONSTRAINT fk_trace_info_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)
-- ;;
CREATE INDEX index_trace_info_experiment_id_timestamp_ms ON trace_info (experiment_id, timestamp_ms)
-- ;;
CREATE TABLE trace_tags (
	key VARCHAR(250) NOT NULL, 
	value VARCHAR(8000), 
	request_id VARCHAR(50) NOT NULL, 
	CONSTRAINT trace_tag_pk PRIMARY KEY (key, request_id), 
	CONSTRAINT fk_trace_tags_request_id FOREIGN KEY(request_id) REFERENCES trace_info (request_id)
)
-- ;;
CREATE INDEX index_trace_tags_request_id ON trace_tags (request_id)
-- ;;
CREATE TABLE trace_request_metadata (
	key VARCHAR(250) NOT NULL, 
	value VARCHAR(8000), 
	request_id VARCHAR(50) NOT NULL, 
	CONSTRAINT trace_request_metadata_pk PRIMARY KEY (key, request_id), 
	CONSTRAINT fk_trace_request_metadata_request_id FOREIGN KEY(request_id) REFERENCES trace_info (request_id)
)
-- ;;
CREATE INDEX index_trace_request_metadata_request_id ON trace_request_metadata (request_id)

-- step 5b0e9adcef9c: add cascade deletion to trace tables foreign keys
ALTER TABLE trace_tags DROP CONSTRAINT fk_trace_tags_request_id
-- ;;
ALTER TABLE trace_tags ADD CONSTRAINT fk_trace_tags_request_id FOREIGN KEY(request_id) REFERENCES trace_info (request_id) ON DELETE CASCADE
-- ;;
ALTER TABLE trace_request_metadata DROP CONSTRAINT fk_trace_request_metadata_request_id
-- ;;
ALTER TABLE trace_request_metadata ADD CONSTRAINT fk_trace_request_metadata_request_id FOREIGN KEY(request_id) REFERENCES trace_info (request_id) ON DELETE CASCADE

-- step 4465047574b1: increase max dataset schema size

-- step f5a4f2784254: increase run tag value limit to 8000
ALTER TABLE tags ALTER COLUMN value TYPE VARCHAR(8000)

-- step 0584bdc529eb: add cascading deletion to datasets from experiments
ALTER TABLE datasets DROP CONSTRAINT datasets_experiment_id_fkey
-- ;;
ALTER TABLE datasets ADD CONSTRAINT fk_datasets_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE

-- step 400f98739977: add logged model tables
CREATE TABLE logged_models (
	model_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	artifact_location VARCHAR(1000) NOT NULL, 
	creation_timestamp_ms BIGINT NOT NULL, 
	last_updated_timestamp_ms BIGINT NOT NULL, 
	status INTEGER NOT NULL, 
	lifecycle_stage VARCHAR(32), 
	model_type VARCHAR(500), 
	source_run_id VARCHAR(32), 
	status_message VARCHAR(1000), 
	CONSTRAINT logged_models_pk PRIMARY KEY (model_id), 
	CONSTRAINT logged_models_lifecycle_stage_check CHECK (lifecycle_stage IN ('active', 'deleted')), 
	CONSTRAINT fk_logged_models_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
)
-- ;;
CREATE TABLE logged_model_metrics (
	model_id VARCHAR(36) NOT NULL, 
	metric_name VARCHAR(500) NOT NULL, 
	metric_timestamp_ms BIGINT NOT NULL, 
	metric_step BIGINT NOT NULL, 
	metric_value FLOAT(53), 
	experiment_id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	dataset_uuid VARCHAR(36), 
	dataset_name VARCHAR(500), 
	dataset_digest VARCHAR(36), 
	CONSTRAINT logged_model_metrics_pk PRIMARY KEY (model_id, metric_name, metric_timestamp_ms, metric_step, run_id), 
	CONSTRAINT fk_logged_model_metrics_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id), 
	CONSTRAINT fk_logged_model_metrics_model_id FOREIGN KEY(model_id) REFERENCES logged_models (model_id) ON DELETE CASCADE, 
	CONSTRAINT fk_logged_model_metrics_run_id FOREIGN KEY(run_id) REFERENCES runs (run_uuid) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_logged_model_metrics_model_id ON logged_model_metrics (model_id)
-- ;;
CREATE TABLE logged_model_params (
	model_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	param_key VARCHAR(255) NOT NULL, 
	param_value TEXT NOT NULL, 
	CONSTRAINT logged_model_params_pk PRIMARY KEY (model_id, param_key), 
	CONSTRAINT fk_logged_model_params_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id), 
	CONSTRAINT fk_logged_model_params_model_id FOREIGN KEY(model_id) REFERENCES logged_models (model_id) ON DELETE CASCADE
)
-- ;;
CREATE TABLE logged_model_tags (
	model_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	tag_key VARCHAR(255) NOT NULL, 
	tag_value TEXT NOT NULL, 
	CONSTRAINT logged_model_tags_pk PRIMARY KEY (model_id, tag_key), 
	CONSTRAINT fk_logged_model_tags_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id), 
	CONSTRAINT fk_logged_model_tags_model_id FOREIGN KEY(model_id) REFERENCES logged_models (model_id) ON DELETE CASCADE
)

-- step 6953534de441: add step to inputs table
ALTER TABLE inputs ADD COLUMN step BIGINT DEFAULT '0' NOT NULL

-- step bda7b8c39065: increase_model_version_tag_value_limit
ALTER TABLE model_version_tags ALTER COLUMN value TYPE TEXT

-- step cbc13b556ace: add V3 trace schema columns
ALTER TABLE trace_info ADD COLUMN client_request_id VARCHAR(50)
-- ;;
ALTER TABLE trace_info ADD COLUMN request_preview VARCHAR(1000)
-- ;;
ALTER TABLE trace_info ADD COLUMN response_preview VARCHAR(1000)

-- step 770bee3ae1dd: add assessments table
CREATE TABLE assessments (
	assessment_id VARCHAR(50) NOT NULL, 
	trace_id VARCHAR(50) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	assessment_type VARCHAR(20) NOT NULL, 
	value TEXT NOT NULL, 
	error TEXT, 
	created_timestamp BIGINT NOT NULL, 
	last_updated_timestamp BIGINT NOT NULL, 
	source_type VARCHAR(50) NOT NULL, 
	source_id VARCHAR(250), 
	run_id VARCHAR(32), 
	span_id VARCHAR(50), 
	rationale TEXT, 
	overrides VARCHAR(50), 
	valid BOOLEAN NOT NULL, 
	assessment_metadata TEXT, 
	CONSTRAINT assessments_pk PRIMARY KEY (assessment_id), 
	CONSTRAINT fk_assessments_trace_id FOREIGN KEY(trace_id) REFERENCES trace_info (request_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_assessments_trace_id_created_timestamp ON assessments (trace_id, created_timestamp)
-- ;;
CREATE INDEX index_assessments_run_id_created_timestamp ON assessments (run_id, created_timestamp)
-- ;;
CREATE INDEX index_assessments_last_updated_timestamp ON assessments (last_updated_timestamp)
-- ;;
CREATE INDEX index_assessments_assessment_type ON assessments (assessment_type)

-- step a1b2c3d4e5f6: add spans table
CREATE TABLE spans (
	trace_id VARCHAR(50) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	span_id VARCHAR(50) NOT NULL, 
	parent_span_id VARCHAR(50), 
	name TEXT, 
	type VARCHAR(500), 
	status VARCHAR(50) NOT NULL, 
	start_time_unix_nano BIGINT NOT NULL, 
	end_time_unix_nano BIGINT, 
	duration_ns BIGINT GENERATED ALWAYS AS (end_time_unix_nano - start_time_unix_nano) STORED, 
	content TEXT NOT NULL, 
	CONSTRAINT spans_pk PRIMARY KEY (trace_id, span_id), 
	CONSTRAINT fk_spans_trace_id FOREIGN KEY(trace_id) REFERENCES trace_info (request_id) ON DELETE CASCADE, 
	CONSTRAINT fk_spans_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)
-- ;;
CREATE INDEX index_spans_experiment_id ON spans (experiment_id)
-- ;;
CREATE INDEX index_spans_experiment_id_status_type ON spans (experiment_id, status, type)
-- ;;
CREATE INDEX index_spans_experiment_id_type_status ON spans (experiment_id, type, status)
-- ;;
CREATE INDEX index_spans_experiment_id_duration ON spans (experiment_id, duration_ns)

-- step de4033877273: create entity_associations table
CREATE TABLE entity_associations (
	association_id VARCHAR(36) NOT NULL, 
	source_type VARCHAR(36) NOT NULL, 
	source_id VARCHAR(36) NOT NULL, 
	destination_type VARCHAR(36) NOT NULL, 
	destination_id VARCHAR(36) NOT NULL, 
	created_time BIGINT, 
	CONSTRAINT entity_associations_pk PRIMARY KEY (source_type, source_id, destination_type, destination_id)
)
-- ;;
CREATE INDEX index_entity_associations_association_id ON entity_associations (association_id)
-- ;;
CREATE INDEX index_entity_associations_reverse_lookup ON entity_associations (destination_type, destination_id, source_type, source_id)

-- step 1a0cddfcaa16: Add webhooks and webhook_events tables
CREATE TABLE webhooks (
	webhook_id VARCHAR(256) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	description VARCHAR(1000), 
	url VARCHAR(500) NOT NULL, 
	status VARCHAR(20) DEFAULT 'ACTIVE' NOT NULL, 
	secret VARCHAR(1000), 
	creation_timestamp BIGINT, 
	last_updated_timestamp BIGINT, 
	deleted_timestamp BIGINT, 
	CONSTRAINT webhook_pk PRIMARY KEY (webhook_id)
)
-- ;;
CREATE INDEX idx_webhooks_status ON webhooks (status)
-- ;;
CREATE INDEX idx_webhooks_name ON webhooks (name)
-- ;;
CREATE TABLE webhook_events (
	webhook_id VARCHAR(256) NOT NULL, 
	entity VARCHAR(50) NOT NULL, 
	action VARCHAR(50) NOT NULL, 
	CONSTRAINT webhook_event_pk PRIMARY KEY (webhook_id, entity, action), 
	FOREIGN KEY(webhook_id) REFERENCES webhooks (webhook_id) ON DELETE cascade
)
-- ;;
CREATE INDEX idx_webhook_events_entity ON webhook_events (entity)
-- ;;
CREATE INDEX idx_webhook_events_action ON webhook_events (action)
-- ;;
CREATE INDEX idx_webhook_events_entity_action ON webhook_events (entity, action)

-- step 534353b11cbc: add scorer tables
CREATE TABLE scorers (
	experiment_id INTEGER NOT NULL, 
	scorer_name VARCHAR(256) NOT NULL, 
	scorer_id VARCHAR(36) NOT NULL, 
	CONSTRAINT scorer_pk PRIMARY KEY (scorer_id), 
	CONSTRAINT fk_scorers_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
)
-- ;;
CREATE TABLE scorer_versions (
	scorer_id VARCHAR(36) NOT NULL, 
	scorer_version INTEGER NOT NULL, 
	serialized_scorer TEXT NOT NULL, 
	creation_time BIGINT, 
	CONSTRAINT scorer_version_pk PRIMARY KEY (scorer_id, scorer_version), 
	CONSTRAINT fk_scorer_versions_scorer_id FOREIGN KEY(scorer_id) REFERENCES scorers (scorer_id) ON DELETE CASCADE
)
-- ;;
CREATE UNIQUE INDEX index_scorers_experiment_id_scorer_name ON scorers (experiment_id, scorer_name)
-- ;;
CREATE INDEX index_scorer_versions_scorer_id ON scorer_versions (scorer_id)

-- step 71994744cf8e: add evaluation datasets
CREATE TABLE evaluation_datasets (
	dataset_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	schema TEXT, 
	profile TEXT, 
	digest VARCHAR(64), 
	created_time BIGINT, 
	last_update_time BIGINT, 
	created_by VARCHAR(255), 
	last_updated_by VARCHAR(255), 
	CONSTRAINT evaluation_datasets_pk PRIMARY KEY (dataset_id)
)
-- ;;
CREATE INDEX index_evaluation_datasets_name ON evaluation_datasets (name)
-- ;;
CREATE INDEX index_evaluation_datasets_created_time ON evaluation_datasets (created_time)
-- ;;
CREATE TABLE evaluation_dataset_tags (
	dataset_id VARCHAR(36) NOT NULL, 
	key VARCHAR(255) NOT NULL, 
	value VARCHAR(5000), 
	CONSTRAINT evaluation_dataset_tags_pk PRIMARY KEY (dataset_id, key), 
	CONSTRAINT fk_evaluation_dataset_tags_dataset_id FOREIGN KEY(dataset_id) REFERENCES evaluation_datasets (dataset_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_evaluation_dataset_tags_dataset_id ON evaluation_dataset_tags (dataset_id)
-- ;;
CREATE TABLE evaluation_dataset_records (
	dataset_record_id VARCHAR(36) NOT NULL, 
	dataset_id VARCHAR(36) NOT NULL, 
	inputs JSON NOT NULL, 
	expectations JSON, 
	tags JSON, 
	source JSON, 
	source_id VARCHAR(36), 
	source_type VARCHAR(255), 
	created_time BIGINT, 
	last_update_time BIGINT, 
	created_by VARCHAR(255), 
	last_updated_by VARCHAR(255), 
	input_hash VARCHAR(64) NOT NULL, 
	CONSTRAINT evaluation_dataset_records_pk PRIMARY KEY (dataset_record_id), 
	CONSTRAINT fk_evaluation_dataset_records_dataset_id FOREIGN KEY(dataset_id) REFERENCES evaluation_datasets (dataset_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_evaluation_dataset_records_dataset_id ON evaluation_dataset_records (dataset_id)
-- ;;
ALTER TABLE evaluation_dataset_records ADD CONSTRAINT unique_dataset_input UNIQUE (dataset_id, input_hash)

-- step 3da73c924c2f: add outputs to dataset record
ALTER TABLE evaluation_dataset_records ADD COLUMN outputs JSON

-- step bf29a5ff90ea: add jobs table
CREATE TABLE jobs (
	id VARCHAR(36) NOT NULL, 
	creation_time BIGINT NOT NULL, 
	function_fullname VARCHAR(500) NOT NULL, 
	params TEXT NOT NULL, 
	timeout FLOAT(53), 
	status INTEGER NOT NULL, 
	result TEXT, 
	retry_count INTEGER NOT NULL, 
	last_update_time BIGINT NOT NULL, 
	CONSTRAINT jobs_pk PRIMARY KEY (id)
)
-- ;;
CREATE INDEX index_jobs_function_status_creation_time ON jobs (function_fullname, status, creation_time)

-- step 1bd49d398cd23: add secrets tables
CREATE TABLE secrets (
	secret_id VARCHAR(36) NOT NULL, 
	secret_name VARCHAR(255) NOT NULL, 
	encrypted_value BYTEA NOT NULL, 
	wrapped_dek BYTEA NOT NULL, 
	kek_version INTEGER NOT NULL, 
	masked_value VARCHAR(500) NOT NULL, 
	provider VARCHAR(64), 
	auth_config TEXT, 
	description TEXT, 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT secrets_pk PRIMARY KEY (secret_id)
)
-- ;;
CREATE UNIQUE INDEX unique_secret_name ON secrets (secret_name)
-- ;;
CREATE TABLE endpoints (
	endpoint_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255), 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT endpoints_pk PRIMARY KEY (endpoint_id)
)
-- ;;
CREATE UNIQUE INDEX unique_endpoint_name ON endpoints (name)
-- ;;
CREATE TABLE model_definitions (
	model_definition_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	secret_id VARCHAR(36), 
	provider VARCHAR(64) NOT NULL, 
	model_name VARCHAR(256) NOT NULL, 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT model_definitions_pk PRIMARY KEY (model_definition_id), 
	CONSTRAINT fk_model_definitions_secret_id FOREIGN KEY(secret_id) REFERENCES secrets (secret_id) ON DELETE SET NULL
)
-- ;;
CREATE UNIQUE INDEX unique_model_definition_name ON model_definitions (name)
-- ;;
CREATE INDEX index_model_definitions_secret_id ON model_definitions (secret_id)
-- ;;
CREATE INDEX index_model_definitions_provider ON model_definitions (provider)
-- ;;
CREATE TABLE endpoint_model_mappings (
	mapping_id VARCHAR(36) NOT NULL, 
	endpoint_id VARCHAR(36) NOT NULL, 
	model_definition_id VARCHAR(36) NOT NULL, 
	weight FLOAT NOT NULL, 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	CONSTRAINT endpoint_model_mappings_pk PRIMARY KEY (mapping_id), 
	CONSTRAINT fk_endpoint_model_mappings_endpoint_id FOREIGN KEY(endpoint_id) REFERENCES endpoints (endpoint_id) ON DELETE CASCADE, 
	CONSTRAINT fk_endpoint_model_mappings_model_definition_id FOREIGN KEY(model_definition_id) REFERENCES model_definitions (model_definition_id)
)
-- ;;
CREATE INDEX index_endpoint_model_mappings_endpoint_id ON endpoint_model_mappings (endpoint_id)
-- ;;
CREATE INDEX index_endpoint_model_mappings_model_definition_id ON endpoint_model_mappings (model_definition_id)
-- ;;
CREATE UNIQUE INDEX unique_endpoint_model_mapping ON endpoint_model_mappings (endpoint_id, model_definition_id)
-- ;;
CREATE TABLE endpoint_bindings (
	endpoint_id VARCHAR(36) NOT NULL, 
	resource_type VARCHAR(50) NOT NULL, 
	resource_id VARCHAR(255) NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	CONSTRAINT endpoint_bindings_pk PRIMARY KEY (endpoint_id, resource_type, resource_id), 
	CONSTRAINT fk_endpoint_bindings_endpoint_id FOREIGN KEY(endpoint_id) REFERENCES endpoints (endpoint_id) ON DELETE CASCADE
)
-- ;;
CREATE TABLE endpoint_tags (
	key VARCHAR(250) NOT NULL, 
	value VARCHAR(5000), 
	endpoint_id VARCHAR(36) NOT NULL, 
	CONSTRAINT endpoint_tag_pk PRIMARY KEY (key, endpoint_id), 
	CONSTRAINT fk_endpoint_tags_endpoint_id FOREIGN KEY(endpoint_id) REFERENCES endpoints (endpoint_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_endpoint_tags_endpoint_id ON endpoint_tags (endpoint_id)
-- ;;
CREATE OR REPLACE FUNCTION prevent_secrets_aad_mutation()
RETURNS TRIGGER AS $$
BEGIN
    IF OLD.secret_id != NEW.secret_id OR OLD.secret_name != NEW.secret_name THEN
        RAISE EXCEPTION 'secret_id and secret_name are immutable (used as AAD in encryption)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
-- ;;
CREATE TRIGGER prevent_secrets_aad_mutation
BEFORE UPDATE ON secrets
FOR EACH ROW
EXECUTE FUNCTION prevent_secrets_aad_mutation()

-- step b7c8d9e0f1a2: add trace metrics table
CREATE TABLE trace_metrics (
	request_id VARCHAR(50) NOT NULL, 
	key VARCHAR(250) NOT NULL, 
	value FLOAT(53), 
	CONSTRAINT trace_metrics_pk PRIMARY KEY (request_id, key), 
	CONSTRAINT fk_trace_metrics_request_id FOREIGN KEY(request_id) REFERENCES trace_info (request_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_trace_metrics_request_id ON trace_metrics (request_id)

-- step 5d2d30f0abce: update job table
DROP INDEX index_jobs_function_status_creation_time
-- ;;
ALTER TABLE jobs RENAME function_fullname TO job_name
-- ;;
CREATE INDEX index_jobs_name_status_creation_time ON jobs (job_name, status, creation_time)

-- step c9d4e5f6a7b8: add routing strategy to endpoints and linkage type to mappings
ALTER TABLE endpoints ADD COLUMN routing_strategy VARCHAR(64)
-- ;;
ALTER TABLE endpoints ADD COLUMN fallback_config_json TEXT
-- ;;
ALTER TABLE endpoint_model_mappings ADD COLUMN linkage_type VARCHAR(64) DEFAULT 'PRIMARY' NOT NULL
-- ;;
ALTER TABLE endpoint_model_mappings ADD COLUMN fallback_order INTEGER
-- ;;
DROP INDEX unique_endpoint_model_mapping
-- ;;
CREATE UNIQUE INDEX unique_endpoint_model_linkage_mapping ON endpoint_model_mappings (endpoint_id, model_definition_id, linkage_type)

-- step 2c33131f4dae: add online_scoring_configs table
CREATE TABLE online_scoring_configs (
	online_scoring_config_id VARCHAR(36) NOT NULL, 
	scorer_id VARCHAR(36) NOT NULL, 
	sample_rate FLOAT(53) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	filter_string TEXT, 
	CONSTRAINT online_scoring_config_pk PRIMARY KEY (online_scoring_config_id), 
	CONSTRAINT fk_online_scoring_configs_scorer_id FOREIGN KEY(scorer_id) REFERENCES scorers (scorer_id) ON DELETE CASCADE, 
	CONSTRAINT fk_online_scoring_configs_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)

-- step d3e4f5a6b7c8: add display_name to endpoint_bindings
ALTER TABLE endpoint_bindings ADD COLUMN display_name VARCHAR(255)

-- step d0e1f2a3b4c5: add experiment_id and usage_tracking to endpoints table
ALTER TABLE endpoints ADD COLUMN experiment_id INTEGER
-- ;;
ALTER TABLE endpoints ADD COLUMN usage_tracking BOOLEAN DEFAULT '0' NOT NULL
-- ;;
ALTER TABLE endpoints ADD CONSTRAINT fk_endpoints_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE SET NULL

-- step c8d9e0f1a2b3: add span metrics table and dimension attributes column
CREATE TABLE span_metrics (
	trace_id VARCHAR(50) NOT NULL, 
	span_id VARCHAR(50) NOT NULL, 
	key VARCHAR(250) NOT NULL, 
	value FLOAT(53), 
	CONSTRAINT span_metrics_pk PRIMARY KEY (trace_id, span_id, key), 
	CONSTRAINT fk_span_metrics_span FOREIGN KEY(trace_id, span_id) REFERENCES spans (trace_id, span_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_span_metrics_trace_id_span_id ON span_metrics (trace_id, span_id)
-- ;;
ALTER TABLE spans ADD COLUMN dimension_attributes JSON

-- step 1b5f0d9ad7c1: Add workspace columns and catalog table
ALTER TABLE experiments DROP CONSTRAINT experiments_name_key
-- ;;
ALTER TABLE experiments ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE experiments ADD CONSTRAINT uq_experiments_workspace_name UNIQUE (workspace, name)
-- ;;
ALTER TABLE model_versions DROP CONSTRAINT model_versions_name_fkey
-- ;;
ALTER TABLE registered_model_tags DROP CONSTRAINT registered_model_tags_name_fkey
-- ;;
ALTER TABLE registered_model_aliases DROP CONSTRAINT registered_model_alias_name_fkey
-- ;;
ALTER TABLE model_version_tags DROP CONSTRAINT model_version_tags_name_version_fkey
-- ;;
ALTER TABLE registered_models ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE registered_models DROP CONSTRAINT registered_model_pk
-- ;;
ALTER TABLE registered_models ADD CONSTRAINT registered_model_pk PRIMARY KEY (workspace, name)
-- ;;
ALTER TABLE model_versions ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE model_versions DROP CONSTRAINT model_version_pk
-- ;;
ALTER TABLE model_versions ADD CONSTRAINT model_version_pk PRIMARY KEY (workspace, name, version)
-- ;;
ALTER TABLE model_versions ADD CONSTRAINT fk_model_versions_registered_models FOREIGN KEY(workspace, name) REFERENCES registered_models (workspace, name) ON UPDATE CASCADE
-- ;;
ALTER TABLE registered_model_tags ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE registered_model_tags DROP CONSTRAINT registered_model_tag_pk
-- ;;
ALTER TABLE registered_model_tags ADD CONSTRAINT registered_model_tag_pk PRIMARY KEY (workspace, key, name)
-- ;;
ALTER TABLE registered_model_tags ADD CONSTRAINT fk_registered_model_tags_registered_models FOREIGN KEY(workspace, name) REFERENCES registered_models (workspace, name) ON UPDATE CASCADE
-- ;;
ALTER TABLE model_version_tags ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE model_version_tags DROP CONSTRAINT model_version_tag_pk
-- ;;
ALTER TABLE model_version_tags ADD CONSTRAINT model_version_tag_pk PRIMARY KEY (workspace, key, name, version)
-- ;;
ALTER TABLE model_version_tags ADD CONSTRAINT fk_model_version_tags_model_versions FOREIGN KEY(workspace, name, version) REFERENCES model_versions (workspace, name, version) ON UPDATE CASCADE
-- ;;
ALTER TABLE registered_model_aliases ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE registered_model_aliases DROP CONSTRAINT registered_model_alias_pk
-- ;;
ALTER TABLE registered_model_aliases ADD CONSTRAINT registered_model_alias_pk PRIMARY KEY (workspace, name, alias)
-- ;;
ALTER TABLE registered_model_aliases ADD CONSTRAINT fk_registered_model_aliases_registered_models FOREIGN KEY(workspace, name) REFERENCES registered_models (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE
-- ;;
ALTER TABLE evaluation_datasets ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE webhooks ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
DROP INDEX unique_secret_name
-- ;;
ALTER TABLE secrets ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE secrets ADD CONSTRAINT uq_secrets_workspace_secret_name UNIQUE (workspace, secret_name)
-- ;;
DROP INDEX unique_endpoint_name
-- ;;
ALTER TABLE endpoints ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE endpoints ADD CONSTRAINT uq_endpoints_workspace_name UNIQUE (workspace, name)
-- ;;
DROP INDEX unique_model_definition_name
-- ;;
ALTER TABLE model_definitions ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
ALTER TABLE model_definitions ADD CONSTRAINT uq_model_definitions_workspace_name UNIQUE (workspace, name)
-- ;;
DROP INDEX index_jobs_name_status_creation_time
-- ;;
ALTER TABLE jobs ADD COLUMN workspace VARCHAR(63) DEFAULT 'default' NOT NULL
-- ;;
CREATE INDEX index_jobs_name_status_creation_time ON jobs (job_name, workspace, status, creation_time)
-- ;;
CREATE INDEX idx_experiments_workspace ON experiments (workspace)
-- ;;
CREATE INDEX idx_registered_models_workspace ON registered_models (workspace)
-- ;;
CREATE INDEX idx_experiments_workspace_creation_time ON experiments (workspace, creation_time)
-- ;;
CREATE INDEX idx_evaluation_datasets_workspace ON evaluation_datasets (workspace)
-- ;;
CREATE INDEX idx_webhooks_workspace ON webhooks (workspace)
-- ;;
CREATE INDEX idx_secrets_workspace ON secrets (workspace)
-- ;;
CREATE INDEX idx_endpoints_workspace ON endpoints (workspace)
-- ;;
CREATE INDEX idx_model_definitions_workspace ON model_definitions (workspace)
-- ;;
CREATE TABLE workspaces (
	name VARCHAR(63) NOT NULL, 
	description TEXT, 
	default_artifact_root TEXT, 
	CONSTRAINT workspaces_pk PRIMARY KEY (name)
)
-- ;;
INSERT INTO workspaces (name, description) VALUES ('default', 'Default workspace for legacy resources')

-- step e1f2a3b4c5d6: add budget_policies table
CREATE TABLE budget_policies (
	budget_policy_id VARCHAR(36) NOT NULL, 
	budget_unit VARCHAR(32) NOT NULL, 
	budget_amount FLOAT NOT NULL, 
	duration_unit VARCHAR(32) NOT NULL, 
	duration_value INTEGER NOT NULL, 
	target_scope VARCHAR(32) NOT NULL, 
	budget_action VARCHAR(32) NOT NULL, 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	CONSTRAINT budget_policies_pk PRIMARY KEY (budget_policy_id)
)
-- ;;
CREATE INDEX idx_budget_policies_workspace ON budget_policies (workspace)

-- step 76601a5f987d: add issues table
CREATE TABLE issues (
	issue_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	description TEXT NOT NULL, 
	status VARCHAR(50) NOT NULL, 
	severity VARCHAR(50), 
	root_causes TEXT, 
	source_run_id VARCHAR(32), 
	categories TEXT, 
	created_timestamp BIGINT NOT NULL, 
	last_updated_timestamp BIGINT NOT NULL, 
	created_by VARCHAR(255), 
	CONSTRAINT issues_pk PRIMARY KEY (issue_id), 
	CONSTRAINT fk_issues_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE, 
	CONSTRAINT fk_issues_source_run_id FOREIGN KEY(source_run_id) REFERENCES runs (run_uuid) ON DELETE SET NULL
)
-- ;;
CREATE INDEX index_issues_experiment_id ON issues (experiment_id)
-- ;;
CREATE INDEX index_issues_source_run_id ON issues (source_run_id)
-- ;;
CREATE INDEX index_issues_status ON issues (status)

-- step c3d6457b6d8a: add status_details column to jobs table
ALTER TABLE jobs ADD COLUMN status_details JSON

-- step a5b4c3d2e1f0: add composite index on metrics (run_uuid, key, step)
CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, key, step)

-- step ae8bbe7743c9: add guardrails and guardrail_configs tables
CREATE TABLE guardrails (
	guardrail_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	scorer_id VARCHAR(36) NOT NULL, 
	scorer_version INTEGER NOT NULL, 
	stage VARCHAR(32) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	action_endpoint_id VARCHAR(36), 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	last_updated_by VARCHAR(255), 
	last_updated_at BIGINT NOT NULL, 
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	CONSTRAINT guardrails_pk PRIMARY KEY (guardrail_id), 
	CONSTRAINT fk_guardrails_scorer_version FOREIGN KEY(scorer_id, scorer_version) REFERENCES scorer_versions (scorer_id, scorer_version), 
	CONSTRAINT fk_guardrails_action_endpoint_id FOREIGN KEY(action_endpoint_id) REFERENCES endpoints (endpoint_id) ON DELETE SET NULL
)
-- ;;
CREATE INDEX idx_guardrails_workspace ON guardrails (workspace)
-- ;;
CREATE INDEX idx_guardrails_scorer ON guardrails (scorer_id, scorer_version)
-- ;;
CREATE TABLE guardrail_configs (
	endpoint_id VARCHAR(36) NOT NULL, 
	guardrail_id VARCHAR(36) NOT NULL, 
	execution_order INTEGER, 
	created_by VARCHAR(255), 
	created_at BIGINT NOT NULL, 
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	CONSTRAINT guardrail_configs_pk PRIMARY KEY (endpoint_id, guardrail_id), 
	CONSTRAINT fk_guardrail_configs_endpoint_id FOREIGN KEY(endpoint_id) REFERENCES endpoints (endpoint_id) ON DELETE CASCADE, 
	CONSTRAINT fk_guardrail_configs_guardrail_id FOREIGN KEY(guardrail_id) REFERENCES guardrails (guardrail_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX idx_guardrail_configs_endpoint_id ON guardrail_configs (endpoint_id)
-- ;;
CREATE INDEX idx_guardrail_configs_guardrail_id ON guardrail_configs (guardrail_id)

-- step 7d34483879f0: Add indexes for relationship loading after workspace PK migration
CREATE INDEX idx_model_version_tags_workspace_name_version ON model_version_tags (workspace, name, version)
-- ;;
CREATE INDEX idx_registered_model_tags_workspace_name ON registered_model_tags (workspace, name)

-- step da6fb0208061: add trace archival workspace columns
ALTER TABLE trace_info ADD COLUMN db_payload_generation INTEGER DEFAULT '0' NOT NULL
-- ;;
ALTER TABLE workspaces ADD COLUMN trace_archival_location TEXT
-- ;;
ALTER TABLE workspaces ADD COLUMN trace_archival_retention VARCHAR(32)

-- step 89d3d66ed43f: add label_schemas table
CREATE TABLE label_schemas (
	schema_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	instruction TEXT, 
	enable_comment BOOLEAN DEFAULT '0' NOT NULL, 
	input_type VARCHAR(32) NOT NULL, 
	input_config TEXT NOT NULL, 
	created_by VARCHAR(255), 
	created_time BIGINT NOT NULL, 
	last_update_time BIGINT NOT NULL, 
	is_default BOOLEAN DEFAULT false NOT NULL, 
	CONSTRAINT label_schemas_pk PRIMARY KEY (schema_id), 
	CONSTRAINT fk_label_schemas_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE, 
	CONSTRAINT uq_label_schemas_exp_name UNIQUE (experiment_id, name)
)
-- ;;
CREATE INDEX index_label_schemas_experiment_id ON label_schemas (experiment_id)

-- step b7e4c1a90f23: add review_queue tables
CREATE TABLE review_queues (
	queue_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	queue_type VARCHAR(16) NOT NULL, 
	created_by VARCHAR(255), 
	creation_time_ms BIGINT NOT NULL, 
	last_update_time_ms BIGINT NOT NULL, 
	name_key VARCHAR(250) NOT NULL, 
	CONSTRAINT review_queues_pk PRIMARY KEY (queue_id), 
	CONSTRAINT fk_review_queues_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE, 
	CONSTRAINT uq_review_queues_experiment_name_key UNIQUE (experiment_id, name_key)
)
-- ;;
CREATE INDEX index_review_queues_experiment_id ON review_queues (experiment_id)
-- ;;
CREATE TABLE review_queue_users (
	queue_id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(250) NOT NULL, 
	CONSTRAINT review_queue_users_pk PRIMARY KEY (queue_id, user_id), 
	CONSTRAINT fk_review_queue_users_queue_id FOREIGN KEY(queue_id) REFERENCES review_queues (queue_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_review_queue_users_user_id ON review_queue_users (user_id)
-- ;;
CREATE TABLE review_queue_items (
	queue_id VARCHAR(36) NOT NULL, 
	item_type VARCHAR(16) NOT NULL, 
	item_id VARCHAR(50) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	completed_by VARCHAR(250), 
	completed_time_ms BIGINT, 
	creation_time_ms BIGINT NOT NULL, 
	last_update_time_ms BIGINT NOT NULL, 
	CONSTRAINT review_queue_items_pk PRIMARY KEY (queue_id, item_id), 
	CONSTRAINT fk_review_queue_items_queue_id FOREIGN KEY(queue_id) REFERENCES review_queues (queue_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_review_queue_items_queue_id_status ON review_queue_items (queue_id, status)
-- ;;
CREATE INDEX index_review_queue_items_item_id ON review_queue_items (item_id)
-- ;;
CREATE TABLE review_queue_label_schemas (
	queue_id VARCHAR(36) NOT NULL, 
	schema_id VARCHAR(36) NOT NULL, 
	CONSTRAINT review_queue_label_schemas_pk PRIMARY KEY (queue_id, schema_id), 
	CONSTRAINT fk_review_queue_label_schemas_queue_id FOREIGN KEY(queue_id) REFERENCES review_queues (queue_id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_review_queue_label_schemas_schema_id ON review_queue_label_schemas (schema_id)

-- step a8b9c0d1e2f3: add MCP server registry tables
CREATE TABLE mcp_servers (
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	display_name VARCHAR(256), 
	description TEXT, 
	icons JSON, 
	created_by VARCHAR(256), 
	last_updated_by VARCHAR(256), 
	created_at BIGINT NOT NULL, 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT mcp_servers_pk PRIMARY KEY (workspace, name)
)
-- ;;
CREATE TABLE mcp_server_versions (
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	version VARCHAR(128) NOT NULL, 
	version_major INTEGER NOT NULL, 
	version_minor INTEGER NOT NULL, 
	version_patch INTEGER NOT NULL, 
	version_prerelease_sort_key VARCHAR(512) NOT NULL, 
	server_json JSON NOT NULL, 
	status VARCHAR(20) DEFAULT 'draft' NOT NULL, 
	tools JSON, 
	source VARCHAR(512), 
	connect_options JSON, 
	created_by VARCHAR(256), 
	last_updated_by VARCHAR(256), 
	created_at BIGINT NOT NULL, 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT mcp_server_versions_pk PRIMARY KEY (workspace, name, version), 
	CONSTRAINT mcp_server_versions_server_fkey FOREIGN KEY(workspace, name) REFERENCES mcp_servers (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE
)
-- ;;
CREATE TABLE mcp_server_tags (
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	key VARCHAR(250) NOT NULL, 
	value VARCHAR(5000), 
	CONSTRAINT mcp_server_tags_pk PRIMARY KEY (workspace, name, key), 
	CONSTRAINT mcp_server_tags_server_fkey FOREIGN KEY(workspace, name) REFERENCES mcp_servers (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE
)
-- ;;
CREATE TABLE mcp_server_version_tags (
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	version VARCHAR(128) NOT NULL, 
	key VARCHAR(250) NOT NULL, 
	value VARCHAR(5000), 
	CONSTRAINT mcp_server_version_tags_pk PRIMARY KEY (workspace, name, version, key), 
	CONSTRAINT mcp_server_version_tags_version_fkey FOREIGN KEY(workspace, name, version) REFERENCES mcp_server_versions (workspace, name, version) ON DELETE CASCADE ON UPDATE CASCADE
)
-- ;;
CREATE TABLE mcp_server_aliases (
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	alias VARCHAR(256) NOT NULL, 
	version VARCHAR(128) NOT NULL, 
	CONSTRAINT mcp_server_aliases_pk PRIMARY KEY (workspace, name, alias), 
	CONSTRAINT mcp_server_aliases_server_fkey FOREIGN KEY(workspace, name) REFERENCES mcp_servers (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE
)
-- ;;
CREATE TABLE mcp_access_endpoints (
	id VARCHAR(36) NOT NULL, 
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL, 
	server_name VARCHAR(256) NOT NULL, 
	server_version VARCHAR(128), 
	server_alias VARCHAR(256), 
	url VARCHAR(2048) NOT NULL, 
	transport_type VARCHAR(32) DEFAULT 'streamable-http' NOT NULL, 
	created_by VARCHAR(256), 
	last_updated_by VARCHAR(256), 
	created_at BIGINT NOT NULL, 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT mcp_access_endpoints_pk PRIMARY KEY (id), 
	CONSTRAINT mcp_access_endpoints_server_fkey FOREIGN KEY(workspace, server_name) REFERENCES mcp_servers (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE
)
-- ;;
CREATE INDEX idx_mcp_server_versions_latest ON mcp_server_versions (workspace, name, status, version_major DESC, version_minor DESC, version_patch DESC)
-- ;;
CREATE INDEX ix_mcp_access_endpoints_server_name ON mcp_access_endpoints (workspace, server_name)
-- ;;
CREATE INDEX ix_mcp_access_endpoints_version ON mcp_access_endpoints (workspace, server_name, server_version)
-- ;;
CREATE INDEX ix_mcp_access_endpoints_alias ON mcp_access_endpoints (workspace, server_name, server_alias)

-- step c1d2e3f4a5b6: add span experiment and start time index
DROP INDEX index_spans_experiment_id
-- ;;
CREATE INDEX index_spans_experiment_id_start_time ON spans (experiment_id, start_time_unix_nano)

-- step c3d9e7f1a2b4: add target_value to budget_policies
ALTER TABLE budget_policies ADD COLUMN target_value VARCHAR(255)
-- ;;
CREATE INDEX idx_budget_policies_target_value ON budget_policies (target_value)

-- step 6f8d9c3b2a1e: Add ON DELETE CASCADE to `trace_info.experiment_id`.
ALTER TABLE trace_info DROP CONSTRAINT fk_trace_info_experiment_id
-- ;;
ALTER TABLE trace_info ADD CONSTRAINT fk_trace_info_experiment_id FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE

-- step 1971f2d9a75b: add trace archival candidate index
CREATE INDEX index_trace_info_timestamp_ms_request_id ON trace_info (timestamp_ms, request_id)

-- step 17e22815139b: increase experiment tag value limit to 20000
ALTER TABLE experiment_tags ALTER COLUMN value TYPE TEXT

-- step b7e2c1a4d9f3: add creator column to jobs
ALTER TABLE jobs ADD COLUMN creator VARCHAR(255)

-- step 75868b020152: add sql trace analytics schema
-- reads: SELECT spans.trace_id FROM spans LEFT OUTER JOIN trace_info ON spans.trace_id = trace_info.request_id WHERE trace_info.request_id IS NULL LIMIT 1
-- reads: SELECT assessments.trace_id FROM assessments LEFT OUTER JOIN trace_info ON assessments.trace_id = trace_info.request_id WHERE trace_info.request_id IS NULL LIMI
-- reads: SELECT spans.trace_id, spans.span_id, spans.dimension_attributes FROM spans WHERE spans.dimension_attributes IS NOT NULL ORDER BY spans.trace_id, spans.span_id 
-- reads: SELECT trace_info.request_id, trace_info.trace_name, trace_info.session_id, trace_info.input_tokens, trace_info.output_tokens, trace_info.total_tokens, trace_in
-- reads: SELECT spans.trace_id, spans.span_id, spans.dimension_attributes, spans.input_cost, spans.output_cost, spans.total_cost, spans.model_name, spans.model_provider 
-- reads: SELECT assessments.assessment_id, assessments.value, trace_info.experiment_id AS source_experiment_id, trace_info.timestamp_ms AS source_trace_timestamp_ms, ass
-- reads: SELECT assessments.assessment_id FROM assessments WHERE assessments.experiment_id IS NULL OR assessments.trace_timestamp_ms IS NULL OR assessments.is_numeric_va
-- reads: SELECT trace_tags.request_id FROM trace_tags WHERE trace_tags.key IN ('mlflow.traceName') ORDER BY trace_tags.request_id LIMIT 250
-- reads: SELECT trace_request_metadata.request_id FROM trace_request_metadata WHERE trace_request_metadata.key IN ('mlflow.trace.session', 'mlflow.trace.tokenUsage', 'ml
-- reads: SELECT trace_metrics.request_id FROM trace_metrics WHERE trace_metrics.key IN ('input_tokens', 'output_tokens', 'total_tokens', 'cache_read_input_tokens', 'cach
-- reads: SELECT span_metrics.trace_id, span_metrics.span_id FROM span_metrics WHERE span_metrics.key IN ('input_cost', 'output_cost', 'total_cost') ORDER BY span_metrics
ALTER TABLE trace_info ADD COLUMN trace_name VARCHAR(4096)
-- ;;
ALTER TABLE trace_info ADD COLUMN session_id VARCHAR(250)
-- ;;
ALTER TABLE trace_info ADD COLUMN input_tokens BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN output_tokens BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN total_tokens BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN cache_read_input_tokens BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN cache_creation_input_tokens BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN cache_creation_input_tokens_above_1hr BIGINT
-- ;;
ALTER TABLE trace_info ADD COLUMN input_cost FLOAT(53)
-- ;;
ALTER TABLE trace_info ADD COLUMN output_cost FLOAT(53)
-- ;;
ALTER TABLE trace_info ADD COLUMN total_cost FLOAT(53)
-- ;;
ALTER TABLE assessments ADD COLUMN experiment_id INTEGER
-- ;;
ALTER TABLE assessments ADD COLUMN trace_timestamp_ms BIGINT
-- ;;
ALTER TABLE assessments ADD COLUMN aggregate_value FLOAT(53)
-- ;;
ALTER TABLE assessments ADD COLUMN is_numeric_value BOOLEAN DEFAULT false
-- ;;
ALTER TABLE spans ADD COLUMN input_cost FLOAT(53)
-- ;;
ALTER TABLE spans ADD COLUMN output_cost FLOAT(53)
-- ;;
ALTER TABLE spans ADD COLUMN total_cost FLOAT(53)
-- ;;
ALTER TABLE spans ADD COLUMN model_name VARCHAR(500)
-- ;;
ALTER TABLE spans ADD COLUMN model_provider VARCHAR(500)
-- ;;
UPDATE trace_info SET total_cost=(SELECT sum(spans.total_cost) AS sum_1 
FROM spans 
WHERE spans.trace_id = trace_info.request_id) WHERE trace_info.total_cost IS NULL AND (SELECT sum(spans.total_cost) AS sum_1 
FROM spans 
WHERE spans.trace_id = trace_info.request_id) IS NOT NULL AND (EXISTS (SELECT 1 
FROM trace_request_metadata 
WHERE trace_request_metadata.request_id = trace_info.request_id AND trace_request_metadata.key = 'mlflow.gateway.endpointId'))
-- ;;
ALTER TABLE assessments ALTER COLUMN is_numeric_value SET NOT NULL
-- ;;
CREATE TABLE sql_trace_metric_daily_rollups (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY, 
	experiment_id INTEGER NOT NULL, 
	rollup_day DATE NOT NULL, 
	metric_name VARCHAR(250) NOT NULL, 
	grouping_set VARCHAR(50) NOT NULL, 
	trace_status VARCHAR(50), 
	sample_count BIGINT NOT NULL, 
	sum_value FLOAT(53), 
	min_value FLOAT(53), 
	max_value FLOAT(53), 
	p50_value FLOAT(53), 
	p90_value FLOAT(53), 
	p99_value FLOAT(53), 
	CONSTRAINT sql_trace_metric_daily_rollups_pk PRIMARY KEY (id)
)
-- ;;
CREATE TABLE sql_span_cost_daily_rollups (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY, 
	experiment_id INTEGER NOT NULL, 
	rollup_day DATE NOT NULL, 
	metric_name VARCHAR(250) NOT NULL, 
	grouping_set VARCHAR(50) NOT NULL, 
	model_name VARCHAR(500), 
	model_provider VARCHAR(500), 
	sample_count BIGINT NOT NULL, 
	sum_value FLOAT(53), 
	min_value FLOAT(53), 
	max_value FLOAT(53), 
	CONSTRAINT sql_span_cost_daily_rollups_pk PRIMARY KEY (id)
)
-- ;;
CREATE TABLE sql_assessment_daily_rollups (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY, 
	experiment_id INTEGER NOT NULL, 
	rollup_day DATE NOT NULL, 
	metric_name VARCHAR(250) NOT NULL, 
	grouping_set VARCHAR(50) NOT NULL, 
	sample_count BIGINT NOT NULL, 
	sum_value FLOAT(53), 
	min_value FLOAT(53), 
	max_value FLOAT(53), 
	CONSTRAINT sql_assessment_daily_rollups_pk PRIMARY KEY (id)
)
-- ;;
CREATE TABLE sql_trace_rollup_rebuild_queue (
	experiment_id INTEGER NOT NULL, 
	rollup_day DATE NOT NULL, 
	rollup_family VARCHAR(50) NOT NULL, 
	CONSTRAINT sql_trace_rollup_rebuild_queue_pk PRIMARY KEY (experiment_id, rollup_day, rollup_family)
)
-- ;;
ALTER TABLE spans DROP COLUMN dimension_attributes
-- ;;
CREATE INDEX index_trace_info_experiment_id_session_id ON trace_info (experiment_id, session_id)
-- ;;
CREATE INDEX idx_trace_rollups_lookup ON sql_trace_metric_daily_rollups (experiment_id, rollup_day, metric_name, grouping_set, trace_status)
-- ;;
CREATE INDEX idx_span_cost_rollups_lookup ON sql_span_cost_daily_rollups (experiment_id, rollup_day, metric_name, grouping_set, model_name, model_provider)
-- ;;
CREATE INDEX idx_assessment_rollups_lookup ON sql_assessment_daily_rollups (experiment_id, rollup_day, metric_name, grouping_set)
-- ;;
CREATE INDEX idx_spans_cost_trace_time_cover ON spans (trace_id, start_time_unix_nano) INCLUDE (input_cost, output_cost, total_cost, model_name, model_provider) WHERE input_cost IS NOT NULL OR output_cost IS NOT NULL OR total_cost IS NOT NULL
-- ;;
CREATE INDEX idx_spans_cost_exp_time_cover ON spans (experiment_id, start_time_unix_nano) INCLUDE (input_cost, output_cost, total_cost, model_name, model_provider) WHERE input_cost IS NOT NULL OR output_cost IS NOT NULL OR total_cost IS NOT NULL
-- ;;
CREATE INDEX idx_assessments_exp_trace_ts ON assessments (experiment_id, trace_timestamp_ms)
-- ;;
CREATE INDEX idx_assessments_exp_trace_ts_name ON assessments (experiment_id, trace_timestamp_ms, name)
-- ;;
CREATE INDEX idx_assessments_exp_name_valid ON assessments (experiment_id, name, valid)

-- step dc11669786a5: add job executor persistence model
CREATE TABLE scheduler_leases (
	lease_key VARCHAR(255) NOT NULL, 
	acquired_at BIGINT NOT NULL, 
	ttl_seconds INTEGER NOT NULL, 
	CONSTRAINT scheduler_leases_pk PRIMARY KEY (lease_key)
)
-- ;;
CREATE TABLE job_locks (
	lock_key VARCHAR(255) NOT NULL, 
	job_id VARCHAR(36) NOT NULL, 
	acquired_at BIGINT NOT NULL, 
	CONSTRAINT job_locks_pk PRIMARY KEY (lock_key), 
	CONSTRAINT fk_job_locks_job_id FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE CASCADE
)
-- ;;
CREATE INDEX index_job_locks_job_id ON job_locks (job_id)
-- ;;
ALTER TABLE jobs ADD COLUMN executor_backend VARCHAR(255)
-- ;;
ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT
-- ;;
ALTER TABLE jobs ADD COLUMN status_message TEXT
-- ;;
ALTER TABLE jobs ADD COLUMN progress JSON
-- ;;
ALTER TABLE jobs ADD COLUMN progress_updated_at BIGINT
-- ;;
ALTER TABLE jobs ADD COLUMN token_hash VARCHAR(64)
-- ;;
ALTER TABLE jobs ADD COLUMN scoped_permissions JSON
-- ;;
ALTER TABLE jobs ADD COLUMN next_attempt_at BIGINT
-- ;;
CREATE INDEX index_jobs_status_lease_expires_at ON jobs (status, lease_expires_at)
-- ;;
UPDATE jobs SET status=5, last_update_time={NOW_MS} WHERE jobs.status IN (0, 1)
