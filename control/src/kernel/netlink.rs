//! A small blocking netlink transport: one request, its replies and its
//! acknowledgement, on a `netlink_sys::Socket` in the calling thread's
//! network namespace. rtnetlink messages are built with
//! `netlink-packet-route`; the seg6 generic-netlink family is spoken in raw
//! bytes (two commands).

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols, Socket, SocketAddr};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A failed request: the kernel's errno and its extended-ack message, if
/// any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// Positive errno (0: not an errno, see `message`).
    pub errno: i32,
    /// `strerror(errno)` plus the kernel's explanation, or a transport
    /// problem.
    pub message: String,
}

impl NlError {
    fn io(e: io::Error) -> NlError {
        NlError {
            errno: e.raw_os_error().unwrap_or(0),
            message: e.to_string(),
        }
    }

    fn protocol(message: impl Into<String>) -> NlError {
        NlError {
            errno: 0,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One netlink socket (route or generic) with its sequence counter.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    fn open(protocol: isize) -> io::Result<Netlink> {
        let mut socket = Socket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        let fd = socket.as_raw_fd();
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: fd is a valid netlink socket; the option value is a
            // c_int that lives for the call.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_NETLINK,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Netlink { socket, seq: 1 })
    }

    /// An rtnetlink socket.
    pub fn route() -> io::Result<Netlink> {
        Netlink::open(protocols::NETLINK_ROUTE)
    }

    /// A generic-netlink socket.
    pub fn generic() -> io::Result<Netlink> {
        Netlink::open(protocols::NETLINK_GENERIC)
    }

    /// Sends one message (`payload` after a netlink header of type
    /// `msg_type` and `flags` | REQUEST | ACK) and returns the raw replies
    /// (whole messages, header included) before the acknowledgement or the
    /// end of the dump.
    pub fn transact(
        &mut self,
        msg_type: u16,
        flags: u16,
        payload: &[u8],
    ) -> Result<Vec<Vec<u8>>, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = flags | NLM_F_REQUEST | if dump { 0 } else { NLM_F_ACK };
        let len = 16 + payload.len();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&(len as u32).to_ne_bytes());
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(payload);
        self.socket.send(&buf, 0).map_err(NlError::io)?;

        let mut replies = Vec::new();
        let mut rx = vec![0u8; 1 << 16];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0).map_err(NlError::io)?;
            let mut off = 0;
            while off + 16 <= n {
                let mlen = u32::from_ne_bytes(rx[off..off + 4].try_into().unwrap()) as usize;
                if mlen < 16 || off + mlen > n {
                    return Err(NlError::protocol("truncated netlink message"));
                }
                let msg = &rx[off..off + mlen];
                off += (mlen + 3) & !3;
                let mtype = u16::from_ne_bytes(msg[4..6].try_into().unwrap());
                let mflags = u16::from_ne_bytes(msg[6..8].try_into().unwrap());
                let mseq = u32::from_ne_bytes(msg[8..12].try_into().unwrap());
                if mseq != seq {
                    continue;
                }
                match mtype {
                    NLMSG_ERROR => {
                        if msg.len() < 20 {
                            return Err(NlError::protocol("short netlink error message"));
                        }
                        let code = i32::from_ne_bytes(msg[16..20].try_into().unwrap());
                        if code == 0 {
                            return Ok(replies);
                        }
                        return Err(error_from(msg, mflags, -code));
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => replies.push(msg.to_vec()),
                }
            }
        }
    }

    /// Sends an rtnetlink message with `flags` and waits for its
    /// acknowledgement (or, for a dump, returns the parsed messages).
    pub fn rtnl(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        let replies = self.transact(m.header.message_type, flags, &buf[16..])?;
        let mut out = Vec::with_capacity(replies.len());
        for r in replies {
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&r) {
                Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(inner),
                    ..
                }) => out.push(inner),
                Ok(_) => {}
                // A message this crate cannot parse (a newer attribute):
                // not one of ours to manage; skip it.
                Err(e) => tracing::debug!("kernel: skipped an unparsable netlink message: {e}"),
            }
        }
        Ok(out)
    }
}

