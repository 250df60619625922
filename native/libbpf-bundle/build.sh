#!/usr/bin/env bash
# Builds one self-contained shared object from Debian's static archives: libbpf.a (all of it),
# the parts of libelf.a and libz.a that libbpf uses. Its only dependency is glibc, so the
# executable can embed it and load it from memory on a host without libbpf, libelf or zlib.
#
# usage: build.sh OUT.so
# Debian builds these archives for executables (PIE), not for shared objects (-fPIC). PIE code
# links into a shared object (with -Bsymbolic, so internal references bind locally) except for
# two things, each fixed here and checked by the link itself (-z defs, no text relocations):
#  - libelf.a's elf_error.o uses local-exec TLS: replaced by elf_error.c, compiled -fPIC, which
#    uses the message table taken from the original object;
#  - libbpf.a reads glibc's `stderr` PC-relatively: renamed to a variable inside the bundle
#    (stderr.c).
# glibc-compat.c keeps the glibc floor at what the code needs, not at the build host's glibc.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
libdir=/usr/lib/$(gcc -print-multiarch)
for a in libbpf.a libelf.a libz.a; do
  [ -f "$libdir/$a" ] || { echo "build.sh: $libdir/$a missing (Debian packages libbpf-dev, libelf-dev, zlib1g-dev)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# libelf.a without elf_error.o; its message table kept as global data symbols.
mkdir "$work/elf"
(cd "$work/elf" && ar x "$libdir/libelf.a")
msgidx_size=$(nm -S "$work/elf/elf_error.o" | awk '$4 == "msgidx" { print $2 }')
[ -n "$msgidx_size" ] || { echo "build.sh: no msgidx in libelf.a(elf_error.o): libelf changed, revisit elf_error.c" >&2; exit 1; }
objcopy -R .text -R .rela.text -R .eh_frame -R .rela.eh_frame -R .tbss \
  --globalize-symbol=msgidx --globalize-symbol=msgstr --strip-unneeded --keep-symbol=msgidx --keep-symbol=msgstr \
  "$work/elf/elf_error.o" "$work/elf_messages.o"
rm "$work/elf/elf_error.o"
gcc -O2 -fPIC -Wall -Werror -DNMSGIDX=$((0x$msgidx_size / 8)) -c "$here/elf_error.c" -o "$work/elf_error_tls.o"
ar rcs "$work/libelf-pic.a" "$work"/elf/*.o "$work/elf_messages.o" "$work/elf_error_tls.o"

# libbpf.a with its stderr reference pointed at the bundle's own copy.
objcopy --redefine-sym stderr=libbpf_bundle_stderr "$libdir/libbpf.a" "$work/libbpf-pic.a"
gcc -O2 -fPIC -Wall -Werror -c "$here/stderr.c" -o "$work/stderr.o"
gcc -O2 -fPIC -Wall -Werror -c "$here/glibc-compat.c" -o "$work/glibc-compat.o"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
contents="Debian libbpf-dev $(pkgver libbpf-dev), libelf-dev $(pkgver libelf-dev), zlib1g-dev $(pkgver zlib1g-dev)"
gcc -O2 -fPIC -Wall -Werror -DKPULSE_BUNDLE_CONTENTS="\"$contents\"" -c "$here/bundle-info.c" -o "$work/bundle-info.o"

# SONAME libbpf.so.1: a later dlopen("libbpf.so.1") in this process gets this copy, never a second
# libbpf from the host. libelf and zlib stay internal (not exported, bound inside the bundle).
gcc -shared -fPIC -o "$out.tmp" -Wl,-soname,libbpf.so.1 -Wl,-Bsymbolic -Wl,-z,defs -Wl,-z,text \
  -Wl,-z,now -Wl,-z,relro -Wl,--gc-sections -s \
  -Wl,--whole-archive "$work/libbpf-pic.a" -Wl,--no-whole-archive "$work/stderr.o" "$work/glibc-compat.o" "$work/bundle-info.o" \
  "$work/libelf-pic.a" "$libdir/libz.a" \
  -Wl,--exclude-libs,libelf-pic.a:libz.a

# The point of the bundle: nothing but glibc is needed at run time.
needed=$(readelf -d "$out.tmp" | awk '/\(NEEDED\)/ { gsub(/[\[\]]/, "", $5); print $5 }' | grep -v -E '^(libc\.so\.6|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$' || true)
[ -z "$needed" ] || { echo "build.sh: bundle needs more than glibc: $needed" >&2; rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
