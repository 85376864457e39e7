//! Raw frames through a veth with PacketSocket.

use std::time::Duration;

use lab::{Topology, VethEnd};

const A_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x01];
const B_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x02];

/// A pair with IPv6 off, so the link is silent unless a test sends.
fn quiet_pair() -> lab::Lab {
    Topology::new()
        .namespaces(&["a", "b"])
        .veth(
            VethEnd::new("a", "eth0").mac(A_MAC),
            VethEnd::new("b", "eth0").mac(B_MAC),
        )
        .sysctl("a", "net.ipv6.conf.all.disable_ipv6", "1")
        .sysctl("b", "net.ipv6.conf.all.disable_ipv6", "1")
        .build()
        .expect("build")
}

/// An Ethernet frame with a local experimental ethertype and `tag` in the payload.
fn frame(tag: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&B_MAC);
    f.extend_from_slice(&A_MAC);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((0..64u8).map(|i| i ^ tag));
    f
}

#[test]
fn frame_crosses_veth_byte_identical() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = quiet_pair();
    let tx = lab.packet_socket("a", "eth0").unwrap();
    let rx = lab.packet_socket("b", "eth0").unwrap();
    assert_eq!(rx.ifindex(), lab.ifindex("b", "eth0").unwrap());
    let sent = frame(0x5a);
    tx.send(&sent).unwrap();
    let got = rx
        .recv_matching(Duration::from_secs(2), |f| f[12..14] == [0x88, 0xb5])
        .expect("frame did not arrive");
    assert_eq!(got, sent);

    // The sender's own socket skips its outgoing copy by default...
    assert_eq!(tx.recv_timeout(Duration::from_millis(100)), None);
    // ...and sees it when asked to.
    let mut tx_all = lab.packet_socket("a", "eth0").unwrap();
    tx_all.include_outgoing(true);
    tx.send(&frame(1)).unwrap();
    assert_eq!(tx_all.recv_timeout(Duration::from_secs(1)), Some(frame(1)));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Some(frame(1)));

    // Several frames keep their order.
    for tag in 2..6 {
        tx.send(&frame(tag)).unwrap();
    }
    for tag in 2..6 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Some(frame(tag)));
    }
    rx.set_promiscuous(true).unwrap();
    rx.set_promiscuous(false).unwrap();
}

#[test]
fn recv_timeout_returns_none_on_silence() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = quiet_pair();
    let rx = lab.packet_socket("b", "eth0").unwrap();
    rx.drain();
    let started = std::time::Instant::now();
    assert_eq!(rx.recv_timeout(Duration::from_millis(200)), None);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(rx.drain(), 0);
}

#[test]
fn bind_to_missing_interface_fails() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = quiet_pair();
    let err = lab.packet_socket("a", "nosuch0").unwrap_err();
    assert!(err.to_string().contains("nosuch0"), "{err}");
}
