//! Test-only helpers shared by the JSON tests: a proptest strategy for random JSON values.
#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::Value;

/// A random JSON value of any type, nested up to `depth` levels: numbers of every kind, strings
/// drawn from `strings`, and object keys matching the regex `keys`.
pub fn json_value(
    strings: impl Strategy<Value = String> + 'static,
    keys: &'static str,
    depth: u32,
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        strings.prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 40, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(keys, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
