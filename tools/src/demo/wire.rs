//! Conga application messages in the session's encoding, and the wall clock for TransactTime.

use std::time::{SystemTime, UNIX_EPOCH};

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::{DecodeError, EncodeError};
use fixp_ws::transport::WireEncoding;

/// Decodes a Conga application message in `encoding`.
pub fn decode(bytes: &[u8], encoding: WireEncoding) -> Result<CongaMessage, DecodeError> {
    match encoding {
        WireEncoding::Sbe => CongaMessage::decode_sbe(bytes),
        WireEncoding::Json => CongaMessage::decode_json(bytes),
    }
}

/// Encodes a Conga application message in `encoding` into `out`.
pub fn encode(
    message: &CongaMessage,
    encoding: WireEncoding,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    match encoding {
        WireEncoding::Sbe => message.encode_sbe(out),
        WireEncoding::Json => message.encode_json(out),
    }
}

/// Unix-epoch nanoseconds now.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(0))
        .unwrap_or(0)
}

/// One line describing a report, for printing.
pub fn describe(message: &CongaMessage) -> String {
    match message {
        CongaMessage::ExecutionReport(er) => {
            let fills: Vec<String> = er
                .fills
                .as_slice()
                .iter()
                .map(|f| format!("{}@{}", f.fill_qty, f.fill_px))
                .collect();
            format!(
                "ExecutionReport {:<9} {:<15} clOrdId={:<6} orderId={:<4} {:?} {} leaves={} cum={}{}",
                er.exec_type.name(),
                er.ord_status.name(),
                er.cl_ord_id,
                er.order_id,
                er.side,
                er.symbol,
                er.leaves_qty,
                er.cum_qty,
                if fills.is_empty() {
                    String::new()
                } else {
                    format!(" fills=[{}]", fills.join(", "))
                }
            )
        }
        CongaMessage::OrderCancelReject(r) => format!(
            "OrderCancelReject clOrdId={} orderId={} {} {}",
            r.cl_ord_id,
            r.order_id,
            r.ord_status.name(),
            r.cxl_rej_reason.name()
        ),
        other => format!("{} (unexpected)", other.type_name()),
    }
}
