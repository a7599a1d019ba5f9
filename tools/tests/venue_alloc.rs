//! The venue's per-order messages cost no allocation in SBE: decoding and encoding a
//! NewOrderSingle, an OrderCancelRequest, a QuoteAccept and an ER without fills or text
//! (counted on this thread by the counting allocator).

use fixp_tools::venue::message::*;
use fixp_tools::venue::types::*;
use fixp_ws::alloc_count::{track_current_thread, tracked_allocations, CountingAllocator};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

#[test]
fn order_messages_round_trip_through_sbe_without_allocating() {
    let symbol = Symbol::new("BTC-27MAR26-100000-C").unwrap();
    let id = ClientId::new("o-1").unwrap();
    let messages: Vec<VenueMessage> = vec![
        NewOrderSingle {
            cl_ord_id: id,
            symbol,
            side: Side::Buy,
            ord_type: OrdType::Limit,
            price: Price::parse("0.0125"),
            order_qty: Qty(1_000),
            transact_time: 1,
        }
        .into(),
        OrderCancelRequest {
            cl_ord_id: id,
            orig_cl_ord_id: id,
            symbol,
            side: Side::Sell,
            transact_time: 2,
        }
        .into(),
        QuoteAccept {
            cl_ord_id: id,
            rfq_id: 3,
            quote_id: 4,
            order_qty: Qty(10_000),
            transact_time: 5,
        }
        .into(),
        ExecutionReport {
            order_id: 1,
            cl_ord_id: id,
            exec_id: 2,
            exec_type: ExecType::New,
            ord_status: OrdStatus::New,
            symbol,
            side: Side::Buy,
            price: Price::parse("0.0125"),
            order_qty: Qty(1_000),
            leaves_qty: Qty(1_000),
            cum_qty: Qty(0),
            transact_time: 6,
            reject_reason: None,
            rfq_id: None,
            quote_id: None,
            fills: Vec::new(),
            text: String::new(),
        }
        .into(),
    ];
    let mut buf = [0u8; 512];
    for message in &messages {
        track_current_thread(true);
        let before = tracked_allocations();
        let len = message.encode_sbe(&mut buf).unwrap();
        let decoded = VenueMessage::decode_sbe(&buf[..len]).unwrap();
        let allocations = tracked_allocations() - before;
        track_current_thread(false);
        assert_eq!(&decoded, message);
        assert_eq!(allocations, 0, "{}", message.type_name());
    }
}
