"""Annual targets of active participants: the target files, attainment and the split of a national target.

The entrance of planning's targets (``from jamsos.planning import targets as tg``): targets, their files and store
live in ``planning.target``, attainment and ranks in ``planning.attainment``, the decomposition in
``planning.decomposition``."""

from jamsos.planning.attainment import Attainment, attain, rank
from jamsos.planning.decomposition import METHOD, Cell, Decomposition, ProvinceWeight, decompose, largest_remainder
from jamsos.planning.target import (
    COLUMNS,
    LEVELS,
    STORE,
    StoreResult,
    Target,
    TargetMissing,
    default_targets,
    load,
    parse_targets,
    read_targets,
    scaled,
    store,
)

__all__ = [
    "COLUMNS",
    "LEVELS",
    "METHOD",
    "STORE",
    "Attainment",
    "Cell",
    "Decomposition",
    "ProvinceWeight",
    "StoreResult",
    "Target",
    "TargetMissing",
    "attain",
    "decompose",
    "default_targets",
    "largest_remainder",
    "load",
    "parse_targets",
    "rank",
    "read_targets",
    "scaled",
    "store",
]
