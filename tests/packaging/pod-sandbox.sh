#!/usr/bin/env bash
# Runs a command the way the kpulse DaemonSet's container runs it, as far as one host allows
# without a container runtime: a private mount namespace and a chroot whose root is read-only
# (readOnlyRootFilesystem), a fresh /proc of the host pid namespace (hostPID), the host network
# namespace (hostNetwork), a read-only sysfs as runtimes give unprivileged containers, the
# DaemonSet's volume mounts (read-only ones recursively), and root with only the listed
# capabilities and no_new_privs
# (allowPrivilegeEscalation: false). Not emulated: the seccomp profile and the device cgroup.
#
# Usage (as root): pod-sandbox.sh ROOTDIR CAPS MOUNTS -- COMMAND...
#   ROOTDIR  an empty directory to build the root in (removed afterwards by the caller)
#   CAPS     comma-separated capability names as in the manifest, e.g. BPF,PERFMON
#   MOUNTS   ;-separated SOURCE:TARGET:ro|rw|image; SOURCE "tracefs" mounts a tracefs instance
#            (for hosts, like the test machine, with none mounted at /sys/kernel/tracing);
#            "image" copies the file SOURCE into the image at TARGET (under /usr)
# The image's files are the host's /usr, /lib*, /bin, /sbin and /etc, read-only.
set -euo pipefail
root=$1 caps=$2 mounts=$3
shift 3
[ "${1:-}" = "--" ] && shift
[ -d "$root" ] || { echo "pod-sandbox: $root is not a directory" >&2; exit 2; }

exec unshare --mount --propagation private -- bash -euo pipefail -c '
root=$1 caps=$2 mounts=$3; shift 3
bindro() { mkdir -p "$2"; mount --rbind "$1" "$2"; mount -o remount,bind,ro "$2"; }
mount -t tmpfs -o mode=0755 rootfs "$root"
# /usr and /etc: those of the host, under a layer with the image files and the mount points the
# volumes need there (read-only overlays).
mkdir -p "$root/.image/usr" "$root/.image/etc"
IFS=";" read -ra list <<< "$mounts"
for m in "${list[@]}"; do
  IFS=":" read -r src dst mode <<< "$m"
  case "$dst" in /usr/*|/etc/*) ;; *) continue;; esac
  if [ "$mode" = image ]; then mkdir -p "$(dirname "$root/.image$dst")"; cp "$src" "$root/.image$dst"
  elif [ -d "$src" ]; then mkdir -p "$root/.image$dst"
  else mkdir -p "$(dirname "$root/.image$dst")"; touch "$root/.image$dst"; fi
done
for d in usr etc; do mkdir -p "$root/$d"; mount -t overlay -o "lowerdir=$root/.image/$d:/$d" overlay "$root/$d"; done
for d in lib lib64 bin sbin; do
  [ -e "/$d" ] || continue
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"; else bindro "/$d" "$root/$d"; fi
done
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/var/lib"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for n in null zero full random urandom tty; do touch "$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done
ln -s /proc/self/fd "$root/dev/fd"
for m in "${list[@]}"; do
  IFS=":" read -r src dst mode <<< "$m"
  [ "$mode" = image ] && continue
  if [ "$src" = tracefs ]; then mount -t tracefs -o ro tracefs "$root$dst"; continue; fi
  if [ ! -e "$root$dst" ]; then
    if [ -d "$src" ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; touch "$root$dst"; fi
  fi
  mount --rbind "$src" "$root$dst"
  # Read-only all the way down (recursiveReadOnly), e.g. the cgroup v1 controllers.
  if [ "$mode" = ro ]; then
    awk -v t="$root$dst" "\$5 == t || index(\$5, t \"/\") == 1 { print \$5 }" /proc/self/mountinfo |
      while read -r sub; do mount -o remount,bind,ro "$sub"; done
  fi
done
# The root itself: read-only from here on.
mount -o remount,ro "$root"
bounding=-all; for c in ${caps//,/ }; do bounding="$bounding,+${c,,}"; done
exec chroot "$root" setpriv --reuid=0 --regid=0 --clear-groups --inh-caps=-all --ambient-caps=-all \
  --bounding-set="$bounding" --no-new-privs -- "$@"
' sandbox "$root" "$caps" "$mounts" "$@"
