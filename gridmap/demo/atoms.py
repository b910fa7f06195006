"""The demo's atoms: Voronoi cells noded with the district boundary, and their unions.

Everything here works in metres (a UTM zone). The district is cut into
"atoms": the cells of a Voronoi diagram of seed points whose spacing grows
from the urban centre outwards (:class:`Peaks`, :func:`quadtree_seeds`). The
cell edges are noded together with the district boundary and polygonised
(:func:`build_atoms`), so neighbouring faces share *exact* coordinates; every
unit (subdistrict, community, grid) is then the union of whole atoms
(:func:`union_faces`), which makes the levels nest and tile without slivers.
The atom edges inside the district are the street network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = [
    "QUADTREE_LEVELS",
    "Peaks",
    "quadtree_seeds",
    "Atoms",
    "build_atoms",
    "union_faces",
    "to_multipolygons",
]

#: Quadtree cell sizes run from the top size down by halving; a leaf's seed
#: spacing is its cell size.
QUADTREE_LEVELS = 4


@dataclass
class Peaks:
    """Centres of dense settlement: spacing ``s * exp(max(0, d - r) / (2 * lam))``.

    Parameters
    ----------
    x, y
        The centres (metres).
    s
        The seed spacing in each centre's flat core (metres).
    r
        The radius of each flat core (metres).
    lam
        How fast the spacing grows outside the core: by a factor e² over
        ``lam`` metres.
    """

    x: np.ndarray
    y: np.ndarray
    s: np.ndarray
    r: np.ndarray
    lam: np.ndarray

    def score(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Log of the seed spacing wanted at (x, y), unclipped; lower is denser.

        The nearest centre in this sense (the one asking for the smallest
        spacing) decides. A tiny distance term breaks ties inside the flat
        cores, so ranking by score orders atoms from a centre outwards.

        Parameters
        ----------
        x, y
            Points (metres).
        """
        d = np.hypot(x[:, None] - self.x[None], y[:, None] - self.y[None])
        u = np.log(self.s)[None] + np.maximum(0.0, d - self.r[None]) / (2 * self.lam[None])
        best = np.argmin(u, axis=1)
        return u[np.arange(len(x)), best] + 1e-6 * d[np.arange(len(x)), best]

    def add(self, x: float, y: float, s: float, r: float, lam: float) -> Peaks:
        """These peaks and one more."""
        return Peaks(
            np.append(self.x, x),
            np.append(self.y, y),
            np.append(self.s, s),
            np.append(self.r, r),
            np.append(self.lam, lam),
        )


