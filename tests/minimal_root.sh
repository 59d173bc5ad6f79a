#!/bin/sh
# The README's first command on a minimal Debian 12 root file system (issue 17 items 3, 5).
#
#     sh tests/minimal_root.sh amd64|arm64 [COMMAND]      (as root; make check-arm64)
#
# Builds a fresh Debian 12 root with `debootstrap --variant=minbase` (no make, no git, no
# Python) from Debian's packages, copies the repository in (the committed tree, as a clone
# would have it), binds /proc, /sys (read-only) and /dev, and runs COMMAND (default `./kiosk-make demo`, the
# README's way on a minimal image) inside with chroot; prints the result and the times.
# arm64 runs under qemu-user-static through binfmt_misc (Debian's qemu-user-static and
# binfmt-support; installed here when missing). MINIMAL_ROOT_REUSE=1 reruns in the root a
# previous run left instead of building a new one (quicker, no longer "from nothing").
#
# The /proc/cpuinfo emulator workaround: qemu-user (Debian 12's 7.2) shows an arm64 guest
# the host's x86 /proc/cpuinfo; LiteRT's cpuinfo probe (XNNPACK) cannot parse it and the
# process segfaults at the first model load. A real Pi never shows this. The arm64 root
# therefore gets a Raspberry Pi 5 style /proc/cpuinfo (4 Cortex-A76 cores) bind-mounted
# over its /proc/cpuinfo.
set -eu
arch=${1:-arm64}
command=${2:-./kiosk-make demo}
dir=${MINIMAL_ROOT:-/var/tmp/facekiosk-minimal-$arch}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
repo=$(cd "$(dirname "$0")/.." && pwd)
case $arch in amd64|arm64) ;; *) echo "minimal_root: ARCH is amd64 or arm64" >&2; exit 2;; esac
[ "$(id -u)" = 0 ] || { echo "minimal_root: run as root (debootstrap, mount, chroot)" >&2; exit 2; }

need="debootstrap"
[ "$arch" = "$(dpkg --print-architecture)" ] || need="$need qemu-user-static binfmt-support"
missing=""
for p in $need; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "minimal_root: installing$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || { echo "minimal_root: qemu-aarch64 is not registered with binfmt_misc" >&2; exit 1; }
fi

cleanup() {
  for m in "$dir/proc/cpuinfo" "$dir/proc" "$dir/sys" "$dir/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
}
trap cleanup EXIT INT TERM
cleanup
started=$(date +%s)
if [ -n "${MINIMAL_ROOT_REUSE:-}" ] && [ -x "$dir/bin/sh" ]; then
  # A rerun in the root a previous run left (no longer minimal: what it installed stays).
  echo "minimal_root: MINIMAL_ROOT_REUSE: running in the existing $dir"
else
  if grep -q " $dir/" /proc/mounts; then echo "minimal_root: something is still mounted under $dir; not removing it" >&2; exit 1; fi
  rm -rf "$dir"
  echo "minimal_root: debootstrap --variant=minbase --arch=$arch bookworm $dir"
  debootstrap --variant=minbase --arch="$arch" bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 \
    || { tail -20 "$dir.debootstrap.log" >&2; exit 1; }
fi
built=$(date +%s)
for tool in make git python3; do
  chroot "$dir" /bin/sh -c "command -v $tool" >/dev/null 2>&1 && echo "minimal_root: note: the root already has $tool"
done
mkdir -p "$dir/opt/facekiosk"
if command -v git >/dev/null 2>&1 && git -C "$repo" rev-parse HEAD >/dev/null 2>&1; then
  git -C "$repo" archive --format=tar HEAD | tar -C "$dir/opt/facekiosk" -xf -
  echo "minimal_root: copied $(git -C "$repo" rev-parse --short HEAD) into /opt/facekiosk"
else
  tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./artifacts -cf - . | tar -C "$dir/opt/facekiosk" -xf -
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"
# The host's own certificate authorities (a network behind a TLS-inspecting proxy has one
# there; a plain machine has none): the root trusts what the host trusts, and pip uses
# the system's bundle (built when apt installs ca-certificates) instead of its own.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$dir/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$dir/etc/pip.conf"
  echo "minimal_root: the host's local certificate authorities are trusted in the root (pip: /etc/pip.conf)"
fi
mount --bind /proc "$dir/proc"
mount --bind /dev "$dir/dev"
# /sys too (read-only): LiteRT's cpuinfo reads /sys/devices/system/cpu/{possible,present};
# without them it turns XNNPACK off and, under qemu, the demo saw no faces at all.
mount --bind /sys "$dir/sys" && mount -o remount,bind,ro "$dir/sys" 2>/dev/null || true
if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
  : >"$dir/etc/pi5-cpuinfo"
  for n in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$n" >>"$dir/etc/pi5-cpuinfo"
  done
  printf 'Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n' >>"$dir/etc/pi5-cpuinfo"
  mount --bind "$dir/etc/pi5-cpuinfo" "$dir/proc/cpuinfo"
  echo "minimal_root: emulated: a Raspberry Pi 5 style /proc/cpuinfo is bound over the root's (see the top of this script)"
fi
echo "minimal_root: chroot $dir: cd /opt/facekiosk && $command"
set +e
chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/sh -c "cd /opt/facekiosk && $command"
status=$?
set -e
finished=$(date +%s)
result=ok; [ "$status" = 0 ] || result="FAILED (exit $status)"
echo "minimal_root: $arch: '$command' $result in $((finished - built)) s; root built in $((built - started)) s; $((finished - started)) s from nothing"
exit "$status"
