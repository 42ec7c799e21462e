#!/usr/bin/env bash
# image/boot-test.sh: boot the SD image (target/image/rill-rpi-arm64.img.xz)
# under qemu-system-aarch64 -M virt -cpu cortex-a53 (TCG) and check it as a
# user would: rill answers on the forwarded port, a torrent seeded from the
# host (aria2c) is added by magnet and streamed byte for byte, the box
# applied the boot partition's rill.toml (timezone, SSH key, Wi-Fi stored
# and its passphrase blanked), the root grew to the disk, and after a clean
# power-off and a second boot the torrent is still listed.
#
# What qemu runs is the image's own kernel, initramfs and root file system;
# the Pi's boot firmware (bootcode.bin/start4.elf, config.txt) cannot run
# on -M virt, so the kernel and initramfs are taken from the FAT partition
# and given to qemu directly. See image/README.md for what this cannot show.
#
# The guest's network is qemu's user mode with restrict=on: the guest
# reaches nothing but what is forwarded: host 127.0.0.1:<port> -> guest
# 8080 (HTTP) and 22 (SSH), and guest 10.0.2.100:6881 -> the aria2c seeder
# on 127.0.77.1 (guestfwd, one forwarder process per connection).
#
# Environment: RILL_BOOT_TIMEOUT (s, default 900) bounds each boot;
# RILL_BOOT_IMAGE=FILE boots that raw image instead of the .xz (the same
# bytes, e.g. <work>/rill-rpi-arm64.img while build.sh still compresses);
# RILL_IMAGE_WORK as for build.sh (scratch: <work>/boot-test).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
xzimg=$repo/target/image/rill-rpi-arm64.img.xz
work=${RILL_IMAGE_WORK:-$repo/target/image-work}/boot-test
boot_timeout=${RILL_BOOT_TIMEOUT:-900}
seed_ip=127.0.77.1

die() { echo "image/boot-test.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 missing: apt-get install $2"; }
for t in qemu-system-aarch64:qemu-system-arm mcopy:mtools sfdisk:fdisk aria2c:aria2 \
    mktorrent:mktorrent curl:curl ssh:openssh-client xz:xz-utils python3:python3; do
    need "${t%%:*}" "${t#*:}"
done
raw=${RILL_BOOT_IMAGE:-}
[ -n "$raw" ] || [ -f "$xzimg" ] || die "no $xzimg: run image/build.sh sd first"

# A free TCP port on 127.0.0.1 (qemu and aria2c bind it right after).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind((__import__("sys").argv[1], 0)); print(s.getsockname()[1])' "$1"
}

