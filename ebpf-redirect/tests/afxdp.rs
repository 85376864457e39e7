//! End to end with a real AF_XDP socket (xsk-rs, copy mode, no libxdp
//! program): frames to a local SID arrive in the socket byte for byte, the
//! kernel keeps answering ARP, and unregistering the socket hands the queue
//! back to the kernel.

mod common;

use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use ebpf_redirect::PortRole;
use xsk_rs::config::{BindFlags, LibxdpFlags, SocketConfig, UmemConfig};
use xsk_rs::{FrameDesc, RxQueue, Socket, Umem};

/// The next frame in `rx` within `timeout`, copied out.
fn recv_xsk(
    umem: &Umem,
    rx: &mut RxQueue,
    descs: &mut [FrameDesc],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        // SAFETY: `descs` belong to `umem`; a consumed descriptor's frame is
        // only read below, before anything is handed back to the kernel.
        let n = unsafe { rx.poll_and_consume(&mut descs[..1], 50) }.expect("poll rx");
        if n == 1 {
            // SAFETY: as above; `descs[0]` was just filled by the kernel.
            let data = unsafe { umem.data(&descs[0]) };
            return Some(data.contents().to_vec());
        }
    }
    None
}

fn is_arp_reply_from_host(frame: &[u8]) -> bool {
    frame.len() >= 42
        && frame[12..14] == ETH_ARP.to_be_bytes()
        && frame[20..22] == [0, 2]
        && frame[28..32] == HOST4.octets()
}

#[test]
fn sid_frame_reaches_the_xsk_unchanged_and_arp_still_works() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::configured(PortRole::Wan);
    let Bed {
        prog,
        sock,
        lab,
        dut_mac,
        peer_mac,
        ..
    } = &mut bed;
    let sid_frame = eth(
        *dut_mac,
        *peer_mac,
        ETH_IPV6,
        &ipv6(SRC6, SID, 17, &udp(862, 862, b"a frame for the engine")),
    );
    let host_frame = eth(
        *dut_mac,
        *peer_mac,
        ETH_IPV6,
        &ipv6(SRC6, HOST6, 17, &udp(40000, 9, b"a frame for the kernel")),
    );
    let arp = arp_request([0xff; 6], *peer_mac, SRC4, HOST4);

    lab.in_ns("dut", || {
        let (umem, mut descs) =
            Umem::new(UmemConfig::default(), NonZeroU32::new(64).unwrap(), false)
                .expect("create UMEM");
        let config = SocketConfig::builder()
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(BindFlags::XDP_COPY)
            .build();
        // SAFETY: nothing else is bound to (p0, 0) and the UMEM is not shared.
        let (_tx, mut rx, fq_cq) = unsafe { Socket::new(config, &umem, &"p0".parse().unwrap(), 0) }
            .expect("create AF_XDP socket on dut:p0 queue 0");
        let (mut fq, _cq) = fq_cq.expect("fill and completion queues");
        // SAFETY: the descriptors are fresh from this UMEM and not in use.
        let filled = unsafe { fq.produce(&descs) };
        assert_eq!(filled, descs.len());
        prog.register_xsk(0, rx.fd().as_raw_fd())
            .expect("register_xsk");

        // A frame to a local SID goes to the socket, byte for byte.
        sock.send(&sid_frame).unwrap();
        let got = recv_xsk(&umem, &mut rx, &mut descs, Duration::from_secs(3))
            .expect("the SID frame did not reach the AF_XDP socket");
        assert_eq!(got, sid_frame, "frame changed on its way to the socket");

        // ARP still reaches the kernel, which answers.
        sock.drain();
        sock.send(&arp).unwrap();
        let reply = sock.recv_matching(Duration::from_secs(3), is_arp_reply_from_host);
        assert!(
            reply.is_some(),
            "no ARP reply from the dut kernel with the XSK registered"
        );

        // Host traffic does not show up in the socket.
        sock.send(&host_frame).unwrap();
        assert_eq!(
            recv_xsk(&umem, &mut rx, &mut descs, Duration::from_millis(300)),
            None,
            "host traffic reached the XSK"
        );

        // Without a registered socket the queue falls back to the kernel.
        prog.remove_xsk(0).expect("remove_xsk");
        prog.remove_xsk(0).expect("removing twice is fine");
        let before = prog.stats().unwrap();
        sock.send(&sid_frame).unwrap();
        let after = wait_for(prog, |s| s.redirect_sid > before.redirect_sid);
        assert_eq!(after.redirect_sid, before.redirect_sid + 1);
        assert_eq!(
            recv_xsk(&umem, &mut rx, &mut descs, Duration::from_millis(300)),
            None,
            "frame reached an unregistered XSK"
        );

        // Registered again, it receives again; clear_xsks empties the map.
        prog.register_xsk(0, rx.fd().as_raw_fd()).unwrap();
        sock.send(&sid_frame).unwrap();
        let again = recv_xsk(&umem, &mut rx, &mut descs, Duration::from_secs(3));
        assert_eq!(again.as_deref(), Some(&sid_frame[..]));
        prog.clear_xsks().unwrap();
    })
    .expect("enter dut");
}