fn error_from(msg: &[u8], flags: u16, errno: i32) -> NlError {
    let mut message = io::Error::from_raw_os_error(errno).to_string();
    // With NETLINK_CAP_ACK the error carries only the request's header (16
    // octets) after the code; the extended-ack TLVs follow.
    if flags & NLM_F_ACK_TLVS != 0 && msg.len() > 36 {
        for (kind, value) in nlas(&msg[36..]) {
            if kind == NLMSGERR_ATTR_MSG {
                let text = String::from_utf8_lossy(value);
                let text = text.trim_end_matches('\0');
                if !text.is_empty() {
                    message = format!("{message}: {text}");
                }
            }
        }
    }
    NlError { errno, message }
}

/// The (type, value) attributes in `buf`.
pub fn nlas(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]) & 0x3fff;
        if len < 4 || off + len > buf.len() {
            break;
        }
        out.push((kind, &buf[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Appends attribute `kind` = `value` (padded) to `buf`.
pub fn push_nla(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

// ---- the SEG6 generic-netlink family (include/uapi/linux/seg6_genl.h) ----

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const SEG6_GENL_NAME: &str = "SEG6";
const SEG6_GENL_VERSION: u8 = 1;
const SEG6_CMD_SET_TUNSRC: u8 = 3;
const SEG6_CMD_GET_TUNSRC: u8 = 4;
const SEG6_ATTR_DST: u16 = 1;

/// The namespace's seg6 tunnel source (`ip sr tunsrc`), over generic
/// netlink.
pub struct Seg6Genl {
    nl: Netlink,
    family: u16,
}

impl Seg6Genl {
    /// Opens a generic-netlink socket and resolves the "SEG6" family.
    pub fn open() -> Result<Seg6Genl, NlError> {
        let mut nl = Netlink::generic().map_err(NlError::io)?;
        let mut payload = vec![CTRL_CMD_GETFAMILY, 1, 0, 0];
        push_nla(
            &mut payload,
            CTRL_ATTR_FAMILY_NAME,
            format!("{SEG6_GENL_NAME}\0").as_bytes(),
        );
        let replies = nl.transact(GENL_ID_CTRL, 0, &payload)?;
        for r in &replies {
            if r.len() < 20 {
                continue;
            }
            for (kind, value) in nlas(&r[20..]) {
                if kind == CTRL_ATTR_FAMILY_ID && value.len() >= 2 {
                    let family = u16::from_ne_bytes([value[0], value[1]]);
                    return Ok(Seg6Genl { nl, family });
                }
            }
        }
        Err(NlError::protocol(
            "the kernel has no SEG6 generic-netlink family (CONFIG_IPV6_SEG6_LWTUNNEL off?)",
        ))
    }

    /// The current tunnel source (`::` when unset).
    pub fn get_tunsrc(&mut self) -> Result<Ipv6Addr, NlError> {
        let payload = [SEG6_CMD_GET_TUNSRC, SEG6_GENL_VERSION, 0, 0];
        let replies = self.nl.transact(self.family, 0, &payload)?;
        for r in &replies {
            if r.len() < 20 {
                continue;
            }
            for (kind, value) in nlas(&r[20..]) {
                if kind == SEG6_ATTR_DST && value.len() == 16 {
                    let octets: [u8; 16] = value.try_into().unwrap();
                    return Ok(Ipv6Addr::from(octets));
                }
            }
        }
        Err(NlError::protocol(
            "SEG6_CMD_GET_TUNSRC: no address in the reply",
        ))
    }

    /// Sets the tunnel source (`::` unsets it).
    pub fn set_tunsrc(&mut self, addr: Ipv6Addr) -> Result<(), NlError> {
        let mut payload = vec![SEG6_CMD_SET_TUNSRC, SEG6_GENL_VERSION, 0, 0];
        push_nla(&mut payload, SEG6_ATTR_DST, &addr.octets());
        self.nl.transact(self.family, 0, &payload).map(|_| ())
    }
}
