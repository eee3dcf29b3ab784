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
binary="target/$target/release/workflow-share"
if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "hack/image.sh: $binary is not static" >&2
  exit 1
fi

out=target/image
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/layout/blobs/sha256"
cp "$binary" "$work/rootfs/workflow-share"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/rootfs/etc/group"
chmod 0755 "$work/rootfs" "$work/rootfs/etc" "$work/rootfs/workflow-share"
chmod 0644 "$work/rootfs/etc/passwd" "$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"

# A reproducible tar: sorted, epoch times, root-owned, no user or host names.
det_tar() { # dir output
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$1" -cf "$2" .
}
blob() { # file media-type -> writes the blob, prints its descriptor JSON
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  cp "$1" "$work/layout/blobs/sha256/$digest"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$digest" "$size"
}

det_tar "$work/rootfs" "$work/layer.tar"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
layer=$(blob "$work/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)

printf '{"architecture":"amd64","os":"linux","config":{"User":"65532:65532","Entrypoint":["/workflow-share"],"Cmd":["controller"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"workflow-share","org.opencontainers.image.version":"%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"hack/image.sh"}]}' \
  "$version" "$diff_id" >"$work/config.json"
config=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
  "$config" "$layer" >"$work/manifest.json"
manifest=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)

# containerd's import names the image after io.containerd.image.name; skopeo and crane
# read org.opencontainers.image.ref.name.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
  "${manifest%\}},\"annotations\":{\"io.containerd.image.name\":\"$image\",\"org.opencontainers.image.ref.name\":\"${image##*:}\"}}" \
  >"$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
chmod -R u=rwX,go=rX "$work/layout"
det_tar "$work/layout" "$out/workflow-share.oci.tar"

size=$(stat -c %s "$out/workflow-share.oci.tar")
echo "$out/workflow-share.oci.tar  $image  $(sha256sum "$out/workflow-share.oci.tar" | cut -d' ' -f1 | cut -c1-12)  $((size / 1024)) KiB ($(stat -c %s "$work/layer.tar.gz") bytes compressed layer)"
