//! SBE 1.0 schema XML → Rust source of zero-copy, bounds-checked flyweight decoders and encoders.
//!
//! Use it from a `build.rs`:
//!
//! ```no_run
//! # fn main() -> Result<(), fixp_sbe_codegen::Error> {
//! let source = fixp_sbe_codegen::Generator::from_file("schema.xml")?
//!     .runtime_path("::fixp_ws::codec::sbe")
//!     .generate()?;
//! std::fs::write(std::env::var("OUT_DIR").unwrap() + "/schema.rs", source).unwrap();
//! # Ok(()) }
//! ```
//!
//! and `include!` the file inside a module of your crate. The generated code depends only on the
//! runtime module named by [`Generator::runtime_path`] (`fixp_ws::codec::sbe`), which provides the
//! bounds-checked little-endian reads and writes and the `DecodeError` / `EncodeError` types.
//!
//! What is supported: the schema's own message header composite, all primitive types with their
//! null values, char and fixed arrays, enums, sets, nested composites, constants, `sinceVersion`
//! (decoders act on the header's version and blockLength), nested repeating groups and var data
//! with uint8/uint16/uint32 lengths, `xi:include` relative to the schema file. Little-endian
//! schemas only. Invalid schemas are rejected with an [`Error`].
#![deny(missing_docs)]

mod emit;
mod schema;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a schema could not be turned into code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The schema file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A file is not well-formed XML.
    Xml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An `xi:include`d file could not be read.
    Include {
        /// The included file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The schema is big-endian; only little-endian is supported.
    BigEndian,
    /// A type name that the schema does not define.
    UnknownType {
        /// The name.
        name: String,
        /// Where it was used.
        context: String,
    },
    /// The schema breaks an SBE rule (overlapping offsets, fields after groups, duplicate names
    /// or ids, nullValue on a required type, constant without value, sinceVersion above the
    /// schema version, ...).
    InvalidSchema(String),
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidSchema(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, message } => write!(f, "cannot read {}: {message}", path.display()),
            Error::Xml { path, message } => write!(f, "{}: invalid XML: {message}", path.display()),
            Error::Include { path, message } => {
                write!(f, "cannot read included {}: {message}", path.display())
            }
            Error::BigEndian => f.write_str("big-endian schemas are not supported"),
            Error::UnknownType { name, context } => write!(f, "{context}: unknown type `{name}`"),
            Error::InvalidSchema(m) => write!(f, "invalid schema: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Generates Rust flyweights for one schema.
#[derive(Debug, Clone)]
pub struct Generator {
    path: PathBuf,
    main: String,
    includes: Vec<(PathBuf, String)>,
    runtime_path: String,
    renames: HashMap<String, String>,
}

impl Generator {
    /// Reads a schema file and the files it `xi:include`s (relative to the schema's directory).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Generator, Error> {
        let path = path.as_ref().to_path_buf();
        let (main, includes) = schema::load(&path)?;
        Ok(Generator {
            path,
            main,
            includes,
            runtime_path: "::fixp_ws::codec::sbe".to_string(),
            renames: HashMap::new(),
        })
    }

    /// A schema from a string (no includes). `name` is used in error messages.
    pub fn from_str(name: &str, xml: &str) -> Generator {
        Generator {
            path: PathBuf::from(name),
            main: xml.to_string(),
            includes: Vec::new(),
            runtime_path: "::fixp_ws::codec::sbe".to_string(),
            renames: HashMap::new(),
        }
    }

    /// The Rust path of the runtime module (default `::fixp_ws::codec::sbe`; inside fixp-ws,
    /// `crate::codec::sbe`).
    pub fn runtime_path(mut self, path: &str) -> Generator {
        self.runtime_path = path.to_string();
        self
    }

    /// Generates message `schema_name` under the name `rust_name` (for schemas that misspell a
    /// name; the wire id is unchanged).
    pub fn rename_message(mut self, schema_name: &str, new_name: &str) -> Generator {
        self.renames
            .insert(schema_name.to_string(), new_name.to_string());
        self
    }

    /// Checks the schema and returns the generated Rust source (items for one module).
    pub fn generate(&self) -> Result<String, Error> {
        let schema = schema::parse(&self.path, &self.main, &self.includes, &self.renames)?;
        emit::Emitter::new(&schema, &self.runtime_path).emit()
    }
}
