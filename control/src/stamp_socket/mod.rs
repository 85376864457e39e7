//! STAMP over kernel sockets: the standalone Session-Sender and
//! Session-Reflector behind `srv6d stamp send` and `srv6d stamp reflect`.
//!
//! What it is: the I/O around the `stamp` crate's protocol logic, on plain
//! dual-stack UDP sockets (IPv6, and IPv4 through IPv4-mapped addresses:
//! STAMP runs over both, RFC 8762), so it runs on any Linux host (no AF_XDP, no XDP
//! program, no srv6d router): [`run_sender`] schedules test packets against
//! absolute deadlines, stamps T1 just before `sendmsg` and T4 with the
//! kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME), and returns
//! the session's statistics; [`run_reflector`] answers test packets with T2
//! from the kernel's receive timestamp, the received Hop Limit as Sender
//! TTL, and the reply's Traffic Class.
//!
//! What it is not: the inline reflector of the AF_XDP engine (that one is
//! `dataplane`'s, on by default, tuned by the `router.stamp_*` keys of the router's file), and not a
//! precise clock: timestamps are software timestamps of the host's
//! CLOCK_REALTIME.
//!
//! SRv6: a non-empty [`SenderOptions::segments`] makes the sender attach a
//! Segment Routing Header to its socket with `setsockopt(IPPROTO_IPV6,
//! IPV6_RTHDR)` (Linux accepts routing type 4 there since 4.10); the
//! reflector does the same, per reply, when a session's return path (or an
//! honoured Return Path TLV) lists SIDs, or when the session has a complete
//! return path ([`ReflectorOptions::return_paths`], `--session`: its last
//! SID is the final destination, nothing appended). IPv6 only: IPv4
//! senders are answered directly. Linux drops packets that carry an
//! SRH, even at their final destination, unless
//! `net.ipv6.conf.all.seg6_enabled=1` **and** the receiving interface's
//! `net.ipv6.conf.IFACE.seg6_enabled=1`: set both on the reflector (and on
//! the sender when replies come back with an SRH).

mod reflector;
mod report;
mod sender;
mod sys;

use std::net::Ipv6Addr;
use std::time::Duration;

pub use reflector::{run_reflector, ReflectorCounters, ReflectorOptions};
pub use report::{json, table};
pub use sender::{run_sender, SenderOptions, SenderReport, RECORD_CAPACITY};
pub use sys::segment_routing_header;

/// The STAMP well-known UDP port (RFC 8762 §4.1).
pub const STAMP_PORT: u16 = 862;

