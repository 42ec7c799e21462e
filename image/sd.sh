# image/sd.sh: the Raspberry Pi SD image (sourced by image/build.sh).
#
# build_sd    target/image/rill-rpi-arm64.img.xz: Debian bookworm arm64
#             (raspi-firmware, linux-image-arm64, systemd, avahi, ffmpeg,
#             openssh-server) plus the arm64 .deb, in an MBR image with a
#             FAT boot partition and an ext4 root. The Debian root is made
#             once with mmdebstrap (qemu-user-static) and cached.
# check_sd    sfdisk -J of the partition table, mdir of the boot partition,
#             debugfs of the root.

# Cached Debian roots live outside the clone, so a fresh CI clone reuses them.
sd_cache=${RILL_IMAGE_WORK:-/var/cache/rill-image-work}
SD_IMG=rill-rpi-arm64.img
# Boot partition: 256 MiB FAT32 from sector 8192 (4 MiB aligned, as SD
# cards' erase blocks like); the root follows, sized to its contents plus
# room, and grows to the card's size on first boot.
SD_BOOT_START=8192
SD_BOOT_MIB=256
SD_ROOT_SPARE_MIB=384

# The Debian packages of the image (mmdebstrap --variant=minbase adds the
# essential set). Changing this list makes a new cached root.
SD_PACKAGES="systemd systemd-sysv systemd-timesyncd systemd-resolved udev dbus
kmod iproute2 ca-certificates tzdata adduser init-system-helpers
linux-image-arm64 initramfs-tools zstd raspi-firmware firmware-brcm80211
wpasupplicant wireless-regdb avahi-daemon openssh-server ffmpeg
cloud-guest-utils fdisk e2fsprogs dosfstools"

