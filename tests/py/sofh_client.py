"""A foreign FIXP client over TCP with SOFH framing, using only socket, ssl and struct.

Usage: sofh_client.py HOST PORT (CA_PEM | plain)

Frames every SBE message with a SOFH (4-byte big-endian total length, 2-byte encoding type
0xEB50), negotiates an Idempotent session, establishes it, sends one Conga NewOrderSingle
(schema 100, template 14) and reads its ExecutionReport (template 9); unbinds with
Terminate(Finished) (the server answers Terminate(Finished), then the stream ends); connects
again and re-establishes the same session (no Negotiate), sends a second order and reads its
report; finalizes both flows (FinishedSending / FinishedReceiving), sends Terminate(Finished),
reads the server's Terminate(Finished) and then the end of the stream. With CA_PEM it uses TLS,
trusting CA_PEM. Exit code 0 on success; any failure prints why and exits non-zero.
"""

import os
import socket
import ssl
import struct
import sys
import time

SOFH = struct.Struct(">IH")
SBE_LE = 0xEB50
HEADER = struct.Struct("<HHHH")  # blockLength, templateId, schemaId, version
FIXP_SCHEMA = 2748
ORDERS_SCHEMA = 100
NULL_U64 = 0xFFFF_FFFF_FFFF_FFFF

# FIXP templates (SBEschemaForFIXP, id 2748).
NEGOTIATE, NEGOTIATION_RESPONSE, NEGOTIATION_REJECT = 1, 2, 3
ESTABLISH, ESTABLISHMENT_ACK, ESTABLISHMENT_REJECT = 5, 6, 7
SEQUENCE, UNSEQUENCED_HEARTBEAT = 8, 10
TERMINATE, FINISHED_SENDING, FINISHED_RECEIVING = 14, 15, 16
IDEMPOTENT, FINISHED = 1, 0
# Conga orders templates (schema 100).
NEW_ORDER_SINGLE, EXECUTION_REPORT = 14, 9

HEARTBEATS = {SEQUENCE, UNSEQUENCED_HEARTBEAT}


class Failure(Exception):
    pass


def sbe(template, block, schema=FIXP_SCHEMA, var=()):
    """An SBE message: header, fixed block, then each var-data field (u16 length + bytes)."""
    body = HEADER.pack(len(block), template, schema, 0) + block
    for field in var:
        body += struct.pack("<H", len(field)) + field
    return body


