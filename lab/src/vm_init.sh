#!/bin/busybox sh
# /init of the lab's Linux VM (lab::vm). Mounts what `ip netns` needs,
# loads the NIC, veth and VRF modules, then serves the host over the
# virtio-serial port "ctl": each request is one line, `<seconds> <script in
# base64>`; each answer is one line `R <exit status> <stdout b64> <stderr
# b64>`. A script still running after its seconds is killed (status 137,
# the output it wrote so far). When the host closes the port (its process
# ended, even by SIGKILL) the read ends and the VM powers off.
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/sbin:/sbin:/bin:/usr/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /var /tmp /root /dev/pts /sys/fs/bpf
mount -t devpts devpts /dev/pts
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ln -s /run /var/run
# NICs created from here on have IPv6 off here, in the VM's initial
# namespace (they stay down there anyway); moved into a namespace they take
# that namespace's defaults.
sysctl -qw net.ipv6.conf.default.disable_ipv6=1
for m in $(cat /etc/lab-modules); do
    insmod "/lib/modules/$m.ko" || echo "lab-vm: insmod $m failed" >&2
done
ip() { /usr/sbin/ip "$@"; }
ip link set lo up
port=""
for p in /dev/vport*p1; do port=$p; done
if [ -z "$port" ]; then
    echo "lab-vm: no virtio-serial port" >&2
    poweroff -f
fi
exec 3<>"$port"
printf 'READY %s %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$(uname -r)" >&3
n=0
while IFS=' ' read -r secs body <&3; do
    n=$((n + 1))
    # Fresh files per request: a background process of an earlier script
    # may still hold the old ones open.
    rm -f /tmp/req.*
    echo "$body" | base64 -d > /tmp/req.$n.body
    cat /etc/lab-prelude /tmp/req.$n.body > /tmp/req.$n.sh
    # The control port (fd 3) stays with the agent, not with the script.
    timeout -s KILL "$secs" sh /tmp/req.$n.sh </dev/null >/tmp/req.$n.out 2>/tmp/req.$n.err 3>&-
    rc=$?
    printf 'R %s %s %s\n' "$rc" "$(base64 -w0 /tmp/req.$n.out)" "$(base64 -w0 /tmp/req.$n.err)" >&3
done
poweroff -f
