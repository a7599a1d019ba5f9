//! Invalid schemas are rejected with typed errors; valid features generate code.

use fixp_sbe_codegen::{Error, Generator};

fn schema(types: &str, messages: &str, attrs: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sbe:messageSchema xmlns:sbe="http://fixprotocol.io/2016/sbe" package="t" id="7" version="1" {attrs}>
  <types>
    <composite name="messageHeader">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="templateId" primitiveType="uint16"/>
      <type name="schemaId" primitiveType="uint16"/>
      <type name="version" primitiveType="uint16"/>
    </composite>
    <composite name="groupSizeEncoding">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="numInGroup" primitiveType="uint16"/>
    </composite>
    <composite name="varData">
      <type name="length" primitiveType="uint16"/>
      <type name="varData" primitiveType="uint8" length="0"/>
    </composite>
    {types}
  </types>
  {messages}
</sbe:messageSchema>"#
    )
}

fn generate(types: &str, messages: &str, attrs: &str) -> Result<String, Error> {
    Generator::from_str("test.xml", &schema(types, messages, attrs)).generate()
}

fn invalid(types: &str, messages: &str) -> String {
    match generate(types, messages, "") {
        Err(Error::InvalidSchema(m)) => m,
        other => panic!("expected InvalidSchema, got {other:?}"),
    }
}

#[test]
fn a_valid_schema_generates_flyweights() {
    let src = generate(
        "",
        r#"<sbe:message name="Ping" id="1"><field name="Seq" id="1" type="uint64"/>
           <group name="Items" id="2"><field name="Qty" id="3" type="int32"/></group>
           <data name="Text" id="4" type="varData"/></sbe:message>"#,
        "",
    )
    .unwrap();
    assert!(src.contains("pub struct PingDecoder<'a>"));
    assert!(src.contains("pub struct PingItemsIter<'a>"));
    assert!(src.contains("pub fn put_text("));
    assert!(src.contains("pub const SCHEMA_ID: u16 = 7;"));
}

#[test]
fn big_endian_is_rejected() {
    assert_eq!(
        generate("", "", r#"byteOrder="bigEndian""#),
        Err(Error::BigEndian)
    );
}

#[test]
fn overlapping_offsets_are_rejected() {
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1"><field name="A" id="1" type="uint32"/>
           <field name="B" id="2" type="uint32" offset="2"/></sbe:message>"#,
    );
    assert!(m.contains("overlaps"), "{m}");
}

#[test]
fn fields_after_groups_and_groups_after_data_are_rejected() {
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1"><group name="G" id="1"><field name="A" id="2" type="uint8"/></group>
           <field name="B" id="3" type="uint8"/></sbe:message>"#,
    );
    assert!(m.contains("after a group"), "{m}");
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1"><data name="D" id="1" type="varData"/>
           <group name="G" id="2"><field name="A" id="3" type="uint8"/></group></sbe:message>"#,
    );
    assert!(m.contains("after var data"), "{m}");
}

#[test]
fn duplicates_are_rejected() {
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1"/><sbe:message name="N" id="1"/>"#,
    );
    assert!(m.contains("duplicate message id"), "{m}");
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1"><field name="A" id="1" type="uint8"/><field name="A" id="2" type="uint8"/></sbe:message>"#,
    );
    assert!(m.contains("duplicate name"), "{m}");
}

#[test]
fn bad_types_are_rejected() {
    let m = invalid(
        r#"<type name="T" primitiveType="uint8" nullValue="3"/>"#,
        "",
    );
    assert!(m.contains("nullValue on a required type"), "{m}");
    let m = invalid(
        r#"<type name="T" primitiveType="uint8" presence="constant"/>"#,
        "",
    );
    assert!(m.contains("has no value"), "{m}");
    let m = invalid(
        r#"<type name="T" primitiveType="uint8" sinceVersion="5"/>"#,
        "",
    );
    assert!(m.contains("sinceVersion"), "{m}");
    let m = invalid(
        "",
        r#"<sbe:message name="M" id="1" blockLength="2"><field name="A" id="1" type="uint32"/></sbe:message>"#,
    );
    assert!(m.contains("blockLength"), "{m}");
    assert!(matches!(
        generate(
            "",
            r#"<sbe:message name="M" id="1"><field name="A" id="1" type="Nope"/></sbe:message>"#,
            ""
        ),
        Err(Error::UnknownType { .. })
    ));
}

#[test]
fn a_missing_file_or_include_is_an_error() {
    assert!(matches!(
        Generator::from_file("/nonexistent/schema.xml"),
        Err(Error::Io { .. })
    ));
    let dir = std::env::temp_dir().join(format!("sbe-codegen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.xml");
    std::fs::write(
        &path,
        r#"<sbe:messageSchema xmlns:sbe="http://fixprotocol.io/2016/sbe" xmlns:xi="http://www.w3.org/2001/XInclude" id="1"><xi:include href="missing.xml"/></sbe:messageSchema>"#,
    )
    .unwrap();
    assert!(matches!(
        Generator::from_file(&path),
        Err(Error::Include { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
