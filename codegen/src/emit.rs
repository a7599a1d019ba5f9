//! Rust source emission from a checked [`Schema`].

use crate::schema::{
    field_type, member_size, Block, Composite, Encoded, EnumDef, Field, Group, MemberType,
    Presence, Prim, Schema, SetDef, TypeDef,
};
use crate::Error;
use std::collections::HashMap;
use std::fmt::Write;

/// Converts a schema name to snake_case.
pub(crate) fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if (prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    let out = out.trim_end_matches('_').to_string();
    let out = if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        format!("f_{out}")
    } else {
        out
    };
    if is_keyword(&out) {
        format!("{out}_")
    } else {
        out
    }
}

/// Converts a schema name to PascalCase.
pub(crate) fn pascal(name: &str) -> String {
    let s = snake(name);
    let mut out = String::new();
    for part in s.split('_').filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        format!("V{out}")
    } else if matches!(
        out.as_str(),
        "Self" | "Option" | "Some" | "Result" | "Ok" | "Err"
    ) {
        format!("{out}Value")
    } else {
        out
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "crate"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "async"
            | "await"
            | "dyn"
            | "abstract"
            | "become"
            | "box"
            | "do"
            | "final"
            | "macro"
            | "override"
            | "priv"
            | "typeof"
            | "unsized"
            | "virtual"
            | "yield"
            | "try"
            | "gen"
    )
}

fn doc(desc: &Option<String>, fallback: &str) -> String {
    let text = desc
        .as_deref()
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| fallback.to_string());
    let text = text.replace('[', "\\[").replace(']', "\\]");
    format!("/// {text}\n")
}

/// `base + n`, without a `+ 0`.
fn add(base: &str, n: usize) -> String {
    if n == 0 {
        base.to_string()
    } else {
        format!("{base} + {n}")
    }
}

/// The position of element `i` of an array starting at `pos`.
fn elem(pos: &str, size: usize) -> String {
    if size == 1 {
        format!("{pos} + i")
    } else {
        format!("{pos} + i * {size}")
    }
}

fn null_literal(e: &Encoded) -> Result<String, Error> {
    match &e.null_value {
        Some(v) if e.prim == Prim::Char && v.len() == 1 => Ok(format!("{}u8", v.as_bytes()[0])),
        Some(v) => {
            let ok = v.trim().parse::<f64>().is_ok();
            if !ok {
                return Err(Error::invalid(format!(
                    "type {}: nullValue `{v}` is not a number",
                    e.name
                )));
            }
            Ok(format!("({} as {})", v.trim(), e.prim.rust()))
        }
        None => Ok(e.prim.default_null().to_string()),
    }
}

/// One slot of a block or composite, resolved.
struct Slot<'s> {
    name: &'s str,
    offset: usize,
    ty: TypeDef,
    presence: Presence,
    value_ref: Option<&'s str>,
    since: u16,
    desc: Option<String>,
}

pub(crate) struct Emitter<'s> {
    schema: &'s Schema,
    rt: String,
    out: String,
}

impl<'s> Emitter<'s> {
    pub(crate) fn new(schema: &'s Schema, rt: &str) -> Self {
        Emitter {
            schema,
            rt: rt.to_string(),
            out: String::new(),
        }
    }

    fn types(&self) -> &HashMap<String, TypeDef> {
        &self.schema.types
    }

    pub(crate) fn emit(mut self) -> Result<String, Error> {
        let s = self.schema;
        let rt = self.rt.clone();
        let _ = writeln!(
            self.out,
            "// Generated by fixp-sbe-codegen from the `{}` schema (id {}, version {}). Do not edit.\n",
            s.package, s.id, s.version
        );
        let _ = writeln!(
            self.out,
            "#[allow(unused_imports)]\nuse {rt}::runtime as sbe_rt;"
        );
        let _ = writeln!(
            self.out,
            "#[allow(unused_imports)]\nuse {rt}::{{DecodeError, EncodeError}};\n"
        );
        let _ = writeln!(
            self.out,
            "{}/// The schema id (`id` of `messageSchema`).\npub const SCHEMA_ID: u16 = {};",
            doc(&s.description, &format!("Schema `{}`.", s.package)).replace("\n", "\n///\n"),
            s.id
        );
        let _ = writeln!(self.out, "/// The schema version; encoders write it, decoders act on the header's.\npub const SCHEMA_VERSION: u16 = {};", s.version);
        self.emit_header()?;
        for name in &s.type_order {
            match &s.types[name] {
                TypeDef::Enum(e) => self.emit_enum(e),
                TypeDef::Set(st) => self.emit_set(st),
                TypeDef::Composite(c) => {
                    let is_var = c
                        .members
                        .iter()
                        .any(|m| matches!(&m.ty, MemberType::Inline(e) if e.length == 0));
                    if !is_var {
                        self.emit_composite(c)?;
                    }
                }
                TypeDef::Encoded(_) => {}
            }
        }
        for m in &s.messages {
            if m.id > u32::from(u16::MAX) {
                return Err(Error::invalid(format!("message {}: id too large", m.name)));
            }
            self.emit_block(m, None, m.id as u16, &pascal(&m.name))?;
        }
        self.emit_dispatch();
        Ok(self.out)
    }

