//! The TOML config: defaults, the documented full example, and bad files failing with the key
//! and the reason.

use std::path::PathBuf;

use fixp_tools::venue::config::*;
use fixp_tools::venue::exchange::VenueSettings;
use fixp_tools::venue::instrument::InstrumentTable;
use fixp_tools::venue::types::{InstrumentKind, Price, PutCall, Qty, Symbol};
use fixp_tools::venue::Dialect;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/venue.toml")
}

#[test]
fn an_empty_file_is_the_defaults() {
    let config = VenueConfig::from_toml_str("").unwrap();
    assert_eq!(config, VenueConfig::default());
    assert_eq!(config.listeners[0].addr.to_string(), "127.0.0.1:9443");
    assert_eq!(config.listeners[0].transport, Transport::Tls);
    assert_eq!(config.session.server_flow, FlowName::Recoverable);
    assert_eq!(config.session.client_flows.len(), 4);
    assert!(config.journal.enabled);
    assert_eq!(config.engine.idle, IdleName::SpinThenYield);
    assert_eq!(config.rfq.quote_ttl_ms, 2_500);
    assert_eq!(config.venue_settings(), VenueSettings::default());
    assert_eq!(
        config.instrument_table().len(),
        InstrumentTable::default_set().len()
    );
    let anyone = [7u8; 16];
    assert!(!config.session_profile(&anyone).market_maker);
    assert_eq!(config.json_dialect(&anyone), Dialect::Conga);
}

#[test]
fn the_example_file_loads_and_says_what_it_says() {
    let config = VenueConfig::load(&example()).unwrap();
    // Every section's values as written (the example restates the defaults).
    let d = VenueConfig::default();
    assert_eq!(config.listeners, d.listeners);
    assert_eq!(config.session, d.session);
    assert_eq!(config.journal, d.journal);
    assert_eq!(config.engine, d.engine);
    assert_eq!(config.limits, d.limits);
    assert_eq!(config.rfq, d.rfq);
    assert_eq!(config.venue, d.venue);
    assert_eq!(config.sessions.len(), 2);
    let mm = parse_uuid("6f1c2a3b-0d4e-4f5a-8b6c-7d8e9fa0b1c2").unwrap();
    assert!(config.session_profile(&mm).market_maker);
    assert_eq!(config.json_dialect(&mm), Dialect::Venue);
    let trader = parse_uuid("0b7a1c3e-5f10-4d2b-9c77-2e5d8a9b1f00").unwrap();
    assert!(!config.session_profile(&trader).market_maker);
    assert_eq!(config.json_dialect(&trader), Dialect::Conga);
    let table = config.instrument_table();
    assert_eq!(table.len(), InstrumentTable::default_set().len() + 2);
    let option = table
        .get(&Symbol::new("BTC-25SEP26-120000-C").unwrap())
        .unwrap();
    assert_eq!(option.kind, InstrumentKind::OptionValue);
    assert_eq!(option.put_call, Some(PutCall::Call));
    assert_eq!(option.strike, Price::from_units(120_000));
    assert_eq!(option.tick_size, Price::parse("0.0005").unwrap());
    assert_eq!(option.lot_size, Qty::parse("0.1").unwrap());
    assert_eq!(
        option.expiry,
        fixp_ws::codec::conga::parse_transact_time("2026-09-25T08:00:00Z")
    );
    let sol = table.get(&Symbol::new("SOL-PERP").unwrap()).unwrap();
    assert_eq!(
        (sol.underlying.as_str(), sol.price_exponent, sol.min_size),
        ("SOL", -2, Qty::parse("1").unwrap())
    );
}

#[test]
fn settings_map_onto_the_venue() {
    let config = VenueConfig::from_toml_str(
        "[rfq]\nquote_ttl_ms = 1500\nreveal_side_to_makers = true\n[limits]\nmax_open_orders_per_session = 7\n[venue]\ncancel_orders_on_session_end = true\ndefault_instruments = false\n",
    )
    .unwrap();
    let s = config.venue_settings();
    assert_eq!(s.rfq.quote_ttl_ns, 1_500_000_000);
    assert!(s.rfq.reveal_side_to_makers);
    assert_eq!(s.orders.max_open_orders_per_session, 7);
    assert!(s.cancel_orders_on_session_end);
    assert!(config.instrument_table().is_empty());
}

