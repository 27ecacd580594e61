"""Cut a boundary into streets, communities and cells that tile each parent exactly.

Every level's Voronoi cuts and the dedicated grids' outlines are noded together
once and polygonized into faces; each grid is a union of faces. Siblings then
share identical vertices on every common edge, so the coverage is exact by
construction rather than by tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

CLIP_MARGIN_M = 50.0  # cuts overshoot their parent so no face straddles two regions


@dataclass
class Node:
    """One grid in the plan: its seed and children before geometry exists."""

    seed: np.ndarray
    children: list["Node"] = field(default_factory=list)
    region: BaseGeometry | None = None  # approximate, only to clip the children's cuts
    dedicated: BaseGeometry | None = None


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    k = max(1, min(k, len(points)))
    if k == 1 or len(points) == 0:
        return points.mean(axis=0, keepdims=True) if len(points) else np.zeros((1, 2))
    centres, _ = kmeans2(points, k, minit="++", seed=rng, iter=25)
    return np.unique(centres, axis=0)


def _balanced_seeds(points: np.ndarray, k: int) -> np.ndarray:
    """Centres of k groups of nearly equal size, by recursive median cuts along the longer axis.

    Cells are drawn around a target number of households (300–500 in practice); k-means balances
    spread, not counts, so cells around dense compounds came out three times too large.
    """
    if k <= 1 or len(points) <= 1:
        return points.mean(axis=0, keepdims=True) if len(points) else np.zeros((1, 2))
    left_k = k // 2
    axis = int(np.ptp(points[:, 1]) > np.ptp(points[:, 0]))
    order = np.argsort(points[:, axis], kind="stable")
    cut = round(len(points) * left_k / k)
    return np.vstack([_balanced_seeds(points[order[:cut]], left_k), _balanced_seeds(points[order[cut:]], k - left_k)])


def _voronoi_edges(seeds: np.ndarray, clip: BaseGeometry) -> list[BaseGeometry]:
    if len(seeds) < 2:
        return []
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=clip.envelope.buffer(1_000))
    edges = shapely.intersection(shapely.boundary(np.asarray(cells.geoms)), clip)
    return [e for e in edges if not e.is_empty]


def _regions(seeds: np.ndarray, area: BaseGeometry) -> list[BaseGeometry]:
    """Approximate Voronoi regions of `seeds` inside `area`, in seed order."""
    if len(seeds) == 1:
        return [area]
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=area.envelope.buffer(1_000))
    polys = np.asarray(cells.geoms)
    hits = shapely.contains_xy(polys[:, None], seeds[None, :, 0], seeds[None, :, 1])
    out = []
    for i in range(len(seeds)):
        owner = polys[np.argmax(hits[:, i])]
        out.append(shapely.make_valid(owner.intersection(area)))
    return out


def plan(
    boundary: BaseGeometry,
    homes: np.ndarray,
    streets: int,
    communities: int,
    per_cell: int,
    rng: np.random.Generator,
) -> Node:
    """Seeds for every level by k-means on where households live, so grids follow population."""
    district = Node(seed=homes.mean(axis=0), region=boundary)
    street_seeds = _kmeans(homes, streets, rng)
    street_of = cKDTree(street_seeds).query(homes)[1]
    for s, (seed, region) in enumerate(zip(street_seeds, _regions(street_seeds, boundary))):
        street = Node(seed=seed, region=region)
        district.children.append(street)
        mine = homes[street_of == s]
        share = max(1, round(communities * len(mine) / len(homes)))
        comm_seeds = _kmeans(mine, share, rng) if len(mine) else seed[None]
        comm_of = cKDTree(comm_seeds).query(mine)[1] if len(mine) else np.zeros(0, int)
        for c, (cseed, cregion) in enumerate(zip(comm_seeds, _regions(comm_seeds, region))):
            community = Node(seed=cseed, region=cregion)
            street.children.append(community)
            theirs = mine[comm_of == c]
            cells = max(2, round(len(theirs) / per_cell))
            for cell_seed in np.unique(_balanced_seeds(theirs, cells), axis=0) if len(theirs) else cseed[None]:
                community.children.append(Node(seed=cell_seed))
    return district


def faces(boundary: BaseGeometry, root: Node, dedicated: list[BaseGeometry]) -> np.ndarray:
    """All cuts of all levels noded at once, polygonized, keeping the faces inside the boundary."""
    lines = [shapely.boundary(boundary)]
    lines += _voronoi_edges(np.array([s.seed for s in root.children]), boundary.buffer(CLIP_MARGIN_M))
    for street in root.children:
        lines += _voronoi_edges(np.array([c.seed for c in street.children]), street.region.buffer(CLIP_MARGIN_M))
        for community in street.children:
            lines += _voronoi_edges(
                np.array([c.seed for c in community.children]), community.region.buffer(CLIP_MARGIN_M)
            )
    lines += [shapely.boundary(d) for d in dedicated]
    noded = shapely.unary_union(lines)
    polys = np.asarray(shapely.polygonize(shapely.get_parts(noded)).geoms)
    inside = shapely.contains(boundary, shapely.point_on_surface(polys))
    return polys[inside]


def label_faces(
    polys: np.ndarray, root: Node, dedicated: list[BaseGeometry]
) -> tuple[np.ndarray, np.ndarray]:
    """For each face: (street, community, cell) indices, with cell = -1-k for dedicated grid k."""
    reps = shapely.get_coordinates(shapely.point_on_surface(polys))
    labels = hierarchical_nearest(reps, root)
    ded = np.full(len(polys), -1)
    for k, d in enumerate(dedicated):
        inside = shapely.contains_xy(d, reps[:, 0], reps[:, 1])
        ded[inside] = k
        centre = shapely.get_coordinates(d.centroid)
        street, community, _ = hierarchical_nearest(centre, root)[0]
        labels[inside, 0] = street
        labels[inside, 1] = community
        labels[inside, 2] = -1 - k
    return labels, ded


def hierarchical_nearest(xy: np.ndarray, root: Node) -> np.ndarray:
    """(street, community, cell) of each point by nearest seed level by level — the generator's truth."""
    out = np.zeros((len(xy), 3), dtype=np.int64)
    street = cKDTree([s.seed for s in root.children]).query(xy)[1]
    out[:, 0] = street
    for s, node in enumerate(root.children):
        in_s = np.flatnonzero(street == s)
        comm = cKDTree([c.seed for c in node.children]).query(xy[in_s])[1]
        out[in_s, 1] = comm
        for c, cnode in enumerate(node.children):
            in_c = in_s[comm == c]
            out[in_c, 2] = cKDTree([k.seed for k in cnode.children]).query(xy[in_c])[1]
    return out
