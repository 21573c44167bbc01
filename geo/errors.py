"""Errors raised by geo. Plain ValueErrors, so callers need no geo import to catch them."""

from __future__ import annotations


class GeoError(ValueError):
    """Base class of every error geo raises on bad input or bad data."""


class UnknownCRSError(GeoError):
    """A coordinate system name geo does not know."""


class InvalidCoordinateError(GeoError):
    """NaN, infinity or a value outside longitude/latitude range."""


class GridDataError(GeoError):
    """A grid file that cannot be used: broken GeoJSON, invalid or overlapping cells, bad codes.

    ``feature`` names the offending feature (its code, or its index when it has none).
    """

    def __init__(self, message: str, *, feature: str | None = None, path: str | None = None):
        where = ""
        if path:
            where += f"{path}: "
        if feature is not None:
            where += f"feature {feature}: "
        super().__init__(where + message)
        self.feature = feature
        self.path = path


class OutsideServedAreaError(GeoError):
    """The point lies farther from every cell than the snapping tolerance."""

    def __init__(self, lon: float, lat: float, distance_m: float, tolerance_m: float):
        dist = "far" if distance_m == float("inf") else f"{distance_m:.0f} m"
        super().__init__(
            f"point ({lon:.6f}, {lat:.6f}) is outside the served area: {dist} from the "
            f"nearest cell (tolerance {tolerance_m:g} m)"
        )
        self.lon = lon
        self.lat = lat
        self.distance_m = distance_m
        self.tolerance_m = tolerance_m
