# image/oci.sh: the multi-arch OCI image (sourced by image/build.sh).
#
# build_oci   target/image/rill-oci/ (an OCI image layout written by hand)
#             and target/image/rill-oci.tar (the same layout as one tar,
#             for `podman load` / `docker load`). One image index for
#             linux/amd64, linux/arm64 and linux/arm/v7; each image is two
#             layers: Debian bookworm's ffmpeg, ffprobe, curl and CA roots
#             with their libraries (unpacked by mmdebstrap --variant=extract:
#             no maintainer scripts run, so no emulator is needed for the
#             ARM ones), then rill, /etc/passwd with the rill user and /data.
# check_oci   skopeo lists the three platforms; the amd64 image is copied
#             out, unpacked with umoci, and its rill and ffmpeg run.

OCI_UID=10001
# RILL_OCI_ARCHES: a subset, for trying things out.
read -r -a OCI_ARCHES <<<"${RILL_OCI_ARCHES:-amd64 arm64 armhf}"

# OCI platform (architecture[/variant]) of Debian architecture $1.
oci_platform() {
    case "$1" in
        amd64) echo amd64 ;;
        arm64) echo arm64 ;;
        armhf) echo arm/v7 ;;
    esac
}

# The apt sources for bookworm with its security and point-release updates,
# as mmdebstrap arguments.
oci_sources() {
    local m=${RILL_IMAGE_MIRROR:-http://deb.debian.org/debian}
    local s=${RILL_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
    printf '%s\n' "deb $m bookworm main" "deb $m bookworm-updates main" "deb $s bookworm-security main"
}

# The Debian part of the image for architecture $1, made once per
# architecture into $work/oci-rootfs-$1 and reused (delete it to refresh).
oci_rootfs() {
    local arch=$1 dir start=$SECONDS
    dir=$work/oci-rootfs-$arch
    if [ ! -d "$dir" ]; then
        need mmdebstrap mmdebstrap
        echo "== mmdebstrap $arch: ffmpeg, curl, ca-certificates (extract only)" >&2
        rm -rf "$dir.tmp"
        local -a sources
        mapfile -t sources < <(oci_sources)
        mmdebstrap --variant=extract --architectures="$arch" \
            --include=ffmpeg,ca-certificates,curl bookworm "$dir.tmp" "${sources[@]}" >&2 \
            || die "mmdebstrap for $arch failed"
        # What a container never reads: docs (but the copyright files),
        # manuals, translations, apt's and dpkg's state.
        find "$dir.tmp/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
        rm -rf "$dir.tmp"/usr/share/{man,info,locale,lintian,bug} \
            "$dir.tmp"/var/lib/apt/lists/* "$dir.tmp"/var/cache/apt/* "$dir.tmp"/var/log/*
        # The links update-alternatives would make for BLAS/LAPACK (which
        # libavfilter needs), for the same reason.
        local lib
        for lib in "$dir.tmp"/usr/lib/*/blas/libblas.so.3 "$dir.tmp"/usr/lib/*/lapack/liblapack.so.3; do
            [ -e "$lib" ] || continue
            ln -sfn "$(basename "$(dirname "$lib")")/${lib##*/}" "$(dirname "$(dirname "$lib")")/${lib##*/}"
        done
        oci_prune_libraries "$dir.tmp"
        # update-ca-certificates would make the bundle; no scripts ran, so
        # make it here from the same certificates.
        mkdir -p "$dir.tmp/etc/ssl/certs"
        find "$dir.tmp/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z \
            | xargs -0 cat >"$dir.tmp/etc/ssl/certs/ca-certificates.crt"
        mv "$dir.tmp" "$dir"
        echo "== rootfs $arch: $(du -sh "$dir" | cut -f1) ($(took $start))" >&2
    fi
    echo "$dir"
}

# Delete the shared libraries in root $1 that no program in its bin
# directories needs (by DT_NEEDED, transitively): mostly Mesa's GL drivers
# and LLVM (about 170 MB), which libavdevice's SDL output pulls in and a
# headless box never loads. glibc's gconv modules (iconv, dlopened) stay.
oci_prune_libraries() {
    local root=$1 f name queue=() seen=" " count=0
    declare -A where=()
    while IFS= read -r -d '' f; do
        # Of two files with one name (alternatives), the shallower one.
        name=${f##*/}
        if [ -z "${where[$name]:-}" ] || [ ${#f} -lt ${#where[$name]} ]; then
            where[$name]=$f
        fi
    done < <(find "$root/usr/lib" "$root/lib" \( -type f -o -type l \) -name '*.so*' \
        ! -path '*/gconv/*' -print0 2>/dev/null)
    while IFS= read -r -d '' f; do
        queue+=("$f")
    done < <(find "$root/usr/bin" "$root/usr/sbin" "$root/bin" "$root/sbin" -type f -print0 2>/dev/null)
    while [ ${#queue[@]} -gt 0 ]; do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        for name in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            case "$seen" in *" $name "*) continue ;; esac
            seen="$seen$name "
            [ -n "${where[$name]:-}" ] && queue+=("$(readlink -f "${where[$name]}")")
        done
    done
    # Keep each needed name and the file it resolves to.
    declare -A keep=()
    for name in "${!where[@]}"; do
        case "$seen" in *" $name "*) ;; *) continue ;; esac
        keep[${where[$name]}]=1
        keep[$(readlink -f "${where[$name]}")]=1
    done
    for name in "${!where[@]}"; do
        f=${where[$name]}
        case "$name" in ld-linux*) continue ;; esac
        [ -n "${keep[$f]:-}" ] && continue
        rm -f "$f"
        count=$((count + 1))
    done
    find "$root/usr/lib" -xtype l -delete 2>/dev/null || true
    find "$root/usr/lib" -depth -type d -empty -delete 2>/dev/null || true
    echo "== pruned $count library files nothing links" >&2
}

# The rill layer's tree for architecture $1 in directory $2.
oci_rill_tree() {
    local arch=$1 dir=$2
    rm -rf "$dir"
    install -d -m 0755 "$dir/usr/bin" "$dir/etc/rill" "$dir/usr/share/doc/rill"
    install -d -m 0750 -o $OCI_UID -g $OCI_UID "$dir/data"
    install -m 0755 "$(binary_path "$arch")" "$dir/usr/bin/rill"
    install -m 0644 "$repo/image/deb/copyright" "$dir/usr/share/doc/rill/copyright"
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
        "rill:x:$OCI_UID:$OCI_UID:rill:/data:/usr/sbin/nologin" \
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$dir/etc/passwd"
    printf '%s\n' 'root:x:0:' "rill:x:$OCI_UID:" 'nogroup:x:65534:' >"$dir/etc/group"
    chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
}

# Store file $1 as a blob; prints "sha256:<hex> <size>".
oci_blob() {
    local hex size
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mkdir -p "$layout/blobs/sha256"
    if [ ! -f "$layout/blobs/sha256/$hex" ]; then
        cp "$1" "$layout/blobs/sha256/$hex"
    fi
    echo "sha256:$hex $size"
}

# A reproducible gzip'd tar of directory $1 as a blob, owners as on disk
# (numeric). Prints "<blob digest> <size> <diff_id>".
oci_layer() {
    local dir=$1 tmp diff
    tmp=$(mktemp "$work/oci-layer.XXXXXX")
    tar --sort=name --mtime="@$epoch" --numeric-owner \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -C "$dir" -cf "$tmp" .
    diff=sha256:$(sha256sum "$tmp" | cut -d' ' -f1)
    gzip -6n "$tmp"
    echo "$(oci_blob "$tmp.gz") $diff"
    rm -f "$tmp.gz"
}

# Write JSON text $1 to a blob; prints "<digest> <size>".
oci_json_blob() {
    local tmp
    tmp=$(mktemp "$work/oci-json.XXXXXX")
    printf '%s' "$1" >"$tmp"
    oci_blob "$tmp"
    rm -f "$tmp"
}

# Build the image for architecture $1; prints the index entry of its manifest.
oci_image() {
    local arch=$1 rootfs platform os_arch variant="" base rill config manifest version
    version=$(crate_version)
    ensure_binary "$arch" >&2
    rootfs=$(oci_rootfs "$arch")
    platform=$(oci_platform "$arch")
    os_arch=${platform%%/*}
    [ "$platform" != "$os_arch" ] && variant=${platform#*/}
    oci_rill_tree "$arch" "$work/oci-rill-$arch"
    read -r base_digest base_size base_diff < <(oci_layer "$rootfs")
    read -r rill_digest rill_size rill_diff < <(oci_layer "$work/oci-rill-$arch")
    local created v=""
    created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
    [ -n "$variant" ] && v=",\"variant\":\"$variant\""
    config=$(cat <<JSON
{"created":"$created","architecture":"$os_arch"$v,"os":"linux",
"config":{"User":"$OCI_UID:$OCI_UID",
"ExposedPorts":{"8080/tcp":{},"6881/tcp":{},"6881/udp":{}},
"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","RILL_LOG=info"],
"Entrypoint":["/usr/bin/rill"],"Cmd":["serve","--data","/data"],
"Volumes":{"/data":{}},"WorkingDir":"/data","StopSignal":"SIGTERM",
"Healthcheck":{"Test":["CMD","curl","-so","/dev/null","--max-time","5","http://127.0.0.1:8080/api/torrents"],
"Interval":30000000000,"Timeout":10000000000,"StartPeriod":20000000000,"Retries":3},
"Labels":{"org.opencontainers.image.title":"rill","org.opencontainers.image.version":"$version"}},
"rootfs":{"type":"layers","diff_ids":["$base_diff","$rill_diff"]},
"history":[{"created":"$created","created_by":"mmdebstrap --variant=extract --include=ffmpeg,ca-certificates,curl bookworm (image/oci.sh)"},
{"created":"$created","created_by":"rill $version, /etc/passwd, /data (image/oci.sh)"}]}
JSON
)
    read -r config_digest config_size < <(oci_json_blob "$config")
    manifest=$(cat <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$config_size},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$base_digest","size":$base_size},
{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$rill_digest","size":$rill_size}]}
JSON
)
    read -r manifest_digest manifest_size < <(oci_json_blob "$manifest")
    echo "== image linux/$platform: layers $base_size + $rill_size bytes (gzip)" >&2
    printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"%s}}' \
        "$manifest_digest" "$manifest_size" "$os_arch" "$v"
}

build_oci() {
    local start=$SECONDS entries="" e arch version index
    need gzip gzip
    version=$(crate_version)
    epoch=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
    layout=$out/rill-oci
    rm -rf "$layout" "$out/rill-oci.tar"
    mkdir -p "$layout/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    for arch in "${OCI_ARCHES[@]}"; do
        e=$(oci_image "$arch")
        entries=${entries:+$entries,}$e
    done
    index="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[$entries]}"
    read -r index_digest index_size < <(oci_json_blob "$index")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest","io.containerd.image.name":"localhost/rill:latest"}}]}' \
        "$index_digest" "$index_size" >"$layout/index.json"
    tar --sort=name --mtime="@$epoch" --numeric-owner --owner=0 --group=0 \
        -C "$layout" -cf "$out/rill-oci.tar" oci-layout index.json blobs
    echo "== $layout: $(du -sh "$layout" | cut -f1); rill-oci.tar $(stat -c %s "$out/rill-oci.tar") bytes ($(took $start))"
}

check_oci() {
    local start=$SECONDS layout=$out/rill-oci raw platforms one=$work/oci-check
    need skopeo skopeo
    need umoci umoci
    echo "== skopeo inspect --raw oci:$layout"
    raw=$(skopeo inspect --raw "oci:$layout")
    platforms=$(echo "$raw" | grep -o '"platform":{[^}]*}' | sort | tr '\n' ' ')
    echo "$platforms"
    local arch platform want
    for arch in "${OCI_ARCHES[@]}"; do
        platform=$(oci_platform "$arch")
        want="\"architecture\":\"${platform%%/*}\",\"os\":\"linux\""
        [ "$platform" != "${platform%%/*}" ] && want="$want,\"variant\":\"${platform#*/}\""
        echo "$platforms" | grep -qF "{$want}" || die "the index lacks linux/$platform"
        # skopeo resolves the platform to its manifest and config.
        local -a over=(--override-arch "${platform%%/*}")
        [ "$platform" != "${platform%%/*}" ] && over+=(--override-variant "${platform#*/}")
        skopeo inspect "${over[@]}" "oci:$layout" | grep -q "\"Architecture\": \"${platform%%/*}\"" \
            || die "skopeo cannot resolve linux/$platform"
    done
    echo "== amd64: skopeo copy to a single-arch layout, umoci unpack, run"
    rm -rf "$one" && mkdir -p "$one"
    skopeo copy -q --override-arch amd64 "oci:$layout:latest" "oci:$one/layout:amd64"
    umoci unpack --image "$one/layout:amd64" "$one/bundle" >/dev/null
    grep -q "\"uid\": $OCI_UID" "$one/bundle/config.json" || die "the image does not run as uid $OCI_UID"
    chroot --userspec=$OCI_UID:$OCI_UID "$one/bundle/rootfs" /usr/bin/rill --version
    chroot --userspec=$OCI_UID:$OCI_UID "$one/bundle/rootfs" /usr/bin/ffmpeg -hide_banner -version | head -n1
    chroot --userspec=$OCI_UID:$OCI_UID "$one/bundle/rootfs" /usr/bin/curl --version | head -n1
    [ "$(stat -c %u "$one/bundle/rootfs/data")" = $OCI_UID ] || die "/data is not owned by the rill user"
    # The image's command and healthcheck, as a runtime would run them, in
    # a network namespace of our own (rill serve listens on 0.0.0.0:8080).
    echo "== rill serve --data /data as uid $OCI_UID, then the healthcheck command"
    unshare --net sh -c '
        ip link set lo up
        chroot --userspec=$2:$2 "$1" /usr/bin/rill serve --data /data >"$3" 2>&1 &
        pid=$! ok=0
        for i in $(seq 1 100); do
            if chroot --userspec=$2:$2 "$1" curl -so /dev/null --max-time 5 http://127.0.0.1:8080/api/torrents; then
                ok=1; break
            fi
            sleep 0.2
        done
        kill -TERM $pid; wait $pid
        [ $ok = 1 ]' sh "$one/bundle/rootfs" $OCI_UID "$work/oci-serve.out" \
        || { cat "$work/oci-serve.out"; die "the image's rill serve did not pass its healthcheck"; }
    grep '^rill serve: http://' "$work/oci-serve.out"
    rm -rf "$one"
    # The ARM images: unpacked the same way, run under qemu-user.
    local q
    for arch in "${OCI_ARCHES[@]}"; do
        case "$arch" in arm64) q=qemu-aarch64 ;; armhf) q=qemu-arm ;; *) continue ;; esac
        command -v $q >/dev/null || { echo "== ($q missing: linux/$(oci_platform "$arch") not run)"; continue; }
        platform=$(oci_platform "$arch")
        local -a over=(--override-arch "${platform%%/*}")
        [ "$platform" != "${platform%%/*}" ] && over+=(--override-variant "${platform#*/}")
        echo "== linux/$platform: skopeo copy, umoci unpack, run under $q"
        rm -rf "$one" && mkdir -p "$one"
        skopeo copy -q "${over[@]}" "oci:$layout:latest" "oci:$one/layout:$arch"
        umoci unpack --image "$one/layout:$arch" "$one/bundle" >/dev/null
        $q -L "$one/bundle/rootfs" "$one/bundle/rootfs/usr/bin/rill" --version
        $q -L "$one/bundle/rootfs" "$one/bundle/rootfs/usr/bin/ffmpeg" -hide_banner -version | head -n1
        rm -rf "$one"
    done
    echo "== OCI checks passed ($(took $start))"
}