/// Why the socket sender or reflector could not run. Every message names
/// the address, port or option concerned.
#[derive(Debug, thiserror::Error)]
pub enum StampSocketError {
    /// An option is out of range or contradicts another.
    #[error("invalid {option}: {reason}")]
    Option {
        /// The option (as on the command line).
        option: &'static str,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// socket(2) failed.
    #[error("cannot open an IPv6 UDP socket: {0}")]
    Socket(#[source] std::io::Error),
    /// bind(2) failed.
    #[error("cannot bind the UDP socket to [{addr}]:{port}: {source}")]
    Bind {
        /// Address asked for.
        addr: Ipv6Addr,
        /// Port asked for.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// setsockopt(2) failed.
    #[error("cannot set {option} on the UDP socket bound to [{addr}]:{port}: {source}")]
    SetOption {
        /// The socket option, e.g. `IPV6_RTHDR`.
        option: &'static str,
        /// The socket's address.
        addr: Ipv6Addr,
        /// The socket's port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// sendmsg(2) failed in a way that will not go away by itself (no
    /// route, no address, ...).
    #[error("cannot send to [{addr}]:{port}: {source}")]
    Send {
        /// Destination (the first SID when an SRH is attached: the error
        /// may concern that hop).
        addr: Ipv6Addr,
        /// Destination port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// recvmsg(2) failed.
    #[error("cannot receive on [{addr}]:{port}: {source}")]
    Receive {
        /// The socket's address.
        addr: Ipv6Addr,
        /// The socket's port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl StampSocketError {
    /// Whether the error is about the options given (exit status 2 on the
    /// command line) rather than the system.
    pub fn is_bad_option(&self) -> bool {
        matches!(self, StampSocketError::Option { .. })
    }
}

/// Parses a duration written as a number and a unit: `500us`, `1ms`,
/// `10ms`, `1s`, `2.5s`, `1m` (also `µs`, `ns`). The error names the value
/// and what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!(
            "bad duration {text:?}: expected a number and a unit (ns, us, ms, s, m), \
             e.g. 1ms, 10ms, 1s, 2.5s"
        )
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        _ => return Err(bad()),
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The socket mode's form of an address: IPv6 as it is, IPv4 as its
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), which the dual-stack socket
/// sends to and receives from over IPv4.
pub fn dual_stack(addr: std::net::IpAddr) -> Ipv6Addr {
    match addr {
        std::net::IpAddr::V6(a) => a,
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// Parses a `stamp reflect --session` value: `SSID:SID,SID,...`, a
/// session's SSID and its complete return path (1 to
/// [`stamp::reflector::MAX_RETURN_SEGMENTS`] IPv6 addresses, the last one
/// the sender's own). Split at the first `:`.
pub fn parse_session_path(text: &str) -> Result<(u16, Vec<Ipv6Addr>), String> {
    let bad = |why: String| {
        format!(
            "bad session {text:?}: {why}; expected SSID:SID,... (the complete return path, \
             ending at the sender), e.g. 7:fc00:7::e,2001:db8::1"
        )
    };
    let (ssid, sids) = text
        .split_once(':')
        .ok_or_else(|| bad("no ':' after the SSID".into()))?;
    let ssid: u16 = ssid
        .trim()
        .parse()
        .map_err(|_| bad(format!("SSID {ssid:?} is not 0-65535")))?;
    let path = sids
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<Ipv6Addr>()
                .map_err(|_| bad(format!("{s:?} is not an IPv6 address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if path.len() > stamp::reflector::MAX_RETURN_SEGMENTS {
        return Err(bad(format!(
            "{} SIDs, at most {}",
            path.len(),
            stamp::reflector::MAX_RETURN_SEGMENTS
        )));
    }
    if let Some(a) = path.iter().find(|a| a.is_multicast() || a.is_unspecified()) {
        return Err(bad(format!("{a} is not a unicast address")));
    }
    Ok((ssid, path))
}

/// Parses an HMAC key written in hexadecimal (an even number of hex
/// digits, at least 2; an optional `0x` prefix).
pub fn parse_hex_key(text: &str) -> Result<stamp::auth::HmacKey, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.is_empty() || t.len() % 2 != 0 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "bad key {text:?}: expected an even number of hexadecimal digits, e.g. 73656372657421"
        ));
    }
    let bytes: Vec<u8> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).expect("checked hex"))
        .collect();
    Ok(stamp::auth::HmacKey::new(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        for bad in ["", "10", "ms", "1 parsec", "-1s", "1e3s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn session_paths_parse() {
        let (ssid, path) = parse_session_path("7:fc00:7::e,2001:db8::1").unwrap();
        assert_eq!(ssid, 7);
        assert_eq!(
            path,
            vec![
                "fc00:7::e".parse::<Ipv6Addr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_session_path("0:::1").unwrap(),
            (0, vec![Ipv6Addr::LOCALHOST])
        );
        for bad in [
            "7",
            "x:fc00::1",
            "70000:fc00::1",
            "7:",
            "7:ff02::1",
            "7:fc00::1,zz",
        ] {
            let e = parse_session_path(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let long = format!("1:{}", vec!["fc00::1"; 16].join(","));
        assert!(parse_session_path(&long).is_err());
    }

    #[test]
    fn keys_parse_from_hex() {
        assert_eq!(parse_hex_key("0x6b6579").unwrap().as_bytes(), b"key");
        assert!(parse_hex_key("abc").is_err());
        assert!(parse_hex_key("zz").is_err());
    }
}
