-- gridmap schema, version 0003: the field mode's photos and request keys
-- (gridmap/store/field.py; the GeoPackage store holds the same tables).
-- Frozen: later versions change the schema in new migration files, never here.

CREATE TABLE photos (
    hash text PRIMARY KEY,
    image bytea NOT NULL,
    thumb bytea NOT NULL,
    width bigint NOT NULL,
    height bigint NOT NULL,
    bytes bigint NOT NULL,
    created_at text NOT NULL,
    CONSTRAINT photos_hash_hex CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE TABLE incident_photos (
    -- No foreign key to incidents: replacing the incidents layer (an import with
    -- replace, a demo rebuild) must not fail on the photos of the old cases.
    incident_id text NOT NULL,
    hash text NOT NULL REFERENCES photos (hash),
    step text NOT NULL,
    at text NOT NULL,
    PRIMARY KEY (incident_id, hash)
);

CREATE TABLE client_requests (
    key text PRIMARY KEY,
    user_name text NOT NULL,
    kind text NOT NULL,
    target text NOT NULL,
    answer text NOT NULL,
    at text NOT NULL
);
