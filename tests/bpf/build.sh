#!/bin/sh
# Builds test BPF objects into build/test-bpf/ with the same flags as the Makefile's
# build/test-bpf/%.bpf.o rule. Usage: tests/bpf/build.sh [tests/bpf/X.bpf.c ...] (default: all).
# Uses bpf/vmlinux.h when present, else dumps one from this host's BTF into build/test-bpf/include.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/test-bpf"
mkdir -p "$out"
inc="$root/bpf"
if [ ! -f "$inc/vmlinux.h" ]; then
	inc="$out/include"
	mkdir -p "$inc"
	[ -s "$inc/vmlinux.h" ] || bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$inc/vmlinux.h"
fi
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
[ $# -gt 0 ] || set -- "$root"/tests/bpf/*.bpf.c
for src in "$@"; do
	name=$(basename "$src" .c)
	clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" -I "$root/bpf/include" -I "$inc" \
		-Wall -Wno-unused-function -c "$src" -o "$out/$name.o"
	llvm-strip -g "$out/$name.o"
done
