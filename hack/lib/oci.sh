# Writes a reproducible OCI image archive from a root filesystem directory, with no
# base image and no registry: one layer (sorted, epoch times, root-owned, `gzip -n`),
# a config, a manifest and an index naming the image the way containerd's import
# (io.containerd.image.name) and skopeo/crane (org.opencontainers.image.ref.name) read it.
#
#   oci_archive ROOTFS IMAGE USER ENTRYPOINT_JSON CMD_JSON OUT
# Prints the archive's digest (12 hex) and the compressed layer's size in bytes.

oci_det_tar() { # dir output
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$1" -cf "$2" .
}

oci_archive() {
  local rootfs=$1 image=$2 user=$3 entrypoint=$4 cmd=$5 out=$6
  local work digest size diff_id layer config manifest
  work=$(mktemp -d)
  mkdir -p "$work/layout/blobs/sha256"
  oci_blob() { # file media-type -> descriptor JSON
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    cp "$1" "$work/layout/blobs/sha256/$digest"
    printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$digest" "$size"
  }
  oci_det_tar "$rootfs" "$work/layer.tar"
  diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
  layer=$(oci_blob "$work/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)
  printf '{"architecture":"amd64","os":"linux","config":{"User":"%s","Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"workflow-share hack/lib/oci.sh"}]}' \
    "$user" "$entrypoint" "$cmd" "$diff_id" >"$work/config.json"
  config=$(oci_blob "$work/config.json" application/vnd.oci.image.config.v1+json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "$config" "$layer" >"$work/manifest.json"
  manifest=$(oci_blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
    "${manifest%\}},\"annotations\":{\"io.containerd.image.name\":\"$image\",\"org.opencontainers.image.ref.name\":\"${image##*:}\"}}" \
    >"$work/layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  chmod -R u=rwX,go=rX "$work/layout"
  oci_det_tar "$work/layout" "$out"
  echo "$(sha256sum "$out" | cut -c1-12) $(stat -c %s "$work/layer.tar.gz")"
  rm -rf "$work"
}