def send(sock, message):
    sock.sendall(SOFH.pack(SOFH.size + len(message), SBE_LE) + message)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Failure(f"stream ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_message(sock):
    """One SOFH frame: (schema, template, fixed block, var data and the rest)."""
    length, encoding = SOFH.unpack(recv_exact(sock, SOFH.size))
    if encoding != SBE_LE:
        raise Failure(f"SOFH encoding type {encoding:#06x}")
    if length < SOFH.size + HEADER.size:
        raise Failure(f"SOFH length {length} too small")
    body = recv_exact(sock, length - SOFH.size)
    block_length, template, schema, _version = HEADER.unpack_from(body)
    block = body[HEADER.size:HEADER.size + block_length]
    return schema, template, block, body[HEADER.size + block_length:]


def expect(sock, wanted, log):
    """Reads until a FIXP message of template `wanted` (heartbeats skipped)."""
    while True:
        schema, template, block, rest = recv_message(sock)
        log.append((schema, template))
        if schema == FIXP_SCHEMA and template == wanted:
            return block, rest
        if schema == FIXP_SCHEMA and template in HEARTBEATS:
            continue
        raise Failure(f"expected FIXP template {wanted}, got schema {schema} template {template}")


def session_id():
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(raw)


def char8(text):
    return text.encode("ascii").ljust(8, b"\0")


def read_terminate(sock, log):
    """The server's Terminate: (code, reason); it must be its last message."""
    block, rest = expect(sock, TERMINATE, log)
    code = block[16]
    reason_len = struct.unpack_from("<H", rest)[0]
    reason = rest[2:2 + reason_len].decode()
    tail = sock.recv(1)
    if tail:
        raise Failure(f"bytes after the server's Terminate: {tail!r}")
    return code, reason


def establish(sock, sid, log):
    ts = time.time_ns()
    send(sock, sbe(ESTABLISH, sid + struct.pack("<QIQ", ts, 1000, NULL_U64), var=[b""]))
    block, _ = expect(sock, ESTABLISHMENT_ACK, log)
    if block[:16] != sid or struct.unpack_from("<Q", block, 16)[0] != ts:
        raise Failure("EstablishmentAck does not echo the Establish")


def order_and_report(sock, seq, cl_ord_id, log):
    """Sequence(seq), then a NewOrderSingle: ClOrdId, Symbol, Side '1' Buy, TransactTime,
    OrderQty 5, OrdType '2' Limit, Price 73.45 (mantissa, exponent -2); reads its report."""
    send(sock, sbe(SEQUENCE, struct.pack("<Q", seq)))
    order = char8(cl_ord_id) + char8("PYCO") + b"1" + struct.pack("<Qi", time.time_ns(), 5)
    order += b"2" + struct.pack("<i", 7345)
    send(sock, sbe(NEW_ORDER_SINGLE, order, schema=ORDERS_SCHEMA))
    while True:
        schema, template, block, _ = recv_message(sock)
        log.append((schema, template))
        if schema == ORDERS_SCHEMA and template == EXECUTION_REPORT:
            break
        if not (schema == FIXP_SCHEMA and template in HEARTBEATS):
            raise Failure(f"expected the ExecutionReport, got {schema}/{template}")
    got = block[8:16].rstrip(b"\0")
    exec_type, ord_status = block[24:25], block[25:26]
    leaves_qty = struct.unpack_from("<i", block, 35)[0]
    if (got, exec_type, ord_status, leaves_qty) != (cl_ord_id.encode(), b"0", b"0", 5):
        raise Failure(f"unexpected report {got} {exec_type} {ord_status} {leaves_qty}")


def first_binding(sock, sid, log):
    ts = time.time_ns()
    send(sock, sbe(NEGOTIATE, sid + struct.pack("<QB", ts, IDEMPOTENT), var=[b""]))
    block, _ = expect(sock, NEGOTIATION_RESPONSE, log)
    if block[:16] != sid or struct.unpack_from("<Q", block, 16)[0] != ts:
        raise Failure("NegotiationResponse does not echo the Negotiate")
    establish(sock, sid, log)
    order_and_report(sock, 1, "py1", log)
    # A plain unbind: Terminate(Finished) is answered Terminate(Finished); the session lives on.
    send(sock, sbe(TERMINATE, sid + struct.pack("<B", FINISHED), var=[b"unbind"]))
    code, reason = read_terminate(sock, log)
    if code != FINISHED:
        raise Failure(f"unbind answered with Terminate code {code} ({reason})")
    print(f"unbind answered Finished ({reason!r})")


def second_binding(sock, sid, log):
    establish(sock, sid, log)
    order_and_report(sock, 2, "py2", log)
    # Finalize our flow (last sequence number 2); the server finalizes its own in turn.
    send(sock, sbe(FINISHED_SENDING, sid + struct.pack("<Q", 2)))
    got_finished_receiving = got_finished_sending = False
    while not (got_finished_receiving and got_finished_sending):
        schema, template, block, _ = recv_message(sock)
        log.append((schema, template))
        if schema != FIXP_SCHEMA:
            raise Failure(f"application message {template} after FinishedSending")
        if template == FINISHED_RECEIVING:
            got_finished_receiving = True
        elif template == FINISHED_SENDING:
            got_finished_sending = True
            send(sock, sbe(FINISHED_RECEIVING, sid))
        elif template not in HEARTBEATS:
            raise Failure(f"unexpected FIXP template {template} while finalizing")
    # We started finalization, so we unbind: Terminate(Finished), and the server answers.
    send(sock, sbe(TERMINATE, sid + struct.pack("<B", FINISHED), var=[b"done"]))
    code, reason = read_terminate(sock, log)
    if code != FINISHED:
        raise Failure(f"server answered Terminate code {code} ({reason})")
    print(f"ok: {len(log)} messages, server Terminate reason {reason!r}")


def connect(host, port, ca):
    raw = socket.create_connection((host, int(port)), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca == "plain":
        return raw
    ctx = ssl.create_default_context(cafile=ca)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def over(host, port, ca, binding, sid, log):
    """Runs one binding on a new connection, then closes it."""
    sock = connect(host, port, ca)
    try:
        binding(sock, sid, log)
        if isinstance(sock, ssl.SSLSocket):
            sock = sock.unwrap()  # our close_notify after the server's
    finally:
        sock.close()


def main(host, port, ca):
    sid = session_id()
    log = []
    try:
        over(host, port, ca, first_binding, sid, log)
        over(host, port, ca, second_binding, sid, log)
    except (Failure, OSError, struct.error) as error:
        print(f"failed: {error}")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
