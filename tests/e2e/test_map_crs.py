"""The pages' GCJ-02 port (web/static/js/lib/gcj02.js, for GCJ-02 tile servers) agrees with the
server's geo.crs, so markers drawn on shifted tiles land where the server says they are."""

from __future__ import annotations

from typing import Any

import pytest

from geo.crs import from_wgs84

pytestmark = pytest.mark.browser

POINTS = [(108.3208, 22.8165), (108.2034, 22.7306), (108.4666, 22.8934), (2.35, 48.85)]

CONVERT = """async (points) => {
  const m = await import("/static/js/lib/gcj02.js");
  return points.map(([x, y]) => {
    const g = m.wgs84ToGcj02(x, y);
    return [g, m.gcj02ToWgs84(g[0], g[1])];
  });
}"""


def test_gcj02_port_matches_the_server(open_page: Any) -> None:
    page = open_page("/", None)
    out = page.evaluate(CONVERT, [list(p) for p in POINTS])
    for (lon, lat), (gcj, back) in zip(POINTS, out, strict=True):
        want = from_wgs84(lon, lat, "gcj02")
        assert gcj == pytest.approx(want, abs=1e-9)
        assert back == pytest.approx([lon, lat], abs=1e-8)
    shifted = out[0][0]
    assert abs(shifted[0] - POINTS[0][0]) > 0.003  # ~500 m at Nanning: the shift is real
