#!/usr/bin/env bash
# The link folder of the lean driver (mk/lean.mk, issue 11): put first on the linker's search path of a release
# build, it makes `-lgrpc`, `-lgpr`, `-lprotobuf-c` and `-lsqlite3` (named by the CGRPCCore / CSQLite modulemaps and
# Package.swift) and `-lstdc++` (the Swift driver's) resolve to Debian's static archives instead of the shared libraries:
#   tools/lean-libs.sh OUT_DIR [grpc|grpc_unsecure]
# libgrpc.a here is a linker script (GNU ld and lld read a text file found for -lNAME as one): a GROUP of gRPC's core
# and every archive it needs, in the transitive order `pkg-config --static --libs grpc` gives, so the link needs no
# flag order. grpc_unsecure (the default) is gRPC's core without TLS: the driver serves unix sockets and loopback TCP
# only, and its HTTPS client (libcurl) is opened with dlopen, so OpenSSL drops out of the binary. What stays dynamic is
# only what must: libc, libm and libgcc_s (and libatomic if pkg-config asks for it, as-needed).
# Debug builds never see this folder: `make build` / `make test` link the shared libraries as before.
set -euo pipefail
out=${1:?usage: tools/lean-libs.sh OUT_DIR [grpc|grpc_unsecure]}
core=${2:-grpc_unsecure}
mkdir -p "$out"
rm -f "$out"/*.a "$out"/*.so

archive() { # NAME -> the static archive's path, or fail naming the package that ships it
  local path
  path=$(cc -print-file-name="lib$1.a")
  [ -f "$path" ] || { echo "lean-libs: lib$1.a is missing (Debian's -dev package of lib$1 ships it)" >&2; exit 1; }
  realpath "$path"
}

# The transitive list of the full core (a superset of grpc_unsecure's, whose .pc file leaves out re2, upb, c-ares,
# zlib and address_sorting although its objects need them), without TLS for grpc_unsecure, each archive once.
members=("$(archive "$core")")
dynamic=()
declare -A seen=(["$core"]=1 [grpc]=1)
for flag in $(pkg-config --static --libs grpc); do
  case $flag in
    -l*) name=${flag#-l} ;;
    *) continue ;;
  esac
  [ -n "${seen[$name]:-}" ] && continue
  seen[$name]=1
  case $name in
    ssl|crypto) [ "$core" = grpc ] && members+=("$(archive "$name")") ;;
    # in glibc 2.34 and later these are empty stubs; atomic stays shared and only if something needs it
    dl|rt|pthread) ;;
    atomic) dynamic+=("AS_NEEDED ( -latomic )") ;;
    *) members+=("$(archive "$name")") ;;
  esac
done

{
  echo "/* evssnap lean link (tools/lean-libs.sh): -lgrpc means gRPC's C core ($core) linked statically */"
  echo "GROUP ("
  printf '  %s\n' "${members[@]}"
  echo ")"
  [ ${#dynamic[@]} -gt 0 ] && printf 'INPUT ( %s )\n' "${dynamic[@]}"
  echo "INPUT ( -lstdc++ )"
} >"$out/libgrpc.a"
ln -s "$(archive gpr)" "$out/libgpr.a"
ln -s "$(archive protobuf-c)" "$out/libprotobuf-c.a"
ln -s "$(archive sqlite3)" "$out/libsqlite3.a"
# libstdc++ too (for gRPC's core and the Swift runtime): its shared library costs ~1.4 MiB resident at idle (its
# symbol tables and relocations), the members the driver needs ~0.35 MiB. Found here before GCC's own folder.
ln -s "$(archive stdc++)" "$out/libstdc++.a"
echo "lean-libs: $out: -lgrpc = $core + ${#members[@]} archives in one group; gpr, protobuf-c, sqlite3, stdc++ static"