    fn emit_header(&mut self) -> Result<(), Error> {
        let s = self.schema;
        let Some(TypeDef::Composite(h)) = s.types.get(&s.header_type) else {
            return Err(Error::invalid("missing header composite"));
        };
        let len = h.size(self.types());
        let mut get = HashMap::new();
        let mut prims = HashMap::new();
        for n in ["blockLength", "templateId", "schemaId", "version"] {
            let m = h
                .member(n)
                .ok_or_else(|| Error::invalid("header member missing"))?;
            let MemberType::Inline(e) = &m.ty else {
                return Err(Error::invalid(format!(
                    "header member {n} must be a primitive type"
                )));
            };
            if e.length != 1 || e.prim.is_float() || e.prim == Prim::Char {
                return Err(Error::invalid(format!(
                    "header member {n} must be an unsigned integer"
                )));
            }
            get.insert(
                n,
                format!("sbe_rt::get_{}(buf, {})", e.prim.rust(), m.offset),
            );
            prims.insert(n, (e.prim, m.offset));
        }
        let to_usize = |p: Prim, e: &str| match p {
            Prim::U8 | Prim::U16 => format!("usize::from({e})"),
            _ => format!("({e} as usize)"),
        };
        let to_u16 = |p: Prim, e: &str| match p {
            Prim::U16 => e.to_string(),
            Prim::U8 => format!("u16::from({e})"),
            _ => format!("({e} as u16)"),
        };
        let _ = writeln!(
            self.out,
            "/// Length of the message header (`{}`) in bytes.\npub const HEADER_LENGTH: usize = {len};\n",
            s.header_type
        );
        let _ = writeln!(
            self.out,
            "/// Reads the message header at the start of `buf`.\npub fn read_header(buf: &[u8]) -> Result<sbe_rt::Header, DecodeError> {{\n    sbe_rt::need(buf, 0, HEADER_LENGTH)?;\n    Ok(sbe_rt::Header {{\n        block_length: {},\n        template_id: {},\n        schema_id: {},\n        version: {},\n    }})\n}}\n",
            to_usize(prims["blockLength"].0, &get["blockLength"]),
            to_u16(prims["templateId"].0, &get["templateId"]),
            to_u16(prims["schemaId"].0, &get["schemaId"]),
            to_u16(prims["version"].0, &get["version"]),
        );
        let (bp, bo) = prims["blockLength"];
        let (tp, to) = prims["templateId"];
        let (sp, so) = prims["schemaId"];
        let (vp, vo) = prims["version"];
        let _ = writeln!(
            self.out,
            "/// Zeroes and writes a message header at the start of `buf` (the caller checked its length).\nfn write_header(buf: &mut [u8], block_length: {bt}, template_id: {tt}) {{\n    sbe_rt::put_{bt}(buf, {bo}, block_length);\n    sbe_rt::put_{tt}(buf, {to}, template_id);\n    sbe_rt::put_{st}(buf, {so}, {sid});\n    sbe_rt::put_{vt}(buf, {vo}, {ver});\n}}\n",
            bt = bp.rust(),
            tt = tp.rust(),
            st = sp.rust(),
            vt = vp.rust(),
            sid = s.id,
            ver = s.version,
        );
        Ok(())
    }

    fn emit_enum(&mut self, e: &EnumDef) {
        let name = pascal(&e.name);
        let t = e.prim.rust();
        let mut o = String::new();
        o.push_str(&doc(&e.description, &format!("The `{}` enum.", e.name)));
        o.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\n");
        let _ = writeln!(o, "pub enum {name} {{");
        for (v, raw, d) in &e.values {
            o.push_str("    ");
            o.push_str(&doc(d, &format!("`{v}` (wire value {raw}).")));
            let _ = writeln!(o, "    {},", pascal(v));
        }
        o.push_str("}\n\n");
        let _ = writeln!(o, "impl {name} {{");
        o.push_str("    /// Every value, in schema order.\n");
        let all: Vec<String> = e
            .values
            .iter()
            .map(|(v, _, _)| format!("Self::{}", pascal(v)))
            .collect();
        let _ = writeln!(
            o,
            "    pub const ALL: &'static [Self] = &[{}];",
            all.join(", ")
        );
        let _ = writeln!(o, "    /// The wire value.\n    pub const fn to_wire(self) -> {t} {{\n        match self {{");
        for (v, raw, _) in &e.values {
            let _ = writeln!(o, "            Self::{} => {raw},", pascal(v));
        }
        o.push_str("        }\n    }\n");
        let _ = writeln!(o, "    /// The value for a wire value, or `None` for one the schema does not define.\n    pub const fn from_wire(raw: {t}) -> Option<Self> {{\n        match raw {{");
        for (v, raw, _) in &e.values {
            let _ = writeln!(o, "            {raw} => Some(Self::{}),", pascal(v));
        }
        o.push_str("            _ => None,\n        }\n    }\n");
        let _ = writeln!(o, "    /// The schema name of the value.\n    pub const fn name(self) -> &'static str {{\n        match self {{");
        for (v, _, _) in &e.values {
            let _ = writeln!(o, "            Self::{} => {:?},", pascal(v), v);
        }
        o.push_str("        }\n    }\n}\n\n");
        if e.values.is_empty() {
            // An empty enum cannot be matched usefully; emit a plain marker instead.
            let _ = writeln!(
                self.out,
                "{}/// (The schema defines no values.)\npub type {name} = {t};\n",
                doc(&e.description, "An enum without values.")
            );
            return;
        }
        self.out.push_str(&o);
    }

