//! From TOML text to typed section entries that remember where in the file
//! they were written.
//!
//! Three passes, so that one mistake does not hide the others:
//! 1. parse the text (a syntax error stops here: nothing after it can be
//!    trusted) and check that every top-level key is a known section of the
//!    right form (`[[port]]`, `[router]`);
//! 2. parse again keeping the byte span of every entry and of every key's
//!    value (`toml::Spanned`), which gives each later error its line;
//! 3. turn each entry into its serde type from [`super::schema`] on its
//!    own, through [`EntryDeserializer`], which reports every unknown key of
//!    the entry and names the key whose value has the wrong type.

use std::cell::Cell;
use std::collections::{btree_map, BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, ErrorKind};
use super::schema::{
    ConfigFile, PolicyEntry, PortEntry, RouteEntry, RouterEntry, SidEntry, StampSenderEntry,
    StampSessionEntry, VrfEntry,
};

/// A table whose values remember their byte span.
type SpannedTable = BTreeMap<String, Spanned<toml::Value>>;

/// The file being loaded: its name, text and line index.
pub(crate) struct Source<'t> {
    file: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub(crate) fn new(file: &'t str, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source { file, line_starts }
    }

    pub(crate) fn file(&self) -> &str {
        self.file
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        (line.max(1), offset.saturating_sub(start) + 1)
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_col(offset).0
    }

    /// An error at `path`, on the line of `span` if given.
    pub(crate) fn error(
        &self,
        path: impl Into<String>,
        span: Option<&Range<usize>>,
        kind: ErrorKind,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            path: path.into(),
            line: span.map(|s| self.line(s.start)),
            column: None,
            kind,
        }
    }
}

/// One entry of a section (`route[3]`, `router`), typed, with the spans of
/// the entry and of each of its keys' values.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// Position in the section, file order.
    pub index: usize,
    /// `route[3]`, `router`.
    pub path: String,
    /// The whole entry.
    pub span: Range<usize>,
    keys: BTreeMap<String, Range<usize>>,
    pub value: T,
}

/// Where an error is: a key path and the span to take the line from.
pub(crate) type At = (String, Option<Range<usize>>);

impl<T> Entry<T> {
    /// The entry as a whole.
    pub fn whole(&self) -> At {
        (self.path.clone(), Some(self.span.clone()))
    }

    /// One key of the entry (the entry's line if the key is absent).
    pub fn key(&self, key: &str) -> At {
        let span = self.keys.get(key).unwrap_or(&self.span).clone();
        (format!("{}.{key}", self.path), Some(span))
    }

    /// Element `i` of an array-valued key (the key's line).
    pub fn item(&self, key: &str, i: usize) -> At {
        let (path, span) = self.key(key);
        (format!("{path}[{i}]"), span)
    }
}

/// Names of entries that could not be typed, so that references to them do
/// not add a second, misleading "unknown name" error.
#[derive(Debug, Default)]
pub(crate) struct Broken {
    pub ports: HashSet<String>,
    /// How many `[[port]]` entries could not be typed.
    pub port_entries: usize,
    pub vrfs: HashSet<String>,
    pub policies: HashSet<String>,
    pub router: bool,
}

/// Every section of the file, typed.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub port: Vec<Entry<PortEntry>>,
    pub vrf: Vec<Entry<VrfEntry>>,
    pub router: Option<Entry<RouterEntry>>,
    pub sid: Vec<Entry<SidEntry>>,
    pub policy: Vec<Entry<PolicyEntry>>,
    pub route: Vec<Entry<RouteEntry>>,
    pub stamp_session: Vec<Entry<StampSessionEntry>>,
    pub stamp_sender: Vec<Entry<StampSenderEntry>>,
    pub broken: Broken,
}

/// The file with spans kept; unknown sections were reported by pass 1.
#[derive(Deserialize)]
struct SpannedFile {
    #[serde(default)]
    port: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    vrf: Vec<Spanned<SpannedTable>>,
    router: Option<Spanned<SpannedTable>>,
    #[serde(default)]
    sid: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    policy: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    route: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    stamp_session: Vec<Spanned<SpannedTable>>,
    #[serde(default)]
    stamp_sender: Vec<Spanned<SpannedTable>>,
}

const TABLE_SECTION: &str = "router";

