#!/usr/bin/env bash
# Builds the controller's OCI image archive: target/image/workflow-share.oci.tar.
#
# No base image and no registry: one layer holding the static binary as /workflow-share,
# an /etc/passwd and /etc/group naming the non-root user 65532, and an empty /tmp. The
# layout is written by hand with fixed times, owners and order, so two builds of the same
# commit are byte-identical. The name and tag are the chart's defaults; the tag is
# Cargo.toml's version. Prints the archive's path, digest and size.
#
#   hack/image.sh            build
#   IMAGE=<name:tag> hack/image.sh   another name (the annotation importers read)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
image=${IMAGE:-ghcr.io/workflow-share/workflow-share:$version}
target=x86_64-unknown-linux-gnu

# Static (static-pie with glibc's static libc; TLS is rustls + ring, no OpenSSL). Paths
# of this checkout and of the cargo home are remapped so they do not end up in the binary.
RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$root=/src --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
  cargo build --quiet --release --locked --target "$target" --bin workflow-share >&2
binary="${CARGO_TARGET_DIR:-target}/$target/release/workflow-share"
if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "hack/image.sh: $binary is not static" >&2
  exit 1
fi

out=target/image
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$binary" "$work/rootfs/workflow-share"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/rootfs/etc/group"
chmod 0755 "$work/rootfs" "$work/rootfs/etc" "$work/rootfs/workflow-share"
chmod 0644 "$work/rootfs/etc/passwd" "$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"

. "$root/hack/lib/oci.sh"
read -r digest layer_size < <(oci_archive "$work/rootfs" "$image" 65532:65532 '["/workflow-share"]' '["controller"]' "$out/workflow-share.oci.tar")
size=$(stat -c %s "$out/workflow-share.oci.tar")
echo "$out/workflow-share.oci.tar  $image  $digest  $((size / 1024)) KiB ($layer_size bytes compressed layer)"
