#!/usr/bin/env python3
"""A real UPnP control point against rill, for tests/dlna.rs.

Uses async-upnp-client (PyPI, version pinned in .ci/run):
1. M-SEARCH for MediaServer:1 on 239.255.255.250:1900 and wait for rill's
   answer (the USN must name the UUID given on the command line);
2. fetch the device description and both SCPDs (strict parsing);
3. ContentDirectory: GetSystemUpdateID/capabilities, then Browse root ->
   the torrent's container -> its items, and BrowseMetadata of the item;
4. ConnectionManager GetProtocolInfo.
Prints `ITEM <title>\t<res url>\t<protocolInfo>\t<size>` for every item
and `OK` at the end; exits non-zero with a message on any failure.

Usage: browse.py UUID TORRENT_NAME [SEARCH_SECONDS]
"""

import asyncio
import sys

from async_upnp_client.aiohttp import AiohttpRequester
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.profiles.dlna import DmsDevice
from async_upnp_client.search import async_search

DEVICE_TYPE = "urn:schemas-upnp-org:device:MediaServer:1"


def fail(msg):
    print(f"FAIL {msg}", flush=True)
    sys.exit(1)


async def discover(uuid, seconds):
    found = {}

    async def on_response(headers):
        usn = headers.get("usn", "")
        if usn.startswith(f"uuid:{uuid}"):
            found[headers.get("st")] = headers.get("location")

    # Bounded: one search, answers collected for `seconds`; a second try.
    for _ in range(2):
        await async_search(on_response, timeout=seconds, search_target=DEVICE_TYPE)
        if found:
            break
    if DEVICE_TYPE not in found:
        fail(f"no M-SEARCH answer from uuid:{uuid} (got {found})")
    return found[DEVICE_TYPE]


async def main():
    if len(sys.argv) < 3:
        fail("usage: browse.py UUID TORRENT_NAME [SEARCH_SECONDS]")
    uuid, name = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    location = await discover(uuid, seconds)
    print(f"LOCATION {location}", flush=True)

    requester = AiohttpRequester(timeout=20)
    device = await UpnpFactory(requester, non_strict=False).async_create_device(location)
    if device.udn != f"uuid:{uuid}":
        fail(f"description UDN {device.udn}")
    print(f"DEVICE {device.friendly_name}", flush=True)
    dms = DmsDevice(device, None)
    await dms.async_update()
    print(f"UPDATEID {dms.system_update_id}", flush=True)

    root = await dms.async_browse_direct_children("0")
    containers = [o for o in root.result if getattr(o, "title", None) == name]
    if len(containers) != 1:
        fail(f"root has no single container {name!r}: {[o.title for o in root.result]}")
    container = containers[0]
    meta = await dms.async_browse_metadata(container.id)
    if meta.title != name:
        fail(f"BrowseMetadata of {container.id} is titled {meta.title!r}")

    children = await dms.async_browse_direct_children(container.id)
    if children.total_matches != len(children.result) or not children.result:
        fail(f"container children: {children.number_returned}/{children.total_matches}")
    for item in children.result:
        if not item.res:
            fail(f"item {item.id} has no res")
        res = item.res[0]
        print(f"ITEM {item.title}\t{res.uri}\t{res.protocol_info}\t{res.size}", flush=True)
        for alt in item.res[1:]:
            print(f"ALT {item.title}\t{alt.uri}\t{alt.protocol_info}", flush=True)
        meta = await dms.async_browse_metadata(item.id)
        if meta.id != item.id or meta.res[0].uri != res.uri:
            fail(f"BrowseMetadata of {item.id} differs")
    # One page of one child, to see paging.
    page = await dms.async_browse_direct_children(container.id, starting_index=0, requested_count=1)
    if page.number_returned != 1 or page.total_matches != children.total_matches:
        fail(f"paging: {page.number_returned}/{page.total_matches}")

    cm = device.service("urn:schemas-upnp-org:service:ConnectionManager:1")
    info = await cm.action("GetProtocolInfo").async_call()
    if "http-get:*:video/mp4:*" not in info["Source"]:
        fail(f"GetProtocolInfo Source: {info['Source']}")
    print("OK", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except SystemExit:
        raise
    except BaseException as e:  # a clear line for the Rust test's message
        fail(f"{type(e).__name__}: {e}")
