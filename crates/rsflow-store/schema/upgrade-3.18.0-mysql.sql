-- MLflow 3.18.0's migrations from the 3.17.2 head dc11669786a5 to f4a9b2c7d1e6 on MySQL and
-- MariaDB: the DDL alembic runs for them, captured from `mlflow db upgrade` (mlflow==3.18.0 with
-- PyMySQL, MariaDB 10.11, PYTHONHASHSEED=0) with an SQLAlchemy `before_cursor_execute`
-- listener, byte for byte. MySQL commits each DDL statement as it runs (so does alembic's run:
-- no transactional DDL there); rsflow updates alembic_version after each step itself, in the
-- step's own transaction with the data migration of 8b6ad64cb8f5 (last_seen_timestamp,
-- issue_categories from the issues.categories JSON: code, in src/sql/migrate.rs).
-- A `-- step <revision>` line starts the statements of the migration to <revision>.
-- Statements are separated by lines holding only `-- ;;`.

-- step e7d1f4b2a9c6
CREATE TABLE skills (
	workspace VARCHAR(63) NOT NULL DEFAULT 'default', 
	organization VARCHAR(64) NOT NULL DEFAULT '', 
	name VARCHAR(128) NOT NULL, 
	description TEXT, 
	icons JSON, 
	search_text TEXT, 
	created_by VARCHAR(256), 
	last_updated_by VARCHAR(256), 
	created_at BIGINT NOT NULL, 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT skills_pk PRIMARY KEY (workspace, organization, name)
);
-- ;;
CREATE TABLE skill_versions (
	workspace VARCHAR(63) NOT NULL DEFAULT 'default', 
	organization VARCHAR(64) NOT NULL DEFAULT '', 
	name VARCHAR(128) NOT NULL, 
	version INTEGER NOT NULL, 
	source_type VARCHAR(20), 
	source VARCHAR(2048), 
	ref VARCHAR(2048), 
	subpath VARCHAR(2048), 
	digest VARCHAR(64), 
	status VARCHAR(20) NOT NULL DEFAULT 'active', 
	created_by VARCHAR(256), 
	last_updated_by VARCHAR(256), 
	created_at BIGINT NOT NULL, 
	last_updated_at BIGINT NOT NULL, 
	CONSTRAINT skill_versions_pk PRIMARY KEY (workspace, organization, name, version), 
	CONSTRAINT skill_versions_skill_fkey FOREIGN KEY(workspace, organization, name) REFERENCES skills (workspace, organization, name) ON DELETE CASCADE ON UPDATE CASCADE
);
-- ;;
CREATE TABLE skill_tags (
	workspace VARCHAR(63) NOT NULL DEFAULT 'default', 
	organization VARCHAR(64) NOT NULL DEFAULT '', 
	name VARCHAR(128) NOT NULL, 
	`key` VARCHAR(250) COLLATE utf8mb4_bin NOT NULL, 
	value MEDIUMTEXT, 
	CONSTRAINT skill_tags_pk PRIMARY KEY (workspace, organization, name, `key`), 
	CONSTRAINT skill_tags_skill_fkey FOREIGN KEY(workspace, organization, name) REFERENCES skills (workspace, organization, name) ON DELETE CASCADE ON UPDATE CASCADE
);
-- ;;
CREATE TABLE skill_version_tags (
	workspace VARCHAR(63) NOT NULL DEFAULT 'default', 
	organization VARCHAR(64) NOT NULL DEFAULT '', 
	name VARCHAR(128) NOT NULL, 
	version INTEGER NOT NULL, 
	`key` VARCHAR(250) COLLATE utf8mb4_bin NOT NULL, 
	value MEDIUMTEXT, 
	CONSTRAINT skill_version_tags_pk PRIMARY KEY (workspace, organization, name, version, `key`), 
	CONSTRAINT skill_version_tags_version_fkey FOREIGN KEY(workspace, organization, name, version) REFERENCES skill_versions (workspace, organization, name, version) ON DELETE CASCADE ON UPDATE CASCADE
);
-- ;;
CREATE TABLE skill_aliases (
	workspace VARCHAR(63) NOT NULL DEFAULT 'default', 
	organization VARCHAR(64) NOT NULL DEFAULT '', 
	name VARCHAR(128) NOT NULL, 
	alias VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	CONSTRAINT skill_aliases_pk PRIMARY KEY (workspace, organization, name, alias), 
	CONSTRAINT skill_aliases_skill_fkey FOREIGN KEY(workspace, organization, name) REFERENCES skills (workspace, organization, name) ON DELETE CASCADE ON UPDATE CASCADE
);
-- ;;
CREATE INDEX ix_skill_versions_latest_lookup ON skill_versions (workspace, organization, name, status, version);
-- ;;
CREATE INDEX ix_skill_versions_digest ON skill_versions (workspace, organization, name, digest);

