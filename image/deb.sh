# image/deb.sh: the .deb packages (sourced by image/build.sh).
#
# build_debs [ARCH...]  rill_<version>_<arch>.deb with dpkg-deb, from the
#                       release binaries, for amd64, arm64 and armhf.
# check_debs            lintian, systemd-analyze verify/security, and an
#                       install/remove/purge test of the amd64 package in a
#                       scratch Debian root (mmdebstrap, no network for the
#                       test itself once the root exists).

# Depends: for the binary at $1: libc6 at least the newest GLIBC_ symbol
# version it needs, and libgcc-s1 if it links libgcc_s.
deb_depends() {
    local bin=$1 glibc deps
    glibc=$(readelf -V --wide "$bin" | grep -o 'GLIBC_2\.[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
    [ -n "$glibc" ] || die "$bin needs no GLIBC_ symbol version: is it a glibc binary?"
    deps="libc6 (>= $glibc)"
    if readelf -d "$bin" | grep -q 'NEEDED.*\[libgcc_s\.so\.1\]'; then
        deps="$deps, libgcc-s1"
    fi
    echo "$deps"
}

# Check that the binary at $1 is an ELF for Debian architecture $2.
check_elf_arch() {
    local machine
    machine=$(readelf -h "$1" | sed -n 's/^ *Machine: *//p')
    case "$2:$machine" in
        amd64:*X86-64*) ;;
        arm64:*AArch64*) ;;
        armhf:ARM) ;;
        *) die "$1 is a '$machine' binary, not $2" ;;
    esac
}

# The package changelog (Debian format, newest first), dated by the last
# commit so the same tree gives the same package.
deb_changelog() {
    local version=$1 when
    when=$(git -C "$repo" log -1 --format=%cD 2>/dev/null || date -R)
    cat <<CHANGELOG
rill ($version) unstable; urgency=medium

  * Packaged from the rill source tree ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)):
    hardened systemd unit, rill system user, data in /var/lib/rill.

 -- rill maintainers <maintainers@users.noreply.b-seed-932c530e.example>  $when
CHANGELOG
}

# Build target/image/rill_<version>_<arch>.deb for one architecture.
build_deb() {
    local arch=$1 version bin root docs size start=$SECONDS
    version=$(crate_version)
    ensure_binary "$arch"
    bin=$(binary_path "$arch")
    check_elf_arch "$bin" "$arch"
    root=$work/deb-$arch
    rm -rf "$root"
    docs=$root/usr/share/doc/rill
    install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
        "$root/etc/rill" "$docs" "$root/usr/share/man/man1"
    install -m 0755 "$bin" "$root/usr/bin/rill"
    install -m 0644 "$repo/image/rill.service" "$root/lib/systemd/system/rill.service"
    install -m 0644 "$repo/image/rill.toml" "$root/etc/rill/rill.toml"
    install -m 0644 "$repo/image/deb/copyright" "$docs/copyright"
    install -m 0644 "$repo/docs/config.md" "$docs/config.md"
    install -m 0644 "$repo/README.md" "$docs/README.md"
    gzip -9n <"$repo/image/deb/rill.1" >"$root/usr/share/man/man1/rill.1.gz"
    chmod 0644 "$root/usr/share/man/man1/rill.1.gz"
    deb_changelog "$version" | gzip -9n >"$docs/changelog.gz"
    chmod 0644 "$docs/changelog.gz"
    for f in postinst prerm postrm; do
        install -m 0755 "$repo/image/deb/$f" "$root/DEBIAN/$f"
    done
    echo /etc/rill/rill.toml >"$root/DEBIAN/conffiles"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' \
        | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
        -e "s/@DEPENDS@/$(deb_depends "$bin")/" \
        "$repo/image/deb/control.in" >"$root/DEBIAN/control"
    SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s) \
        dpkg-deb --root-owner-group -Zxz --build "$root" "$out/rill_${version}_${arch}.deb" >/dev/null
    echo "== $out/rill_${version}_${arch}.deb ($(stat -c %s "$out/rill_${version}_${arch}.deb") bytes, $(took $start))"
}

build_debs() {
    need dpkg-deb dpkg
    need readelf binutils
    local arches=("$@")
    [ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64 armhf)
    for a in "${arches[@]}"; do
        build_deb "$a"
    done
}

# A minimal Debian root with what the package's scripts use (adduser,
# init-system-helpers) and systemd (whose units systemd-analyze verify
# needs), made once and reused.
scratch_root() {
    local root=$work/deb-test-root
    if [ ! -d "$root" ]; then
        need mmdebstrap mmdebstrap
        echo "== making a scratch bookworm root for the install test" >&2
        mmdebstrap --variant=apt --include=adduser,init-system-helpers,systemd \
            bookworm "$root.tmp" "$(debian_mirror)" >/dev/null 2>&1 \
            || die "mmdebstrap failed (network?); run it by hand to see why"
        mv "$root.tmp" "$root"
    fi
    echo "$root"
}

