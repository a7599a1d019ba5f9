#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/seed-*, from the reference vectors
and Conga examples in data/ (see docs/fuzzing.md). Run from anywhere: python3 fuzz/make-seeds.py

The session_sequences seeds are encoded in the byte format of the `arbitrary` crate (1.x) for
the target's `Input`: integers little-endian, bool = low bit of a byte, enum variant i of n =
the smallest u32 x with (x * n) >> 32 == i, Option = bool then value, and the trailing op list
as (keep-going bool, op)*. Keep OP_VARIANTS in step with `enum Op` in the target; stale seeds
still run, they only say less.
"""
import pathlib
import ssl
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CORPUS = ROOT / "fuzz" / "corpus"
FIXP_VECTORS = sorted((DATA / "sbe-conformance/rl-generated-vectors/fixp").glob("*.bin"))
CONFORMANCE = DATA / "sbe-conformance/rl-generated-vectors/conformance"
CAR = DATA / "sbe-conformance/real-logic-car"
EXAMPLES = DATA / "sbe-conformance/spec-examples/v1.0"
JSON_EXAMPLES = sorted((DATA / "spec/conga-json-examples").glob("*/*.json"))


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def fixp_decode():
    for path in FIXP_VECTORS:
        write("fixp_decode", path.stem, path.read_bytes())


# Selector bytes of sbe_decode's `schemas!` list.
SBE_SCHEMAS = ["fixp", "conga", "conformance1", "conformance2", "conformance3", "car",
               "car_extension", "examples"]


def sbe_decode():
    for path in FIXP_VECTORS:
        write("sbe_decode", f"fixp-{path.stem}", bytes([0]) + path.read_bytes())
    for path in sorted(CONFORMANCE.glob("*.bin")):
        schema = "conformance" + path.name.split("_schema")[1][0]
        write("sbe_decode", path.stem, bytes([SBE_SCHEMAS.index(schema)]) + path.read_bytes())
    write("sbe_decode", "car-baseline",
          bytes([SBE_SCHEMAS.index("car")]) + (CAR / "car_example_baseline_data.sbe").read_bytes())
    write("sbe_decode", "car-extension",
          bytes([SBE_SCHEMAS.index("car_extension")])
          + (CAR / "car_example_extension_data.sbe").read_bytes())
    for path in sorted(EXAMPLES.glob("*.sofh.bin")):
        # Drop the 6-byte SOFH (length + encoding type) in front of the SBE message.
        write("sbe_decode", f"examples-{path.name.split('.')[0]}",
              bytes([SBE_SCHEMAS.index("examples")]) + path.read_bytes()[6:])


def json_decode():
    for path in JSON_EXAMPLES:
        text = path.read_bytes().strip()
        write("json_decode", f"text-{path.stem}", bytes([0]) + text)
        write("json_decode", f"binary-{path.stem}", bytes([1]) + text)


def ws_frame(opcode, payload, mask=b"\x11\x22\x33\x44"):
    """A client WebSocket frame (FIN, masked)."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def upgrade(protocol, path="/fixp"):
    return (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode()


def client_hello():
    """A real TLS ClientHello for localhost (Python's ssl over memory BIOs)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def ws_input():
    # Mode byte: bit 0 TLS, bit 1 half-close after the data.
    sbe = b"".join(ws_frame(0x2, p.read_bytes()) for p in FIXP_VECTORS[:6])
    write("ws_input", "plain-sbe", bytes([0]) + upgrade("fixp-sbe") + sbe)
    write("ws_input", "plain-sbe-eof", bytes([2]) + upgrade("fixp-sbe") + sbe)
    json = b"".join(ws_frame(0x1, p.read_bytes().strip()) for p in JSON_EXAMPLES[:6])
    write("ws_input", "plain-json", bytes([0]) + upgrade("fixp-json") + json)
    close = ws_frame(0x8, struct.pack(">H", 1000) + b"bye")
    ping = ws_frame(0x9, b"ping")
    write("ws_input", "plain-ping-close", bytes([2]) + upgrade("text") + ping + close)
    write("ws_input", "plain-wrong-path", bytes([0]) + upgrade("fixp-sbe", "/nope"))
    write("ws_input", "plain-no-protocol", bytes([0]) + upgrade("chat"))
    hello = client_hello()
    write("ws_input", "tls-client-hello", bytes([1]) + hello)
    write("ws_input", "tls-client-hello-eof", bytes([3]) + hello)


OP_VARIANTS = ["Connect", "Lose", "Pump", "DropToServer", "DropToClient", "Advance",
               "ClientSend", "ServerSend", "ClientFinalize", "ServerFinalize", "ServerUnbind",
               "InjectToServer", "InjectToClient", "RawToServer", "RawToClient", "InjectVector",
               "CloseToServer", "CloseToClient"]


def variant(names, name):
    i, n = names.index(name), len(names)
    x = -(-(i << 32) // n)  # ceil(i * 2^32 / n)
    assert (x * n) >> 32 == i
    return struct.pack("<I", x)


def op(name, *fields):
    return b"\x01" + variant(OP_VARIANTS, name) + b"".join(fields)


def u8(n):
    return bytes([n])


def u32(n):
    return struct.pack("<I", n)


def vector(index, to_server, our_id=True):
    return op("InjectVector", u8(index), u8(to_server), u8(our_id), u8(0))


def session_input(client_flow, server_flow, json, hmac, ops):
    return bytes([client_flow, server_flow, json, hmac]) + b"".join(ops) + b"\x00"


def session_sequences():
    second = 1_000_000  # µs
    lifecycle = [
        op("Connect"), op("Pump", u8(255)),
        op("ClientSend", u8(1)), op("ServerSend", u8(2)), op("ServerSend", u8(3)),
        op("Pump", u8(255)), op("Advance", u32(3 * second)), op("Pump", u8(255)),
        op("Lose"), op("ServerSend", u8(4)), op("Connect"), op("Pump", u8(255)),
        op("ClientFinalize"), op("ServerFinalize"), op("Pump", u8(255)),
    ]
    flows = {"recoverable": 0, "idempotent": 1, "unsequenced": 2, "none": 3}
    for encoding, json in (("sbe", 0), ("json", 1)):
        for auth, hmac in (("open", 0), ("hmac", 1)):
            for flow in ("recoverable", "idempotent"):
                f = flows[flow]
                write("session_sequences", f"lifecycle-{encoding}-{auth}-{flow}",
                      session_input(f, f, json, hmac, lifecycle))
    lossy = [
        op("Connect"), op("Pump", u8(255)),
        op("ServerSend", u8(1)), op("ServerSend", u8(2)), op("ServerSend", u8(3)),
        op("DropToClient"), op("Pump", u8(255)), op("Advance", u32(100_000)),
        op("Pump", u8(255)), op("Advance", u32(5 * second)), op("Pump", u8(255)),
        op("Advance", u32(10 * second)), op("Pump", u8(255)),
    ]
    for flow in ("recoverable", "idempotent"):
        f = flows[flow]
        write("session_sequences", f"lossy-{flow}", session_input(f, f, 0, 0, lossy))
    # Every reference vector into each side of an established session, as the encoding is.
    for encoding, json, count in (("sbe", 0, 19), ("json", 1, 15)):
        ops = [op("Connect"), op("Pump", u8(255))]
        for index in range(count):
            ops += [vector(index, 1), op("Pump", u8(8)), vector(index, 0), op("Pump", u8(8))]
        write("session_sequences", f"vectors-{encoding}", session_input(0, 0, json, 0, ops))


if __name__ == "__main__":
    fixp_decode()
    sbe_decode()
    json_decode()
    ws_input()
    session_sequences()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.glob('seed-*')))} seeds")
