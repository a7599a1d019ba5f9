//! real-logic's Car example (nested groups, var data in groups, sets, constants, arrays, nested
//! composites, uint32 var-data lengths, `xi:include`) and the SBE 1.0 specification's examples
//! (framed with a SOFH).

use fixp_ws::codec::sofh::{Sofh, SBE_LITTLE_ENDIAN};
use serde_json::{json, Value};
use std::path::PathBuf;

#[allow(dead_code)]
mod car {
    include!(concat!(env!("OUT_DIR"), "/sbe_car.rs"));
}
#[allow(dead_code)]
mod car_ext {
    include!(concat!(env!("OUT_DIR"), "/sbe_car_extension.rs"));
}
#[allow(dead_code)]
mod examples {
    include!(concat!(env!("OUT_DIR"), "/sbe_examples.rs"));
}

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/sbe-conformance")
        .join(path)
}

fn s(b: &[u8]) -> Value {
    Value::String(String::from_utf8(b.to_vec()).expect("ASCII"))
}

/// Expected values may carry a note: `"C (constant, not on wire)"`. Floats compare loosely
/// (the file holds f32 values, the JSON their decimal text).
fn matches(expected: &Value, ours: &Value) -> bool {
    match (expected, ours) {
        (Value::String(e), Value::String(o)) => e == o || e.starts_with(&format!("{o} (")),
        (Value::Number(e), Value::Number(o)) => {
            (e.as_f64().unwrap() - o.as_f64().unwrap()).abs() < 1e-4
        }
        (Value::Object(e), Value::Object(o)) => {
            e.len() == o.len()
                && e.iter()
                    .all(|(k, v)| o.get(k).is_some_and(|ov| matches(v, ov)))
        }
        (Value::Array(e), Value::Array(o)) => {
            e.len() == o.len() && e.iter().zip(o).all(|(a, b)| matches(a, b))
        }
        (e, o) => e == o,
    }
}

