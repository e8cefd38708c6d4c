#!/usr/bin/env bash
# Build the driver's image offline with podman from a staged root file system (no base image, no network):
#   tools/image-build.sh DRIVER_BINARY ROOTFS_DIR TAG MAX_MB [https]
# Prints the staged size and the image's size as podman reports it; fails when MAX_MB > 0 and the image is larger.
set -euo pipefail
driver=${1:?usage}; rootfs=${2:?usage}; tag=${3:?usage}; max_mb=${4:-0}; https=${5:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
staged=$("$here/image-rootfs.sh" "$driver" "$rootfs" $https)
echo "image: staged root file system: $staged bytes ($(find "$rootfs" -type f | wc -l) files) in $rootfs"
podman build --quiet --network=none --pull=never -f "$here/../deploy/Containerfile" -t "$tag" "$rootfs" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image: $tag: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
if [ "$max_mb" -gt 0 ] && [ "$size" -gt $((max_mb * 1000 * 1000)) ]; then
  echo "image: FAILED: $size bytes is more than $max_mb MB" >&2
  exit 1
fi
