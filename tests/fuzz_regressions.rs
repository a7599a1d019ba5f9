//! Regressions found by the fuzz targets (`fuzz/`), kept as deterministic tests.

mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::{FixpMessage, FrameKind};
use session_support::*;

/// `session_sequences`: a replay batch queued from `poll_transmit` (which has no clock) armed
/// the keepalive from the session's last outbound timestamp; a server session has none (0),
/// so its next deadline lay in 1970.
#[test]
fn a_replay_never_arms_a_deadline_in_the_past() {
    let mut p = Pair::new(FlowType::Recoverable, FlowType::Recoverable);
    p.connect();
    let now = p.now;
    p.server_session().send(now, &app(1)).unwrap();
    p.server_session().send(now, &app(2)).unwrap();
    p.pump();
    p.advance(100 * MS);
    let request = enc(&FixpMessage::RetransmitRequest {
        session_id: p.client.session_id(),
        timestamp: p.now,
        from_seq_no: 1,
        count: 2,
    });
    p.server
        .handle_frame(p.now, p.conn, &request, FrameKind::Binary);
    let mut frames = 0;
    while p.server.poll_transmit().is_some() {
        frames += 1;
    }
    assert!(frames >= 3, "Retransmission header and two messages");
    let deadline = p.server.next_deadline().expect("keepalive armed");
    assert!(
        deadline >= p.now,
        "deadline {deadline} before now {}",
        p.now
    );
}