#[test]
fn bad_files_name_the_key_and_the_reason() {
    let option = "symbol = \"X-C\"\nkind = \"option\"\nexpiry = \"2026-09-25T08:00:00Z\"\nstrike = 1\nput_call = \"call\"\ntick_size = 0.0005\nlot_size = 0.1\n";
    let cases: Vec<(String, &str, &str)> = vec![
        ("[[listeners]]\naddr = \"x\"\n".into(), "listeners[0].addr", "invalid socket address \"x\""),
        ("[[listeners]]\naddr = \"127.0.0.1:1\"\npath = \"fixp\"\n".into(), "listeners[0].path", "must start with /"),
        ("[[listeners]]\ntransport = \"quic\"\n".into(), "listeners[0].transport", "unknown variant `quic`"),
        ("[[listeners]]\nport = 1\n".into(), "listeners[0].port", "unknown field `port`"),
        ("listeners = []\n".into(), "listeners", "at least one listener"),
        ("[sesion]\nkeepalive_ms = 1\n".into(), "sesion", "unknown field `sesion`"),
        ("[session]\nkeepalive_ms = \"fast\"\n".into(), "session.keepalive_ms", "invalid type"),
        ("[session]\nkeepalive_ms = 50\n".into(), "session.keepalive_ms", "outside"),
        ("[session]\nclient_flows = [\"Recoverable\", \"Sometimes\"]\n".into(), "session.client_flows[1]", "unknown variant `Sometimes`"),
        ("[tls]\ncert = \"a.pem\"\n".into(), "tls.key", "go together"),
        ("[[sessions]]\nid = \"nope\"\n".into(), "sessions[0].id", "invalid session id \"nope\""),
        ("[[sessions]]\nname = \"x\"\n".into(), "sessions[0]", "missing field `id`"),
        (
            "[[sessions]]\nid = \"6f1c2a3b-0d4e-4f5a-8b6c-7d8e9fa0b1c2\"\n[[sessions]]\nid = \"6f1c2a3b-0d4e-4f5a-8b6c-7d8e9fa0b1c2\"\n".into(),
            "sessions[1].id",
            "listed twice",
        ),
        ("[journal]\ncapacity_bytes = 10\n".into(), "journal.capacity_bytes", "at least"),
        ("[engine]\nidle = \"nap\"\n".into(), "engine.idle", "unknown variant `nap`"),
        ("[engine]\nidle = \"block\"\nblock_ms = 0\n".into(), "engine.block_ms", "must be positive"),
        ("[rfq]\nmax_legs = 9\n".into(), "rfq.max_legs", "1..=8"),
        ("[rfq]\nrequest_ttl_ms = 400000\n".into(), "rfq.request_ttl_ms", "at most max_request_ttl_ms"),
        ("[rfq]\nquote_ttl_ms = -1\n".into(), "rfq.quote_ttl_ms", "invalid value"),
        ("[venue]\njson_dialect = \"fix\"\n".into(), "venue.json_dialect", "unknown variant `fix`"),
        (format!("[[instruments]]\n{}", option.replace("tick_size = 0.0005", "tick_size = 0.000000001")), "instruments[0].tick_size", "at most 8 decimals"),
        (format!("[[instruments]]\n{}", option.replace("tick_size = 0.0005", "tick_size = 0")), "instruments[0].tick_size", "must be positive"),
        (format!("[[instruments]]\n{}", option.replace("lot_size = 0.1", "lot_size = 0.1\nmin_size = 0.15")), "instruments[0].min_size", "multiple of lot_size"),
        (format!("[[instruments]]\n{}", option.replace("strike = 1\n", "")), "instruments[0].strike", "required for options"),
        (format!("[[instruments]]\n{}", option.replace("2026-09-25T08:00:00Z", "soon")), "instruments[0].expiry", "not an ISO-8601"),
        (format!("[[instruments]]\n{}", option.replace("\"call\"", "\"straddle\"")), "instruments[0].put_call", "unknown variant"),
        (format!("[[instruments]]\n{}", option.replace("X-C", "BTC-PERP")), "instruments[0].symbol", "listed twice"),
        (format!("[[instruments]]\n{}color = 1\n", option), "instruments[0].color", "unknown field `color`"),
        ("[[instruments]]\nsymbol = \"Y\"\nkind = \"perpetual\"\nlot_size = 1\n".into(), "instruments[0]", "missing field `tick_size`"),
        ("[[instruments]]\nsymbol = \"Y\"\nkind = \"perpetual\"\ntick_size = true\nlot_size = 1\n".into(), "instruments[0].tick_size", "decimal"),
        ("a = 1\nlisteners = [\n".into(), "", "invalid TOML at line 2"),
    ];
    for (text, key, reason) in cases {
        let err = VenueConfig::from_toml_str(&text).expect_err(&text);
        assert_eq!(err.key, key, "{text}\n→ {err}");
        assert!(err.reason.contains(reason), "{text}\n→ {err}");
        assert!(err.to_string().starts_with(key), "{err}");
    }
    let missing = VenueConfig::load(std::path::Path::new("/nonexistent/venue.toml")).unwrap_err();
    assert!(missing.reason.contains("cannot read"), "{missing}");
}
