//! The JSON form of the venue messages, in the style of the Conga JSON (`docs/json.md`): one
//! flat object per message, an `"@type"` naming the message, camelCase keys (the schema's field
//! names), enums by name, u64 ids as exact JSON integers, prices and quantities as JSON numbers
//! converted from their decimal text exactly (never through `f64`), times as ISO-8601 UTC text
//! like Conga's `transactTime`, groups as arrays of flat objects.
//!
//! Owns: the key names and the text form of each value. May not touch: sessions, books.
//!
//! Decoding: key order never matters; unknown keys are skipped; an optional key may be left out
//! or `null`; a repeated key → `InvalidJson`; a wrong type or value → `InvalidField`; a missing
//! required key → `MissingField`; anything after the object → `TrailingBytes`. Encoding leaves
//! out absent optional values, empty groups and empty text, and writes `"@type"` last (as Conga).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use fixp_ws::codec::conga::{parse_transact_time, write_transact_time};
use fixp_ws::codec::{DecodeError, EncodeError};
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::instrument::InstrumentSpec;
use super::message::*;
use super::types::{FixedStr, Price, Qty, SchemaEnum};

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// The members of one JSON object, values still undecoded (`null` members dropped).
struct Object<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    duplicate: bool,
}

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<'de>, A::Error> {
                let mut object = Object {
                    members: Vec::new(),
                    duplicate: false,
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    if object.members.iter().any(|(k, _)| *k == key) {
                        object.duplicate = true;
                    }
                    if value.get() != "null" {
                        object.members.push((key, value));
                    }
                }
                Ok(object)
            }
        }

        d.deserialize_map(ObjectVisitor)
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Object<'a> {
    /// Exactly one JSON object (whitespace around it allowed).
    fn parse(text: &'a [u8]) -> Result<Self, DecodeError> {
        if text.iter().find(|b| !is_whitespace(**b)) != Some(&b'{') {
            return Err(DecodeError::InvalidJson);
        }
        let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<Object<'a>>();
        let object = match stream.next() {
            Some(Ok(object)) => object,
            _ => return Err(DecodeError::InvalidJson),
        };
        let rest = text.get(stream.byte_offset()..).unwrap_or(&[]);
        if rest.iter().any(|b| !is_whitespace(*b)) {
            return Err(DecodeError::TrailingBytes { extra: rest.len() });
        }
        if object.duplicate {
            return Err(DecodeError::InvalidJson);
        }
        Ok(object)
    }

    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn req(&self, key: &'static str) -> Result<&'a RawValue, DecodeError> {
        self.get(key)
            .ok_or(DecodeError::MissingField { field: key })
    }

    fn value<T: Deserialize<'a>>(raw: &'a RawValue, key: &'static str) -> Result<T, DecodeError> {
        serde_json::from_str(raw.get()).map_err(|_| DecodeError::InvalidField { field: key })
    }

    /// A required integer or bool.
    fn num<T: Deserialize<'a>>(&self, key: &'static str) -> Result<T, DecodeError> {
        Self::value(self.req(key)?, key)
    }

    /// An optional integer or bool.
    fn opt_num<T: Deserialize<'a>>(&self, key: &'static str) -> Result<Option<T>, DecodeError> {
        self.get(key).map(|raw| Self::value(raw, key)).transpose()
    }

    /// A string converted by `convert` (`None` from it → `InvalidField`).
    fn converted<T>(
        raw: &'a RawValue,
        key: &'static str,
        convert: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, DecodeError> {
        let text: Cow<'a, str> = Self::value(raw, key)?;
        convert(&text).ok_or(DecodeError::InvalidField { field: key })
    }

    fn text<const N: usize>(&self, key: &'static str) -> Result<FixedStr<N>, DecodeError> {
        Self::converted(self.req(key)?, key, FixedStr::new)
    }

    /// Fixed text that may be left out (read as empty).
    fn opt_text<const N: usize>(&self, key: &'static str) -> Result<FixedStr<N>, DecodeError> {
        self.get(key).map_or(Ok(FixedStr::EMPTY), |raw| {
            Self::converted(raw, key, FixedStr::new)
        })
    }

    fn free_text(&self, key: &'static str) -> Result<String, DecodeError> {
        self.get(key).map_or(Ok(String::new()), |raw| {
            Self::value::<Cow<'a, str>>(raw, key).map(Cow::into_owned)
        })
    }

    fn name<E: SchemaEnum>(&self, key: &'static str) -> Result<E, DecodeError> {
        Self::converted(self.req(key)?, key, E::from_schema_name)
    }

    fn opt_name<E: SchemaEnum>(&self, key: &'static str) -> Result<Option<E>, DecodeError> {
        self.get(key)
            .map(|raw| Self::converted(raw, key, E::from_schema_name))
            .transpose()
    }

    fn decimal<T>(
        raw: &RawValue,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, DecodeError> {
        // A RawValue holds one valid JSON value: a number's text is its literal (a string
        // starts with a quote and fails to parse).
        parse(raw.get()).ok_or(DecodeError::InvalidField { field: key })
    }

    fn price(&self, key: &'static str) -> Result<Price, DecodeError> {
        Self::decimal(self.req(key)?, key, Price::parse)
    }

    fn opt_price(&self, key: &'static str) -> Result<Option<Price>, DecodeError> {
        self.get(key)
            .map(|raw| Self::decimal(raw, key, Price::parse))
            .transpose()
    }

    fn qty(&self, key: &'static str) -> Result<Qty, DecodeError> {
        Self::decimal(self.req(key)?, key, Qty::parse)
    }

    fn time(&self, key: &'static str) -> Result<u64, DecodeError> {
        Self::converted(self.req(key)?, key, parse_transact_time)
    }

    fn opt_time(&self, key: &'static str) -> Result<Option<u64>, DecodeError> {
        self.get(key)
            .map(|raw| Self::converted(raw, key, parse_transact_time))
            .transpose()
    }

    fn flag(&self, key: &'static str) -> Result<bool, DecodeError> {
        Ok(self.opt_num(key)?.unwrap_or(false))
    }

    /// A group: an array of objects, each converted by `entry` (left out → empty).
    fn group<T>(
        &self,
        key: &'static str,
        entry: impl Fn(&Object<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let Some(raw) = self.get(key) else {
            return Ok(Vec::new());
        };
        let items: Vec<&'a RawValue> = Self::value(raw, key)?;
        items
            .into_iter()
            .map(|item| {
                let object = Object::parse(item.get().as_bytes())
                    .map_err(|_| DecodeError::InvalidField { field: key })?;
                entry(&object)
            })
            .collect()
    }
}

fn level(o: &Object<'_>) -> Result<Level, DecodeError> {
    Ok(Level {
        side: o.name("side")?,
        price: o.price("price")?,
        qty: o.qty("qty")?,
        order_count: o.num("orderCount")?,
    })
}

fn leg(o: &Object<'_>) -> Result<Leg, DecodeError> {
    Ok(Leg {
        symbol: o.text("legSymbol")?,
        side: o.name("legSide")?,
        ratio: o.num("legRatio")?,
    })
}

fn leg_price(o: &Object<'_>) -> Result<Price, DecodeError> {
    o.price("legPrice")
}

impl VenueMessage {
    /// Decodes one venue JSON message. An `@type` that is not a venue message → `InvalidField`
    /// (`@type`); see the module docs for the other errors.
    pub fn decode_json(frame: &[u8]) -> Result<Self, DecodeError> {
        let o = Object::parse(frame)?;
        let type_name: Cow<'_, str> = Object::value(o.req("@type")?, "@type")?;
        Ok(match type_name.as_ref() {
            "InstrumentListRequest" => InstrumentListRequest {
                request_id: o.num("requestId")?,
            }
            .into(),
            "InstrumentDefinition" => InstrumentDefinition {
                request_id: o.num("requestId")?,
                total_instruments: o.num("totalInstruments")?,
                instrument: InstrumentSpec {
                    symbol: o.text("symbol")?,
                    kind: o.name("kind")?,
                    underlying: o.text("underlying")?,
                    expiry: o.opt_time("expiry")?,
                    strike: o.opt_price("strike")?,
                    put_call: o.opt_name("putCall")?,
                    tick_size: o.price("tickSize")?,
                    lot_size: o.qty("lotSize")?,
                    min_size: o.qty("minSize")?,
                    price_exponent: o.num("priceExponent")?,
                },
            }
            .into(),
            "NewOrderSingle" => NewOrderSingle {
                cl_ord_id: o.text("clOrdId")?,
                symbol: o.text("symbol")?,
                side: o.name("side")?,
                ord_type: o.name("ordType")?,
                price: o.opt_price("price")?,
                order_qty: o.qty("orderQty")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "OrderCancelRequest" => OrderCancelRequest {
                cl_ord_id: o.text("clOrdId")?,
                orig_cl_ord_id: o.text("origClOrdId")?,
                symbol: o.text("symbol")?,
                side: o.name("side")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "ExecutionReport" => ExecutionReport {
                order_id: o.num("orderId")?,
                cl_ord_id: o.text("clOrdId")?,
                exec_id: o.num("execId")?,
                exec_type: o.name("execType")?,
                ord_status: o.name("ordStatus")?,
                symbol: o.text("symbol")?,
                side: o.name("side")?,
                price: o.opt_price("price")?,
                order_qty: o.qty("orderQty")?,
                leaves_qty: o.qty("leavesQty")?,
                cum_qty: o.qty("cumQty")?,
                transact_time: o.time("transactTime")?,
                reject_reason: o.opt_name("rejectReason")?,
                rfq_id: o.opt_num("rfqId")?,
                quote_id: o.opt_num("quoteId")?,
                fills: o.group("fills", |f| {
                    Ok(Fill {
                        price: f.price("fillPx")?,
                        qty: f.qty("fillQty")?,
                        trade_id: f.num("tradeId")?,
                    })
                })?,
                text: o.free_text("text")?,
            }
            .into(),
            "OrderCancelReject" => OrderCancelReject {
                order_id: o.opt_num("orderId")?,
                cl_ord_id: o.text("clOrdId")?,
                orig_cl_ord_id: o.text("origClOrdId")?,
                ord_status: o.name("ordStatus")?,
                cxl_rej_reason: o.name("cxlRejReason")?,
                transact_time: o.time("transactTime")?,
                text: o.free_text("text")?,
            }
            .into(),
            "QuoteRequest" => QuoteRequest {
                quote_req_id: o.text("quoteReqId")?,
                side: o.opt_name("side")?,
                order_qty: o.qty("orderQty")?,
                expire_time: o.opt_time("expireTime")?,
                transact_time: o.time("transactTime")?,
                legs: o.group("legs", leg)?,
            }
            .into(),
            "QuoteRequestCancel" => QuoteRequestCancel {
                quote_req_id: o.text("quoteReqId")?,
                rfq_id: o.num("rfqId")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "QuoteRequestStatus" => QuoteRequestStatus {
                rfq_id: o.num("rfqId")?,
                quote_req_id: o.opt_text("quoteReqId")?,
                status: o.name("status")?,
                side: o.opt_name("side")?,
                order_qty: o.qty("orderQty")?,
                expire_time: o.time("expireTime")?,
                reject_reason: o.opt_name("rejectReason")?,
                transact_time: o.time("transactTime")?,
                legs: o.group("legs", leg)?,
                text: o.free_text("text")?,
            }
            .into(),
            "Quote" => Quote {
                cl_quote_id: o.text("clQuoteId")?,
                rfq_id: o.num("rfqId")?,
                side: o.name("side")?,
                price: o.price("price")?,
                order_qty: o.qty("orderQty")?,
                valid_until: o.opt_time("validUntil")?,
                all_or_none: o.flag("allOrNone")?,
                transact_time: o.time("transactTime")?,
                leg_prices: o.group("legPrices", leg_price)?,
            }
            .into(),
            "QuoteCancel" => QuoteCancel {
                cl_quote_id: o.text("clQuoteId")?,
                rfq_id: o.num("rfqId")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "QuoteStatusReport" => QuoteStatusReport {
                quote_id: o.opt_num("quoteId")?,
                cl_quote_id: o.opt_text("clQuoteId")?,
                rfq_id: o.num("rfqId")?,
                status: o.name("status")?,
                side: o.name("side")?,
                price: o.price("price")?,
                order_qty: o.qty("orderQty")?,
                valid_until: o.time("validUntil")?,
                all_or_none: o.flag("allOrNone")?,
                reject_reason: o.opt_name("rejectReason")?,
                transact_time: o.time("transactTime")?,
                leg_prices: o.group("legPrices", leg_price)?,
                text: o.free_text("text")?,
            }
            .into(),
            "QuoteAccept" => QuoteAccept {
                cl_ord_id: o.text("clOrdId")?,
                rfq_id: o.num("rfqId")?,
                quote_id: o.num("quoteId")?,
                order_qty: o.qty("orderQty")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "MarketDataRequest" => MarketDataRequest {
                md_req_id: o.num("mdReqId")?,
                symbol: o.text("symbol")?,
                subscription_type: o.name("subscriptionType")?,
            }
            .into(),
            "MarketDataRequestReject" => MarketDataRequestReject {
                md_req_id: o.num("mdReqId")?,
                symbol: o.text("symbol")?,
                reject_reason: o.name("rejectReason")?,
                text: o.free_text("text")?,
            }
            .into(),
            "MarketDataSnapshot" => MarketDataSnapshot {
                md_req_id: o.num("mdReqId")?,
                symbol: o.text("symbol")?,
                seq_no: o.num("seqNo")?,
                transact_time: o.time("transactTime")?,
                levels: o.group("levels", level)?,
            }
            .into(),
            "MarketDataIncremental" => MarketDataIncremental {
                symbol: o.text("symbol")?,
                seq_no: o.num("seqNo")?,
                transact_time: o.time("transactTime")?,
                changes: o.group("changes", level)?,
            }
            .into(),
            "MarketDataTrade" => MarketDataTrade {
                symbol: o.text("symbol")?,
                seq_no: o.num("seqNo")?,
                trade_id: o.num("tradeId")?,
                price: o.price("price")?,
                qty: o.qty("qty")?,
                aggressor_side: o.opt_name("aggressorSide")?,
                block: o.flag("block")?,
                transact_time: o.time("transactTime")?,
            }
            .into(),
            "BusinessMessageReject" => BusinessMessageReject {
                ref_template_id: o.num("refTemplateId")?,
                ref_schema_id: o.num("refSchemaId")?,
                reject_reason: o.name("rejectReason")?,
                text: o.free_text("text")?,
            }
            .into(),
            _ => return Err(DecodeError::InvalidField { field: "@type" }),
        })
    }
}

/// The `@type` of a JSON object, if it is one with a string `@type` (no other checks).
pub fn json_type_name(frame: &[u8]) -> Option<String> {
    let o = Object::parse(frame).ok()?;
    let name: Cow<'_, str> = Object::value(o.get("@type")?, "@type").ok()?;
    Some(name.into_owned())
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Writes JSON into a caller's buffer; keeps counting past the end, so an overflow reports how
/// many bytes were needed.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
    first: bool,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.raw(s.as_bytes());
        Ok(())
    }
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        let mut w = Writer {
            out,
            len: 0,
            first: true,
        };
        w.raw(b"{");
        w
    }

    fn raw(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.len += bytes.len();
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.raw(b",");
        }
        self.first = false;
        self.raw(b"\"");
        self.raw(key.as_bytes());
        self.raw(b"\":");
    }

    /// A JSON string with the escapes JSON requires.
    fn string(&mut self, text: &str) {
        self.raw(b"\"");
        for c in text.chars() {
            match c {
                '"' => self.raw(b"\\\""),
                '\\' => self.raw(b"\\\\"),
                '\n' => self.raw(b"\\n"),
                '\r' => self.raw(b"\\r"),
                '\t' => self.raw(b"\\t"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(self, "\\u{:04x}", u32::from(c));
                }
                c => {
                    let mut buf = [0u8; 4];
                    self.raw(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        self.raw(b"\"");
    }

    fn str(&mut self, key: &str, text: &str) -> &mut Self {
        self.key(key);
        self.string(text);
        self
    }

    /// Text left out when empty.
    fn opt_str(&mut self, key: &str, text: &str) -> &mut Self {
        if !text.is_empty() {
            self.str(key, text);
        }
        self
    }

    /// A number or bool (anything whose `Display` is its JSON text).
    fn num(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        self.key(key);
        let _ = write!(self, "{value}");
        self
    }

    fn opt_num(&mut self, key: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(value) = value {
            self.num(key, value);
        }
        self
    }

    fn name(&mut self, key: &str, value: impl SchemaEnum) -> &mut Self {
        self.str(key, value.schema_name())
    }

    fn opt_name(&mut self, key: &str, value: Option<impl SchemaEnum>) -> &mut Self {
        if let Some(value) = value {
            self.name(key, value);
        }
        self
    }

    fn time(&mut self, key: &str, ns: u64) -> &mut Self {
        self.key(key);
        self.raw(b"\"");
        let _ = write_transact_time(ns, self);
        self.raw(b"\"");
        self
    }

    fn opt_time(&mut self, key: &str, ns: Option<u64>) -> &mut Self {
        if let Some(ns) = ns {
            self.time(key, ns);
        }
        self
    }

    /// A group as an array of objects (left out when empty).
    fn group<T>(&mut self, key: &str, items: &[T], entry: impl Fn(&mut Self, &T)) -> &mut Self {
        if items.is_empty() {
            return self;
        }
        self.key(key);
        self.raw(b"[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.raw(b"{");
            self.first = true;
            entry(self, item);
            self.raw(b"}");
        }
        self.raw(b"]");
        self.first = false;
        self
    }

    fn finish(mut self, type_name: &str) -> Result<usize, EncodeError> {
        self.str("@type", type_name);
        self.raw(b"}");
        if self.len > self.out.len() {
            return Err(EncodeError::BufferTooSmall { needed: self.len });
        }
        Ok(self.len)
    }
}

fn put_level(w: &mut Writer<'_>, l: &Level) {
    w.name("side", l.side)
        .num("price", l.price)
        .num("qty", l.qty)
        .num("orderCount", l.order_count);
}

fn put_leg(w: &mut Writer<'_>, l: &Leg) {
    w.str("legSymbol", l.symbol.as_str())
        .name("legSide", l.side)
        .num("legRatio", l.ratio);
}

fn put_leg_price(w: &mut Writer<'_>, p: &Price) {
    w.num("legPrice", p);
}

impl VenueMessage {
    /// Encodes the message as venue JSON into `out`; returns the length
    /// (`BufferTooSmall { needed }` when it does not fit).
    pub fn encode_json(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        match self {
            VenueMessage::InstrumentListRequest(m) => {
                w.num("requestId", m.request_id);
            }
            VenueMessage::InstrumentDefinition(m) => {
                let i = &m.instrument;
                w.num("requestId", m.request_id)
                    .num("totalInstruments", m.total_instruments)
                    .str("symbol", i.symbol.as_str())
                    .name("kind", i.kind)
                    .str("underlying", i.underlying.as_str())
                    .opt_time("expiry", i.expiry)
                    .opt_num("strike", i.strike)
                    .opt_name("putCall", i.put_call)
                    .num("tickSize", i.tick_size)
                    .num("lotSize", i.lot_size)
                    .num("minSize", i.min_size)
                    .num("priceExponent", i.price_exponent);
            }
            VenueMessage::NewOrderSingle(m) => {
                w.str("clOrdId", m.cl_ord_id.as_str())
                    .str("symbol", m.symbol.as_str())
                    .name("side", m.side)
                    .name("ordType", m.ord_type)
                    .opt_num("price", m.price)
                    .num("orderQty", m.order_qty)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::OrderCancelRequest(m) => {
                w.str("clOrdId", m.cl_ord_id.as_str())
                    .str("origClOrdId", m.orig_cl_ord_id.as_str())
                    .str("symbol", m.symbol.as_str())
                    .name("side", m.side)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::ExecutionReport(m) => {
                w.num("orderId", m.order_id)
                    .str("clOrdId", m.cl_ord_id.as_str())
                    .num("execId", m.exec_id)
                    .name("execType", m.exec_type)
                    .name("ordStatus", m.ord_status)
                    .str("symbol", m.symbol.as_str())
                    .name("side", m.side)
                    .opt_num("price", m.price)
                    .num("orderQty", m.order_qty)
                    .num("leavesQty", m.leaves_qty)
                    .num("cumQty", m.cum_qty)
                    .time("transactTime", m.transact_time)
                    .opt_name("rejectReason", m.reject_reason)
                    .opt_num("rfqId", m.rfq_id)
                    .opt_num("quoteId", m.quote_id)
                    .group("fills", &m.fills, |w, f| {
                        w.num("fillPx", f.price)
                            .num("fillQty", f.qty)
                            .num("tradeId", f.trade_id);
                    })
                    .opt_str("text", &m.text);
            }
            VenueMessage::OrderCancelReject(m) => {
                w.opt_num("orderId", m.order_id)
                    .str("clOrdId", m.cl_ord_id.as_str())
                    .str("origClOrdId", m.orig_cl_ord_id.as_str())
                    .name("ordStatus", m.ord_status)
                    .name("cxlRejReason", m.cxl_rej_reason)
                    .time("transactTime", m.transact_time)
                    .opt_str("text", &m.text);
            }
            VenueMessage::QuoteRequest(m) => {
                w.str("quoteReqId", m.quote_req_id.as_str())
                    .opt_name("side", m.side)
                    .num("orderQty", m.order_qty)
                    .opt_time("expireTime", m.expire_time)
                    .time("transactTime", m.transact_time)
                    .group("legs", &m.legs, put_leg);
            }
            VenueMessage::QuoteRequestCancel(m) => {
                w.str("quoteReqId", m.quote_req_id.as_str())
                    .num("rfqId", m.rfq_id)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::QuoteRequestStatus(m) => {
                w.num("rfqId", m.rfq_id)
                    .opt_str("quoteReqId", m.quote_req_id.as_str())
                    .name("status", m.status)
                    .opt_name("side", m.side)
                    .num("orderQty", m.order_qty)
                    .time("expireTime", m.expire_time)
                    .opt_name("rejectReason", m.reject_reason)
                    .time("transactTime", m.transact_time)
                    .group("legs", &m.legs, put_leg)
                    .opt_str("text", &m.text);
            }
            VenueMessage::Quote(m) => {
                w.str("clQuoteId", m.cl_quote_id.as_str())
                    .num("rfqId", m.rfq_id)
                    .name("side", m.side)
                    .num("price", m.price)
                    .num("orderQty", m.order_qty)
                    .opt_time("validUntil", m.valid_until)
                    .num("allOrNone", m.all_or_none)
                    .time("transactTime", m.transact_time)
                    .group("legPrices", &m.leg_prices, put_leg_price);
            }
            VenueMessage::QuoteCancel(m) => {
                w.str("clQuoteId", m.cl_quote_id.as_str())
                    .num("rfqId", m.rfq_id)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::QuoteStatusReport(m) => {
                w.opt_num("quoteId", m.quote_id)
                    .opt_str("clQuoteId", m.cl_quote_id.as_str())
                    .num("rfqId", m.rfq_id)
                    .name("status", m.status)
                    .name("side", m.side)
                    .num("price", m.price)
                    .num("orderQty", m.order_qty)
                    .time("validUntil", m.valid_until)
                    .num("allOrNone", m.all_or_none)
                    .opt_name("rejectReason", m.reject_reason)
                    .time("transactTime", m.transact_time)
                    .group("legPrices", &m.leg_prices, put_leg_price)
                    .opt_str("text", &m.text);
            }
            VenueMessage::QuoteAccept(m) => {
                w.str("clOrdId", m.cl_ord_id.as_str())
                    .num("rfqId", m.rfq_id)
                    .num("quoteId", m.quote_id)
                    .num("orderQty", m.order_qty)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::MarketDataRequest(m) => {
                w.num("mdReqId", m.md_req_id)
                    .str("symbol", m.symbol.as_str())
                    .name("subscriptionType", m.subscription_type);
            }
            VenueMessage::MarketDataRequestReject(m) => {
                w.num("mdReqId", m.md_req_id)
                    .str("symbol", m.symbol.as_str())
                    .name("rejectReason", m.reject_reason)
                    .opt_str("text", &m.text);
            }
            VenueMessage::MarketDataSnapshot(m) => {
                w.num("mdReqId", m.md_req_id)
                    .str("symbol", m.symbol.as_str())
                    .num("seqNo", m.seq_no)
                    .time("transactTime", m.transact_time)
                    .group("levels", &m.levels, put_level);
            }
            VenueMessage::MarketDataIncremental(m) => {
                w.str("symbol", m.symbol.as_str())
                    .num("seqNo", m.seq_no)
                    .time("transactTime", m.transact_time)
                    .group("changes", &m.changes, put_level);
            }
            VenueMessage::MarketDataTrade(m) => {
                w.str("symbol", m.symbol.as_str())
                    .num("seqNo", m.seq_no)
                    .num("tradeId", m.trade_id)
                    .num("price", m.price)
                    .num("qty", m.qty)
                    .opt_name("aggressorSide", m.aggressor_side)
                    .num("block", m.block)
                    .time("transactTime", m.transact_time);
            }
            VenueMessage::BusinessMessageReject(m) => {
                w.num("refTemplateId", m.ref_template_id)
                    .num("refSchemaId", m.ref_schema_id)
                    .name("rejectReason", m.reject_reason)
                    .opt_str("text", &m.text);
            }
        }
        w.finish(self.type_name())
    }

    /// The JSON form as a `String` (for logs and tests).
    pub fn to_json_string(&self) -> String {
        let mut buf = vec![0u8; 512];
        loop {
            match self.encode_json(&mut buf) {
                Ok(len) => {
                    buf.truncate(len);
                    return String::from_utf8(buf).unwrap_or_default();
                }
                Err(EncodeError::BufferTooSmall { needed }) => buf.resize(needed, 0),
                Err(EncodeError::TooLong { .. }) => return String::new(),
            }
        }
    }
}
