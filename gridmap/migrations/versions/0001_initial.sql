-- gridmap schema, version 0001: the foundation's layers (gridmap/schema.py).
-- Frozen: later versions change the schema in new migration files, never here.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE districts (
    code text PRIMARY KEY,
    name text NOT NULL,
    geom geometry(MultiPolygon, 4326),
    CONSTRAINT districts_code_width CHECK (code ~ '^[0-9]{6}$')
);
CREATE INDEX districts_geom_gist ON districts USING gist (geom);

CREATE TABLE subdistricts (
    code text PRIMARY KEY,
    name text NOT NULL,
    district_code text NOT NULL,
    geom geometry(MultiPolygon, 4326),
    CONSTRAINT subdistricts_code_width CHECK (code ~ '^[0-9]{9}$'),
    CONSTRAINT subdistricts_code_prefix CHECK (left(code, 6) = district_code),
    CONSTRAINT subdistricts_district_code_fkey FOREIGN KEY (district_code) REFERENCES districts (code) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX subdistricts_geom_gist ON subdistricts USING gist (geom);
CREATE INDEX subdistricts_district_code_idx ON subdistricts (district_code);

CREATE TABLE communities (
    code text PRIMARY KEY,
    name text NOT NULL,
    subdistrict_code text NOT NULL,
    geom geometry(MultiPolygon, 4326),
    CONSTRAINT communities_code_width CHECK (code ~ '^[0-9]{12}$'),
    CONSTRAINT communities_code_prefix CHECK (left(code, 9) = subdistrict_code),
    CONSTRAINT communities_subdistrict_code_fkey FOREIGN KEY (subdistrict_code) REFERENCES subdistricts (code) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX communities_geom_gist ON communities USING gist (geom);
CREATE INDEX communities_subdistrict_code_idx ON communities (subdistrict_code);

CREATE TABLE grids (
    code text PRIMARY KEY,
    name text NOT NULL,
    community_code text NOT NULL,
    households bigint,
    population bigint,
    geom geometry(MultiPolygon, 4326),
    CONSTRAINT grids_code_width CHECK (code ~ '^[0-9]{14}$'),
    CONSTRAINT grids_code_prefix CHECK (left(code, 12) = community_code),
    CONSTRAINT grids_community_code_fkey FOREIGN KEY (community_code) REFERENCES communities (code) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);
CREATE INDEX grids_community_code_idx ON grids (community_code);

CREATE TABLE buildings (
    code text PRIMARY KEY,
    grid_code text NOT NULL,
    use text NOT NULL,
    floors bigint,
    households bigint,
    population bigint,
    elderly bigint,
    children bigint,
    estimated boolean DEFAULT false,
    geom geometry(MultiPolygon, 4326),
    CONSTRAINT buildings_code_width CHECK (code ~ '^[0-9]{17}$'),
    CONSTRAINT buildings_code_prefix CHECK (left(code, 14) = grid_code),
    CONSTRAINT buildings_grid_code_fkey FOREIGN KEY (grid_code) REFERENCES grids (code) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT buildings_use_choice CHECK (use IN ('residential', 'commercial', 'public', 'mixed', 'industrial'))
);
CREATE INDEX buildings_geom_gist ON buildings USING gist (geom);
CREATE INDEX buildings_grid_code_idx ON buildings (grid_code);

CREATE TABLE facilities (
    id text PRIMARY KEY,
    type text NOT NULL,
    name text,
    geom geometry(Point, 4326),
    CONSTRAINT facilities_type_choice CHECK (type IN ('service_station', 'clinic', 'kindergarten', 'elderly_daycare', 'primary_school', 'fresh_market', 'bus_stop', 'middle_school', 'health_centre', 'subdistrict_centre', 'police_station', 'judicial_office', 'nursing_home', 'party_service_centre'))
);
CREATE INDEX facilities_geom_gist ON facilities USING gist (geom);
CREATE INDEX facilities_type_idx ON facilities (type);

CREATE TABLE party_orgs (
    id text PRIMARY KEY,
    kind text NOT NULL,
    unit_code text NOT NULL,
    name text,
    members bigint,
    geom geometry(Point, 4326),
    CONSTRAINT party_orgs_kind_choice CHECK (kind IN ('grid_branch', 'building_group', 'central_household'))
);
CREATE INDEX party_orgs_geom_gist ON party_orgs USING gist (geom);
CREATE INDEX party_orgs_unit_code_idx ON party_orgs (unit_code);
CREATE INDEX party_orgs_kind_idx ON party_orgs (kind);

CREATE TABLE roads (
    id text PRIMARY KEY,
    kind text,
    name text,
    geom geometry(LineString, 4326)
);
CREATE INDEX roads_geom_gist ON roads USING gist (geom);

CREATE TABLE incidents (
    id text PRIMARY KEY,
    category text NOT NULL,
    subcategory text,
    source text NOT NULL,
    description text,
    step text NOT NULL,
    grid_code text,
    building_code text,
    department text,
    closed_level text,
    whistled boolean DEFAULT false,
    deadline timestamptz,
    reported_at timestamptz NOT NULL,
    closed_at timestamptz,
    satisfaction text,
    rework_count bigint,
    transfer_count bigint,
    version bigint,
    dispatched_at timestamptz,
    whistle_department text,
    whistle_deadline timestamptz,
    updated_at timestamptz,
    geom geometry(Point, 4326),
    CONSTRAINT incidents_category_choice CHECK (category IN ('city_appearance', 'advertising', 'construction', 'street_order', 'emergency', 'facility', 'dispute', 'safety_hazard', 'resident_request', 'other')),
    CONSTRAINT incidents_source_choice CHECK (source IN ('patrol', 'resident', 'hotline_12345', 'camera', 'higher_level')),
    CONSTRAINT incidents_step_choice CHECK (step IN ('collected', 'registered', 'dispatched', 'handling', 'reported_back', 'closed', 'evaluated', 'voided')),
    CONSTRAINT incidents_closed_level_choice CHECK (closed_level IN ('grid', 'community', 'subdistrict', 'district', 'department')),
    CONSTRAINT incidents_satisfaction_choice CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied'))
);
CREATE INDEX incidents_geom_gist ON incidents USING gist (geom);
CREATE INDEX incidents_step_idx ON incidents (step);
CREATE INDEX incidents_grid_code_idx ON incidents (grid_code);
CREATE INDEX incidents_reported_at_idx ON incidents (reported_at);
CREATE INDEX incidents_category_idx ON incidents (category);

CREATE TABLE incident_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id text NOT NULL,
    at timestamptz NOT NULL,
    actor text,
    from_step text,
    to_step text NOT NULL,
    note text,
    CONSTRAINT incident_events_from_step_choice CHECK (from_step IN ('collected', 'registered', 'dispatched', 'handling', 'reported_back', 'closed', 'evaluated', 'voided')),
    CONSTRAINT incident_events_to_step_choice CHECK (to_step IN ('collected', 'registered', 'dispatched', 'handling', 'reported_back', 'closed', 'evaluated', 'voided')),
    CONSTRAINT incident_events_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX incident_events_incident_id_idx ON incident_events (incident_id);

CREATE TABLE metadata (
    layer text PRIMARY KEY,
    source text NOT NULL,
    licence text NOT NULL,
    synthetic boolean NOT NULL DEFAULT false,
    note text,
    updated_at timestamptz,
    CONSTRAINT metadata_layer_choice CHECK (layer IN ('districts', 'subdistricts', 'communities', 'grids', 'buildings', 'facilities', 'party_orgs', 'roads', 'incidents', 'incident_events', 'metadata'))
);

