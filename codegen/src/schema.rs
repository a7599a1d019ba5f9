//! The schema model: SBE 1.0 XML parsed, `xi:include`s resolved, types resolved and laid out.
//!
//! Everything here is checked once, at generation time, so that the emitter can trust offsets,
//! sizes and names.

use crate::Error;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A primitive SBE type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prim {
    Char,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Prim {
    pub(crate) fn parse(name: &str) -> Option<Prim> {
        Some(match name {
            "char" => Prim::Char,
            "int8" => Prim::I8,
            "uint8" => Prim::U8,
            "int16" => Prim::I16,
            "uint16" => Prim::U16,
            "int32" => Prim::I32,
            "uint32" => Prim::U32,
            "int64" => Prim::I64,
            "uint64" => Prim::U64,
            "float" => Prim::F32,
            "double" => Prim::F64,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> usize {
        match self {
            Prim::Char | Prim::I8 | Prim::U8 => 1,
            Prim::I16 | Prim::U16 => 2,
            Prim::I32 | Prim::U32 | Prim::F32 => 4,
            Prim::I64 | Prim::U64 | Prim::F64 => 8,
        }
    }

    /// The Rust type of one element.
    pub(crate) fn rust(self) -> &'static str {
        match self {
            Prim::Char | Prim::U8 => "u8",
            Prim::I8 => "i8",
            Prim::I16 => "i16",
            Prim::U16 => "u16",
            Prim::I32 => "i32",
            Prim::U32 => "u32",
            Prim::I64 => "i64",
            Prim::U64 => "u64",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
        }
    }

    pub(crate) fn is_float(self) -> bool {
        matches!(self, Prim::F32 | Prim::F64)
    }

    /// The default null value as a Rust literal (floats: NaN, checked with `is_nan`).
    pub(crate) fn default_null(self) -> &'static str {
        match self {
            Prim::Char => "0u8",
            Prim::I8 => "i8::MIN",
            Prim::U8 => "u8::MAX",
            Prim::I16 => "i16::MIN",
            Prim::U16 => "u16::MAX",
            Prim::I32 => "i32::MIN",
            Prim::U32 => "u32::MAX",
            Prim::I64 => "i64::MIN",
            Prim::U64 => "u64::MAX",
            Prim::F32 => "f32::NAN",
            Prim::F64 => "f64::NAN",
        }
    }
}

/// Field presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    Required,
    Optional,
    Constant,
}

fn parse_presence(s: Option<&str>) -> Result<Option<Presence>, Error> {
    Ok(match s {
        None => None,
        Some("required") => Some(Presence::Required),
        Some("optional") => Some(Presence::Optional),
        Some("constant") => Some(Presence::Constant),
        Some(other) => return Err(Error::invalid(format!("unknown presence `{other}`"))),
    })
}

/// A named type of the schema.
#[derive(Clone, Debug)]
pub(crate) enum TypeDef {
    Encoded(Encoded),
    Composite(Composite),
    Enum(EnumDef),
    Set(SetDef),
}

impl TypeDef {
    /// Wire size in bytes (constants take none).
    pub(crate) fn size(&self, types: &HashMap<String, TypeDef>) -> usize {
        match self {
            TypeDef::Encoded(e) if e.presence == Presence::Constant => 0,
            TypeDef::Encoded(e) => e.prim.size() * e.length,
            TypeDef::Composite(c) => c.size(types),
            TypeDef::Enum(e) => e.prim.size(),
            TypeDef::Set(s) => s.prim.size(),
        }
    }
}

/// A `<type>`.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) name: String,
    pub(crate) prim: Prim,
    /// Element count; 1 for a scalar, 0 for the varData member.
    pub(crate) length: usize,
    pub(crate) presence: Presence,
    pub(crate) null_value: Option<String>,
    pub(crate) constant: Option<String>,
    pub(crate) since: u16,
    pub(crate) description: Option<String>,
}

/// A member of a composite.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) offset: usize,
    /// The `offset` attribute, when given.
    pub(crate) explicit_offset: Option<usize>,
    /// Inline `<type>` members are kept here; refs, enums, sets and composites point at `types`.
    pub(crate) ty: MemberType,
    pub(crate) presence: Option<Presence>,
    pub(crate) value_ref: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum MemberType {
    Inline(Encoded),
    Named(String),
}