-- step 8b6ad64cb8f5
ALTER TABLE issues ADD COLUMN last_seen_timestamp BIGINT;
-- ;;
ALTER TABLE issues ADD COLUMN last_updated_by VARCHAR(255);
-- ;;
ALTER TABLE issues ADD COLUMN metadata LONGTEXT;
-- ;;
CREATE INDEX index_issues_experiment_last_seen ON issues (experiment_id, last_seen_timestamp);
-- ;;
CREATE INDEX index_issues_experiment_updated ON issues (experiment_id, last_updated_timestamp);
-- ;;
CREATE TABLE issue_categories (
	issue_id VARCHAR(36) NOT NULL, 
	category_hash VARCHAR(64) NOT NULL, 
	category TEXT NOT NULL, 
	CONSTRAINT issue_categories_pk PRIMARY KEY (issue_id, category_hash), 
	CONSTRAINT fk_issue_categories_issue_id FOREIGN KEY(issue_id) REFERENCES issues (issue_id) ON DELETE CASCADE
);
-- ;;
CREATE INDEX index_issue_categories_hash ON issue_categories (category_hash);

-- step f4a9b2c7d1e6
ALTER TABLE mcp_server_version_tags DROP FOREIGN KEY mcp_server_version_tags_version_fkey;
-- ;;
DROP INDEX ix_mcp_access_endpoints_version ON mcp_access_endpoints;
-- ;;
ALTER TABLE mcp_server_version_tags DROP PRIMARY KEY;
-- ;;
ALTER TABLE mcp_server_versions DROP PRIMARY KEY;
-- ;;
ALTER TABLE mcp_server_versions MODIFY version VARCHAR(128) COLLATE utf8mb4_bin NOT NULL;
-- ;;
ALTER TABLE mcp_server_version_tags MODIFY version VARCHAR(128) COLLATE utf8mb4_bin NOT NULL;
-- ;;
ALTER TABLE mcp_server_aliases MODIFY version VARCHAR(128) COLLATE utf8mb4_bin NOT NULL;
-- ;;
ALTER TABLE mcp_access_endpoints MODIFY server_version VARCHAR(128) COLLATE utf8mb4_bin NULL;
-- ;;
ALTER TABLE mcp_server_versions ADD CONSTRAINT mcp_server_versions_pk PRIMARY KEY (workspace, name, version);
-- ;;
ALTER TABLE mcp_server_version_tags ADD CONSTRAINT mcp_server_version_tags_pk PRIMARY KEY (workspace, name, version, `key`);
-- ;;
ALTER TABLE mcp_server_version_tags ADD CONSTRAINT mcp_server_version_tags_version_fkey FOREIGN KEY(workspace, name, version) REFERENCES mcp_server_versions (workspace, name, version) ON DELETE CASCADE ON UPDATE CASCADE;
-- ;;
CREATE INDEX ix_mcp_access_endpoints_version ON mcp_access_endpoints (workspace, server_name, server_version);