qemu_pid=
aria_pid=
cleanup() {
    [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
    [ -z "$aria_pid" ] || kill "$aria_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work/seed"
start=$SECONDS
disk=$work/disk.img
if [ -n "$raw" ]; then
    cp --sparse=always "$raw" "$disk"
    echo "== booting $raw (raw, as built)"
else
    xz -dc "$xzimg" >"$disk"
    echo "== booting $xzimg"
fi
raw_mib=$(($(stat -c %s "$disk") / 1048576))
# A bigger "card" than the image: the first boot must grow the root.
truncate -s +1G "$disk"
boot_off=$(($(sfdisk -J "$disk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"])') * 512))
fat="$disk@@$boot_off"
kernel=$(mdir -i "$fat" -b ::/ | sed -n 's|^::/\(vmlinuz-.*\)|\1|p' | head -n1)
initrd=$(mdir -i "$fat" -b ::/ | sed -n 's|^::/\(initrd.img-.*\)|\1|p' | head -n1)
[ -n "$kernel" ] && [ -n "$initrd" ] || die "no vmlinuz-*/initrd.img-* on the boot partition"
mcopy -n -i "$fat" "::/$kernel" "::/$initrd" "$work/"
echo "== image $raw_mib MiB raw, card 1 GiB bigger; kernel $kernel; $((SECONDS - start)) s"

# The settings a user would write on the FAT partition.
ssh-keygen -q -t ed25519 -N '' -C rill-boot-test -f "$work/id"
mcopy -n -i "$fat" ::/rill.toml "$work/rill.toml"
sed -i -e 's|^#timezone = .*|timezone = "Europe/Berlin"|' -e 's|^#ssh = .*|ssh = true|' \
    -e "s|^#ssh_authorized_key = .*|ssh_authorized_key = \"$(cat "$work/id.pub")\"|" \
    -e 's|^#wifi_ssid = .*|wifi_ssid = "rill test net"|' \
    -e 's|^#wifi_passphrase = .*|wifi_passphrase = "not a real passphrase"|' \
    -e 's|^#wifi_country = .*|wifi_country = "DE"|' "$work/rill.toml"
mcopy -o -i "$fat" "$work/rill.toml" ::/rill.toml

# The seeder: 12 MiB of random bytes in one file, no tracker (the magnet
# names the peer), aria2c on 127.0.77.1 with DHT, LPD and PEX off.
head -c $((12 * 1048576 + 12345)) /dev/urandom >"$work/seed/clip.bin"
mktorrent -l 18 -o "$work/clip.torrent" "$work/seed/clip.bin" >/dev/null
id=$(aria2c -S "$work/clip.torrent" | sed -n 's/^Info Hash: //p')
[ ${#id} -eq 40 ] || die "no info hash from aria2c -S"
seed_port=$(free_port "$seed_ip")
aria2c --enable-dht=false --bt-enable-lpd=false --enable-peer-exchange=false \
    --interface="$seed_ip" --listen-port="$seed_port" -V --seed-ratio=0 --seed-time=60 \
    -q -d "$work/seed" "$work/clip.torrent" >"$work/aria2c.log" 2>&1 &
aria_pid=$!
# guestfwd runs this per guest connection: stdin/stdout <-> the seeder.
cat >"$work/fwd.py" <<'PY'
import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
def up():
    while (b := os.read(0, 65536)):
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while (b := s.recv(65536)):
    os.write(1, b)
PY

http_port=$(free_port 127.0.0.1)
ssh_port=$(free_port 127.0.0.1)
base=http://127.0.0.1:$http_port
sshc=(ssh -q -i "$work/id" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o ConnectTimeout=10 -o BatchMode=yes root@127.0.0.1)

# Boot number $1 in the background; its console goes to console-$1.log.
boot() {
    local n=$1
    qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 1024 -nographic -monitor none \
        -serial "file:$work/console-$n.log" \
        -kernel "$work/$kernel" -initrd "$work/$initrd" \
        -append "root=LABEL=rill-root rw rootwait console=ttyAMA0 net.ifnames=0" \
        -drive "if=none,id=card,file=$disk,format=raw" -device virtio-blk-pci,drive=card \
        -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$http_port-:8080,hostfwd=tcp:127.0.0.1:$ssh_port-:22,guestfwd=tcp:10.0.2.100:6881-cmd:/usr/bin/python3 $work/fwd.py $seed_ip $seed_port" \
        -device virtio-net-pci,netdev=net0 \
        -qmp "unix:$work/qmp.sock,server=on,wait=off" </dev/null &
    qemu_pid=$!
}

# Wait (at most $boot_timeout s) until GET /api/torrents answers 200.
wait_api() {
    local n=$1 t0=$SECONDS code
    while :; do
        code=$(curl -s -o "$work/torrents.json" -w '%{http_code}' --max-time 5 "$base/api/torrents" || true)
        [ "$code" = 200 ] && break
        kill -0 "$qemu_pid" 2>/dev/null || { tail -n 30 "$work/console-$n.log"; die "qemu exited during boot $n"; }
        if [ $((SECONDS - t0)) -ge "$boot_timeout" ]; then
            tail -n 40 "$work/console-$n.log"
            die "boot $n: $base/api/torrents did not answer within $boot_timeout s"
        fi
        sleep 5
    done
    echo "== boot $n: GET $base/api/torrents answered 200 after $((SECONDS - t0)) s: $(cat "$work/torrents.json")"
}

# Power the guest off as its power button would (the virt board's GPIO
# power key, pressed through QMP; systemd-logind shuts down cleanly), or,
# if that has not worked within 180 s, with `systemctl poweroff` over SSH;
# wait (bounded) for qemu to exit.
power_off() {
    local t0=$SECONDS how="power button"
    python3 - "$work/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ "$how" = "power button" ] && [ $((SECONDS - t0)) -ge 180 ]; then
            how="systemctl poweroff over SSH (the power button did nothing in 180 s)"
            "${sshc[@]}" systemctl poweroff || true
        fi
        [ $((SECONDS - t0)) -lt 360 ] || die "the guest did not power off within 360 s"
        sleep 2
    done
    wait "$qemu_pid" || true
    qemu_pid=
    echo "== powered off cleanly ($how) in $((SECONDS - t0)) s"
}

echo "== boot 1; URL: $base/ (guest port 8080), SSH: 127.0.0.1:$ssh_port"
t_boot=$SECONDS
boot 1
wait_api 1
echo "== boot 1 took $((SECONDS - t_boot)) s to rill answering"

magnet="magnet:?xt=urn:btih:$id&dn=clip.bin&x.pe=10.0.2.100:6881"
echo "== POST $base/api/torrents $magnet"
code=$(curl -s -o "$work/add.json" -w '%{http_code}' --max-time 30 --data-binary "$magnet" "$base/api/torrents")
case "$code" in 200 | 201 | 202) ;; *) die "adding the magnet answered $code: $(cat "$work/add.json")" ;; esac
t0=$SECONDS
until curl -sf --max-time 5 "$base/api/torrents/$id" | grep -q "\"stream\": *\"/stream/$id/0\""; do
    [ $((SECONDS - t0)) -lt 300 ] || die "no metadata for $id within 300 s: $(curl -s "$base/api/torrents/$id")"
    sleep 2
done
echo "== metadata from the seeder after $((SECONDS - t0)) s"
t0=$SECONDS
curl -sf --max-time 600 -o "$work/streamed.bin" "$base/stream/$id/0" \
    || die "GET $base/stream/$id/0 failed: $(curl -s "$base/api/torrents/$id")"
cmp "$work/streamed.bin" "$work/seed/clip.bin" || die "the streamed bytes differ from the seeded file"
bytes=$(stat -c %s "$work/streamed.bin")
echo "== GET $base/stream/$id/0: $bytes bytes in $((SECONDS - t0)) s, identical to the seeded file"
# A range from the middle, as a player seeking would ask.
curl -sf --max-time 60 -r 5000000-5065535 "$base/stream/$id/0" | cmp - <(tail -c +5000001 "$work/seed/clip.bin" | head -c 65536) \
    || die "the range 5000000-5065535 differs"
echo "== range 5000000-5065535 identical"

echo "== the box as rill.toml on the boot partition set it up (over SSH, key only)"
"${sshc[@]}" true || die "ssh root@127.0.0.1:$ssh_port with the key from rill.toml failed"
check() {
    local what=$1 want=$2 got
    got=$("${sshc[@]}" "$what" 2>&1 || true)
    grep -Eq "$want" <<<"$got" || die "in the guest, '$what' gave '$got', expected /$want/"
    echo "ok: $what -> $(head -n1 <<<"$got")"
}
check 'cat /etc/timezone' '^Europe/Berlin$'
check 'hostname' '^rill$'
check 'grep -c "^[[:space:]]*psk=[0-9a-f]\{64\}$" /etc/wpa_supplicant/wpa_supplicant-wlan0.conf' '^1$'
check 'grep wifi_passphrase /boot/firmware/rill.toml' '^wifi_passphrase = ""'
check 'grep -c -e wifi_ssid -e ssh_authorized_key /etc/rill/rill.toml' '^0$'
check 'systemctl is-active rill avahi-daemon systemd-networkd' '^active
active
active$'
check 'findmnt -no OPTIONS /' 'noatime'
check 'journalctl --header | grep -m1 "File path"' '/run/log/journal'
check 'systemctl show -p Result rill-growroot; df -m --output=size / | tail -n1' 'Result=success'
check 'journalctl -b -u rill-growroot -o cat | grep growroot:' 'MiB -> +[0-9]+ MiB'
check 'journalctl -b -u rill-data -o cat | grep data-disk:' 'no disk labelled RILL-DATA'
check 'findmnt -no SOURCE /var/lib/rill || echo "on the root file system"' 'on the root file system'
check 'cat /sys/fs/cgroup/system.slice/rill.service/memory.max' '^[0-9]+$'

power_off
echo "== boot 2 (after a clean power-off)"
t_boot=$SECONDS
boot 2
wait_api 2
grep -q "\"$id\"" "$work/torrents.json" || die "after the reboot $id is not listed: $(cat "$work/torrents.json")"
echo "ok: $id still listed after the reboot"
curl -sf --max-time 300 "$base/stream/$id/0" | cmp - "$work/seed/clip.bin" || die "after the reboot the stream differs"
echo "ok: streamed again after the reboot, identical"
check 'journalctl -b -u rill-setup -o cat | grep "unchanged since"' 'unchanged since it was applied'
power_off
echo "== boot test passed in $((SECONDS - start)) s; URL used: $base/ (forwarded to the guest's :8080)"
