#!/usr/bin/env bash
# Stage the root file system of one of evssnap's images (FROM scratch, deploy/Containerfile*):
#   tools/image-rootfs.sh ROLE BINARY DEST
# ROLE node:       the driver (stripped) at /usr/local/bin/evs-csi-driver and the node tools NodeOps runs;
# ROLE controller: the same plus libcurl.so.4 with its closure and the CA bundle, which the driver dlopens for HTTPS
#                  (PVC annotations from the API server, --backend evs); the node image goes without;
# ROLE scheduler:  evssnap-scheduler at /usr/local/bin/evssnap-scheduler, and libcurl + CA bundle only when the
#                  binary names libcurl.so.4 (it would dlopen it); time zones come from the node (deploy/scheduler.yaml).
# Each gets exactly the shared libraries these need: the ldd closure of every executable, each at the path the loader
# looks for it (plus the loader itself). Nothing else from the host: no shell, no package manager. Prints DEST's size.
set -euo pipefail
role=${1:?usage: image-rootfs.sh node|controller|scheduler BINARY DEST}
binary=${2:?usage: image-rootfs.sh ROLE BINARY DEST}
dest=${3:?usage: image-rootfs.sh ROLE BINARY DEST}
case "$role" in
  node) https=""; name=evs-csi-driver ;;
  controller) https=https; name=evs-csi-driver ;;
  scheduler) name=evssnap-scheduler; https=""; grep -q 'libcurl\.so\.4' "$binary" && https=https ;;
  *) echo "image-rootfs: unknown role '$role' (node, controller or scheduler)" >&2; exit 64 ;;
esac

# What NodeOps runs (Sources/NodeOps: FileSystemProbe, NodeOperations, OfflineResize); mount, umount and loop
# devices are system calls, not tools.
tools="blkid mkfs.ext4 mkfs.xfs resize2fs e2fsck xfs_growfs"

rm -rf "$dest"
mkdir -p "$dest/usr/local/bin" "$dest/tmp" "$dest/etc" "$dest/proc" "$dest/sys" "$dest/dev"
chmod 1777 "$dest/tmp"
install -m 0755 "$binary" "$dest/usr/local/bin/$name"
strip --strip-unneeded "$dest/usr/local/bin/$name"
executables=("$binary")

if [ "$role" != scheduler ]; then
  mkdir -p "$dest/usr/sbin" "$dest/var/lib/evssnap" "$dest/csi"
  for tool in $tools; do
    path=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool") || { echo "image-rootfs: $tool is not installed (make deps)" >&2; exit 1; }
    real=$(readlink -f "$path")
    # Keep the tool's name (mkfs.ext4 is a link to mke2fs, which picks its defaults from the name it is called by).
    install -m 0755 "$real" "$dest/usr/sbin/$tool"
    executables+=("$real")
  done
  # mke2fs's defaults (block size, features per file-system type); without it mkfs.ext4 uses built-in ones.
  [ -f /etc/mke2fs.conf ] && install -m 0644 /etc/mke2fs.conf "$dest/etc/mke2fs.conf"
else
  # The zoneinfo hostPath's mount point (read-only; deploy/scheduler.yaml).
  mkdir -p "$dest/usr/share/zoneinfo"
fi

if [ "$https" = https ]; then
  curl_lib=$(ldconfig -p | awk '/libcurl\.so\.4 .*x86-64/ { print $NF; exit }')
  [ -n "$curl_lib" ] || { echo "image-rootfs: libcurl.so.4 is not installed (make deps)" >&2; exit 1; }
  mkdir -p "$dest$(dirname "$curl_lib")" "$dest/etc/ssl/certs"
  cp -L "$curl_lib" "$dest$curl_lib"   # at the name dlopen asks for
  strip --strip-unneeded "$dest$curl_lib"
  executables+=("$curl_lib")
  [ -f /etc/ssl/certs/ca-certificates.crt ] && install -m 0644 /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/"
fi

# The ldd closure: ldd already lists the transitive dependencies, with their resolved paths.
libs=$(for exe in "${executables[@]}"; do ldd "$exe"; done |
       awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }' | sort -u)
for lib in $libs; do
  mkdir -p "$dest$(dirname "$lib")"
  cp -L "$lib" "$dest$lib"
  case "$lib" in *ld-linux*) ;; *) strip --strip-unneeded "$dest$lib" 2>/dev/null || true ;; esac
done
# The loader is looked for at the path in each executable's PT_INTERP (/lib64/ld-linux-x86-64.so.2 on amd64).
interp=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [ -n "$interp" ] && [ ! -e "$dest$interp" ]; then
  mkdir -p "$dest$(dirname "$interp")"
  cp -L "$interp" "$dest$interp"
fi
du -sb "$dest" | cut -f1