    fn emit_set(&mut self, st: &SetDef) {
        let name = pascal(&st.name);
        let t = st.prim.rust();
        let mut o = String::new();
        o.push_str(&doc(&st.description, &format!("The `{}` bitset.", st.name)));
        o.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]\n");
        let _ = writeln!(o, "pub struct {name}(pub {t});\n\nimpl {name} {{");
        for (c, bit, d) in &st.choices {
            let f = snake(c);
            o.push_str("    ");
            o.push_str(&doc(d, &format!("True when `{c}` (bit {bit}) is set.")));
            let _ = writeln!(
                o,
                "    pub const fn {f}(self) -> bool {{\n        self.0 & (1 << {bit}) != 0\n    }}"
            );
            let _ = writeln!(o, "    /// Returns the set with `{c}` (bit {bit}) set or cleared.\n    pub const fn with_{f}(self, on: bool) -> Self {{\n        if on {{\n            Self(self.0 | (1 << {bit}))\n        }} else {{\n            Self(self.0 & !(1 << {bit}))\n        }}\n    }}");
        }
        o.push_str("}\n\n");
        self.out.push_str(&o);
    }

    fn composite_slots<'c>(&self, c: &'c Composite) -> Vec<Slot<'c>> {
        c.members
            .iter()
            .map(|m| {
                let (ty, type_presence, since) = match &m.ty {
                    MemberType::Inline(e) => (TypeDef::Encoded(e.clone()), e.presence, e.since),
                    MemberType::Named(n) => {
                        let t = self.types()[n].clone();
                        let p = match &t {
                            TypeDef::Encoded(e) => e.presence,
                            _ => Presence::Required,
                        };
                        (t, p, 0)
                    }
                };
                Slot {
                    name: &m.name,
                    offset: m.offset,
                    ty,
                    presence: m.presence.unwrap_or(type_presence),
                    value_ref: m.value_ref.as_deref(),
                    since,
                    desc: match &m.ty {
                        MemberType::Inline(e) => e.description.clone(),
                        MemberType::Named(_) => None,
                    },
                }
            })
            .collect()
    }

    fn emit_composite(&mut self, c: &Composite) -> Result<(), Error> {
        let name = pascal(&c.name);
        let size = c.size(self.types());
        let slots = self.composite_slots(c);
        let mut dec = String::new();
        let mut enc = String::new();
        for s in &slots {
            self.slot_decoder(s, &mut dec)?;
            self.slot_encoder(s, &mut enc)?;
        }
        let d = doc(&c.description, &format!("The `{}` composite.", c.name));
        let _ = writeln!(
            self.out,
            "{d}#[derive(Clone, Copy, Debug)]\npub struct {name}Decoder<'a> {{\n    buf: &'a [u8],\n    offset: usize,\n    version: u16,\n}}\n\nimpl<'a> {name}Decoder<'a> {{\n    /// Encoded length in bytes.\n    pub const ENCODED_LENGTH: usize = {size};\n\n    /// Wraps the composite at `offset`, acting as `version`; checks that it fits.\n    pub fn wrap(buf: &'a [u8], offset: usize, version: u16) -> Result<Self, DecodeError> {{\n        sbe_rt::need(buf, offset, Self::ENCODED_LENGTH)?;\n        Ok(Self {{ buf, offset, version }})\n    }}\n\n    /// The acting version.\n    pub fn sbe_version(&self) -> u16 {{\n        self.version\n    }}\n\n    /// Where the composite starts in the buffer.\n    pub fn sbe_offset(&self) -> usize {{\n        self.offset\n    }}\n{dec}}}\n"
        );
        let _ = writeln!(
            self.out,
            "{d}#[derive(Debug)]\npub struct {name}Encoder<'a> {{\n    buf: &'a mut [u8],\n    offset: usize,\n}}\n\nimpl<'a> {name}Encoder<'a> {{\n    /// Encoded length in bytes.\n    pub const ENCODED_LENGTH: usize = {size};\n\n    /// Wraps `buf` at `offset` for writing; checks that the composite fits.\n    pub fn wrap(buf: &'a mut [u8], offset: usize) -> Result<Self, EncodeError> {{\n        sbe_rt::zero(buf, offset, Self::ENCODED_LENGTH)?;\n        Ok(Self {{ buf, offset }})\n    }}\n\n    /// Where the composite starts in the buffer.\n    pub fn sbe_offset(&self) -> usize {{\n        self.offset\n    }}\n{enc}}}\n"
        );
        Ok(())
    }

    fn field_slot<'f>(&self, f: &'f Field) -> Result<Slot<'f>, Error> {
        let ty = field_type(&f.type_name, self.types()).ok_or_else(|| Error::UnknownType {
            name: f.type_name.clone(),
            context: f.name.clone(),
        })?;
        Ok(Slot {
            name: &f.name,
            offset: f.offset,
            ty,
            presence: f.presence,
            value_ref: f.value_ref.as_deref(),
            since: f.since,
            desc: Some(match &f.description {
                Some(d) => format!("{d} (`{}`, id {})", f.name, f.id),
                None => format!("The `{}` field (id {}).", f.name, f.id),
            }),
        })
    }

    /// Resolves `Enum.value` to (enum Rust name, variant).
    fn value_ref(&self, r: &str) -> Result<(String, String), Error> {
        let (e, v) = r
            .split_once('.')
            .ok_or_else(|| Error::invalid(format!("valueRef `{r}` is not `Enum.value`")))?;
        match self.types().get(e) {
            Some(TypeDef::Enum(en)) if en.values.iter().any(|(n, _, _)| n == v) => {
                Ok((pascal(e), pascal(v)))
            }
            _ => Err(Error::invalid(format!(
                "valueRef `{r}` names no enum value"
            ))),
        }
    }

    fn slot_decoder(&self, s: &Slot, o: &mut String) -> Result<(), Error> {
        let f = snake(s.name);
        let pos = add("self.offset", s.offset);
        let d = doc(&s.desc, &format!("The `{}` field.", s.name));
        let guard = if s.since > 0 {
            format!(
                "        if self.version < {} {{\n            return None;\n        }}\n",
                s.since
            )
        } else {
            String::new()
        };
        let versioned = s.since > 0;
        if s.presence == Presence::Constant {
            if let Some(r) = s.value_ref {
                let (en, v) = self.value_ref(r)?;
                let _ = writeln!(
                    o,
                    "    {d}    pub fn {f}(&self) -> {en} {{\n        {en}::{v}\n    }}"
                );
                return Ok(());
            }
            let TypeDef::Encoded(e) = &s.ty else {
                return Err(Error::invalid(format!(
                    "constant {} needs a valueRef",
                    s.name
                )));
            };
            let value = e.constant.clone().unwrap_or_default();
            if e.prim == Prim::Char {
                let _ = writeln!(
                    o,
                    "    {d}    pub fn {f}(&self) -> &'static [u8] {{\n        b{value:?}\n    }}"
                );
            } else {
                if value.trim().parse::<f64>().is_err() {
                    return Err(Error::invalid(format!(
                        "constant {}: `{value}` is not a number",
                        s.name
                    )));
                }
                let _ = writeln!(
                    o,
                    "    {d}    pub fn {f}(&self) -> {} {{\n        {}\n    }}",
                    e.prim.rust(),
                    value.trim()
                );
            }
            return Ok(());
        }
        match &s.ty {
            TypeDef::Encoded(e) => {
                let t = e.prim.rust();
                let sz = e.prim.size();
                if e.length == 1 {
                    let get = format!("sbe_rt::get_{t}(self.buf, {pos})");
                    if s.presence == Presence::Optional {
                        let test = if e.prim.is_float() {
                            "value.is_nan()".to_string()
                        } else {
                            format!("value == {}", null_literal(e)?)
                        };
                        let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> Option<{t}> {{\n{guard}        let value = {get};\n        if {test} {{\n            None\n        }} else {{\n            Some(value)\n        }}\n    }}");
                    } else if versioned {
                        let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> Option<{t}> {{\n{guard}        Some({get})\n    }}");
                    } else {
                        let _ = writeln!(
                            o,
                            "    {d}    pub fn {f}(&self) -> {t} {{\n        {get}\n    }}"
                        );
                    }
                } else {
                    let n = e.length;
                    let (rty, get) = if e.prim == Prim::Char {
                        (
                            "&'a [u8]".to_string(),
                            format!("sbe_rt::get_str(self.buf, {pos}, {n})"),
                        )
                    } else if e.prim == Prim::U8 {
                        (
                            format!("[u8; {n}]"),
                            format!("sbe_rt::get_bytes::<{n}>(self.buf, {pos})"),
                        )
                    } else {
                        (
                            format!("[{t}; {n}]"),
                            format!(
                                "core::array::from_fn(|i| sbe_rt::get_{t}(self.buf, {}))",
                                elem(&pos, sz)
                            ),
                        )
                    };
                    if versioned {
                        let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> Option<{rty}> {{\n{guard}        Some({get})\n    }}");
                    } else {
                        let _ = writeln!(
                            o,
                            "    {d}    pub fn {f}(&self) -> {rty} {{\n        {get}\n    }}"
                        );
                    }
                }
            }
            TypeDef::Enum(e) => {
                let en = pascal(&e.name);
                let t = e.prim.rust();
                let get = format!("sbe_rt::get_{t}(self.buf, {pos})");
                let null = e.prim.default_null();
                if s.presence == Presence::Optional || versioned {
                    let _ = writeln!(o, "    /// The raw wire value of `{}` (`None`: absent in the acting version).\n    pub fn {f}_raw(&self) -> Option<{t}> {{\n{guard}        Some({get})\n    }}", s.name);
                    let null_check = if s.presence == Presence::Optional {
                        format!("        if raw == {null} {{\n            return Ok(None);\n        }}\n")
                    } else {
                        String::new()
                    };
                    let _ = writeln!(o, "    {d}    ///\n    /// `Ok(None)`: null or absent; an undefined value is [`DecodeError::InvalidEnum`].\n    pub fn {f}(&self) -> Result<Option<{en}>, DecodeError> {{\n        let Some(raw) = self.{f}_raw() else {{\n            return Ok(None);\n        }};\n{null_check}        match {en}::from_wire(raw) {{\n            Some(v) => Ok(Some(v)),\n            None => Err(DecodeError::InvalidEnum {{ field: {:?}, value: raw as u64 }}),\n        }}\n    }}", s.name);
                } else {
                    let _ = writeln!(o, "    /// The raw wire value of `{}`.\n    pub fn {f}_raw(&self) -> {t} {{\n        {get}\n    }}", s.name);
                    let _ = writeln!(o, "    {d}    ///\n    /// A value the schema does not define is [`DecodeError::InvalidEnum`].\n    pub fn {f}(&self) -> Result<{en}, DecodeError> {{\n        let raw = self.{f}_raw();\n        {en}::from_wire(raw).ok_or(DecodeError::InvalidEnum {{ field: {:?}, value: raw as u64 }})\n    }}", s.name);
                }
            }
            TypeDef::Set(st) => {
                let sn = pascal(&st.name);
                let get = format!("{sn}(sbe_rt::get_{}(self.buf, {pos}))", st.prim.rust());
                if versioned {
                    let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> Option<{sn}> {{\n{guard}        Some({get})\n    }}");
                } else {
                    let _ = writeln!(
                        o,
                        "    {d}    pub fn {f}(&self) -> {sn} {{\n        {get}\n    }}"
                    );
                }
            }
            TypeDef::Composite(c) => {
                let cn = pascal(&c.name);
                let get = format!("{cn}Decoder {{\n            buf: self.buf,\n            offset: {pos},\n            version: self.version,\n        }}");
                if versioned {
                    let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> Option<{cn}Decoder<'a>> {{\n{guard}        Some({get})\n    }}");
                } else {
                    let _ = writeln!(
                        o,
                        "    {d}    pub fn {f}(&self) -> {cn}Decoder<'a> {{\n        {get}\n    }}"
                    );
                }
            }
        }
        Ok(())
    }

    fn slot_encoder(&self, s: &Slot, o: &mut String) -> Result<(), Error> {
        if s.presence == Presence::Constant {
            return Ok(());
        }
        let f = snake(s.name);
        let pos = add("self.offset", s.offset);
        let d = doc(
            &s.desc.as_ref().map(|d| format!("Sets: {d}")),
            &format!("Sets the `{}` field.", s.name),
        );
        match &s.ty {
            TypeDef::Encoded(e) => {
                let t = e.prim.rust();
                let sz = e.prim.size();
                if e.length == 1 {
                    if s.presence == Presence::Optional {
                        let null = null_literal(e)?;
                        let _ = writeln!(o, "    {d}    ///\n    /// `None` writes the null value.\n    pub fn set_{f}(&mut self, value: Option<{t}>) -> &mut Self {{\n        sbe_rt::put_{t}(self.buf, {pos}, value.unwrap_or({null}));\n        self\n    }}");
                    } else {
                        let _ = writeln!(o, "    {d}    pub fn set_{f}(&mut self, value: {t}) -> &mut Self {{\n        sbe_rt::put_{t}(self.buf, {pos}, value);\n        self\n    }}");
                    }
                } else if e.prim == Prim::Char {
                    let n = e.length;
                    let _ = writeln!(o, "    {d}    ///\n    /// Pads with NUL; longer than {n} bytes is [`EncodeError::TooLong`].\n    pub fn set_{f}(&mut self, value: &[u8]) -> Result<&mut Self, EncodeError> {{\n        sbe_rt::put_str(self.buf, {pos}, {n}, value, {:?})?;\n        Ok(self)\n    }}", s.name);
                } else {
                    let n = e.length;
                    if e.prim == Prim::U8 {
                        let _ = writeln!(o, "    {d}    pub fn set_{f}(&mut self, value: &[u8; {n}]) -> &mut Self {{\n        sbe_rt::put_bytes(self.buf, {pos}, value);\n        self\n    }}");
                    } else {
                        let _ = writeln!(o, "    {d}    pub fn set_{f}(&mut self, value: &[{t}; {n}]) -> &mut Self {{\n        for (i, v) in value.iter().enumerate() {{\n            sbe_rt::put_{t}(self.buf, {}, *v);\n        }}\n        self\n    }}", elem(&pos, sz));
                    }
                }
            }
            TypeDef::Enum(e) => {
                let en = pascal(&e.name);
                let t = e.prim.rust();
                if s.presence == Presence::Optional {
                    let null = e.prim.default_null();
                    let _ = writeln!(o, "    {d}    ///\n    /// `None` writes the null value.\n    pub fn set_{f}(&mut self, value: Option<{en}>) -> &mut Self {{\n        sbe_rt::put_{t}(self.buf, {pos}, value.map_or({null}, {en}::to_wire));\n        self\n    }}");
                } else {
                    let _ = writeln!(o, "    {d}    pub fn set_{f}(&mut self, value: {en}) -> &mut Self {{\n        sbe_rt::put_{t}(self.buf, {pos}, value.to_wire());\n        self\n    }}");
                }
                let _ = writeln!(o, "    /// Writes a raw wire value to `{}` (for values the schema does not define).\n    pub fn set_{f}_raw(&mut self, value: {t}) -> &mut Self {{\n        sbe_rt::put_{t}(self.buf, {pos}, value);\n        self\n    }}", s.name);
            }
            TypeDef::Set(st) => {
                let sn = pascal(&st.name);
                let _ = writeln!(o, "    {d}    pub fn set_{f}(&mut self, value: {sn}) -> &mut Self {{\n        sbe_rt::put_{}(self.buf, {pos}, value.0);\n        self\n    }}", st.prim.rust());
            }
            TypeDef::Composite(c) => {
                let cn = pascal(&c.name);
                let _ = writeln!(o, "    /// An encoder for the `{}` composite field.\n    pub fn {f}(&mut self) -> {cn}Encoder<'_> {{\n        {cn}Encoder {{\n            buf: &mut *self.buf,\n            offset: {pos},\n        }}\n    }}", s.name);
            }
        }
        Ok(())
    }

    fn min_block_length_fn(&self, b: &Block) -> String {
        let mut levels: Vec<(u16, usize)> = Vec::new();
        for f in &b.fields {
            if f.presence == Presence::Constant {
                continue;
            }
            let size = field_type(&f.type_name, self.types()).map_or(0, |t| t.size(self.types()));
            let end = f.offset + size;
            match levels.iter_mut().find(|(v, _)| *v == f.since) {
                Some((_, e)) => *e = (*e).max(end),
                None => levels.push((f.since, end)),
            }
        }
        levels.sort();
        let base = levels
            .iter()
            .filter(|(v, _)| *v == 0)
            .map(|(_, e)| *e)
            .max()
            .unwrap_or(0);
        let mut body = String::new();
        let newer: Vec<&(u16, usize)> = levels.iter().filter(|(v, _)| *v > 0).collect();
        if newer.is_empty() {
            let _ = write!(body, "        let _ = version;\n        {base}\n");
        } else {
            let _ = writeln!(body, "        let mut min = {base};");
            for (v, e) in newer {
                let _ = writeln!(
                    body,
                    "        if version >= {v} {{\n            min = min.max({e});\n        }}"
                );
            }
            body.push_str("        min\n");
        }
        format!("    /// The smallest wire blockLength that holds the fields present in `version`.\n    pub fn min_block_length(version: u16) -> usize {{\n{body}    }}\n")
    }

    /// Emits `walk_tail` and the group/var-data accessors of a decoder.
    fn tail_decoder(&self, b: &Block, prefix: &str, o: &mut String) {
        // walk_tail
        let mut w = String::new();
        let _ = writeln!(w, "    /// Walks and checks the groups and var data after the fixed block (starting at `pos`);\n    /// returns where they end.\n    fn walk_tail(buf: &[u8], pos: usize, version: u16) -> Result<usize, DecodeError> {{\n        let _ = (buf, version);");
        let mut steps: Vec<(u16, String, String)> = Vec::new();
        for g in &b.groups {
            let gn = format!("{prefix}{}", pascal(&g.block.name));
            steps.push((
                g.block.since,
                format!("{gn}Iter::walk(buf, pos, version)"),
                format!("{gn}Iter::walk(self.buf, pos, self.version).unwrap_or(self.buf.len())"),
            ));
        }
        for v in &b.data {
            let width = v.length_prim.size();
            steps.push((
                v.since,
                format!("sbe_rt::walk_var(buf, pos, {width})"),
                format!("sbe_rt::walk_var(self.buf, pos, {width}).unwrap_or(self.buf.len())"),
            ));
        }
        if steps.is_empty() {
            w.push_str("        Ok(pos)\n    }\n");
        } else {
            w.push_str("        let mut pos = pos;\n");
            for (since, step, _) in &steps {
                if *since > 0 {
                    let _ = writeln!(
                        w,
                        "        if version >= {since} {{\n            pos = {step}?;\n        }}"
                    );
                } else {
                    let _ = writeln!(w, "        pos = {step}?;");
                }
            }
            w.push_str("        Ok(pos)\n    }\n");
        }
        o.push_str(&w);
        // Accessors: position of element k = tail start + skip of elements before k.
        let skip_to = |k: usize| -> String {
            let mut s = String::from("        let mut pos = self.offset + self.block_length;\n");
            for (since, _, skip) in steps.iter().take(k) {
                if *since > 0 {
                    let _ = writeln!(s, "        if self.version >= {since} {{\n            pos = {skip};\n        }}");
                } else {
                    let _ = writeln!(s, "        pos = {skip};");
                }
            }
            if k == 0 {
                s = s.replace("let mut pos", "let pos");
            }
            s
        };
        for (k, g) in b.groups.iter().enumerate() {
            let gn = format!("{prefix}{}", pascal(&g.block.name));
            let f = snake(&g.block.name);
            let d = doc(
                &g.block.description,
                &format!("The `{}` repeating group.", g.block.name),
            );
            let guard = if g.block.since > 0 {
                format!("        if self.version < {} {{\n            return {gn}Iter::empty(self.buf, self.version);\n        }}\n", g.block.since)
            } else {
                String::new()
            };
            let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> {gn}Iter<'a> {{\n{guard}{}        {gn}Iter::new(self.buf, pos, self.version)\n    }}", skip_to(k));
        }
        let ng = b.groups.len();
        for (k, v) in b.data.iter().enumerate() {
            let f = snake(&v.name);
            let d = doc(
                &v.description
                    .as_ref()
                    .map(|d| format!("{d} (`{}`, id {}; empty when absent)", v.name, v.id)),
                &format!(
                    "The `{}` var data (id {}; empty when absent).",
                    v.name, v.id
                ),
            );
            let guard = if v.since > 0 {
                format!(
                    "        if self.version < {} {{\n            return &[];\n        }}\n",
                    v.since
                )
            } else {
                String::new()
            };
            let _ = writeln!(o, "    {d}    pub fn {f}(&self) -> &'a [u8] {{\n{guard}{}        sbe_rt::var_slice(self.buf, pos, {})\n    }}", skip_to(ng + k), v.length_prim.size());
        }
    }

    fn tail_encoder(&self, b: &Block, prefix: &str, limit: &str, o: &mut String) {
        for g in &b.groups {
            let gn = format!("{prefix}{}", pascal(&g.block.name));
            let f = snake(&g.block.name);
            let _ = writeln!(o, "    /// Starts the `{}` group at the current end of the message (after the fixed fields and\n    /// any earlier group); append entries with `next_entry`.\n    pub fn {f}(&mut self) -> Result<{gn}Encoder<'_>, EncodeError> {{\n        {gn}Encoder::begin(&mut *self.buf, {limit})\n    }}", g.block.name);
        }
        for v in &b.data {
            let f = snake(&v.name);
            let _ = writeln!(o, "    /// Appends the `{}` var data; call after all groups and earlier var data, in schema order.\n    pub fn put_{f}(&mut self, value: &[u8]) -> Result<&mut Self, EncodeError> {{\n        sbe_rt::put_var(self.buf, {limit}, value, {}, {:?})?;\n        Ok(self)\n    }}", v.name, v.length_prim.size(), v.name);
        }
    }

    /// Emits the decoder/encoder for a message (`group == None`) or a group entry.
    fn emit_block(
        &mut self,
        b: &Block,
        group: Option<(&Group, &str)>,
        template_id: u16,
        name: &str,
    ) -> Result<(), Error> {
        let mut dec = String::new();
        let mut enc = String::new();
        for f in &b.fields {
            let s = self.field_slot(f)?;
            self.slot_decoder(&s, &mut dec)?;
            self.slot_encoder(&s, &mut enc)?;
        }
        let min_fn = self.min_block_length_fn(b);
        self.tail_decoder(b, name, &mut dec);
        let is_msg = group.is_none();
        let limit = if is_msg {
            "&mut self.limit"
        } else {
            "&mut *self.limit"
        };
        self.tail_encoder(b, name, limit, &mut enc);
        let bl = b.block_length;
        let d = doc(
            &b.description,
            &format!(
                "The `{}` {}.",
                b.name,
                if is_msg { "message" } else { "group entry" }
            ),
        );
        let fixed_desc = if is_msg {
            format!("{d}///\n/// Decoder: a `Copy` flyweight over the received bytes; the whole message was checked when\n/// it was wrapped, so accessors cannot fail (enums can hold undefined values).\n")
        } else {
            format!("{d}///\n/// Decoder of one entry of the group.\n")
        };
        let msg_consts = if is_msg {
            format!("    /// The template id.\n    pub const TEMPLATE_ID: u16 = {template_id};\n    /// The schema's name of the message.\n    pub const NAME: &'static str = {:?};\n", b.name)
        } else {
            String::new()
        };
        let _ = writeln!(
            self.out,
            "{fixed_desc}#[derive(Clone, Copy, Debug)]\npub struct {name}Decoder<'a> {{\n    buf: &'a [u8],\n    offset: usize,\n    block_length: usize,\n    version: u16,\n}}\n\nimpl<'a> {name}Decoder<'a> {{\n{msg_consts}    /// The schema's block length (bytes of fixed fields).\n    pub const BLOCK_LENGTH: usize = {bl};\n\n{min_fn}"
        );
        if is_msg {
            let _ = writeln!(self.out, "    /// Decodes a whole message: header at the start of `buf`, then the body. Checks the schema\n    /// and template ids and every length; bytes after the message are allowed (see `sbe_end`).\n    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {{\n        let header = read_header(buf)?;\n        if header.schema_id != SCHEMA_ID {{\n            return Err(DecodeError::UnknownSchema {{ schema_id: header.schema_id }});\n        }}\n        if header.template_id != Self::TEMPLATE_ID {{\n            return Err(DecodeError::UnknownTemplate {{\n                schema_id: header.schema_id,\n                template_id: header.template_id,\n            }});\n        }}\n        Self::wrap(buf, HEADER_LENGTH, header.block_length, header.version)\n    }}\n\n    /// Wraps the body at `offset` with the header's `block_length` and acting `version`, checking\n    /// the block, every group and every var-data length up front.\n    pub fn wrap(buf: &'a [u8], offset: usize, block_length: usize, version: u16) -> Result<Self, DecodeError> {{\n        let minimum = Self::min_block_length(version);\n        if block_length < minimum {{\n            return Err(DecodeError::BlockLengthTooSmall {{\n                template_id: Self::TEMPLATE_ID,\n                actual: sbe_rt::clamp_u16(block_length),\n                minimum: sbe_rt::clamp_u16(minimum),\n            }});\n        }}\n        let fixed_end = sbe_rt::need(buf, offset, block_length)?;\n        let end = Self::walk_tail(buf, fixed_end, version)?;\n        Ok(Self {{\n            buf: sbe_rt::prefix(buf, end),\n            offset,\n            block_length,\n            version,\n        }})\n    }}\n\n    /// Where the message ends in the wrapped buffer (for a message decoded with `decode`: its\n    /// total length, header included).\n    pub fn sbe_end(&self) -> usize {{\n        self.buf.len()\n    }}\n");
        }
        let _ = writeln!(self.out, "    /// The acting version (from the header).\n    pub fn sbe_version(&self) -> u16 {{\n        self.version\n    }}\n\n    /// The wire blockLength in use.\n    pub fn sbe_block_length(&self) -> usize {{\n        self.block_length\n    }}\n\n    /// Where the fixed block starts in the buffer.\n    pub fn sbe_offset(&self) -> usize {{\n        self.offset\n    }}\n{dec}}}\n");

        // Encoder
        if is_msg {
            let _ = writeln!(self.out, "{d}///\n/// Encoder: writes into the caller's buffer; fields at fixed offsets may be set in any order,\n/// then groups, then var data, in schema order.\n#[derive(Debug)]\npub struct {name}Encoder<'a> {{\n    buf: &'a mut [u8],\n    offset: usize,\n    limit: usize,\n}}\n\nimpl<'a> {name}Encoder<'a> {{\n    /// The template id.\n    pub const TEMPLATE_ID: u16 = {template_id};\n    /// The block length this encoder writes.\n    pub const BLOCK_LENGTH: usize = {bl};\n\n    /// Writes the header at the start of `buf` and zeroes the fixed block.\n    pub fn new(buf: &'a mut [u8]) -> Result<Self, EncodeError> {{\n        let limit = HEADER_LENGTH + Self::BLOCK_LENGTH;\n        sbe_rt::zero(buf, 0, limit)?;\n        write_header(buf, {bl}, {template_id});\n        Ok(Self {{\n            buf,\n            offset: HEADER_LENGTH,\n            limit,\n        }})\n    }}\n\n    /// Bytes written so far (header included): the message length once complete.\n    pub fn encoded_length(&self) -> usize {{\n        self.limit\n    }}\n\n    /// The bytes written so far (header included): the message once complete.\n    pub fn as_bytes(&self) -> &[u8] {{\n        sbe_rt::prefix(self.buf, self.limit)\n    }}\n\n    /// Where the fixed block starts in the buffer.\n    pub fn sbe_offset(&self) -> usize {{\n        self.offset\n    }}\n{enc}}}\n");
        } else {
            let Some((g, _)) = group else {
                return Err(Error::invalid("group block emitted without its group"));
            };
            let dim = match self.types().get(&g.dimension) {
                Some(TypeDef::Composite(c)) => c.clone(),
                _ => return Err(Error::invalid("group dimension missing")),
            };
            let dim_len = dim.size(self.types());
            let blm = dim
                .member("blockLength")
                .ok_or_else(|| Error::invalid("dimension blockLength"))?;
            let nm = dim
                .member("numInGroup")
                .ok_or_else(|| Error::invalid("dimension numInGroup"))?;
            let (MemberType::Inline(bp), MemberType::Inline(np)) = (&blm.ty, &nm.ty) else {
                return Err(Error::invalid(format!(
                    "dimension {} members must be primitive types",
                    g.dimension
                )));
            };
            if member_size(blm, self.types()) == 0 || member_size(nm, self.types()) == 0 {
                return Err(Error::invalid("dimension members must be on the wire"));
            }
            let (bt, nt) = (bp.prim.rust(), np.prim.rust());
            let (bo, no) = (blm.offset, nm.offset);
            let dbo = add("dimension", bo);
            let dno = add("self.dimension", no);
            let max = match np.prim {
                Prim::U8 => "254",
                Prim::U16 => "65534",
                Prim::U32 => "4294967294",
                _ => "usize::MAX",
            };
            let gname = &b.name;
            let iter_doc = doc(
                &b.description,
                &format!("Iterator over the entries of the `{gname}` group."),
            );
            let _ = writeln!(self.out, "{iter_doc}#[derive(Clone, Copy, Debug)]\npub struct {name}Iter<'a> {{\n    buf: &'a [u8],\n    pos: usize,\n    block_length: usize,\n    count: usize,\n    remaining: usize,\n    version: u16,\n}}\n\nimpl<'a> {name}Iter<'a> {{\n    /// Length of the group's dimension header.\n    pub const DIMENSION_LENGTH: usize = {dim_len};\n\n    fn read_dimension(buf: &[u8], pos: usize) -> Result<(usize, usize), DecodeError> {{\n        sbe_rt::need(buf, pos, Self::DIMENSION_LENGTH)?;\n        let block_length = {};\n        let count = {};\n        Ok((block_length, count))\n    }}\n\n    /// Walks and checks the whole group at `pos`; returns where it ends.\n    fn walk(buf: &[u8], pos: usize, version: u16) -> Result<usize, DecodeError> {{\n        let (block_length, count) = Self::read_dimension(buf, pos)?;\n        let minimum = {name}Decoder::min_block_length(version);\n        if block_length < minimum {{\n            return Err(DecodeError::BlockLengthTooSmall {{\n                template_id: {template_id},\n                actual: sbe_rt::clamp_u16(block_length),\n                minimum: sbe_rt::clamp_u16(minimum),\n            }});\n        }}\n        let mut pos = pos + Self::DIMENSION_LENGTH;\n        sbe_rt::check_group(buf, pos, count, block_length)?;\n        for _ in 0..count {{\n            pos += block_length;\n            pos = {name}Decoder::walk_tail(buf, pos, version)?;\n        }}\n        Ok(pos)\n    }}\n\n    fn new(buf: &'a [u8], pos: usize, version: u16) -> Self {{\n        match Self::read_dimension(buf, pos) {{\n            Ok((block_length, count)) => Self {{\n                buf,\n                pos: pos + Self::DIMENSION_LENGTH,\n                block_length,\n                count,\n                remaining: count,\n                version,\n            }},\n            Err(_) => Self::empty(buf, version),\n        }}\n    }}\n\n    #[allow(dead_code)]\n    fn empty(buf: &'a [u8], version: u16) -> Self {{\n        Self {{\n            buf,\n            pos: buf.len(),\n            block_length: 0,\n            count: 0,\n            remaining: 0,\n            version,\n        }}\n    }}\n\n    /// numInGroup: how many entries the group holds.\n    pub fn num_in_group(&self) -> usize {{\n        self.count\n    }}\n}}\n\nimpl<'a> Iterator for {name}Iter<'a> {{\n    type Item = {name}Decoder<'a>;\n\n    fn next(&mut self) -> Option<Self::Item> {{\n        if self.remaining == 0 {{\n            return None;\n        }}\n        let entry = {name}Decoder {{\n            buf: self.buf,\n            offset: self.pos,\n            block_length: self.block_length,\n            version: self.version,\n        }};\n        self.pos = {name}Decoder::walk_tail(self.buf, self.pos + self.block_length, self.version)\n            .unwrap_or(self.buf.len());\n        self.remaining -= 1;\n        Some(entry)\n    }}\n\n    fn size_hint(&self) -> (usize, Option<usize>) {{\n        (self.remaining, Some(self.remaining))\n    }}\n}}\n\nimpl ExactSizeIterator for {name}Iter<'_> {{}}\n",
                if bp.prim == Prim::U32 { format!("sbe_rt::get_u32(buf, {}) as usize", add("pos", bo)) } else { format!("usize::from(sbe_rt::get_{bt}(buf, {}))", add("pos", bo)) },
                if np.prim == Prim::U32 { format!("sbe_rt::get_u32(buf, {}) as usize", add("pos", no)) } else { format!("usize::from(sbe_rt::get_{nt}(buf, {}))", add("pos", no)) },
            );
            let _ = writeln!(self.out, "/// Encoder of the `{gname}` group: appends entries and keeps numInGroup up to date.\n#[derive(Debug)]\npub struct {name}Encoder<'a> {{\n    buf: &'a mut [u8],\n    limit: &'a mut usize,\n    dimension: usize,\n    count: usize,\n}}\n\nimpl<'a> {name}Encoder<'a> {{\n    /// The block length of each entry.\n    pub const BLOCK_LENGTH: usize = {bl};\n\n    fn begin(buf: &'a mut [u8], limit: &'a mut usize) -> Result<Self, EncodeError> {{\n        let dimension = *limit;\n        sbe_rt::zero(buf, dimension, {dim_len})?;\n        sbe_rt::put_{bt}(buf, {dbo}, {bl});\n        *limit = dimension + {dim_len};\n        Ok(Self {{\n            buf,\n            limit,\n            dimension,\n            count: 0,\n        }})\n    }}\n\n    /// Appends an entry (zeroed) and returns its encoder.\n    pub fn next_entry(&mut self) -> Result<{name}EntryEncoder<'_>, EncodeError> {{\n        if self.count >= {max} {{\n            return Err(EncodeError::TooLong {{ field: {gname:?} }});\n        }}\n        let start = *self.limit;\n        sbe_rt::zero(self.buf, start, {bl})?;\n        *self.limit = start + {bl};\n        self.count += 1;\n        sbe_rt::put_{nt}(self.buf, {dno}, self.count as {nt});\n        Ok({name}EntryEncoder {{\n            buf: &mut *self.buf,\n            offset: start,\n            limit: &mut *self.limit,\n        }})\n    }}\n\n    /// Entries appended so far.\n    pub fn count(&self) -> usize {{\n        self.count\n    }}\n}}\n\n/// Encoder of one entry of the `{gname}` group.\n#[derive(Debug)]\npub struct {name}EntryEncoder<'a> {{\n    buf: &'a mut [u8],\n    offset: usize,\n    limit: &'a mut usize,\n}}\n\nimpl {name}EntryEncoder<'_> {{\n    /// Bytes of the whole message written so far.\n    pub fn message_length(&self) -> usize {{\n        *self.limit\n    }}\n\n    /// Where this entry's fixed block starts in the buffer.\n    pub fn sbe_offset(&self) -> usize {{\n        self.offset\n    }}\n{enc}}}\n");
        }
        for g in &b.groups {
            let gn = format!("{name}{}", pascal(&g.block.name));
            self.emit_block(&g.block, Some((g, name)), template_id, &gn)?;
        }
        Ok(())
    }

    fn emit_dispatch(&mut self) {
        let msgs = &self.schema.messages;
        let mut o = String::new();
        let _ = writeln!(o, "/// Any message of the schema, decoded.\n#[derive(Clone, Copy, Debug)]\npub enum Message<'a> {{");
        for m in msgs {
            let n = pascal(&m.name);
            let _ = writeln!(
                o,
                "    /// `{}` (template {}).\n    {n}({n}Decoder<'a>),",
                m.name, m.id
            );
        }
        o.push_str("}\n\nimpl<'a> Message<'a> {\n");
        let _ = writeln!(o, "    /// Decodes the message at the start of `buf` (header, then body), checking every length.\n    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {{\n        let header = read_header(buf)?;\n        if header.schema_id != SCHEMA_ID {{\n            return Err(DecodeError::UnknownSchema {{ schema_id: header.schema_id }});\n        }}\n        let (bl, v) = (header.block_length, header.version);\n        Ok(match header.template_id {{");
        for m in msgs {
            let n = pascal(&m.name);
            let _ = writeln!(
                o,
                "            {} => Self::{n}({n}Decoder::wrap(buf, HEADER_LENGTH, bl, v)?),",
                m.id
            );
        }
        o.push_str("            template_id => {\n                return Err(DecodeError::UnknownTemplate {\n                    schema_id: header.schema_id,\n                    template_id,\n                })\n            }\n        })\n    }\n\n");
        let _ = writeln!(o, "    /// The schema's name of the message.\n    pub fn name(&self) -> &'static str {{\n        match self {{");
        for m in msgs {
            let n = pascal(&m.name);
            let _ = writeln!(o, "            Self::{n}(_) => {n}Decoder::NAME,");
        }
        o.push_str("        }\n    }\n\n");
        let _ = writeln!(o, "    /// Where the message ends: its length, header included.\n    pub fn sbe_end(&self) -> usize {{\n        match self {{");
        for m in msgs {
            let n = pascal(&m.name);
            let _ = writeln!(o, "            Self::{n}(m) => m.sbe_end(),");
        }
        o.push_str("        }\n    }\n}\n");
        if msgs.is_empty() {
            return;
        }
        self.out.push_str(&o);
    }
}
