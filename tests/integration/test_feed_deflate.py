"""The feed with permessage-deflate on: frames differ per socket, so none is written to
directly (dispatch/feed/wire.py) and every socket is served from its queue instead; the
events must arrive all the same, in order, compressed or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feedkit import collect, head_now, report, started
from serverkit import AppServer, RemoteApi

from dispatch.feed.client import FeedClient
from geo import Grid


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid) -> Iterator[RemoteApi]:
    tmp = tmp_path_factory.mktemp("feed-deflate")
    server = AppServer(f"sqlite:///{tmp / 'gd.sqlite'}", tmp, GRIDDISPATCH_WS_DEFLATE="true")
    server.start()
    try:
        yield RemoteApi(server.url, nanning_grid)
    finally:
        server.stop()


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_compressed_and_plain_sockets_get_every_event_in_order(
    served: RemoteApi, compression: str | None
) -> None:
    feed = FeedClient(served.base_url, served.token("commander"), compression=compression)
    events = await started(feed)
    start = feed.last_seq
    assert start is not None
    stats = served.get("commander", "/feed/stats").json()
    wired = 0 if compression else 1  # a socket that declined compression is framed as usual
    assert (stats["clients"], stats["wired"]) == (1, wired)
    for k in range(3):  # places of their own, or the reports would join earlier cases
        await report(served, k=k + (0 if compression else 3))
    head = head_now(served)
    got = await collect(events, head - start)
    assert [e["seq"] for e in got] == list(range(start + 1, head + 1))
    assert {e["type"] for e in got} >= {"case.reported", "ticket.dispatched"}
    await feed.close()
