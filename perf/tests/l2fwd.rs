//! `srv6bench l2fwd` forwards every frame exactly once, rewriting only the
//! Ethernet addresses.
//!
//! ```text
//!  gen bg0 ----- bl0 [sut: srv6bench l2fwd] bw0 ----- bs0 sink
//! ```
//!
//! IPv6 is disabled in all three namespaces (no ND, MLD or router
//! solicitations), so the only frames on the wires are the test's: the
//! forwarder's counters must match exactly. The SUT namespace has no
//! forwarding and no addresses, so a frame can only reach the sink through
//! the forwarder. The sink's veth has neither an XDP program nor GRO: the
//! forwarder's copy-mode AF_XDP transmit goes through the veth's normal
//! xmit path, which needs neither (only XDP_TX / XDP_REDIRECT into a veth
//! do).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lab::{format_mac, Mac, Topology, VethEnd};

const GEN_MAC: Mac = [0x02, 0x5c, 0, 0, 0, 0x01];
const LAN_MAC: Mac = [0x02, 0x5c, 0, 0, 0, 0x02];
const WAN_MAC: Mac = [0x02, 0x5c, 0, 0, 0, 0x03];
const SINK_MAC: Mac = [0x02, 0x5c, 0, 0, 0, 0x04];
const N: u64 = 2000;
const MAGIC: &[u8; 8] = b"l2fwdtst";
/// Ethernet (14) + IPv6 (40) + UDP (8): where the payload starts.
const PAYLOAD: usize = 62;

/// Kills the forwarder (if still running) when the test ends, also on panic.
struct Forwarder {
    child: Child,
    log: PathBuf,
}

impl Forwarder {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Frame `seq`: Ethernet / IPv6 / UDP to the SUT's LAN MAC, with the
/// sequence number and a seq-dependent pattern in the payload; lengths vary
/// from 80 to 1514 octets. (The UDP checksum is left zero: nothing on the
/// path looks at it.)
fn frame(seq: u64) -> Vec<u8> {
    let len = 80 + (seq as usize * 37) % (1514 - 80 + 1);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&LAN_MAC);
    f[6..12].copy_from_slice(&GEN_MAC);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let payload_len = (len - 14) as u16;
    f[14] = 0x60;
    f[18..20].copy_from_slice(&payload_len.to_be_bytes());
    f[20] = 17; // UDP
    f[21] = 64;
    f[22..38].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f[38..54].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f[54..56].copy_from_slice(&40000u16.to_be_bytes());
    f[56..58].copy_from_slice(&9u16.to_be_bytes());
    f[58..60].copy_from_slice(&payload_len.to_be_bytes());
    f[PAYLOAD..PAYLOAD + 8].copy_from_slice(MAGIC);
    f[PAYLOAD + 8..PAYLOAD + 16].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[PAYLOAD + 16..].iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    f
}

/// The sequence number of one of the test's frames.
fn seq_of(f: &[u8]) -> Option<u64> {
    if f.len() < PAYLOAD + 16 || &f[PAYLOAD..PAYLOAD + 8] != MAGIC {
        return None;
    }
    Some(u64::from_be_bytes(
        f[PAYLOAD + 8..PAYLOAD + 16].try_into().unwrap(),
    ))
}

/// `key=N` in the final counters line.
fn counter(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in `{line}`"))
}