def quadtree_seeds(
    boundary: shapely.Geometry,
    peaks: Peaks,
    s_min: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Seed points inside ``boundary`` spaced as ``peaks`` ask, from ``s_min`` up.

    A quadtree refines cells where the wanted spacing is smaller than the cell;
    each leaf holds one seed jittered around its centre. Unlike random thinning
    this never puts two seeds a few metres apart (which would make sliver atoms).

    Parameters
    ----------
    boundary
        The district (metres).
    peaks
        The wanted spacing.
    s_min
        The smallest spacing: the leaf size of the finest quadtree level.
    rng
        The random generator (the jitter).

    Returns
    -------
    seeds, spacing
        The seed points (n, 2) and each one's cell size.
    """
    s_top = s_min * 2 ** (QUADTREE_LEVELS - 1)
    shapely.prepare(boundary)
    minx, miny, maxx, maxy = boundary.bounds
    nx = int(np.ceil((maxx - minx) / s_top))
    ny = int(np.ceil((maxy - miny) / s_top))
    gx, gy = np.meshgrid(minx + (np.arange(nx) + 0.5) * s_top, miny + (np.arange(ny) + 0.5) * s_top)
    cx, cy = gx.ravel(), gy.ravel()
    size = s_top
    xs, ys, sizes = [], [], []
    for level in range(QUADTREE_LEVELS):
        boxes = shapely.box(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
        inside = shapely.intersects(boxes, boundary)
        cx, cy = cx[inside], cy[inside]
        want = np.exp(peaks.score(cx, cy))
        split = want < size * 0.7 if level < QUADTREE_LEVELS - 1 else np.zeros(len(cx), bool)
        xs.append(cx[~split])
        ys.append(cy[~split])
        sizes.append(np.full((~split).sum(), size))
        h = size / 4
        sx, sy = cx[split], cy[split]
        cx = np.concatenate([sx - h, sx + h, sx - h, sx + h])
        cy = np.concatenate([sy + h, sy + h, sy - h, sy - h])
        size /= 2
    x, y, s = np.concatenate(xs), np.concatenate(ys), np.concatenate(sizes)
    jitter = rng.uniform(-0.35, 0.35, (len(x), 2)) * s[:, None]
    pts = np.column_stack([x, y]) + jitter
    keep = shapely.contains_xy(boundary, pts[:, 0], pts[:, 1])
    return pts[keep], s[keep]


@dataclass
class Atoms:
    """The atoms of the district and their faces, edges and neighbours (metres).

    Every face is an atom (``face_atom`` is the identity); the two are kept
    apart so that the code reads the same if atoms ever hold several faces.
    """

    seeds: np.ndarray  # (n, 2)
    faces: np.ndarray  # (m,) Polygon, oriented (interior on the left of each ring)
    face_atom: np.ndarray  # (m,) atom of each face (every face is an atom: the identity)
    area: np.ndarray  # (n,) m²
    # Segments of face rings that are streets (shared by two faces), once each.
    road_xy: np.ndarray  # (r, 4) x1, y1, x2, y2
    road_atoms: np.ndarray  # (r, 2) the atoms on either side
    road_network: np.ndarray  # (r,) bool: in the one connected network kept
    # Every face ring segment, with the street it runs along (-1: none).
    seg_xy: np.ndarray  # (q, 4)
    seg_face: np.ndarray  # (q,)
    seg_road: np.ndarray  # (q,)
    mainland: np.ndarray  # (n,) bool: the atom touches the kept network

    @property
    def n(self) -> int:
        """Number of atoms."""
        return len(self.seeds)

    def adjacency(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of neighbouring atoms (both directions)."""
        a, b = self.road_atoms[:, 0], self.road_atoms[:, 1]
        return np.concatenate([a, b]), np.concatenate([b, a])


def build_atoms(boundary: shapely.Geometry, seeds: np.ndarray) -> Atoms:
    """Voronoi atoms of ``seeds`` cut by ``boundary``, noded so faces share vertices.

    Parameters
    ----------
    boundary
        The district (metres).
    seeds
        Seed points inside it, (n, 2).

    Returns
    -------
    Atoms
        The faces, their street segments and the one connected street network
        kept (the largest); atoms off it are not ``mainland``.
    """
    minx, miny, maxx, maxy = boundary.bounds
    pad = max(maxx - minx, maxy - miny)
    envelope = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    edges = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=envelope, only_edges=True
    )
    # Noding the Voronoi edges with the boundary ring gives one planar graph;
    # its faces inside the district share exact coordinates along every edge.
    noded = shapely.union_all([edges, shapely.boundary(boundary)])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    shapely.prepare(boundary)
    rep = shapely.point_on_surface(faces)
    faces = faces[shapely.contains(boundary, rep) & (shapely.area(faces) > 0)]
    faces = shapely.orient_polygons(faces)  # exterior CCW, holes CW: inside on the left
    rep = shapely.point_on_surface(faces)
    # Every face is an atom. A face lies in one Voronoi cell and holds that
    # cell's seed, unless the boundary cut it off from its seed: such a
    # fragment is an atom of its own (seeded at an interior point) so that it
    # can join whichever unit surrounds it.
    tree = shapely.STRtree(faces)
    seed_idx, face_idx = tree.query(shapely.points(seeds), predicate="within")
    atom_xy = shapely.get_coordinates(rep)
    atom_xy[face_idx] = seeds[seed_idx]
    face_atom = np.arange(len(faces))
    area = shapely.area(faces)

    rings = np.concatenate([shapely.get_exterior_ring(faces), _interiors(faces)[0]])
    ring_face = np.concatenate([np.arange(len(faces)), _interiors(faces)[1]])
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    same = idx[1:] == idx[:-1]
    seg_xy = np.column_stack([coords[:-1][same], coords[1:][same]])
    seg_face = ring_face[idx[:-1][same]]
    keep = (seg_xy[:, 0] != seg_xy[:, 2]) | (seg_xy[:, 1] != seg_xy[:, 3])
    seg_xy, seg_face = seg_xy[keep], seg_face[keep]

    # The same segment seen from both faces: key it by its endpoints in order.
    first = (seg_xy[:, 0] < seg_xy[:, 2]) | (
        (seg_xy[:, 0] == seg_xy[:, 2]) & (seg_xy[:, 1] < seg_xy[:, 3])
    )
    key = np.where(first[:, None], seg_xy, seg_xy[:, [2, 3, 0, 1]])
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    shared = counts[inv] == 2
    order = np.argsort(inv, kind="stable")
    order = order[shared[order]]
    pair_a, pair_b = order[0::2], order[1::2]
    atoms_a, atoms_b = face_atom[seg_face[pair_a]], face_atom[seg_face[pair_b]]
    street = atoms_a != atoms_b
    pair_a, pair_b = pair_a[street], pair_b[street]
    road_xy = key[pair_a]
    road_atoms = np.column_stack([face_atom[seg_face[pair_a]], face_atom[seg_face[pair_b]]])
    seg_road = np.full(len(seg_xy), -1)
    seg_road[pair_a] = np.arange(len(pair_a))
    seg_road[pair_b] = np.arange(len(pair_b))

    network = _largest_network(road_xy)
    mainland = np.zeros(len(faces), bool)
    mainland[road_atoms[network].ravel()] = True
    return Atoms(
        seeds=atom_xy,
        faces=faces,
        face_atom=face_atom,
        area=area,
        road_xy=road_xy,
        road_atoms=road_atoms,
        road_network=network,
        seg_xy=seg_xy,
        seg_face=seg_face,
        seg_road=seg_road,
        mainland=mainland,
    )