macro_rules! car_json {
    ($m:ident, $d:expr) => {{
        let d = &$d;
        let x = d.extras();
        let e = d.engine();
        let b = e.booster();
        json!({
            "serialNumber": d.serial_number(),
            "modelYear": d.model_year(),
            "available": d.available().unwrap().name(),
            "code": d.code().unwrap().name(),
            "someNumbers": d.some_numbers(),
            "vehicleCode": s(d.vehicle_code()),
            "extras": {"sunRoof": x.sun_roof(), "sportsPack": x.sports_pack(), "cruiseControl": x.cruise_control(), "raw": x.0},
            "discountedModel": d.discounted_model().name(),
            "engine": {
                "capacity": e.capacity(),
                "numCylinders": e.num_cylinders(),
                "maxRpm": e.max_rpm().to_string(),
                "manufacturerCode": s(e.manufacturer_code()),
                "fuel": s(e.fuel()),
                "efficiency": e.efficiency(),
                "boosterEnabled": e.booster_enabled().unwrap().name(),
                "booster": {"BoostType": b.boost_type().unwrap().name(), "horsePower": b.horse_power()},
            },
            "fuelFigures": d.fuel_figures().map(|f| json!({
                "speed": f.speed(), "mpg": f.mpg(), "usageDescription": s(f.usage_description()),
            })).collect::<Vec<_>>(),
            "performanceFigures": d.performance_figures().map(|p| json!({
                "octaneRating": p.octane_rating(),
                "acceleration": p.acceleration().map(|a| json!({"mph": a.mph(), "seconds": a.seconds()})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "manufacturer": s(d.manufacturer()),
            "model": s(d.model()),
            "activationCode": s(d.activation_code()),
        })
    }};
}

fn car_expected() -> (Value, Value) {
    let text = std::fs::read_to_string(data("real-logic-car/expected.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    (
        doc["baseline"]["expect"].clone(),
        doc["baseline"]["header"].clone(),
    )
}

#[test]
fn car_baseline_decodes_to_the_reference_values() {
    let bytes = std::fs::read(data("real-logic-car/car_example_baseline_data.sbe")).unwrap();
    let (expect, header) = car_expected();
    let h = car::read_header(&bytes).unwrap();
    assert_eq!(
        h.block_length as u64,
        header["blockLength"].as_u64().unwrap()
    );
    let d = car::CarDecoder::decode(&bytes).unwrap();
    assert_eq!(d.sbe_end(), bytes.len());
    let ours = car_json!(car, d);
    assert!(
        matches(&expect, &ours),
        "expected {expect:#}\ndecoded {ours:#}"
    );
}

#[test]
fn car_encoder_writes_the_reference_bytes() {
    let bytes = std::fs::read(data("real-logic-car/car_example_baseline_data.sbe")).unwrap();
    let d = car::CarDecoder::decode(&bytes).unwrap();
    let mut out = vec![0u8; 512];
    let mut e = car::CarEncoder::new(&mut out).unwrap();
    e.set_serial_number(d.serial_number())
        .set_model_year(d.model_year())
        .set_available(d.available().unwrap())
        .set_code(d.code().unwrap())
        .set_some_numbers(&d.some_numbers())
        .set_vehicle_code(d.vehicle_code())
        .unwrap()
        .set_extras(d.extras());
    {
        let de = d.engine();
        let mut en = e.engine();
        en.set_capacity(de.capacity())
            .set_num_cylinders(de.num_cylinders())
            .set_manufacturer_code(de.manufacturer_code())
            .unwrap()
            .set_efficiency(de.efficiency())
            .set_booster_enabled(de.booster_enabled().unwrap());
        en.booster()
            .set_boost_type(de.booster().boost_type().unwrap())
            .set_horse_power(de.booster().horse_power());
    }
    {
        let mut g = e.fuel_figures().unwrap();
        for f in d.fuel_figures() {
            let mut entry = g.next_entry().unwrap();
            entry
                .set_speed(f.speed())
                .set_mpg(f.mpg())
                .put_usage_description(f.usage_description())
                .unwrap();
        }
    }
    {
        let mut g = e.performance_figures().unwrap();
        for p in d.performance_figures() {
            let mut entry = g.next_entry().unwrap();
            entry.set_octane_rating(p.octane_rating());
            let mut acc = entry.acceleration().unwrap();
            for a in p.acceleration() {
                acc.next_entry()
                    .unwrap()
                    .set_mph(a.mph())
                    .set_seconds(a.seconds());
            }
        }
    }
    e.put_manufacturer(d.manufacturer())
        .unwrap()
        .put_model(d.model())
        .unwrap()
        .put_activation_code(d.activation_code())
        .unwrap();
    assert_eq!(e.as_bytes(), &bytes[..]);
}

#[test]
fn car_v0_read_by_the_v1_decoder_has_no_v1_fields() {
    let bytes = std::fs::read(data("real-logic-car/car_example_extension_data.sbe")).unwrap();
    let d = car_ext::CarDecoder::decode(&bytes).unwrap();
    assert_eq!(d.sbe_version(), 0);
    assert_eq!(d.uuid(), None);
    assert_eq!(d.cup_holder_count(), None);
    assert_eq!(d.some_numbers(), [0, 1, 2, 3]);
    assert_eq!(d.sbe_end(), bytes.len());
    // The rest reads as the baseline car (except someNumbers, which this file sets to 0..3).
    let (mut expect, _) = car_expected();
    expect["someNumbers"] = json!([0, 1, 2, 3]);
    let ours = car_json!(car_ext, d);
    assert!(
        matches(&expect, &ours),
        "expected {expect:#}\ndecoded {ours:#}"
    );
    // A v1 message does carry them.
    let mut out = vec![0u8; 256];
    let mut e = car_ext::CarEncoder::new(&mut out).unwrap();
    e.set_uuid(&[7, -8]).set_cup_holder_count(Some(3));
    e.fuel_figures().unwrap();
    e.performance_figures().unwrap();
    e.put_manufacturer(b"")
        .unwrap()
        .put_model(b"")
        .unwrap()
        .put_activation_code(b"")
        .unwrap();
    let n = e.encoded_length();
    let v1 = car_ext::CarDecoder::decode(&out[..n]).unwrap();
    assert_eq!(v1.sbe_version(), 1);
    assert_eq!(v1.uuid(), Some([7, -8]));
    assert_eq!(v1.cup_holder_count(), Some(3));
}

#[test]
fn every_prefix_of_the_car_is_an_error() {
    for file in [
        "real-logic-car/car_example_baseline_data.sbe",
        "real-logic-car/car_example_extension_data.sbe",
    ] {
        let bytes = std::fs::read(data(file)).unwrap();
        for n in 0..bytes.len() {
            assert!(car::Message::decode(&bytes[..n]).is_err(), "{file}: {n}");
            assert!(
                car_ext::Message::decode(&bytes[..n]).is_err(),
                "{file}: {n}"
            );
        }
    }
}

fn example(file: &str) -> Vec<u8> {
    let framed = std::fs::read(data("spec-examples/v1.0").join(file)).unwrap();
    let (sofh, body, rest) = Sofh::split(&framed).unwrap();
    assert_eq!(sofh.encoding_type, SBE_LITTLE_ENDIAN);
    assert!(rest.is_empty());
    body.to_vec()
}

#[test]
fn spec_examples_decode_and_reencode() {
    // 1: NewOrderSingle (flat).
    let bytes = example("1_NewOrderSingle.sofh.bin");
    let d = examples::NewOrderSingleDecoder::decode(&bytes).unwrap();
    assert_eq!(d.cl_ord_id(), b"ORD00001");
    assert_eq!(d.account(), b"ACCT01");
    assert_eq!(d.symbol(), b"GEM4");
    assert_eq!(d.side().unwrap(), examples::SideEnum::Buy);
    assert_eq!(d.transact_time(), 1525098721248000000);
    assert_eq!(d.order_qty().mantissa(), 7);
    assert_eq!(d.order_qty().exponent(), 0);
    assert_eq!(d.ord_type().unwrap(), examples::OrdTypeEnum::Limit);
    assert_eq!(d.price().mantissa(), Some(99610));
    assert_eq!(d.price().exponent(), -3);
    assert_eq!(d.stop_px().mantissa(), None);
    let mut out = [0u8; 128];
    let mut e = examples::NewOrderSingleEncoder::new(&mut out).unwrap();
    e.set_cl_ord_id(d.cl_ord_id())
        .unwrap()
        .set_account(d.account())
        .unwrap()
        .set_symbol(d.symbol())
        .unwrap()
        .set_side(examples::SideEnum::Buy)
        .set_transact_time(d.transact_time())
        .set_ord_type(examples::OrdTypeEnum::Limit);
    e.order_qty().set_mantissa(7);
    e.price().set_mantissa(Some(99610));
    e.stop_px().set_mantissa(None);
    assert_eq!(e.as_bytes(), &bytes[..]);

    // 2: ExecutionReport with a group.
    let bytes = example("2_ExecutionReport.sofh.bin");
    let d = examples::ExecutionReportDecoder::decode(&bytes).unwrap();
    assert_eq!(d.order_id(), b"O0000001");
    assert_eq!(d.exec_id(), b"EXEC0000");
    assert_eq!(d.exec_type().unwrap(), examples::ExecTypeEnum::Trade);
    assert_eq!(
        d.ord_status().unwrap(),
        examples::OrdStatusEnum::PartialFilled
    );
    let my = d.maturity_month_year();
    assert_eq!(
        (my.year(), my.month(), my.day(), my.week()),
        (2014, 6, 255, 255)
    );
    assert_eq!((d.leaves_qty().mantissa(), d.cum_qty().mantissa()), (1, 6));
    assert_eq!(d.trade_date(), 15989);
    let fills: Vec<(Option<i64>, i32)> = d
        .fills_grp()
        .map(|f| (f.fill_px().mantissa(), f.fill_qty().mantissa()))
        .collect();
    assert_eq!(fills, [(Some(99610), 2), (Some(99620), 4)]);
    assert_eq!(d.sbe_end(), bytes.len());

    // 3: BusinessMessageReject with var data.
    let bytes = example("3_BusinessMessageReject.sofh.bin");
    let d = examples::BusinessMessageRejectDecoder::decode(&bytes).unwrap();
    assert_eq!(d.busines_reject_ref_id(), b"ORD00001");
    assert_eq!(
        d.business_reject_reason().unwrap(),
        examples::BusinessRejectReasonEnum::NotAuthorized
    );
    assert_eq!(d.text(), b"Not authorized to trade that instrument");
    assert_eq!(d.sbe_end(), bytes.len());
}
