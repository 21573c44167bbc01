"""Pure spatial library of griddispatch: coordinate systems, unit grids, point location.

Depends on numpy, shapely and pyproj (and pyogrio, imported only to read a city's GIS
files: geo.io.read_layer, geo.source); knows nothing of the dispatch service.

>>> from geo import Grid, to_wgs84
>>> lon, lat = to_wgs84(108.3240, 22.8142, "gcj02")
"""

from geo.crs import CRS_NAMES, from_wgs84, normalize_crs, to_wgs84
from geo.errors import (
    GeoError,
    GridDataError,
    InvalidCoordinateError,
    OutsideServedAreaError,
    UnknownCRSError,
)
from geo.grid import Area, Grid, Location

__all__ = [
    "CRS_NAMES",
    "Area",
    "GeoError",
    "Grid",
    "GridDataError",
    "InvalidCoordinateError",
    "Location",
    "OutsideServedAreaError",
    "UnknownCRSError",
    "from_wgs84",
    "normalize_crs",
    "to_wgs84",
]
