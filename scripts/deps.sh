#!/usr/bin/env bash
# Install everything srv6d's build, tests and demo need on a fresh Debian 12
# machine. Idempotent: installs only what is missing, so a second run is quick.
#
# Debian: the C toolchain for the XDP program and xsk-rs' vendored libxdp
# (clang, llvm, m4, libelf, zlib, pkg-config), the tools the namespace tests
# drive (iproute2, iptables, ethtool, tcpdump, iperf3, ping, procps for sysctl),
# a font for the text of srv6bench's PNG plots (fonts-dejavu-core), and the
# lab's Linux VM (lab::vm): QEMU, a static busybox for its initramfs,
# objcopy (binutils) to strip what it copies in.
# The VM's kernel: Debian's linux-image-6.12-cloud-amd64 (seg6, seg6local,
# SRH HMAC, VRF), fetched with apt-get download and unpacked, not installed,
# into $SRV6D_LAB_VM_DIR/linux (default /var/cache/srv6d-lab/linux).
# Python: scapy (an independent packet dissector for interop checks), grpcio
# and grpcio-tools (the srv6pm test client generates its stubs with
# grpc_tools.protoc at run time from control/tests/srv6pm_contract/, a .proto
# written from the published contract; its Session-Sender probe is Scapy).
set -euo pipefail

log() { printf 'deps: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

APT_PACKAGES=(
    clang llvm m4 libelf-dev zlib1g-dev libpcap-dev pkg-config make
    iproute2 iptables ethtool tcpdump iperf3 iputils-ping procps kmod
    python3 python3-pip fonts-dejavu-core
    qemu-system-x86 busybox-static binutils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages present"
fi

# Python packages go to whichever python3 is first on PATH (the tests call
# `python3`), so that is the interpreter we check and install into.
PY_PACKAGES=(scapy grpcio grpcio-tools)
PY_MODULES=(scapy grpc grpc_tools)
py_missing=()
for i in "${!PY_MODULES[@]}"; do
    if ! python3 -c "import ${PY_MODULES[$i]}" 2>/dev/null; then
        py_missing+=("${PY_PACKAGES[$i]}")
    fi
done
if [ "${#py_missing[@]}" -gt 0 ]; then
    log "installing Python packages: ${py_missing[*]}"
    if ! python3 -m pip install -q "${py_missing[@]}" 2>/dev/null; then
        # Debian's system python refuses pip installs without this flag (PEP 668).
        python3 -m pip install -q --break-system-packages "${py_missing[@]}"
    fi
else
    log "Python packages present"
fi

# The lab VM's kernel (see lab/src/vm.rs and docs/testbed.md).
VM_DIR="${SRV6D_LAB_VM_DIR:-/var/cache/srv6d-lab}"
VM_META=linux-image-6.12-cloud-amd64
if ! ls "$VM_DIR"/linux/boot/vmlinuz-* >/dev/null 2>&1; then
    pkg_of_meta() {
        apt-cache depends "$VM_META" 2>/dev/null |
            awk '/Depends: linux-image-/ { print $2; exit }'
    }
    pkg=$(pkg_of_meta)
    if [ -z "$pkg" ]; then
        $SUDO apt-get update -qq
        pkg=$(pkg_of_meta)
    fi
    if [ -z "$pkg" ]; then
        echo "deps: cannot resolve $VM_META to a kernel package (apt-cache depends $VM_META)" >&2
        exit 1
    fi
    log "fetching the lab VM's kernel: $pkg"
    work=$(mktemp -d)
    # apt's download sandbox user must be able to write here.
    chmod 0777 "$work"
    (cd "$work" && apt-get download -qq "$pkg" 2>/dev/null) || (cd "$work" && apt-get download "$pkg")
    $SUDO mkdir -p "$VM_DIR"
    rm -rf "$VM_DIR/linux.new"
    $SUDO dpkg -x "$work"/*.deb "$VM_DIR/linux.new"
    $SUDO rm -rf "$VM_DIR/linux"
    $SUDO mv "$VM_DIR/linux.new" "$VM_DIR/linux"
    rm -rf "$work"
    log "lab VM kernel in $VM_DIR/linux: $(ls "$VM_DIR"/linux/boot/vmlinuz-*)"
else
    log "lab VM kernel present ($(ls "$VM_DIR"/linux/boot/vmlinuz-*))"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo not found: srv6d needs a Rust toolchain (rustup, stable >= 1.85) on PATH" >&2
    exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest >/dev/null
fi
log "ok"
