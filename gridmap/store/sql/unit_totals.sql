-- Counts and sums per unit of one level, computed in the database.
-- Placeholders filled by gridmap.store.base.Store.unit_totals (from a fixed list):
--   {units}  the level's table   {width}  the width of its codes
-- Parameter :under restricts to the units whose code starts with it ('' = all).
-- Portable SQL: the same text runs on SQLite (GeoPackage) and PostgreSQL.
WITH
subs AS (
    SELECT substr(code, 1, {width}) AS unit, count(*) AS subdistricts
    FROM subdistricts GROUP BY substr(code, 1, {width})
),
comms AS (
    SELECT substr(code, 1, {width}) AS unit, count(*) AS communities
    FROM communities GROUP BY substr(code, 1, {width})
),
grd AS (
    SELECT substr(code, 1, {width}) AS unit, count(*) AS grids,
           sum(households) AS grid_households, sum(population) AS grid_population
    FROM grids GROUP BY substr(code, 1, {width})
),
bld AS (
    SELECT substr(code, 1, {width}) AS unit, count(*) AS buildings,
           sum(CASE WHEN use = 'residential' THEN 1 ELSE 0 END) AS residential_buildings,
           sum(households) AS households, sum(population) AS population,
           sum(elderly) AS elderly, sum(children) AS children
    FROM buildings GROUP BY substr(code, 1, {width})
),
branch AS (
    -- A grid has a branch when a grid_branch names it; members are the grid's party members.
    SELECT substr(p.unit_code, 1, {width}) AS unit, count(*) AS branches,
           count(DISTINCT g.code) AS grids_with_branch, sum(p.members) AS members
    FROM party_orgs p LEFT JOIN grids g ON g.code = p.unit_code
    WHERE p.kind = 'grid_branch' AND length(p.unit_code) >= {width}
    GROUP BY substr(p.unit_code, 1, {width})
),
grp AS (
    SELECT substr(p.unit_code, 1, {width}) AS unit, count(*) AS building_groups,
           count(DISTINCT CASE WHEN b.use = 'residential' THEN b.code END) AS buildings_with_group
    FROM party_orgs p LEFT JOIN buildings b ON b.code = p.unit_code
    WHERE p.kind = 'building_group' AND length(p.unit_code) >= {width}
    GROUP BY substr(p.unit_code, 1, {width})
),
central AS (
    SELECT substr(unit_code, 1, {width}) AS unit, count(*) AS central_households
    FROM party_orgs
    WHERE kind = 'central_household' AND length(unit_code) >= {width}
    GROUP BY substr(unit_code, 1, {width})
),
has_buildings AS (SELECT count(*) > 0 AS yes FROM buildings)
SELECT u.code AS code,
       coalesce(subs.subdistricts, 0) AS subdistricts,
       coalesce(comms.communities, 0) AS communities,
       coalesce(grd.grids, 0) AS grids,
       coalesce(bld.buildings, 0) AS buildings,
       coalesce(bld.residential_buildings, 0) AS residential_buildings,
       -- A store without buildings falls back on the grids' own figures.
       CASE WHEN (SELECT yes FROM has_buildings) THEN coalesce(bld.households, 0)
            ELSE coalesce(grd.grid_households, 0) END AS households,
       CASE WHEN (SELECT yes FROM has_buildings) THEN coalesce(bld.population, 0)
            ELSE coalesce(grd.grid_population, 0) END AS population,
       coalesce(bld.elderly, 0) AS elderly,
       coalesce(bld.children, 0) AS children,
       coalesce(branch.branches, 0) AS branches,
       coalesce(branch.grids_with_branch, 0) AS grids_with_branch,
       coalesce(branch.members, 0) AS members,
       coalesce(grp.building_groups, 0) AS building_groups,
       coalesce(grp.buildings_with_group, 0) AS buildings_with_group,
       coalesce(central.central_households, 0) AS central_households
FROM {units} u
LEFT JOIN subs ON subs.unit = u.code
LEFT JOIN comms ON comms.unit = u.code
LEFT JOIN grd ON grd.unit = u.code
LEFT JOIN bld ON bld.unit = u.code
LEFT JOIN branch ON branch.unit = u.code
LEFT JOIN grp ON grp.unit = u.code
LEFT JOIN central ON central.unit = u.code
WHERE substr(u.code, 1, length(:under)) = :under
ORDER BY u.code