check_debs() {
    local version deb arch pristine root start=$SECONDS
    need lintian lintian
    need systemd-analyze systemd
    version=$(crate_version)
    for arch in amd64 arm64 armhf; do
        deb=$out/rill_${version}_${arch}.deb
        [ -f "$deb" ] || { echo "== (no $deb: skipped)"; continue; }
        echo "== lintian $deb"
        # Errors fail the check; warnings are shown.
        lintian --fail-on error --tag-display-limit 0 "$deb"
    done

    deb=$out/rill_${version}_amd64.deb
    [ -f "$deb" ] || die "no $deb: run image/build.sh deb amd64 first"
    pristine=$(scratch_root)
    root=$work/deb-install-root
    rm -rf "$root"
    cp -a "$pristine" "$root"
    cp "$deb" "$root/tmp/rill.deb"
    echo "== dpkg -i in a scratch root (chroot $root)"
    chroot "$root" dpkg -i /tmp/rill.deb
    chroot "$root" rill --version
    echo "== systemd-analyze verify (the installed unit, in the scratch root)"
    systemd-analyze verify --root="$root" /lib/systemd/system/rill.service
    echo "== systemd-analyze security --offline=true"
    systemd-analyze security --offline=true --root="$root" --threshold=30 \
        /lib/systemd/system/rill.service | tail -n1
    chroot "$root" getent passwd rill >/dev/null || die "postinst made no rill user"
    [ "$(chroot "$root" stat -c %U /var/lib/rill)" = rill ] || die "/var/lib/rill is not owned by rill"
    [ -L "$root/etc/systemd/system/multi-user.target.wants/rill.service" ] \
        || die "rill.service was not enabled"
    # The packaged config works: serve as rill in the root until it prints
    # its ready line, in a network namespace of its own (the config turns
    # DLNA on, which would announce itself on the LAN). A datagram socket
    # stands in for systemd's $NOTIFY_SOCKET: rill must send READY=1 to it.
    need python3 python3
    mkdir -p "$root/run/rill-notify"
    rm -f "$work/deb-notify.out"
    python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.settimeout(30)
open(sys.argv[2], "w").write(s.recv(4096).decode())' \
        "$root/run/rill-notify/sock" "$work/deb-notify.out" &
    local npid=$! pid i
    for i in $(seq 1 50); do [ -S "$root/run/rill-notify/sock" ] && break; sleep 0.1; done
    unshare --net sh -c 'ip link set lo up && exec chroot "$1" env NOTIFY_SOCKET=/run/rill-notify/sock \
        setpriv --reuid=rill --regid=rill --init-groups timeout 20 rill serve \
        --config /etc/rill/rill.toml --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0' \
        sh "$root" >"$work/deb-serve.out" 2>&1 &
    pid=$!
    for i in $(seq 1 100); do
        grep -q '^rill serve: http://' "$work/deb-serve.out" && break
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    grep '^rill serve: http://' "$work/deb-serve.out" \
        || { cat "$work/deb-serve.out"; die "rill serve with /etc/rill/rill.toml did not start"; }
    wait "$npid" || true
    grep -qx 'READY=1' "$work/deb-notify.out" 2>/dev/null \
        || die "rill serve sent no READY=1 to \$NOTIFY_SOCKET"
    echo "sd_notify: rill serve sent $(cat "$work/deb-notify.out") to \$NOTIFY_SOCKET"
    rm -rf "$root/run/rill-notify"
    echo "== dpkg -r, then dpkg -P"
    chroot "$root" dpkg -r rill
    [ -f "$root/etc/rill/rill.toml" ] || die "remove deleted the conffile"
    [ -d "$root/var/lib/rill" ] || die "remove deleted the data"
    [ ! -e "$root/usr/bin/rill" ] || die "remove left /usr/bin/rill"
    chroot "$root" dpkg -P rill
    [ ! -e "$root/etc/rill" ] || die "purge left /etc/rill"
    [ ! -e "$root/var/lib/rill" ] || die "purge left /var/lib/rill"
    [ ! -e "$root/etc/systemd/system/multi-user.target.wants/rill.service" ] \
        || die "purge left the unit enabled"
    chroot "$root" dpkg -s rill >/dev/null 2>&1 && die "dpkg still knows rill after purge"
    rm -rf "$root"
    echo "== deb checks passed ($(took $start))"
}
