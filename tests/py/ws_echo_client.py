"""A foreign WebSocket client (Python `websockets`, asyncio API) against a fixp-ws echo server.

Usage: ws_echo_client.py URL CA_PEM SUBPROTOCOL

Connects with TLS trusting CA_PEM, offers SUBPROTOCOL, sends one binary and one text message,
checks both echoes (content and frame type), closes with 1000 and checks the server answered
1000. Exit code 0 on success; any failure prints why and exits non-zero.
"""

import asyncio
import ssl
import sys

from websockets.asyncio.client import connect


async def main(url: str, ca_file: str, subprotocol: str) -> int:
    ctx = ssl.create_default_context(cafile=ca_file)
    async with connect(url, ssl=ctx, subprotocols=[subprotocol]) as ws:
        if ws.subprotocol != subprotocol:
            print(f"negotiated {ws.subprotocol!r}, wanted {subprotocol!r}")
            return 2
        binary = bytes(range(256)) * 2
        await ws.send(binary)
        echo = await ws.recv()
        if not isinstance(echo, bytes) or echo != binary:
            print(f"binary echo mismatch: {type(echo).__name__} of {len(echo)}")
            return 3
        text = '{"@type":"Sequence","nextSeqNo":1}'
        await ws.send(text)
        echo = await ws.recv()
        if not isinstance(echo, str) or echo != text:
            print(f"text echo mismatch: {echo!r}")
            return 4
        await ws.close(code=1000, reason="done")
        # close_rcvd is the Close frame the server sent (None if none arrived: code 1006).
        received = ws.protocol.close_rcvd
        if received is None or received.code != 1000 or ws.close_code != 1000:
            print(f"server close frame: {received!r}, close code {ws.close_code}")
            return 5
    print("ok: binary and text echoed, close 1000 both ways")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(64)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3])))