#[test]
fn l2fwd_forwards_every_frame_once_with_only_the_macs_rewritten() {
    if !lab::require_root() {
        eprintln!("skipped (SRV6D_SKIP_ROOT_TESTS=1)");
        return;
    }
    let mut topo = Topology::new()
        .prefix("s6l2fwd")
        .namespaces(&["gen", "sut", "sink"])
        .veth(
            VethEnd::new("gen", "bg0").mac(GEN_MAC),
            VethEnd::new("sut", "bl0").mac(LAN_MAC),
        )
        .veth(
            VethEnd::new("sut", "bw0").mac(WAN_MAC),
            VethEnd::new("sink", "bs0").mac(SINK_MAC),
        );
    for ns in ["gen", "sut", "sink"] {
        topo = topo
            .sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            .sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1");
    }
    let lab = topo.build().expect("build the lab");

    let log = std::env::temp_dir().join(format!("srv6bench-l2fwd-test-{}.log", std::process::id()));
    let errf = std::fs::File::create(&log).expect("create the forwarder's log");
    let mut cmd = lab.command(
        "sut",
        [
            env!("CARGO_BIN_EXE_srv6bench"),
            "l2fwd",
            "--rx",
            "bl0",
            "--tx",
            "bw0",
            "--dst-mac",
            &format_mac(&SINK_MAC),
            "--src-mac",
            &format_mac(&WAN_MAC),
        ],
    );
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(errf);
    let mut fwd = Forwarder {
        child: cmd.spawn().expect("spawn srv6bench l2fwd"),
        log,
    };
    let t0 = Instant::now();
    while !fwd.log().contains("l2fwd running") {
        if let Ok(Some(status)) = fwd.child.try_wait() {
            panic!("srv6bench l2fwd exited ({status}):\n{}", fwd.log());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "srv6bench l2fwd did not start:\n{}",
            fwd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let tx = lab
        .packet_socket("gen", "bg0")
        .expect("packet socket on gen:bg0");
    let rx = lab
        .packet_socket("sink", "bs0")
        .expect("packet socket on sink:bs0");
    let sent: Vec<Vec<u8>> = (0..N).map(frame).collect();
    // How many frames the receiver holds: the sender keeps at most
    // WINDOW frames unreceived, so that neither the forwarder's rings nor
    // the sink socket's buffer (default size: about fifty 1514-octet
    // frames) can overflow, however the threads are scheduled. This test
    // is about correctness, not rate.
    const WINDOW: u64 = 32;
    let got_count = AtomicU64::new(0);
    let received: Vec<Vec<u8>> = std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            let mut got = Vec::new();
            // Until everything is in, or 2 s of silence.
            while (got.len() as u64) < N {
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Some(f) => {
                        got.push(f);
                        got_count.fetch_add(1, Ordering::Release);
                    }
                    None => break,
                }
            }
            got
        });
        for (i, f) in sent.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(2);
            // A lost frame stalls the window until the deadline; the
            // assertions below then report it.
            while i as u64 >= got_count.load(Ordering::Acquire) + WINDOW
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_micros(100));
            }
            tx.send(f).expect("send from gen:bg0");
        }
        receiver.join().expect("receiver thread")
    });
    let sink_rx = lab
        .exec("sink", ["cat", "/sys/class/net/bs0/statistics/rx_packets"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();

    // Every frame exactly once, MACs rewritten, the rest byte-identical.
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut others = Vec::new();
    for f in &received {
        let Some(seq) = seq_of(f) else {
            others.push(
                f.iter()
                    .take(64)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            );
            continue;
        };
        assert!(seq < N, "sequence number {seq} out of range");
        *seen.entry(seq).or_default() += 1;
        let want = &sent[seq as usize];
        assert_eq!(&f[0..6], &SINK_MAC, "frame {seq}: destination MAC");
        assert_eq!(&f[6..12], &WAN_MAC, "frame {seq}: source MAC");
        assert_eq!(f.len(), want.len(), "frame {seq}: length");
        assert!(
            f[12..] == want[12..],
            "frame {seq}: changed beyond the MACs"
        );
    }
    let missing: Vec<u64> = (0..N).filter(|s| !seen.contains_key(s)).collect();
    let dups: Vec<(u64, usize)> = seen
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(&s, &c)| (s, c))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {N} frames missing at the sink (first: {:?}; bs0 rx_packets {sink_rx}); \
         forwarder log:\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        fwd.log()
    );
    assert!(dups.is_empty(), "duplicated frames (seq, count): {dups:?}");
    assert!(
        others.is_empty(),
        "{} frames at the sink that the test did not send (IPv6 is off): {:?}",
        others.len(),
        &others[..others.len().min(3)]
    );

    // SIGTERM: a clean exit with the final counters.
    // SAFETY: kill(2) on our own, not yet reaped, child.
    assert_eq!(
        unsafe { libc::kill(fwd.child.id() as libc::pid_t, libc::SIGTERM) },
        0,
        "SIGTERM to srv6bench l2fwd"
    );
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = fwd.child.try_wait().expect("wait for srv6bench l2fwd") {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "srv6bench l2fwd did not stop on SIGTERM:\n{}",
            fwd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = fwd.log();
    assert!(status.success(), "srv6bench l2fwd exited {status}:\n{log}");
    let line = log
        .lines()
        .find_map(|l| l.split_once("l2fwd final counters:").map(|(_, r)| r.trim()))
        .unwrap_or_else(|| panic!("no final counters line:\n{log}"));
    eprintln!("l2fwd final counters: {line}");
    // Only the test's frames were on the wire: exact counts.
    assert_eq!(counter(line, "rx"), N, "rx in `{line}`");
    assert_eq!(counter(line, "tx"), N, "tx in `{line}`");
    assert_eq!(counter(line, "tx_failed"), 0, "tx_failed in `{line}`");
    assert_eq!(
        counter(line, "xsk_rx_dropped"),
        0,
        "xsk_rx_dropped in `{line}`"
    );
}
