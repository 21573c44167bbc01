"""Open311 GeoReport v2: the open standard interface over reports and cases."""