/// A `<composite>`.
#[derive(Clone, Debug)]
pub(crate) struct Composite {
    pub(crate) name: String,
    pub(crate) members: Vec<Member>,
    pub(crate) description: Option<String>,
}

impl Composite {
    pub(crate) fn size(&self, types: &HashMap<String, TypeDef>) -> usize {
        self.members
            .iter()
            .map(|m| m.offset.saturating_add(member_size(m, types)))
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

pub(crate) fn member_size(m: &Member, types: &HashMap<String, TypeDef>) -> usize {
    if m.presence == Some(Presence::Constant) {
        return 0;
    }
    match &m.ty {
        MemberType::Inline(e) => TypeDef::Encoded(e.clone()).size(types),
        MemberType::Named(n) => types.get(n).map_or(0, |t| t.size(types)),
    }
}

/// An `<enum>`.
#[derive(Clone, Debug)]
pub(crate) struct EnumDef {
    pub(crate) name: String,
    pub(crate) prim: Prim,
    /// (name, wire value, description)
    pub(crate) values: Vec<(String, u64, Option<String>)>,
    pub(crate) description: Option<String>,
}

/// A `<set>`.
#[derive(Clone, Debug)]
pub(crate) struct SetDef {
    pub(crate) name: String,
    pub(crate) prim: Prim,
    /// (name, bit, description)
    pub(crate) choices: Vec<(String, u32, Option<String>)>,
    pub(crate) description: Option<String>,
}

/// A field of a message or group.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) id: u32,
    pub(crate) type_name: String,
    pub(crate) offset: usize,
    pub(crate) presence: Presence,
    pub(crate) value_ref: Option<String>,
    pub(crate) since: u16,
    pub(crate) description: Option<String>,
}

/// A `<data>` element.
#[derive(Clone, Debug)]
pub(crate) struct VarData {
    pub(crate) name: String,
    pub(crate) id: u32,
    pub(crate) length_prim: Prim,
    pub(crate) since: u16,
    pub(crate) description: Option<String>,
}

/// A message or a group entry: fixed fields, then groups, then var data.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub(crate) name: String,
    pub(crate) id: u32,
    pub(crate) block_length: usize,
    pub(crate) fields: Vec<Field>,
    pub(crate) groups: Vec<Group>,
    pub(crate) data: Vec<VarData>,
    pub(crate) since: u16,
    pub(crate) description: Option<String>,
}

/// A repeating group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) block: Block,
    pub(crate) dimension: String,
}

/// A parsed and checked schema.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    pub(crate) package: String,
    pub(crate) id: u16,
    pub(crate) version: u16,
    pub(crate) description: Option<String>,
    pub(crate) header_type: String,
    pub(crate) types: HashMap<String, TypeDef>,
    /// Type names in declaration order (for stable output).
    pub(crate) type_order: Vec<String>,
    pub(crate) messages: Vec<Block>,
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name)
}

fn req_attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Result<&'a str, Error> {
    node.attribute(name).ok_or_else(|| {
        Error::invalid(format!(
            "<{}> is missing attribute `{name}`",
            node.tag_name().name()
        ))
    })
}

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Error> {
    s.trim()
        .parse()
        .map_err(|_| Error::invalid(format!("{what}: `{s}` is not a valid number")))
}

fn opt_num<T: std::str::FromStr>(node: roxmltree::Node, name: &str) -> Result<Option<T>, Error> {
    attr(node, name).map(|s| parse_num(s, name)).transpose()
}

fn text(node: roxmltree::Node) -> String {
    node.text().unwrap_or("").trim().to_string()
}

fn description(node: roxmltree::Node) -> Option<String> {
    attr(node, "description").map(str::to_string)
}

