#!/bin/busybox sh
# /init of the lab's Linux VM (lab::vm). Mounts what `ip netns` needs,
# loads the NIC, veth and VRF modules, then serves the host over the
# virtio-serial port "ctl": each request is one line, a shell script in
# base64; each answer is one line `R <exit status> <stdout b64> <stderr b64>`.
# When the host closes the port (its process ended, even by SIGKILL) the
# read ends and the VM powers off, so no VM outlives its test.
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
# The NICs must not speak IPv6 (router solicitations, DAD) before they are
# moved into their namespaces: the tests capture what crosses them.
sysctl -qw net.ipv6.conf.default.disable_ipv6=1
sysctl -qw net.ipv6.conf.all.disable_ipv6=1
for m in $(cat /etc/lab-modules); do
    insmod "/lib/modules/$m.ko" || echo "lab-vm: insmod $m failed" >&2
done
sysctl -qw net.ipv6.conf.all.disable_ipv6=0
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
while IFS= read -r line <&3; do
    echo "$line" | base64 -d > /tmp/req.body
    cat /etc/lab-prelude /tmp/req.body > /tmp/req.sh
    sh /tmp/req.sh </dev/null >/tmp/req.out 2>/tmp/req.err
    rc=$?
    printf 'R %s %s %s\n' "$rc" "$(base64 -w0 /tmp/req.out)" "$(base64 -w0 /tmp/req.err)" >&3
done
poweroff -f
