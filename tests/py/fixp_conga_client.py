"""A foreign FIXP client (Python `websockets`, asyncio API) speaking Conga-style JSON.

Usage: fixp_conga_client.py URL CA_PEM

Connects with TLS trusting CA_PEM, offers the subprotocol `text`, negotiates and establishes a
session the way Conga's client does (JSON objects, `@type` last, sessionId as 16 signed bytes,
a monotonic timestamp, no initial Sequence), sends one NewOrderSingle, reads until its
ExecutionReport arrives (answering nothing else), closes with 1000 and checks the server
answered 1000. Exit code 0 on success; any failure prints why and exits non-zero.
"""

import asyncio
import json
import os
import ssl
import sys
import time
from datetime import datetime, timezone

from websockets.asyncio.client import connect


def signed(b: int) -> int:
    return b - 256 if b > 127 else b


def new_session_id() -> list:
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return [signed(b) for b in raw]


async def expect(ws, wanted: str, limit: float = 10.0) -> dict:
    """Reads JSON messages until one of type `wanted` arrives (heartbeats are skipped)."""
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {wanted}")
        frame = await asyncio.wait_for(ws.recv(), remaining)
        text = frame.decode() if isinstance(frame, bytes) else frame
        message = json.loads(text)
        kind = message.get("@type")
        if kind == wanted:
            return message
        if kind not in ("Sequence",):
            raise ValueError(f"expected {wanted}, got {message}")


async def main(url: str, ca_file: str) -> int:
    ctx = ssl.create_default_context(cafile=ca_file)
    async with connect(url, ssl=ctx, subprotocols=["text"]) as ws:
        if ws.subprotocol != "text":
            print(f"negotiated {ws.subprotocol!r}, wanted 'text'")
            return 2
        session_id = new_session_id()
        ts = time.monotonic_ns()
        await ws.send(json.dumps({"clientFlow": "Idempotent", "sessionId": session_id,
                                  "timestamp": ts, "@type": "Negotiate"}))
        response = await expect(ws, "NegotiationResponse")
        if response.get("requestTimestamp") != ts or response.get("sessionId") != session_id:
            print(f"NegotiationResponse does not echo the request: {response}")
            return 3
        ts = time.monotonic_ns()
        await ws.send(json.dumps({"heartbeatInterval": 2000, "nextSeqNo": 1,
                                  "sessionId": session_id, "timestamp": ts,
                                  "@type": "Establish"}))
        ack = await expect(ws, "EstablishmentAck")
        # Conga names the echoed request timestamp `timestamp` in EstablishmentAck.
        if ack.get("requestTimestamp", ack.get("timestamp")) != ts:
            print(f"EstablishmentAck does not echo the request: {ack}")
            return 4
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await ws.send(json.dumps({"clOrdId": "py1", "orderQty": 5, "ordType": "Limit",
                                  "price": 73.45, "side": "Buy", "symbol": "PYCO",
                                  "transactTime": now, "@type": "NewOrderSingle"}))
        report = await expect(ws, "ExecutionReport")
        if (report.get("clOrdId") != "py1" or report.get("execType") != "New"
                or report.get("ordStatus") != "New" or report.get("leavesQty") != 5):
            print(f"unexpected report: {report}")
            return 5
        await ws.close(code=1000, reason="done")
        received = ws.protocol.close_rcvd
        if received is None or received.code != 1000 or ws.close_code != 1000:
            print(f"server close frame: {received!r}, close code {ws.close_code}")
            return 6
    print(f"ok: negotiated, established, ExecutionReport {report['execType']}, close 1000 both ways")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(64)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
