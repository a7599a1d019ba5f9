//! Criterion benchmarks of the SBE codec: encode and decode of flat FIXP session messages
//! (Sequence, Establish) through `SbeEncoding` and the generated flyweights, and of Conga's
//! NewOrderSingle and ExecutionReport (with a fills group).

use criterion::{criterion_group, criterion_main, Criterion};
use fixp_ws::codec::fixp::SessionId;
use fixp_ws::codec::sbe::{conga, fixp, SbeEncoding};
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound};
use std::hint::black_box;

const SESSION: SessionId = SessionId([
    0x3f, 0x2a, 0x8c, 0x1e, 0x5b, 0x7d, 0x4e, 0x21, 0x9a, 0x10, 0xc4, 0x6e, 0x01, 0x23, 0x45, 0x67,
]);

fn fixp_messages(c: &mut Criterion) {
    let sequence = FixpMessage::Sequence { next_seq_no: 42 };
    let establish = FixpMessage::Establish {
        session_id: SESSION,
        timestamp: 1_700_000_000_987_654_321,
        keepalive_interval: 5000,
        next_seq_no: Some(1),
        credentials: b"token",
    };
    for (name, msg) in [("sequence", sequence), ("establish", establish)] {
        let mut out = [0u8; 128];
        let mut sbe = SbeEncoding::new();
        let n = sbe.encode(&msg, &mut out).unwrap();
        let frame = out[..n].to_vec();
        c.bench_function(&format!("sbe/{name}/encode"), |b| {
            b.iter(|| sbe.encode(black_box(&msg), black_box(&mut out)).unwrap())
        });
        c.bench_function(&format!("sbe/{name}/decode"), |b| {
            b.iter(|| match sbe.decode(black_box(&frame), FrameKind::Binary) {
                Ok(Inbound::Fixp(m)) => black_box(m.template()),
                other => panic!("{other:?}"),
            })
        });
    }

    let mut out = [0u8; 128];
    c.bench_function("flyweight/sequence/encode", |b| {
        b.iter(|| {
            let mut e = fixp::SequenceEncoder::new(black_box(&mut out)).unwrap();
            e.set_next_seq_no(black_box(42));
            e.encoded_length()
        })
    });
    let n = fixp::SequenceEncoder::new(&mut out)
        .unwrap()
        .set_next_seq_no(42)
        .encoded_length();
    let frame = out[..n].to_vec();
    c.bench_function("flyweight/sequence/decode", |b| {
        b.iter(|| {
            fixp::SequenceDecoder::decode(black_box(&frame))
                .unwrap()
                .next_seq_no()
        })
    });
}

fn encode_nos(out: &mut [u8]) -> usize {
    let mut e = conga::NewOrderSingleEncoder::new(out).unwrap();
    e.set_cl_ord_id(b"CL000001")
        .unwrap()
        .set_symbol(b"EURUSD")
        .unwrap()
        .set_side(conga::SideEnum::Buy)
        .set_ord_type(conga::OrdTypeEnum::Limit);
    e.transact_time().set_time(1_700_000_000_123_456_789);
    e.order_qty().set_mantissa(100);
    e.price().set_mantissa(108_250);
    e.encoded_length()
}

fn encode_er(out: &mut [u8]) -> usize {
    let mut e = conga::ExecutionReportEncoder::new(out).unwrap();
    e.set_order_id(b"OR000001")
        .unwrap()
        .set_cl_ord_id(b"CL000001")
        .unwrap()
        .set_exec_id(b"EX000001")
        .unwrap()
        .set_exec_type(conga::ExecTypeEnum::Trade)
        .set_ord_status(conga::OrdStatusEnum::PartiallyFilled)
        .set_symbol(b"EURUSD")
        .unwrap()
        .set_side(conga::SideEnum::Buy);
    e.leaves_qty().set_mantissa(40);
    e.cum_qty().set_mantissa(60);
    e.transact_time().set_time(1_700_000_000_123_456_789);
    {
        let mut fills = e.fills_grp().unwrap();
        for (px, qty) in [(108_250, 20), (108_260, 40)] {
            let mut f = fills.next_entry().unwrap();
            f.fill_px().set_mantissa(px);
            f.fill_qty().set_mantissa(qty);
        }
    }
    e.encoded_length()
}

fn conga_messages(c: &mut Criterion) {
    let mut out = [0u8; 256];
    c.bench_function("conga/new_order_single/encode", |b| {
        b.iter(|| encode_nos(black_box(&mut out)))
    });
    let n = encode_nos(&mut out);
    let nos = out[..n].to_vec();
    c.bench_function("conga/new_order_single/decode", |b| {
        b.iter(|| {
            let d = conga::NewOrderSingleDecoder::decode(black_box(&nos)).unwrap();
            (
                d.cl_ord_id().len(),
                d.side().is_ok(),
                d.order_qty().mantissa(),
                d.price().mantissa(),
            )
        })
    });
    c.bench_function("conga/execution_report_2_fills/encode", |b| {
        b.iter(|| encode_er(black_box(&mut out)))
    });
    let n = encode_er(&mut out);
    let er = out[..n].to_vec();
    c.bench_function("conga/execution_report_2_fills/decode", |b| {
        b.iter(|| {
            let d = conga::ExecutionReportDecoder::decode(black_box(&er)).unwrap();
            let mut qty = d.cum_qty().mantissa();
            for f in d.fills_grp() {
                qty += f.fill_qty().mantissa() + f.fill_px().mantissa();
            }
            (qty, d.ord_status().is_ok(), d.order_id().len())
        })
    });
}

criterion_group!(benches, fixp_messages, conga_messages);
criterion_main!(benches);