/// Reads `path` and the files it includes into a list of `<types>` nodes' XML texts and the main
/// document's text.
pub(crate) fn load(path: &Path) -> Result<(String, Vec<(PathBuf, String)>), Error> {
    let main = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let doc = roxmltree::Document::parse(&main).map_err(|e| Error::Xml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut includes = Vec::new();
    for node in doc.root_element().children().filter(|n| n.is_element()) {
        if node.tag_name().name() == "include" {
            let href = req_attr(node, "href")?;
            let inc_path = base.join(href);
            let inc = std::fs::read_to_string(&inc_path).map_err(|e| Error::Include {
                path: inc_path.clone(),
                message: e.to_string(),
            })?;
            includes.push((inc_path, inc));
        }
    }
    Ok((main, includes))
}

/// Parses and checks a schema.
pub(crate) fn parse(
    path: &Path,
    main: &str,
    includes: &[(PathBuf, String)],
    renames: &HashMap<String, String>,
) -> Result<Schema, Error> {
    let doc = roxmltree::Document::parse(main).map_err(|e| Error::Xml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "messageSchema" {
        return Err(Error::invalid("the root element is not <messageSchema>"));
    }
    let byte_order = attr(root, "byteOrder").unwrap_or("littleEndian");
    if byte_order != "littleEndian" {
        return Err(Error::BigEndian);
    }
    let id: u16 = parse_num(req_attr(root, "id")?, "schema id")?;
    let version: u16 = opt_num(root, "version")?.unwrap_or(0);
    let header_type = attr(root, "headerType")
        .unwrap_or("messageHeader")
        .to_string();
    let mut types = HashMap::new();
    let mut type_order = Vec::new();

    let mut inc_docs = Vec::new();
    for (p, t) in includes {
        inc_docs.push((
            p,
            roxmltree::Document::parse(t).map_err(|e| Error::Xml {
                path: p.clone(),
                message: e.to_string(),
            })?,
        ));
    }
    let mut types_nodes = Vec::new();
    for (_, d) in &inc_docs {
        let r = d.root_element();
        if r.tag_name().name() == "types" {
            types_nodes.push(r);
        } else {
            types_nodes.extend(
                r.children()
                    .filter(|n| n.is_element() && n.tag_name().name() == "types"),
            );
        }
    }
    types_nodes.extend(
        root.children()
            .filter(|n| n.is_element() && n.tag_name().name() == "types"),
    );
    for tn in types_nodes {
        for node in tn.children().filter(|n| n.is_element()) {
            parse_type(node, &mut types, &mut type_order, version)?;
        }
    }
    // Resolve and check composites.
    for name in &type_order {
        if let Some(TypeDef::Composite(c)) = types.get(name) {
            for m in &c.members {
                if let MemberType::Named(n) = &m.ty {
                    if !types.contains_key(n) {
                        return Err(Error::UnknownType {
                            name: n.clone(),
                            context: format!("composite {}", c.name),
                        });
                    }
                }
            }
        }
    }
    // Recompute composite offsets now that every type is known (a few passes settle refs to
    // composites declared later).
    let names: Vec<String> = type_order.clone();
    for name in names.iter().cycle().take(names.len() * 3) {
        if let Some(TypeDef::Composite(c)) = types.get(name).cloned() {
            let mut pos = 0usize;
            let mut c2 = c.clone();
            for (i, m) in c.members.iter().enumerate() {
                let size = member_size(m, &types);
                let off = m.explicit_offset.unwrap_or(pos);
                if off < pos {
                    return Err(Error::invalid(format!(
                        "composite {}: member {} offset {off} overlaps the previous member",
                        c.name, m.name
                    )));
                }
                c2.members[i].offset = off;
                pos = off + size;
            }
            types.insert(name.clone(), TypeDef::Composite(c2));
        }
    }

    match types.get(&header_type) {
        Some(TypeDef::Composite(h)) => {
            for m in ["blockLength", "templateId", "schemaId", "version"] {
                if h.member(m).is_none() {
                    return Err(Error::invalid(format!(
                        "header composite {header_type} has no `{m}` member"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::UnknownType {
                name: header_type.clone(),
                context: "message header".into(),
            })
        }
    }

    let mut messages = Vec::new();
    let mut ids = HashSet::new();
    let mut msg_names = HashSet::new();
    for node in root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "message")
    {
        let mut block = parse_block(node, &types, version, "message")?;
        if let Some(new) = renames.get(&block.name) {
            block.name = new.clone();
        }
        if !ids.insert(block.id) {
            return Err(Error::invalid(format!("duplicate message id {}", block.id)));
        }
        if !msg_names.insert(block.name.clone()) {
            return Err(Error::invalid(format!(
                "duplicate message name {}",
                block.name
            )));
        }
        messages.push(block);
    }
    Ok(Schema {
        package: attr(root, "package").unwrap_or("schema").to_string(),
        id,
        version,
        description: description(root),
        header_type,
        types,
        type_order,
        messages,
    })
}

fn parse_encoded(node: roxmltree::Node, schema_version: u16) -> Result<Encoded, Error> {
    let name = req_attr(node, "name")?.to_string();
    let prim_name = req_attr(node, "primitiveType")?;
    let prim = Prim::parse(prim_name)
        .ok_or_else(|| Error::invalid(format!("type {name}: unknown primitive `{prim_name}`")))?;
    let presence = parse_presence(attr(node, "presence"))?.unwrap_or(Presence::Required);
    let mut length: usize = opt_num(node, "length")?.unwrap_or(1);
    let constant = if presence == Presence::Constant {
        let t = text(node);
        if t.is_empty() && attr(node, "valueRef").is_none() {
            return Err(Error::invalid(format!("constant type {name} has no value")));
        }
        if prim == Prim::Char && attr(node, "length").is_none() {
            length = t.len().max(1);
        }
        Some(t)
    } else {
        None
    };
    let null_value = attr(node, "nullValue").map(str::to_string);
    if null_value.is_some() && presence == Presence::Required {
        return Err(Error::invalid(format!(
            "type {name}: nullValue on a required type"
        )));
    }
    let since: u16 = opt_num(node, "sinceVersion")?.unwrap_or(0);
    if since > schema_version {
        return Err(Error::invalid(format!(
            "type {name}: sinceVersion {since} is above the schema version {schema_version}"
        )));
    }
    Ok(Encoded {
        name,
        prim,
        length,
        presence,
        null_value,
        constant,
        since,
        description: description(node),
    })
}

fn insert_type(
    types: &mut HashMap<String, TypeDef>,
    order: &mut Vec<String>,
    name: &str,
    def: TypeDef,
) -> Result<(), Error> {
    if types.insert(name.to_string(), def).is_some() {
        return Err(Error::invalid(format!("duplicate type name {name}")));
    }
    order.push(name.to_string());
    Ok(())
}

fn parse_type(
    node: roxmltree::Node,
    types: &mut HashMap<String, TypeDef>,
    order: &mut Vec<String>,
    schema_version: u16,
) -> Result<Option<String>, Error> {
    let kind = node.tag_name().name();
    match kind {
        "type" => {
            let e = parse_encoded(node, schema_version)?;
            let name = e.name.clone();
            insert_type(types, order, &name, TypeDef::Encoded(e))?;
            Ok(Some(name))
        }
        "enum" => {
            let name = req_attr(node, "name")?.to_string();
            let enc = req_attr(node, "encodingType")?;
            let prim = resolve_prim(enc, types).ok_or_else(|| Error::UnknownType {
                name: enc.to_string(),
                context: format!("enum {name}"),
            })?;
            let mut values = Vec::new();
            let mut seen = HashSet::new();
            for v in node
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "validValue")
            {
                let vname = req_attr(v, "name")?.to_string();
                let t = text(v);
                let raw = if prim == Prim::Char {
                    match t.as_bytes() {
                        [b] => u64::from(*b),
                        _ => {
                            return Err(Error::invalid(format!(
                                "enum {name}: value {vname} `{t}` is not one character"
                            )))
                        }
                    }
                } else {
                    parse_num(&t, &format!("enum {name} value {vname}"))?
                };
                if !seen.insert(vname.clone()) {
                    return Err(Error::invalid(format!(
                        "enum {name}: duplicate value name {vname}"
                    )));
                }
                values.push((vname, raw, description(v)));
            }
            insert_type(
                types,
                order,
                &name,
                TypeDef::Enum(EnumDef {
                    name: name.clone(),
                    prim,
                    values,
                    description: description(node),
                }),
            )?;
            Ok(Some(name))
        }
        "set" => {
            let name = req_attr(node, "name")?.to_string();
            let enc = req_attr(node, "encodingType")?;
            let prim = resolve_prim(enc, types).ok_or_else(|| Error::UnknownType {
                name: enc.to_string(),
                context: format!("set {name}"),
            })?;
            let mut choices = Vec::new();
            for c in node
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "choice")
            {
                let cname = req_attr(c, "name")?.to_string();
                let bit: u32 = parse_num(&text(c), &format!("set {name} choice {cname}"))?;
                if bit as usize >= prim.size() * 8 {
                    return Err(Error::invalid(format!(
                        "set {name}: choice {cname} bit {bit} does not fit"
                    )));
                }
                choices.push((cname, bit, description(c)));
            }
            insert_type(
                types,
                order,
                &name,
                TypeDef::Set(SetDef {
                    name: name.clone(),
                    prim,
                    choices,
                    description: description(node),
                }),
            )?;
            Ok(Some(name))
        }
        "composite" => {
            let name = req_attr(node, "name")?.to_string();
            let mut members = Vec::new();
            for m in node.children().filter(|n| n.is_element()) {
                let mname = req_attr(m, "name")?.to_string();
                let explicit_offset: Option<usize> = opt_num(m, "offset")?;
                let presence = parse_presence(attr(m, "presence"))?;
                let value_ref = attr(m, "valueRef").map(str::to_string);
                let ty = match m.tag_name().name() {
                    "type" => MemberType::Inline(parse_encoded(m, schema_version)?),
                    "ref" => MemberType::Named(req_attr(m, "type")?.to_string()),
                    "enum" | "set" | "composite" => {
                        parse_type(m, types, order, schema_version)?;
                        MemberType::Named(mname.clone())
                    }
                    other => {
                        return Err(Error::invalid(format!(
                            "composite {name}: unexpected <{other}>"
                        )))
                    }
                };
                members.push(Member {
                    name: mname,
                    offset: 0,
                    explicit_offset,
                    ty,
                    presence,
                    value_ref,
                });
            }
            insert_type(
                types,
                order,
                &name,
                TypeDef::Composite(Composite {
                    name: name.clone(),
                    members,
                    description: description(node),
                }),
            )?;
            Ok(Some(name))
        }
        _ => Ok(None),
    }
}

fn resolve_prim(name: &str, types: &HashMap<String, TypeDef>) -> Option<Prim> {
    Prim::parse(name).or_else(|| match types.get(name) {
        Some(TypeDef::Encoded(e)) => Some(e.prim),
        _ => None,
    })
}

/// Resolves a field's type name, accepting bare primitive names.
pub(crate) fn field_type(name: &str, types: &HashMap<String, TypeDef>) -> Option<TypeDef> {
    types.get(name).cloned().or_else(|| {
        Prim::parse(name).map(|prim| {
            TypeDef::Encoded(Encoded {
                name: name.to_string(),
                prim,
                length: 1,
                presence: Presence::Required,
                null_value: None,
                constant: None,
                since: 0,
                description: None,
            })
        })
    })
}

fn parse_block(
    node: roxmltree::Node,
    types: &HashMap<String, TypeDef>,
    schema_version: u16,
    what: &str,
) -> Result<Block, Error> {
    let name = req_attr(node, "name")?.to_string();
    let id: u32 = parse_num(req_attr(node, "id")?, &format!("{what} {name} id"))?;
    let since: u16 = opt_num(node, "sinceVersion")?.unwrap_or(0);
    if since > schema_version {
        return Err(Error::invalid(format!(
            "{what} {name}: sinceVersion {since} is above the schema version"
        )));
    }
    let mut fields = Vec::new();
    let mut groups = Vec::new();
    let mut data = Vec::new();
    let mut pos = 0usize;
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for child in node.children().filter(|n| n.is_element()) {
        let kind = child.tag_name().name();
        let cname = req_attr(child, "name")?.to_string();
        let cid: u32 = parse_num(req_attr(child, "id")?, &format!("{name}.{cname} id"))?;
        if !names.insert(cname.clone()) {
            return Err(Error::invalid(format!(
                "{what} {name}: duplicate name {cname}"
            )));
        }
        if !ids.insert(cid) {
            return Err(Error::invalid(format!("{what} {name}: duplicate id {cid}")));
        }
        let csince: u16 = opt_num(child, "sinceVersion")?.unwrap_or(0);
        if csince > schema_version {
            return Err(Error::invalid(format!(
                "{name}.{cname}: sinceVersion {csince} is above the schema version {schema_version}"
            )));
        }
        match kind {
            "field" => {
                if !groups.is_empty() || !data.is_empty() {
                    return Err(Error::invalid(format!(
                        "{what} {name}: field {cname} comes after a group or var data"
                    )));
                }
                let type_name = req_attr(child, "type")?.to_string();
                let ty = field_type(&type_name, types).ok_or_else(|| Error::UnknownType {
                    name: type_name.clone(),
                    context: format!("{name}.{cname}"),
                })?;
                let type_presence = match &ty {
                    TypeDef::Encoded(e) => e.presence,
                    _ => Presence::Required,
                };
                let presence = parse_presence(attr(child, "presence"))?.unwrap_or(type_presence);
                let value_ref = attr(child, "valueRef").map(str::to_string);
                if presence == Presence::Constant {
                    let has_value = value_ref.is_some()
                        || matches!(&ty, TypeDef::Encoded(e) if e.constant.is_some());
                    if !has_value {
                        return Err(Error::invalid(format!(
                            "{name}.{cname}: constant without a value"
                        )));
                    }
                }
                let type_since = match &ty {
                    TypeDef::Encoded(e) => e.since,
                    _ => 0,
                };
                let size = if presence == Presence::Constant {
                    0
                } else {
                    ty.size(types)
                };
                let offset = match opt_num::<usize>(child, "offset")? {
                    Some(o) if o < pos => {
                        return Err(Error::invalid(format!(
                            "{name}.{cname}: offset {o} overlaps the previous field (ends at {pos})"
                        )))
                    }
                    Some(o) => o,
                    None => pos,
                };
                pos = offset + size;
                fields.push(Field {
                    name: cname,
                    id: cid,
                    type_name,
                    offset,
                    presence,
                    value_ref,
                    since: csince.max(type_since),
                    description: description(child),
                });
            }
            "group" => {
                if !data.is_empty() {
                    return Err(Error::invalid(format!(
                        "{what} {name}: group {cname} comes after var data"
                    )));
                }
                let dimension = attr(child, "dimensionType")
                    .unwrap_or("groupSizeEncoding")
                    .to_string();
                match types.get(&dimension) {
                    Some(TypeDef::Composite(c))
                        if c.member("blockLength").is_some()
                            && c.member("numInGroup").is_some() => {}
                    _ => {
                        return Err(Error::UnknownType {
                            name: dimension,
                            context: format!("group {name}.{cname} dimension"),
                        })
                    }
                }
                let block = parse_block(child, types, schema_version, "group")?;
                groups.push(Group { block, dimension });
            }
            "data" => {
                let type_name = req_attr(child, "type")?;
                let length_prim = match types.get(type_name) {
                    Some(TypeDef::Composite(c)) => {
                        let len = c.member("length");
                        let var = c.member("varData");
                        match (len, var) {
                            (Some(l), Some(_)) => match &l.ty {
                                MemberType::Inline(e)
                                    if matches!(e.prim, Prim::U8 | Prim::U16 | Prim::U32) =>
                                {
                                    e.prim
                                }
                                _ => {
                                    return Err(Error::invalid(format!(
                                        "var data type {type_name}: length must be uint8, uint16 or uint32"
                                    )))
                                }
                            },
                            _ => {
                                return Err(Error::invalid(format!(
                                    "var data type {type_name} needs `length` and `varData` members"
                                )))
                            }
                        }
                    }
                    _ => {
                        return Err(Error::UnknownType {
                            name: type_name.to_string(),
                            context: format!("{name}.{cname}"),
                        })
                    }
                };
                data.push(VarData {
                    name: cname,
                    id: cid,
                    length_prim,
                    since: csince,
                    description: description(child),
                });
            }
            _ => {
                return Err(Error::invalid(format!(
                    "{what} {name}: unexpected <{kind}>"
                )))
            }
        }
    }
    let block_length = match opt_num::<usize>(node, "blockLength")? {
        Some(b) if b < pos => {
            return Err(Error::invalid(format!(
                "{what} {name}: blockLength {b} is smaller than its fields ({pos} bytes)"
            )))
        }
        Some(b) => b,
        None => pos,
    };
    if block_length > usize::from(u16::MAX) {
        return Err(Error::invalid(format!("{what} {name}: block too long")));
    }
    Ok(Block {
        name,
        id,
        block_length,
        fields,
        groups,
        data,
        since,
        description: description(node),
    })
}