sd_sources() {
    local m=${RILL_IMAGE_MIRROR:-http://deb.debian.org/debian}
    local s=${RILL_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
    local c="main non-free-firmware"
    printf '%s\n' "deb $m bookworm $c" "deb $m bookworm-updates $c" "deb $s bookworm-security $c"
}

# Bump when sd_make_root changes what it makes.
SD_ROOT_REV=1

# The cached root's directory: named by a hash of what goes into it.
sd_root_dir() {
    local key
    key=$( (echo "$SD_ROOT_REV $SD_PACKAGES"; sd_sources) | sha256sum | cut -c1-12)
    echo "$sd_cache/sd-root-arm64-$key"
}

# Fail if anything is mounted at or below directory $1.
sd_no_mounts() {
    local d
    d=$(realpath "$1")
    if awk -v d="$d" '$2 == d || index($2, d "/") == 1 {found=1} END {exit !found}' /proc/mounts; then
        die "something is still mounted below $d (umount -l it before deleting)"
    fi
}

# mmdebstrap the arm64 root into directory $1 (under qemu-user-static, which
# must be registered in binfmt_misc). /boot/firmware is a tmpfs while the
# packages install, so raspi-firmware's kernel and initramfs hooks see a
# mounted boot partition and copy the kernel, initrd, DTBs and firmware
# there; afterwards its contents become plain files in the root.
sd_make_root() {
    local dir=$1 start=$SECONDS
    need mmdebstrap mmdebstrap
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
        || die "arm64 binaries cannot run here: apt-get install qemu-user-static binfmt-support (and mount binfmt_misc)"
    mkdir -p "$sd_cache"
    local -a sources
    mapfile -t sources < <(sd_sources)
    echo "== mmdebstrap arm64 root -> $dir (slow under emulation)" >&2
    if [ -e "$dir.tmp" ]; then
        sd_no_mounts "$dir.tmp"
        rm -rf "$dir.tmp"
    fi
    mmdebstrap --mode=root --format=directory --variant=minbase --architectures=arm64 \
        --include="$(echo $SD_PACKAGES | tr ' ' ,)" \
        --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --setup-hook='mkdir -p "$1/boot/firmware" && mount -t tmpfs -o mode=0755 sd-firmware "$1/boot/firmware"' \
        --customize-hook='t=$(mktemp -d) && cp -a "$1/boot/firmware/." "$t/" && umount "$1/boot/firmware" && cp -a "$t/." "$1/boot/firmware/" && rm -rf "$t"' \
        --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
        bookworm "$dir.tmp" "${sources[@]}" >&2 \
        || die "mmdebstrap of the arm64 root failed (a half-made $dir.tmp may be left: check mounts before deleting it)"
    sd_no_mounts "$dir.tmp"
    mv "$dir.tmp" "$dir"
    echo "== arm64 root: $(du -sm "$dir" | cut -f1) MB, $(took "$start")" >&2
}

# The cached root's directory, made if missing.
sd_root() {
    local dir
    dir=$(sd_root_dir)
    [ -d "$dir" ] || sd_make_root "$dir"
    echo "$dir"
}

# Run "$@" in the root $1 (under qemu-user for arm64) with /proc mounted
# for the duration only.
sd_chroot() {
    local root=$1 rc=0
    shift
    mount -t proc proc "$root/proc"
    chroot "$root" "$@" || rc=$?
    umount -l "$root/proc"
    return $rc
}

# Everything the image adds to the Debian root $1: the box's settings and
# units, hostname, fstab, network, journald, the boot partition's rill.toml.
sd_configure() {
    local root=$1 sd=$repo/image/sd
    echo rill >"$root/etc/hostname"
    printf '%s\n' "127.0.0.1	localhost" "127.0.1.1	rill" "::1	localhost ip6-localhost ip6-loopback" \
        "ff02::1	ip6-allnodes" "ff02::2	ip6-allrouters" >"$root/etc/hosts"
    cat >"$root/etc/fstab" <<'FSTAB'
# /etc/fstab (rill SD image). noatime spares the card.
LABEL=rill-root  /              ext4  noatime,errors=remount-ro  0 1
LABEL=RILLBOOT   /boot/firmware vfat  noatime,fmask=0022,dmask=0022  0 2
# A USB disk labelled RILL-DATA is mounted on /var/lib/rill by rill-data.service.
FSTAB
    install -d "$root/usr/lib/rill-image" \
        "$root/etc/systemd/journald.conf.d" "$root/etc/systemd/resolved.conf.d" \
        "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
    install -m 0755 "$sd/setup" "$sd/growroot" "$sd/data-disk" "$root/usr/lib/rill-image/"
    install -m 0644 "$sd/rill-setup.service" "$sd/rill-growroot.service" "$sd/rill-data.service" \
        "$root/etc/systemd/system/"
    install -m 0644 "$sd/journald.conf" "$root/etc/systemd/journald.conf.d/rill-image.conf"
    install -m 0644 "$sd/resolved.conf" "$root/etc/systemd/resolved.conf.d/rill-image.conf"
    install -m 0644 "$sd/wait-online.conf" "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/rill-image.conf"
    install -m 0644 "$sd/wired.network" "$root/etc/systemd/network/20-wired.network"
    install -m 0644 "$sd/wlan.network" "$root/etc/systemd/network/30-wlan.network"
    install -m 0644 "$sd/avahi-rill.service" "$root/etc/avahi/services/rill.service"
    systemctl --root="$root" enable rill.service rill-setup.service rill-growroot.service rill-data.service \
        systemd-networkd.service systemd-resolved.service systemd-timesyncd.service avahi-daemon.service
    # SSH only when rill.toml says so (rill-setup makes the host keys then).
    systemctl --root="$root" disable ssh.service
    # The kernel command line for the Pi (raspi-firmware writes cmdline.txt
    # from these on every kernel or initramfs update).
    sed -i 's|^#\?ROOTPART=.*|ROOTPART=LABEL=rill-root|' "$root/etc/default/raspi-firmware"
    echo "net.ifnames=0" >"$root/etc/default/raspi-extra-cmdline"
    sed -i 's|root=[^ ]*|root=LABEL=rill-root|' "$root/boot/firmware/cmdline.txt"
    grep -q 'net.ifnames=0' "$root/boot/firmware/cmdline.txt" \
        || sed -i 's|$| net.ifnames=0|' "$root/boot/firmware/cmdline.txt"
    # The boot partition's settings file: box settings, then the package's
    # rill.toml.
    cat "$sd/box.toml" "$repo/image/rill.toml" >"$root/boot/firmware/rill.toml"
    # Per-board identity is made on the first boot: machine id (systemd),
    # SSH host keys (rill-setup).
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
    # apt's lists are a download away; logs of the build are not the box's.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/tmp/* "$root"/var/tmp/*
    find "$root/var/log" -type f -delete
}

build_sd() {
    local version deb base root boot bootimg rootimg img root_mib total step start=$SECONDS
    need mkfs.vfat dosfstools
    need mcopy mtools
    need sfdisk fdisk
    need mkfs.ext4 e2fsprogs
    need xz xz-utils
    version=$(crate_version)
    step=$SECONDS
    build_deb arm64
    deb=$out/rill_${version}_arm64.deb
    echo "== sd: arm64 .deb ready, $(took "$step")"
    step=$SECONDS
    base=$(sd_root)
    echo "== sd: Debian root $base ready, $(took "$step")"

    step=$SECONDS
    root=$work/sd-root
    boot=$work/sd-boot
    if [ -e "$root" ]; then
        sd_no_mounts "$root"
        rm -rf "$root"
    fi
    rm -rf "$boot"
    cp -a "$base" "$root"
    cp "$deb" "$root/tmp/rill.deb"
    sd_chroot "$root" dpkg -i /tmp/rill.deb
    sd_configure "$root"
    # The boot partition's files leave the root; /boot/firmware stays as
    # its mount point.
    mkdir "$boot"
    mv "$root"/boot/firmware/* "$boot/"
    echo "== sd: root configured, rill installed, $(took "$step")"

    step=$SECONDS
    bootimg=$work/sd-boot.img
    rootimg=$work/sd-root.img
    img=$work/$SD_IMG
    rm -f "$bootimg" "$rootimg" "$img"
    mkfs.vfat -F 32 -n RILLBOOT -C "$bootimg" $((SD_BOOT_MIB * 1024)) >/dev/null
    mcopy -s -p -i "$bootimg" "$boot"/* ::/
    root_mib=$(($(du -sm "$root" | cut -f1) * 11 / 10 + SD_ROOT_SPARE_MIB))
    mkfs.ext4 -q -F -L rill-root -m 1 -d "$root" "$rootimg" "${root_mib}M"
    local boot_sectors=$((SD_BOOT_MIB * 2048)) root_start root_sectors=$((root_mib * 2048))
    root_start=$((SD_BOOT_START + boot_sectors))
    total=$((root_start + root_sectors))
    truncate -s $((total * 512)) "$img"
    sfdisk -q "$img" <<SFDISK
label: dos
unit: sectors

start=$SD_BOOT_START, size=$boot_sectors, type=c, bootable
start=$root_start, size=$root_sectors, type=83
SFDISK
    dd if="$bootimg" of="$img" bs=512 seek="$SD_BOOT_START" conv=notrunc,sparse status=none
    dd if="$rootimg" of="$img" bs=512 seek="$root_start" conv=notrunc,sparse status=none
    rm -f "$bootimg" "$rootimg"
    echo "== sd: $img: $((total / 2048)) MiB (boot $SD_BOOT_MIB MiB FAT32, root $root_mib MiB ext4), $(took "$step")"

    step=$SECONDS
    xz -T2 -${RILL_SD_XZ_LEVEL:-6} -c "$img" >"$out/$SD_IMG.xz.tmp"
    mv "$out/$SD_IMG.xz.tmp" "$out/$SD_IMG.xz"
    echo "== sd: $out/$SD_IMG.xz: $(du -m "$out/$SD_IMG.xz" | cut -f1) MB, $(took "$step")"
    echo "== sd: image built in $(took "$start")"
}

# The start and size (sectors) of partition $2 of image $1, from sfdisk -J.
sd_part() {
    sfdisk -J "$1" | python3 -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][int(sys.argv[1]) - 1]
print(p["start"], p["size"])' "$2"
}

# Fail unless `debugfs -R "cat $2"` of the ext4 image $1 has a line
# matching the extended regex $3.
sd_root_has() {
    debugfs -R "cat $2" "$1" 2>/dev/null | grep -Eq "$3" || die "$2 in the root has no line matching '$3'"
    echo "ok: $2 matches '$3'"
}

check_sd() {
    local xzimg=$out/$SD_IMG.xz img=$work/sd-check.img table start size rootimg bootimg f start_t=$SECONDS
    need sfdisk fdisk
    need mdir mtools
    need debugfs e2fsprogs
    [ -f "$xzimg" ] || die "no $xzimg: run image/build.sh sd first"
    xz -dc "$xzimg" >"$img"
    echo "== sfdisk -J $SD_IMG"
    table=$(sfdisk -J "$img")
    echo "$table"
    echo "$table" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
ps = t["partitions"]
assert t["label"] == "dos", "not an MBR table: %s" % t["label"]
assert len(ps) == 2, "%d partitions, expected 2" % len(ps)
assert ps[0]["type"] == "c" and ps[0].get("bootable"), "partition 1 is not a bootable FAT32 LBA one: %s" % ps[0]
assert ps[1]["type"] == "83", "partition 2 is not Linux: %s" % ps[1]
assert ps[0]["start"] % 8192 == 0 and ps[1]["start"] % 8192 == 0, "partitions not 4 MiB aligned"
print("ok: MBR, FAT32 boot partition (bootable) + Linux root, 4 MiB aligned")'

    read -r start size < <(sd_part "$img" 1)
    bootimg="$img@@$((start * 512))"
    echo "== mdir of the boot partition"
    mdir -i "$bootimg" ::/ | tee "$work/sd-check-mdir.txt"
    mdir -i "$bootimg" -b ::/ >"$work/sd-check-files.txt"
    # The Pi firmware (bootcode.bin for the Pi 3 and Zero 2 W; start4/fixup4
    # for the Pi 4 and CM4), the kernel and initramfs, the device trees of
    # the 64-bit boards, and the files raspi-firmware and we write.
    for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat config.txt cmdline.txt rill.toml \
        bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb bcm2837-rpi-zero-2-w.dtb \
        bcm2711-rpi-cm4-io.dtb; do
        grep -q "^::/$f\$" "$work/sd-check-files.txt" || die "boot partition has no $f"
    done
    grep -q '^::/vmlinuz-' "$work/sd-check-files.txt" || die "boot partition has no kernel (vmlinuz-*)"
    grep -q '^::/initrd.img-' "$work/sd-check-files.txt" || die "boot partition has no initramfs (initrd.img-*)"
    mtype -i "$bootimg" ::/cmdline.txt >"$work/sd-check-cmdline.txt"
    echo "cmdline.txt: $(tr -s ' \n' ' ' <"$work/sd-check-cmdline.txt")"
    grep -q 'root=LABEL=rill-root' "$work/sd-check-cmdline.txt" || die "cmdline.txt does not boot root=LABEL=rill-root"
    mtype -i "$bootimg" ::/rill.toml | grep -q '^#wifi_ssid' || die "rill.toml on the boot partition has no Wi-Fi settings"
    echo "ok: firmware, kernel, initramfs, device trees, config.txt, cmdline.txt, rill.toml"

    read -r start size < <(sd_part "$img" 2)
    rootimg=$work/sd-check-root.img
    dd if="$img" of="$rootimg" bs=512 skip="$start" count="$size" conv=sparse status=none
    echo "== debugfs of the root partition"
    debugfs -R "stat /usr/bin/rill" "$rootimg" 2>/dev/null | head -n 3
    debugfs -R "dump -p /usr/bin/rill $work/sd-check-rill" "$rootimg" 2>/dev/null
    cmp "$work/sd-check-rill" "$(binary_path arm64)" || die "/usr/bin/rill in the image is not the arm64 release binary"
    echo "ok: /usr/bin/rill is the arm64 release binary ($(qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/sd-check-rill" --version))"
    for f in /lib/systemd/system/rill.service /etc/systemd/system/multi-user.target.wants/rill.service \
        /etc/systemd/system/multi-user.target.wants/rill-setup.service \
        /etc/systemd/system/multi-user.target.wants/rill-growroot.service \
        /etc/systemd/system/multi-user.target.wants/avahi-daemon.service \
        /etc/systemd/system/multi-user.target.wants/systemd-networkd.service \
        /usr/lib/rill-image/setup /usr/lib/rill-image/growroot /etc/rill/rill.toml \
        /usr/bin/ffmpeg /usr/sbin/avahi-daemon /usr/sbin/sshd /usr/bin/growpart; do
        debugfs -R "stat $f" "$rootimg" 2>/dev/null | grep -q '^Inode:' || die "root has no $f"
        echo "ok: $f"
    done
    if debugfs -R "stat /etc/systemd/system/multi-user.target.wants/ssh.service" "$rootimg" 2>/dev/null | grep -q '^Inode:'; then
        die "ssh.service is enabled in the image (it must be off until rill.toml says ssh = true)"
    fi
    echo "ok: ssh.service not enabled"
    sd_root_has "$rootimg" /etc/hostname '^rill$'
    sd_root_has "$rootimg" /etc/fstab '^LABEL=rill-root +/ +ext4 +noatime'
    debugfs -R "stat /etc/systemd/system/multi-user.target.wants/rill-data.service" "$rootimg" 2>/dev/null \
        | grep -q '^Inode:' || die "rill-data.service is not enabled"
    echo "ok: rill-data.service enabled (USB disk RILL-DATA on /var/lib/rill)"
    sd_root_has "$rootimg" /etc/systemd/journald.conf.d/rill-image.conf '^Storage=volatile$'
    sd_root_has "$rootimg" /etc/passwd '^rill:'
    [ -z "$(debugfs -R "cat /etc/machine-id" "$rootimg" 2>/dev/null)" ] || die "/etc/machine-id is not empty"
    echo "ok: /etc/machine-id empty (made on first boot)"
    rm -f "$img" "$rootimg" "$work/sd-check-rill" "$work/sd-check-cmdline.txt"
    echo "== sd-check passed, $(took "$start_t")"
}

# The SD image's inputs in image/ and the crate version, hashed: what
# image/sd.stamp holds once the image was built and boot-tested with them
# (CI builds and boots the image only when this differs from the stamp).
sd_stamp() {
    (
        cd "$repo"
        echo "version $(crate_version)"
        find image/build.sh image/deb.sh image/sd.sh image/boot-test.sh image/rill.service \
            image/rill.toml image/deb image/sd -type f | LC_ALL=C sort | xargs sha256sum
    ) | sha256sum | cut -d' ' -f1
}
