//! Configuration errors: each one names the file, the line where the toml
//! parser could tell, the key path (`route[3].policy`) and what was wrong
//! and expected.

use std::fmt;

/// How many errors one load reports; further ones are only counted.
pub const MAX_ERRORS: usize = 20;

/// One thing wrong with a configuration file.
///
/// Displayed as `FILE:LINE: PATH: REASON`, e.g.
/// `edge1.toml:42: route[3].policy: no policy named "to-edge3"; expected one
/// of: blue-v4, red-v4`. `LINE` (and `:COLUMN` for syntax errors) is left out
/// when unknown, `PATH` when the error is about the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as named by the caller.
    pub file: String,
    /// Key path inside the file: `port[0].vrf`, `router.source`,
    /// `policy[1].segments[2]`; empty for the file as a whole. Array indices
    /// count from 0 in file order.
    pub path: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, for syntax errors.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.kind)
        } else {
            write!(f, ": {}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a configuration was rejected. Every message says what was found and
/// what form was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    #[error("cannot read the configuration file: {0}")]
    Io(String),
    /// The text is not valid TOML.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// A top-level table or key that is not part of the format.
    #[error(
        "unknown section; expected one of [[port]], [[vrf]], [router], [[sid]], [[policy]], [[route]], [[stamp_session]], [[stamp_sender]]"
    )]
    UnknownSection,
    /// A section written in the wrong form (`[port]` for `[[port]]`).
    #[error("expected {expected}")]
    SectionShape {
        /// E.g. "an array of tables, written [[port]]".
        expected: &'static str,
    },
    /// A key the section does not have.
    #[error("unknown key; expected one of: {}", .expected.join(", "))]
    UnknownKey {
        /// The keys the section has.
        expected: &'static [&'static str],
    },
    /// A required key is absent.
    #[error("missing; {expected}")]
    MissingKey {
        /// What to write.
        expected: String,
    },
    /// A required section is absent.
    #[error("missing; expected {expected}")]
    MissingSection {
        /// What to write.
        expected: &'static str,
    },
    /// A value of the wrong type or an unknown choice (serde's message).
    #[error("{0}")]
    InvalidValue(String),
    /// A value that is not of the expected form.
    #[error("{value:?} is not {expected}")]
    BadValue {
        /// The value as written.
        value: String,
        /// E.g. "an IPv6 address such as fc00:0:1::1".
        expected: String,
    },
    /// A number outside its range.
    #[error("{value} is out of range; expected {expected}")]
    OutOfRange {
        /// The number as written.
        value: i64,
        /// E.g. "1 to 4095".
        expected: String,
    },
    /// A prefix with bits set beyond its length.
    #[error("{given:?} has host bits set; expected the network address {normalised:?}")]
    HostBits {
        /// The prefix as written.
        given: String,
        /// The same prefix with the host bits cleared.
        normalised: String,
    },
    /// An address that cannot serve where it is used.
    #[error("{addr} is a {class} address; expected a unicast address usable as {usage}")]
    NotUnicast {
        /// The address.
        addr: String,
        /// "multicast", "loopback", "unspecified", "link-local".
        class: &'static str,
        /// "a SID", "an encapsulation source", ...
        usage: &'static str,
    },
    /// The same name, SID, VRF number or route given twice.
    #[error("duplicate {what} {name}, already defined at {first}; expected each {what} once")]
    Duplicate {
        /// "port name", "SID", "route", ...
        what: &'static str,
        /// The repeated value.
        name: String,
        /// Path (and line) of the first definition.
        first: String,
    },
    /// A reference to a port, VRF or policy that is not declared.
    #[error("no {what} named {name:?}; expected {known}")]
    UnknownReference {
        /// "VRF", "policy", "port".
        what: &'static str,
        /// The name as written.
        name: String,
        /// The names that exist, e.g. "one of: blue, red".
        known: String,
    },
    /// A name of the wrong form.
    #[error("{name:?} is not a valid name; expected {expected}")]
    BadName {
        /// The name as written.
        name: String,
        /// The rule.
        expected: &'static str,
    },
    /// A LAN port without `vrf`.
    #[error("a LAN port needs a VRF; expected vrf = \"<name of a [[vrf]]>\"")]
    LanPortWithoutVrf,
    /// A WAN port with `vrf`.
    #[error(
        "a WAN port is always in the underlay (VRF 0); expected no vrf key, or role = \"lan\""
    )]
    WanPortWithVrf,
    /// A key that the entry's kind does not take.
    #[error("{owner} does not take this key; expected it removed ({hint})")]
    NotAllowed {
        /// E.g. "End.DT4", "a policy route".
        owner: String,
        /// What the entry does take.
        hint: &'static str,
    },
    /// A behaviour that must be a single SID configured as a prefix.
    #[error(
        "{behavior} ends the SR path and takes no argument, so it must be a single SID (/128), \
         not a prefix; expected e.g. sid = \"fc00:0:1::100\""
    )]
    PrefixNotAllowed {
        /// RFC name of the behaviour.
        behavior: &'static str,
    },
    /// A policy with no segment or more than the SRH can hold.
    #[error("{count} segments; expected 1 to {max} SIDs")]
    SegmentCount {
        /// How many were given.
        count: usize,
        /// dataplane's MAX_SEGMENTS.
        max: usize,
    },
    /// An IPv4 next hop where IPv6 is routed, or the other way round.
    #[error("{nexthop} is an {given} next hop, but {target} carries {needed}; expected an {needed} address or \"on-link\"")]
    NextHopFamily {
        /// The next hop as written.
        nexthop: String,
        /// Its family.
        given: &'static str,
        /// "this IPv6 route", "End.DX4".
        target: String,
        /// The family needed.
        needed: &'static str,
    },
    /// A route with zero or several actions.
    #[error(
        "{found}; expected exactly one of policy = \"<name>\", nexthop = \"<address>\" with \
         port = \"<name>\", local = true, blackhole = true"
    )]
    RouteAction {
        /// What was found, e.g. "no action" or "policy and blackhole both given".
        found: String,
    },
    /// A port of the wrong role or VRF for where it is used.
    #[error("port {port:?} is {is}; expected {expected}")]
    PortMismatch {
        /// The port's name.
        port: String,
        /// E.g. "a LAN port of VRF blue".
        is: String,
        /// E.g. "a WAN port (the route is in the underlay)".
        expected: String,
    },
    /// A STAMP sender session the STAMP crate refused (its test packet
    /// length).
    #[error("{reason}, for an {mode} session")]
    StampSender {
        /// "unauthenticated (no key)" or "authenticated (key set)".
        mode: &'static str,
        /// `stamp::sender::SenderSession::new`'s reason.
        reason: stamp::sender::SenderError,
    },
    /// Two entries that cannot both be applied.
    #[error("{0}")]
    Conflict(String),
    /// The configuration has no port at all.
    #[error("no [[port]] is configured; expected at least one, e.g. [[port]] name = \"eth0\" role = \"wan\"")]
    NoPorts,
    /// An SR policy that the data path refused (should be caught earlier).
    #[error("{0}")]
    Policy(#[from] dataplane::behavior::PolicyError),
    /// A FIB that the data path refused (should be caught earlier).
    #[error("{0}")]
    Fib(#[from] dataplane::fib::FibError),
}

/// Every error found in one configuration file (at most [`MAX_ERRORS`],
/// plus a count of the rest). Displayed one error per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    file: String,
    errors: Vec<ConfigError>,
    omitted: usize,
}

impl ConfigErrors {
    pub(crate) fn new(file: &str) -> Self {
        ConfigErrors {
            file: file.to_string(),
            errors: Vec::new(),
            omitted: 0,
        }
    }

    pub(crate) fn push(&mut self, error: ConfigError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        } else {
            self.omitted += 1;
        }
    }

    /// The file the errors are about.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The errors reported, in file order of discovery.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// How many further errors were found but not kept.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Total number of errors found.
    pub fn count(&self) -> usize {
        self.errors.len() + self.omitted
    }

    /// Whether no error was found.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.omitted > 0 {
            write!(
                f,
                "\n{}: {} more error(s) not shown (only the first {MAX_ERRORS} are reported)",
                self.file, self.omitted
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
