-- gridmap schema, version 0002: accounts, wall tokens, settings, the audit log
-- (gridmap/store/accounts.py; the GeoPackage store holds the same tables), and
-- the incidents' reporter columns (personal data, masked by role: gridmap/privacy.py).
-- Frozen: later versions change the schema in new migration files, never here.

ALTER TABLE incidents ADD COLUMN reporter_name text, ADD COLUMN reporter_phone text;

CREATE TABLE users (
    name text PRIMARY KEY,
    role text NOT NULL,
    scope text NOT NULL DEFAULT '[]',
    department text,
    password_hash text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    failed_attempts bigint NOT NULL DEFAULT 0,
    locked_until text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    CONSTRAINT users_role_choice CHECK (role IN ('admin', 'commander', 'dispatcher', 'department', 'supervisor', 'planner', 'viewer'))
);

CREATE TABLE wall_tokens (
    name text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    scope text NOT NULL DEFAULT '[]',
    created_at text NOT NULL,
    revoked_at text
);

-- Times are ISO 8601 text in UTC with milliseconds, as hashed (gridmap/audit.py).
CREATE TABLE audit_log (
    id bigint PRIMARY KEY,
    at text NOT NULL,
    user_name text NOT NULL,
    role text NOT NULL,
    address text NOT NULL,
    action text NOT NULL,
    target text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '{}',
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_user_idx ON audit_log (user_name);

CREATE TABLE gridmap_settings (
    key text PRIMARY KEY,
    value text NOT NULL
);

-- Append-only: no UPDATE, no TRUNCATE, and DELETE only inside a prune
-- (gridmap audit --prune-before sets gridmap.audit_prune for its transaction).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('gridmap.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: its rows are never changed or removed (only gridmap audit --prune-before removes old rows)';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