fn section_shape(name: &str) -> &'static str {
    match name {
        "port" => "an array of tables, written [[port]]",
        "vrf" => "an array of tables, written [[vrf]]",
        "sid" => "an array of tables, written [[sid]]",
        "policy" => "an array of tables, written [[policy]]",
        "route" => "an array of tables, written [[route]]",
        "stamp_session" => "an array of tables, written [[stamp_session]]",
        "stamp_sender" => "an array of tables, written [[stamp_sender]]",
        _ => "a table, written [router]",
    }
}

fn syntax_error(src: &Source<'_>, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = src.line_col(span.start.min(text.len()));
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError {
        file: src.file.to_string(),
        path: String::new(),
        line,
        column,
        kind: ErrorKind::Syntax(message),
    }
}

/// Parses `text` into typed sections, pushing every error found into
/// `errors`. `None` when the file cannot be read section by section at all
/// (a syntax error, or a section of the wrong form).
pub(crate) fn parse(
    src: &Source<'_>,
    text: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Sections> {
    // Pass 1: syntax, and the top-level keys.
    let top: BTreeMap<String, Spanned<toml::Value>> = match toml::from_str(text) {
        Ok(top) => top,
        Err(e) => {
            errors.push(syntax_error(src, text, &e));
            return None;
        }
    };
    let known = struct_fields::<ConfigFile>();
    let mut fatal = false;
    for (name, value) in &top {
        let span = Some(value.span());
        if !known.contains(&name.as_str()) {
            errors.push(src.error(name.clone(), span.as_ref(), ErrorKind::UnknownSection));
            continue;
        }
        let shape_ok = match value.get_ref() {
            toml::Value::Table(_) => name == TABLE_SECTION,
            toml::Value::Array(items) if name != TABLE_SECTION => {
                if let Some(i) = items.iter().position(|v| !v.is_table()) {
                    errors.push(src.error(
                        format!("{name}[{i}]"),
                        span.as_ref(),
                        ErrorKind::SectionShape {
                            expected: section_shape(name),
                        },
                    ));
                    fatal = true;
                }
                true
            }
            _ => false,
        };
        if !shape_ok {
            errors.push(src.error(
                name.clone(),
                span.as_ref(),
                ErrorKind::SectionShape {
                    expected: section_shape(name),
                },
            ));
            fatal = true;
        }
    }
    if fatal {
        return None;
    }

    // Pass 2: the same text, keeping spans.
    let file: SpannedFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            errors.push(syntax_error(src, text, &e));
            return None;
        }
    };

    // Pass 3: each entry on its own.
    let mut s = Sections::default();
    let broken_names = |section: &str, table: &SpannedTable, into: &mut Broken| {
        let name = table.get("name").and_then(|v| v.get_ref().as_str());
        if section == "port" {
            into.port_entries += 1;
        }
        match (section, name) {
            ("port", Some(n)) => drop(into.ports.insert(n.to_string())),
            ("vrf", Some(n)) => drop(into.vrfs.insert(n.to_string())),
            ("policy", Some(n)) => drop(into.policies.insert(n.to_string())),
            ("router", _) => into.router = true,
            _ => {}
        }
    };
    macro_rules! section {
        ($name:ident) => {
            for (index, entry) in file.$name.iter().enumerate() {
                let path = format!("{}[{index}]", stringify!($name));
                match typed(src, &path, entry, errors) {
                    Some(e) => s.$name.push(Entry { index, ..e }),
                    None => broken_names(stringify!($name), entry.get_ref(), &mut s.broken),
                }
            }
        };
    }
    section!(port);
    section!(vrf);
    section!(sid);
    section!(policy);
    section!(route);
    section!(stamp_session);
    section!(stamp_sender);
    if let Some(router) = &file.router {
        match typed(src, "router", router, errors) {
            Some(e) => s.router = Some(e),
            None => broken_names("router", router.get_ref(), &mut s.broken),
        }
    }
    Some(s)
}

