#!/usr/bin/env bash
# cross/build.sh: build and test rill for 64-bit and 32-bit ARM without docker.
#
# Why this script and not `cross`: `cross` needs a container engine (CI has
# none) and tries to update the Rust toolchain. Debian already ships all the
# pieces: cross linkers, cross C headers (for `ring`), qemu-user, and the
# target standard libraries of its own rustc (`libstd-rust-web-dev`). This
# script puts those standard libraries into a private sysroot and drives
# Debian's rustc with it. See docs in cross/README.md.
#
# usage: cross/build.sh sysroot   set up the private sysroot only
#        cross/build.sh test      cargo test --lib for each target, under qemu
#        cross/build.sh release   cargo build --release for each target; sizes
#
# Needs (Debian bookworm): rustc-web cargo-web libstd-rust-web-dev
#   gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
#   libc6-dev-armhf-cross qemu-user. The first run needs root (dpkg
#   --add-architecture, apt-get update) and the network; later runs reuse
#   the sysroot and need neither.
#
# Environment:
#   RILL_CROSS_TARGETS  space-separated targets (default: both below)
#   RILL_CROSS_DIR      cache + target dir (default: <repo>/target/cross)
#   RILL_CROSS_RUSTFLAGS  extra rustc flags for the targets, e.g.
#                       "-C target-feature=+crt-static" for a static binary
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cross_dir=${RILL_CROSS_DIR:-$repo/target/cross}
targets=${RILL_CROSS_TARGETS:-"aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"}

# Debian's rustc: the rustup toolchain cannot load Debian's target std.
DEB_RUSTC=/usr/bin/rustc
DEB_CARGO=/usr/bin/cargo

die() { echo "cross/build.sh: $*" >&2; exit 1; }

# Per target: sets arch (Debian architecture), gnu (GNU triplet: linker
# prefix, libc dir for qemu) and qemu (the user-mode emulator).
target_info() {
    case "$1" in
        aarch64-unknown-linux-gnu) arch=arm64 gnu=aarch64-linux-gnu qemu=qemu-aarch64 ;;
        armv7-unknown-linux-gnueabihf) arch=armhf gnu=arm-linux-gnueabihf qemu=qemu-arm ;;
        *) die "unsupported target '$1' (known: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)" ;;
    esac
}

check_tools() {
    local t arch gnu qemu
    [ -x "$DEB_RUSTC" ] || die "$DEB_RUSTC missing: apt-get install rustc-web cargo-web libstd-rust-web-dev"
    [ -x "$DEB_CARGO" ] || die "$DEB_CARGO missing: apt-get install cargo-web"
    for t in $targets; do
        target_info "$t"
        command -v "$gnu-gcc" >/dev/null || die "$gnu-gcc missing: apt-get install gcc-$gnu (and libc6-dev-$arch-cross)"
        command -v "$qemu" >/dev/null || die "$qemu missing: apt-get install qemu-user"
    done
}

# The version of Debian's host rustc; the target std must match it exactly.
rustc_version() {
    dpkg-query -W -f='${Version}' rustc-web 2>/dev/null \
        || die "rustc-web is not installed (apt-get install rustc-web cargo-web libstd-rust-web-dev)"
}

# Download libstd-rust-web-dev:$2=$1 into directory $3 with apt, which
# verifies it against the signed index. The foreign architecture is added
# only for this and removed again afterwards: a half-synced foreign index
# otherwise breaks later `apt-get update`s, and installing the package as a
# foreign-arch package fails on dependency versions.
apt_download() {
    local version=$1 arch=$2 dir=$3 added=0 status=0
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        dpkg --add-architecture "$arch"
        added=1
    fi
    # apt-get update may exit 0 although an index failed: the download
    # below is what tells whether the package is known.
    apt-get update -qq || status=$?
    if [ $status -eq 0 ]; then
        (cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "libstd-rust-web-dev:$arch=$version") || status=$?
    fi
    if [ $added -eq 1 ]; then
        dpkg --remove-architecture "$arch"
        apt-get update -qq || echo "cross/build.sh: warning: apt-get update after removing $arch failed" >&2
    fi
    return $status
}