def _interiors(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All interior rings of ``faces`` and the face each belongs to."""
    n = shapely.get_num_interior_rings(faces)
    face = np.repeat(np.arange(len(faces)), n)
    k = np.arange(len(face)) - np.repeat(np.cumsum(n) - n, n)
    return shapely.get_interior_ring(faces[face], k), face


def _largest_network(road_xy: np.ndarray) -> np.ndarray:
    """Which segments belong to the largest connected piece of the network."""
    if len(road_xy) == 0:
        return np.zeros(0, bool)
    ends = np.concatenate([road_xy[:, :2], road_xy[:, 2:]])
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    r = len(road_xy)
    n_nodes = node.max() + 1
    graph = sparse.coo_matrix((np.ones(r), (node[:r], node[r:])), shape=(n_nodes, n_nodes))
    _, comp = connected_components(graph, directed=False)
    seg_comp = comp[node[:r]]
    return seg_comp == np.bincount(seg_comp).argmax()


def union_faces(faces: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """The union of the faces of each group, as MultiPolygons (group order).

    Parameters
    ----------
    faces
        Polygons that share exact coordinates along common edges (the atoms).
    group
        The group of each face, ``0 .. n_groups - 1``; every group has a face.
    n_groups
        The number of groups.
    """
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    out = np.empty(n_groups, dtype=object)
    for g in range(n_groups):
        part = faces[order[bounds[g] : bounds[g + 1]]]
        geom = part[0] if len(part) == 1 else shapely.coverage_union_all(part)
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(shapely.union_all(part))
        out[g] = geom
    return to_multipolygons(out)


def to_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Polygons (or MultiPolygons, or collections holding them) as MultiPolygons.

    Parameters
    ----------
    geoms
        Geometries; anything in them that is not a polygon (a stray line or
        point of a union) is dropped.
    """
    parts, idx = shapely.get_parts(geoms, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    parts, idx = parts[poly], idx[poly]
    return shapely.multipolygons(parts, indices=idx, out=np.empty(len(geoms), dtype=object))