/// Types one entry, or pushes why it cannot be.
fn typed<T: DeserializeOwned>(
    src: &Source<'_>,
    path: &str,
    entry: &Spanned<SpannedTable>,
    errors: &mut Vec<ConfigError>,
) -> Option<Entry<T>> {
    let table = entry.get_ref();
    let keys: BTreeMap<String, Range<usize>> =
        table.iter().map(|(k, v)| (k.clone(), v.span())).collect();
    let current = Cell::new(None);
    let result = T::deserialize(EntryDeserializer {
        table,
        current: &current,
    });
    let span = entry.span();
    match result {
        Ok(value) => Some(Entry {
            index: 0,
            path: path.to_string(),
            span,
            keys,
            value,
        }),
        Err(DeError::UnknownKeys(unknown, expected)) => {
            for key in unknown {
                let at = keys.get(&key).unwrap_or(&span);
                errors.push(src.error(
                    format!("{path}.{key}"),
                    Some(at),
                    ErrorKind::UnknownKey { expected },
                ));
            }
            None
        }
        Err(DeError::Message(message)) => {
            let error = match (current.get(), missing_field(&message)) {
                (Some(key), _) => src.error(
                    format!("{path}.{key}"),
                    Some(keys.get(key).unwrap_or(&span)),
                    ErrorKind::InvalidValue(message),
                ),
                (None, Some(key)) => src.error(
                    format!("{path}.{key}"),
                    Some(&span),
                    ErrorKind::MissingKey {
                        expected: format!("this key is required in {}", section_of(path)),
                    },
                ),
                (None, None) => src.error(path, Some(&span), ErrorKind::InvalidValue(message)),
            };
            errors.push(error);
            None
        }
    }
}

fn section_of(path: &str) -> String {
    let name = path.split('[').next().unwrap_or(path);
    if name == TABLE_SECTION {
        format!("[{name}]")
    } else {
        format!("every [[{name}]]")
    }
}

/// The field serde's "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
}

/// The field names of a serde struct, as its derived `Deserialize` declares
/// them (so that the list of keys in error messages is the schema's own).
pub(crate) fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(Cell<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &Fields {
        type Error = DeError;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
            Err(DeError::Message("not a struct".into()))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, DeError> {
            self.0.set(fields);
            Err(DeError::Message("fields recorded".into()))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let fields = Fields(Cell::new(&[]));
    let _ = T::deserialize(&fields);
    fields.0.get()
}

/// Errors of [`EntryDeserializer`].
#[derive(Debug)]
enum DeError {
    /// Keys the struct does not have, and the ones it has.
    UnknownKeys(Vec<String>, &'static [&'static str]),
    /// Anything else, as serde or toml phrased it.
    Message(String),
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::UnknownKeys(keys, _) => write!(f, "unknown keys {}", keys.join(", ")),
            DeError::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::Message(msg.to_string())
    }
}

/// Deserializes a struct from one spanned table: reports all unknown keys
/// at once, and records in `current` the key whose value is being read, so
/// that a type error can be attributed to it.
struct EntryDeserializer<'a> {
    table: &'a SpannedTable,
    current: &'a Cell<Option<&'a str>>,
}

impl<'de> de::Deserializer<'de> for EntryDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(EntryMap {
            iter: self.table.iter(),
            value: None,
            current: self.current,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let unknown: Vec<String> = self
            .table
            .keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(DeError::UnknownKeys(unknown, fields));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

struct EntryMap<'a> {
    iter: btree_map::Iter<'a, String, Spanned<toml::Value>>,
    value: Option<&'a Spanned<toml::Value>>,
    current: &'a Cell<Option<&'a str>>,
}

impl<'de> MapAccess<'de> for EntryMap<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.current.set(Some(key));
                self.value = Some(value);
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => {
                self.current.set(None);
                Ok(None)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| DeError::Message("a value without its key".into()))?;
        seed.deserialize(value.get_ref().clone())
            .map_err(|e| DeError::Message(e.message().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_fields_are_the_schema_keys() {
        assert_eq!(
            struct_fields::<ConfigFile>(),
            &[
                "port",
                "vrf",
                "router",
                "sid",
                "policy",
                "route",
                "stamp_session",
                "stamp_sender"
            ]
        );
        assert_eq!(struct_fields::<VrfEntry>(), &["name", "id"]);
    }

    #[test]
    fn line_and_column_of_offsets() {
        let src = Source::new("f", "ab\ncd\n\nef");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(1), (1, 2));
        assert_eq!(src.line_col(3), (2, 1));
        assert_eq!(src.line_col(6), (3, 1));
        assert_eq!(src.line_col(8), (4, 2));
        assert_eq!(src.line_col(100).0, 4);
    }
}
