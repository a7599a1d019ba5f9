"""A foreign venue client (Python `websockets`, asyncio API) in the venue's JSON form.

Usage: venue_order_cancel.py URL CA_PEM SYMBOL

Connects with TLS trusting CA_PEM, offers the subprotocol `fixp-json`, negotiates and
establishes a FIXP session in JSON (Idempotent client flow), places a limit order on SYMBOL,
expects ExecutionReport New, cancels it, expects ExecutionReport Canceled, closes with 1000 and
checks the server answered 1000. Prints one line per report; exit code 0 on success, any
failure prints why and exits non-zero.
"""

import asyncio
import json
import ssl
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from websockets.asyncio.client import connect

# The session-layer helpers of the engine's foreign-client test (tests/py).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "py"))
from fixp_conga_client import expect, new_session_id  # noqa: E402


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check(report: dict, **wanted) -> None:
    for key, value in wanted.items():
        if report.get(key) != value:
            raise ValueError(f"{key}: wanted {value!r} in {report}")
    print(f"{report['@type']} {report['clOrdId']} {report['execType']}/{report['ordStatus']} "
          f"leaves={report['leavesQty']} cum={report['cumQty']}")


async def main(url: str, ca_file: str, symbol: str) -> int:
    ctx = ssl.create_default_context(cafile=ca_file)
    async with connect(url, ssl=ctx, subprotocols=["fixp-json"]) as ws:
        session_id = new_session_id()
        ts = time.time_ns()
        await ws.send(json.dumps({"clientFlow": "Idempotent", "sessionId": session_id,
                                  "timestamp": ts, "@type": "Negotiate"}))
        await expect(ws, "NegotiationResponse")
        await ws.send(json.dumps({"heartbeatInterval": 2000, "nextSeqNo": 1,
                                  "sessionId": session_id, "timestamp": time.time_ns(),
                                  "@type": "Establish"}))
        await expect(ws, "EstablishmentAck")
        await ws.send(json.dumps({"clOrdId": "py-1", "symbol": symbol, "side": "Buy",
                                  "ordType": "Limit", "price": 0.0105, "orderQty": 0.3,
                                  "transactTime": now(), "@type": "NewOrderSingle"}))
        check(await expect(ws, "ExecutionReport"), clOrdId="py-1", execType="New",
              ordStatus="New", leavesQty=0.3, cumQty=0, price=0.0105, symbol=symbol)
        await ws.send(json.dumps({"clOrdId": "py-2", "origClOrdId": "py-1", "symbol": symbol,
                                  "side": "Buy", "transactTime": now(),
                                  "@type": "OrderCancelRequest"}))
        check(await expect(ws, "ExecutionReport"), clOrdId="py-1", execType="Canceled",
              ordStatus="Canceled", leavesQty=0, cumQty=0)
        await ws.close(code=1000, reason="done")
        received = ws.protocol.close_rcvd
        if received is None or received.code != 1000 or ws.close_code != 1000:
            print(f"server close frame: {received!r}, close code {ws.close_code}")
            return 6
    print("ok: order and cancel in the venue's JSON, close 1000 both ways")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(64)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3])))
