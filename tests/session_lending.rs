//! The two session-core entry points the engine's inline strategies use:
//! `handle_frame_lending` (an in-order application message is handed back instead of being
//! copied into the event ring, never ahead of an event queued before it) and `send_with`
//! (the message is encoded straight into the outbound slot; a refusal or a failing encoder
//! leaves nothing queued, not even the Sequence that would have preceded it).

mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FixpMessage;
use fixp_ws::codec::FrameKind;
use fixp_ws::session::{RetransmitStore, SendError, SendWithError};
use session_support::*;

/// Writes `bytes` into the slot.
fn write(bytes: &[u8]) -> impl FnOnce(&mut [u8]) -> Result<usize, &'static str> + '_ {
    move |slot| {
        slot.get_mut(..bytes.len())
            .ok_or("slot too small")?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

#[test]
fn an_in_order_message_is_lent_not_queued() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    assert_eq!(
        c.handle_frame_lending(now, &app(5), FrameKind::Binary),
        Some(1)
    );
    assert_eq!(
        c.handle_frame_lending(now, &app(6), FrameKind::Binary),
        Some(2)
    );
    assert!(
        events(&mut c).is_empty(),
        "nothing was copied into the event ring"
    );
    // Without lending the same session queues it as before.
    feed_app(&mut c, now, 7);
    assert_eq!(messages(&events(&mut c)), vec![(3, 7)]);
}

#[test]
fn a_message_behind_a_queued_event_is_queued_in_order() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    // A Sequence that skips numbers: a Gap event is queued and not taken yet.
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 5 });
    assert_eq!(
        c.handle_frame_lending(now, &app(9), FrameKind::Binary),
        None
    );
    let evs = events(&mut c);
    assert!(
        matches!(evs.first(), Some(Ev::Other(t)) if t.contains("Gap")),
        "{evs:?}"
    );
    assert_eq!(
        messages(&evs),
        vec![(5, 9)],
        "delivered after the gap, from the ring"
    );
    // Once the ring is empty, lending resumes.
    assert_eq!(
        c.handle_frame_lending(now, &app(10), FrameKind::Binary),
        Some(6)
    );
}

#[test]
fn send_with_encodes_in_place_after_the_sequence_it_needs() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    assert_eq!(c.send_with(now, write(&app(41))), Ok(1));
    assert_eq!(c.send_with(now, write(&app(42))), Ok(2));
    let out = drain(&mut c);
    assert_eq!(
        out,
        vec![
            Out::Msg(Msg::Sequence(1)),
            Out::App(41u64.to_le_bytes().to_vec()),
            Out::App(42u64.to_le_bytes().to_vec()),
        ]
    );
}

#[test]
fn a_failing_encoder_or_an_oversized_message_leaves_nothing_queued() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    assert_eq!(
        c.send_with(now, |_| Err::<usize, _>("no")),
        Err(SendWithError::Encode("no"))
    );
    assert_eq!(
        c.send_with(now, |slot: &mut [u8]| Ok::<_, ()>(slot.len() + 1)),
        Err(SendWithError::Session(SendError::TooLarge))
    );
    assert!(drain(&mut c).is_empty(), "not even the Sequence");
    assert_eq!(c.status().next_seq_to_send, 1, "no number was used");
    assert_eq!(c.send_with(now, write(&app(1))), Ok(1));
    assert_eq!(
        drain(&mut c),
        vec![
            Out::Msg(Msg::Sequence(1)),
            Out::App(1u64.to_le_bytes().to_vec())
        ],
        "the Sequence is still stated once"
    );
}

#[test]
fn a_store_refusal_is_undone_on_a_recoverable_flow() {
    let (mut c, now) = established_client(FlowType::Recoverable, FlowType::Idempotent, None);
    // The test store keeps 64-byte records: a 100-byte message is refused by the store.
    let big = [7u8; 100];
    assert!(matches!(
        c.send_with(now, write(&big)),
        Err(SendWithError::Session(SendError::Store(_)))
    ));
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.send_with(now, write(&app(3))), Ok(1));
    assert_eq!(
        drain(&mut c),
        vec![
            Out::Msg(Msg::Sequence(1)),
            Out::App(3u64.to_le_bytes().to_vec())
        ]
    );
    assert_eq!(
        c.store().get(1).map(<[u8]>::len),
        Ok(16),
        "kept for retransmission"
    );
}

#[test]
fn send_with_is_refused_like_send_before_establishment() {
    let mut c = client(FlowType::Idempotent, sid(9));
    assert_eq!(
        c.send_with(0, write(&app(1))),
        Err(SendWithError::Session(SendError::NotEstablished))
    );
}
