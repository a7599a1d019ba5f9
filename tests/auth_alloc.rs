//! Signing, verifying and the limit primitives allocate nothing once built: counted with the
//! per-thread counting allocator on the test's own thread.

mod session_support;

use std::net::{IpAddr, Ipv4Addr};

use fixp_ws::alloc_count::{count_on_current_thread, CountingAllocator};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::session::auth::{
    HmacAuthenticator, HmacConfig, HmacKey, Secret, TokenAuthenticator, MAX_CREDENTIALS_LEN,
};
use fixp_ws::session::limits::{
    ConnectionCounter, ConnectionLimits, ExcessAction, InboundThrottle, RateLimit, TokenBucket,
};
use fixp_ws::session::{
    AuthDecision, AuthMessage, AuthRequest, Authenticator, ClientCredentials, SessionConfig,
    SessionState, Transmit,
};
use session_support::*;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const T0: u64 = 1_700_000_000_000_000_000;

fn key() -> HmacKey {
    HmacKey::new("desk-1", &Secret::from_bytes(SECRET)).unwrap()
}

#[test]
fn signing_and_verifying_hmac_credentials_allocates_nothing() {
    let credentials = ClientCredentials::hmac(key());
    let mut verifier = HmacAuthenticator::new(vec![key()], HmacConfig::default()).unwrap();
    let ids: Vec<SessionId> = (0..64u8)
        .map(|n| SessionId::from_random_bytes([n; 16]))
        .collect();
    let mut out = [0u8; MAX_CREDENTIALS_LEN];
    let (accepted, allocations) = count_on_current_thread(|| {
        let mut accepted = 0;
        for round in 0..100u64 {
            for (i, &id) in ids.iter().enumerate() {
                let ts = T0 + round * 1000 + i as u64;
                let message = if round == 0 {
                    AuthMessage::Negotiate
                } else {
                    AuthMessage::Establish {
                        keepalive_interval_ms: 1000,
                        next_seq_no: Some(round),
                    }
                };
                let n = credentials.write(message, id, ts, &mut out);
                let request = AuthRequest {
                    message,
                    session_id: id,
                    request_timestamp: ts,
                    credentials: out.get(..n).unwrap_or(&[]),
                    now: ts,
                    peer: None,
                };
                if verifier.authenticate(&request) == AuthDecision::Accept {
                    accepted += 1;
                }
            }
        }
        accepted
    });
    assert_eq!(accepted, 6400);
    assert_eq!(allocations, 0);
}

#[test]
fn static_tokens_and_limits_allocate_nothing() {
    let mut tokens = TokenAuthenticator::new(&Secret::from_bytes(&b"token"[..])).unwrap();
    let mut bucket = TokenBucket::new(RateLimit::within(100, 1_000_000_000).unwrap());
    let mut throttle = InboundThrottle::new(
        RateLimit::per_second(1000, 10).unwrap(),
        ExcessAction::Disconnect,
    );
    let mut counter = ConnectionCounter::new(ConnectionLimits::default());
    let ((), allocations) = count_on_current_thread(|| {
        let mut now = T0;
        for i in 0..10_000u32 {
            now += 100_000;
            let request = AuthRequest {
                message: AuthMessage::Negotiate,
                session_id: SessionId::NIL,
                request_timestamp: now,
                credentials: if i % 2 == 0 { b"token" } else { b"nope" },
                now,
                peer: None,
            };
            let _ = tokens.authenticate(&request);
            let _ = bucket.try_take(now);
            let _ = bucket.next_allowed(now);
            let _ = throttle.admit(now);
            let addr = IpAddr::V4(Ipv4Addr::from(i % 300));
            if counter.try_open(addr).is_ok() && i % 3 == 0 {
                counter.close(addr);
            }
        }
    });
    assert_eq!(allocations, 0);
}

#[test]
fn a_signing_client_re_establishing_allocates_nothing() {
    let config = SessionConfig {
        flow: FlowType::Recoverable,
        credentials: ClientCredentials::hmac(key()),
        ..SessionConfig::default()
    };
    let mut client = fixp_ws::session::Session::client(
        config,
        TestEncoding::new(),
        store(),
        SessionId::from_random_bytes([9; 16]),
    );
    // Warm up: negotiate and establish once against the scripted server.
    establish(&mut client, FlowType::Idempotent, None, T0);
    assert_eq!(client.state(), SessionState::Established);
    while client.poll_event().is_some() {}
    let mut last = [0u8; 512];
    let mut last_len = 0;
    let (sent, allocations) = count_on_current_thread(|| {
        let mut sent = 0;
        for n in 1..=100u64 {
            client.handle_disconnected(T0 + n * 1_000_000);
            client.handle_connected(T0 + n * 1_000_000);
            while let Some(t) = client.poll_transmit() {
                if let Transmit::Frame { bytes, .. } = t {
                    sent += 1;
                    last_len = bytes.len().min(last.len());
                    last[..last_len].copy_from_slice(&bytes[..last_len]);
                }
            }
            while client.poll_event().is_some() {}
        }
        sent
    });
    assert_eq!(sent, 100, "one Establish per connection");
    assert_eq!(allocations, 0);
    let Decoded::Fixp(text, Msg::Establish { ts, .. }) = dec(&last[..last_len]) else {
        panic!("Establish expected");
    };
    assert_eq!(ts, T0 + 100 * 1_000_000);
    assert!(
        text.contains("credentials: [100, 101, 115, 107, 45, 49, 58"),
        "{text}"
    );
}
