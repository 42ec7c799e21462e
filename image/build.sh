#!/usr/bin/env bash
# image/build.sh: build what users install: .deb packages, a multi-arch OCI
# image, and the Raspberry Pi SD image. No docker daemon; Debian's tools
# only. Every step is described in image/README.md.
#
# usage: image/build.sh deb [amd64|arm64|armhf ...]   (default: all three)
#        image/build.sh deb-check                     lintian, systemd-analyze, install test
#        image/build.sh oci                           target/image/rill-oci/ and rill-oci.tar
#        image/build.sh oci-check                     skopeo/umoci checks, runs the amd64 binary
#        image/build.sh sd                            target/image/rill-rpi-arm64.img.xz
#        image/build.sh sd-check                      sfdisk, mdir, debugfs checks of the SD image
#        image/build.sh sd-stamp                      the hash image/sd.stamp records (SD inputs + version)
#        image/build.sh all                           all of the above
#
# Outputs go to target/image/. The release binaries are built with cargo
# (amd64) and cross/build.sh release (arm64, armhf) unless they exist and
# RILL_IMAGE_PREBUILT=1 is set; cargo itself rebuilds only what changed.
#
# Environment:
#   RILL_IMAGE_PREBUILT=1   use the existing release binaries as they are
#   RILL_IMAGE_WORK=DIR     scratch and cached Debian roots (default
#                           target/image-work, but /var/cache/rill-image-work
#                           for the SD image's root; CI keeps it outside the clone)
#   RILL_IMAGE_MIRROR       Debian mirror for rootfs builds (default: the
#                           first one apt is configured with)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/target/image
work=${RILL_IMAGE_WORK:-$repo/target/image-work}

die() { echo "image/build.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 missing: apt-get install $2"; }

# The version of the crate, from Cargo.toml's [package] section.
crate_version() {
    sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1
}

# Debian architecture -> Rust target ("" for the host build).
rust_target() {
    case "$1" in
        amd64) echo "" ;;
        arm64) echo aarch64-unknown-linux-gnu ;;
        armhf) echo armv7-unknown-linux-gnueabihf ;;
        *) die "unknown architecture '$1' (known: amd64 arm64 armhf)" ;;
    esac
}

# Path of the release binary for Debian architecture $1.
binary_path() {
    local t
    t=$(rust_target "$1")
    if [ -z "$t" ]; then
        echo "$repo/target/release/rill"
    else
        echo "$repo/target/cross/target/$t/release/rill"
    fi
}

# Make sure the release binary for $1 exists (and is current, unless
# RILL_IMAGE_PREBUILT=1).
ensure_binary() {
    local arch=$1 bin t
    bin=$(binary_path "$arch")
    if [ "${RILL_IMAGE_PREBUILT:-0}" = 1 ]; then
        [ -x "$bin" ] || die "RILL_IMAGE_PREBUILT=1 but $bin does not exist"
        return 0
    fi
    t=$(rust_target "$arch")
    if [ -z "$t" ]; then
        (cd "$repo" && cargo build --release --locked)
    else
        RILL_CROSS_TARGETS=$t "$repo/cross/build.sh" release
    fi
    [ -x "$bin" ] || die "no binary at $bin after the build"
}

# The Debian mirror apt uses here (for mmdebstrap/debootstrap).
debian_mirror() {
    if [ -n "${RILL_IMAGE_MIRROR:-}" ]; then
        echo "$RILL_IMAGE_MIRROR"
        return
    fi
    apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk '$2 !~ /-(security|updates)$/ {print $1; exit}'
}

# Seconds since $1 (an earlier $SECONDS).
took() { echo "$((SECONDS - $1)) s"; }

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    mkdir -p "$out" "$work"
    # shellcheck source=image/deb.sh
    . "$repo/image/deb.sh"
    # shellcheck source=image/oci.sh
    . "$repo/image/oci.sh"
    # shellcheck source=image/sd.sh
    . "$repo/image/sd.sh"
    case "$cmd" in
        deb) build_debs "$@" ;;
        deb-check) check_debs ;;
        oci) build_oci ;;
        oci-check) check_oci ;;
        sd) build_sd ;;
        sd-check) check_sd ;;
        sd-stamp) sd_stamp ;;
        all) build_debs && check_debs && build_oci && check_oci && build_sd && check_sd ;;
        *) echo "usage: image/build.sh deb [ARCH...] | deb-check | oci | oci-check | sd | sd-check | sd-stamp | all" >&2; exit 2 ;;
    esac
}

main "$@"