# Fallback when apt cannot verify the index: fetch the .deb pinned in
# cross/std-sha256.txt and accept it only if its SHA-256 matches.
pinned_download() {
    local version=$1 arch=$2 dir=$3 pin_arch pin_version sha pool base url
    # The repository apt itself is configured with for the security suite:
    # no mirror is named here.
    base=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk '$2 ~ /-security$/ {print $1; exit}')
    [ -n "$base" ] || { echo "cross/build.sh: apt has no security repository configured" >&2; return 1; }
    while read -r pin_arch pin_version sha pool; do
        [ "$pin_arch" = "$arch" ] && [ "$pin_version" = "$version" ] || continue
        url="${base%/}/$pool"
        echo "== apt could not verify the $arch index; fetching the pinned $url"
        curl -fsS --retry 3 -o "$dir/std-$arch.deb" "$url" || return 1
        if echo "$sha  $dir/std-$arch.deb" | sha256sum -c --quiet -; then
            return 0
        fi
        echo "cross/build.sh: SHA-256 mismatch for $url" >&2
        rm -f "$dir/std-$arch.deb"
        return 1
    done < <(grep -v '^#' "$repo/cross/std-sha256.txt")
    echo "cross/build.sh: no pinned hash for libstd-rust-web-dev:$arch=$version in cross/std-sha256.txt" >&2
    return 1
}

# Set up <cross_dir>/sysroot-<V>/usr/lib/rustlib/<target>/lib once per target.
ensure_sysroot() {
    local version=$1 sysroot=$2 t arch gnu qemu dl
    for t in $targets; do
        [ -d "$sysroot/usr/lib/rustlib/$t/lib" ] && continue
        target_info "$t"
        [ "$(id -u)" -eq 0 ] || die "the $t sysroot is missing; the first run needs root (dpkg --add-architecture, apt-get update)"
        echo "== setting up the $t std of rustc $version in $sysroot"
        dl=$(mktemp -d "$cross_dir/download.XXXXXX")
        # apt runs downloads as user _apt, which needs to write there.
        chmod 755 "$dl"
        if ! apt_download "$version" "$arch" "$dl" && ! pinned_download "$version" "$arch" "$dl"; then
            rm -rf "$dl"
            die "could not get libstd-rust-web-dev:$arch=$version"
        fi
        mkdir -p "$sysroot"
        local deb
        for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
        rm -rf "$dl"
        [ -d "$sysroot/usr/lib/rustlib/$t/lib" ] || die "$t std not found in libstd-rust-web-dev:$arch=$version"
    done
}

# Export cargo's per-target settings for target $1 with sysroot $2.
export_target_env() {
    local t=$1 sysroot=$2 arch gnu qemu up lo
    target_info "$t"
    up=$(echo "$t" | tr 'a-z-' 'A-Z_')
    lo=$(echo "$t" | tr '-' '_')
    export "CARGO_TARGET_${up}_LINKER=$gnu-gcc"
    export "CARGO_TARGET_${up}_RUSTFLAGS=--sysroot=$sysroot/usr ${RILL_CROSS_RUSTFLAGS:-}"
    export "CARGO_TARGET_${up}_RUNNER=$qemu -L /usr/$gnu"
    export "CC_${lo}=$gnu-gcc"
    export "AR_${lo}=$gnu-ar"
}

main() {
    local cmd=${1:-}
    case "$cmd" in
        sysroot | test | release) ;;
        *) echo "usage: cross/build.sh sysroot|test|release" >&2; exit 2 ;;
    esac
    check_tools
    mkdir -p "$cross_dir"
    local version sysroot
    version=$(rustc_version)
    sysroot="$cross_dir/sysroot-$version"
    (
        # One setup at a time: dpkg architectures are machine-wide state.
        flock 9
        ensure_sysroot "$version" "$sysroot"
    ) 9>"$cross_dir/.lock"

    export RUSTC=$DEB_RUSTC
    export CARGO_TARGET_DIR=$cross_dir/target
    local t arch gnu qemu start bin
    for t in $targets; do
        export_target_env "$t" "$sysroot"
    done
    cd "$repo"
    echo "== $($DEB_RUSTC --version), sysroot $sysroot"
    for t in $targets; do
        target_info "$t"
        start=$SECONDS
        case "$cmd" in
            sysroot) ;;
            test)
                echo "== cargo test --lib --target $t (under $qemu)"
                "$DEB_CARGO" test --locked --lib --target "$t"
                ;;
            release)
                echo "== cargo build --release --target $t"
                "$DEB_CARGO" build --locked --release --target "$t"
                bin="$CARGO_TARGET_DIR/$t/release/rill"
                ls -l "$bin"
                file -b "$bin" 2>/dev/null || true
                echo "smoke test: $($qemu -L "/usr/$gnu" "$bin" --version)"
                ;;
        esac
        [ "$cmd" = sysroot ] || echo "== $t: $cmd took $((SECONDS - start)) s"
    done
}

main "$@"
