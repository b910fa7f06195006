"""Store-aware services: the functions that open or read a store and call the core.

The rings of gridmap (``docs/architecture.md``), inner to outer::

    core (gridmap.*)  <-  store (gridmap.store)  <-  services (gridmap.services)
                      <-  layers (layers.*)      <-  app (gridmap.app) and CLI (gridmap.cli)

The core works on GeoDataFrames and arrays and never opens a store; the CLI
and the app never compute what a service computes. A service takes a store
(an open :class:`gridmap.store.base.Store` or its address), reads what the
core needs, calls the core and, for imports, writes the result in one
transaction. One module per concept:

- :mod:`gridmap.services.source` -- a store read once and cached (what the
  dashboard, the export and the layers read from);
- :mod:`gridmap.services.stats` -- a unit's figures from a store;
- :mod:`gridmap.services.osm` -- an OpenStreetMap extract into a store;
- :mod:`gridmap.services.demo` -- the demo district into a store.
"""
