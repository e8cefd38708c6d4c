#!/usr/bin/env bash
# Build one of evssnap's images offline with podman from a staged root file system (no base image, no network):
#   tools/image-build.sh ROLE BINARY ROOTFS_DIR TAG MAX_MB
# ROLE node or controller: the driver (deploy/Containerfile); ROLE scheduler: evssnap-scheduler
# (deploy/Containerfile.scheduler). tools/image-rootfs.sh says what each holds.
# Prints the staged size and the image's size as podman reports it; fails when MAX_MB > 0 and the image is larger.
set -euo pipefail
role=${1:?usage}; binary=${2:?usage}; rootfs=${3:?usage}; tag=${4:?usage}; max_mb=${5:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
containerfile="$here/../deploy/Containerfile"
[ "$role" = scheduler ] && containerfile="$here/../deploy/Containerfile.scheduler"
staged=$("$here/image-rootfs.sh" "$role" "$binary" "$rootfs")
echo "image: staged root file system: $staged bytes ($(find "$rootfs" -type f | wc -l) files) in $rootfs"
podman build --quiet --network=none --pull=never -f "$containerfile" -t "$tag" "$rootfs" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image: $tag: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
if [ "$max_mb" -gt 0 ] && [ "$size" -gt $((max_mb * 1000 * 1000)) ]; then
  echo "image: FAILED: $size bytes is more than $max_mb MB" >&2
  exit 1
fi
