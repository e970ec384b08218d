#!/bin/sh
# Installs Cairn into a root directory: / on a live box, or a mounted SD-card image.
#
#   install.sh --root DIR [--binary PATH] [--arch x64|arm64] [--enable]
#   install.sh --root DIR --rollback
#
# Installs
#   DIR/usr/local/bin/cairn                      the binary (the one it replaces is kept as cairn.previous)
#   DIR/etc/cairn/cairn.yaml                     the configuration, only if there is none (an existing one is kept)
#   DIR/etc/cairn/cairn.yaml.example             every option at its default, refreshed on every install
#   DIR/etc/systemd/system/cairn.service         the unit
#   DIR/usr/lib/sysusers.d/cairn.conf            the service user, created by systemd-sysusers (at boot, or now on /)
#   DIR/usr/local/share/doc/cairn/operations.md  the operations guide
# --binary defaults to dist/cairn-linux-ARCH next to this script's directory (npm run build:binary), ARCH to this
# machine's. --enable starts the unit at boot (without systemctl, so it works on an image too). --rollback puts
# cairn.previous back (and the current binary in its place, so a second --rollback undoes the first).
# On --root / it also runs systemd-sysusers and systemctl daemon-reload when systemd is running.
#
# Exit codes: 0 done, 1 failure (nothing half-installed: the binary is replaced by a rename), 2 bad usage.

set -eu

usage() {
  echo "usage: install.sh --root DIR [--binary PATH] [--arch x64|arm64] [--enable]" >&2
  echo "       install.sh --root DIR --rollback" >&2
  exit 2
}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
root=
binary=
arch=
enable=no
rollback=no
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --enable) enable=yes; shift ;;
    --rollback) rollback=yes; shift ;;
    -h | --help) usage ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$root" ] || { echo "install.sh: --root is required (--root / on a live box)" >&2; usage; }
[ -d "$root" ] || fail "root directory $root does not exist"
root=$(cd "$root" && pwd)
# Paths below are "$prefix/etc/...": no double slash when the root is /.
if [ "$root" = / ]; then prefix=; else prefix=$root; fi

bindir=$prefix/usr/local/bin
target=$bindir/cairn

if [ "$rollback" = yes ]; then
  [ -f "$target.previous" ] || fail "no previous binary to roll back to ($target.previous is missing)"
  [ -f "$target" ] || fail "no installed binary at $target"
  cp -p "$target" "$target.swap"
  mv -f "$target.previous" "$target"
  mv -f "$target.swap" "$target.previous"
  echo "rolled back: $target is the previous binary again ($target.previous is the one it replaced)"
  [ "$root" = / ] && echo "restart the service to run it: systemctl restart cairn"
  exit 0
fi

if [ -z "$binary" ]; then
  if [ -z "$arch" ]; then
    case $(uname -m) in
      x86_64 | amd64) arch=x64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) fail "no binary is built for $(uname -m); pass --arch x64|arm64 or --binary PATH" ;;
    esac
  fi
  case $arch in
    x64 | arm64) ;;
    *) echo "install.sh: --arch must be x64 or arm64 (got $arch)" >&2; usage ;;
  esac
  binary=$(dirname "$here")/dist/cairn-linux-$arch
fi
[ -f "$binary" ] || fail "binary not found: $binary (build it with \"npm run build:binary\", or pass --binary PATH)"

example=$here/cairn.example.yaml
unit=$here/cairn.service
guide=$(dirname "$here")/docs/operations.md
for file in "$example" "$unit"; do
  [ -f "$file" ] || fail "missing $file: run install.sh from a Cairn source tree or release archive"
done

mkdir -p "$bindir" "$prefix/etc/cairn" "$prefix/etc/systemd/system" "$prefix/usr/lib/sysusers.d" \
  "$prefix/usr/local/share/doc/cairn"
live=no
if [ "$root" = / ] && [ -d /run/systemd/system ]; then live=yes; fi

# The service user first, so that the configuration can be given to its group.
echo 'u cairn - "Cairn broker" /var/lib/cairn' >"$prefix/usr/lib/sysusers.d/cairn.conf"
if [ "$live" = yes ]; then systemd-sysusers /usr/lib/sysusers.d/cairn.conf; fi

# The binary: copied beside the target, then renamed over it, so a running broker keeps its file and a failed
# copy leaves the installed one alone. The replaced binary is kept for --rollback.
if [ -f "$target" ] && cmp -s "$binary" "$target"; then
  echo "binary unchanged: $target"
else
  cp "$binary" "$target.new"
  chmod 0755 "$target.new"
  if [ -f "$target" ]; then
    mv -f "$target" "$target.previous"
    echo "kept the replaced binary as $target.previous (install.sh --root $root --rollback restores it)"
  fi
  mv -f "$target.new" "$target"
  echo "installed $target"
fi

# The configuration: every option at its default, with the data and cache directories the unit provides.
config=$prefix/etc/cairn/cairn.yaml
sed -e 's|^dataDir: .*|dataDir: /var/lib/cairn|' -e 's|^cacheDir: .*|cacheDir: /var/cache/cairn|' "$example" \
  >"$config.example.new"
chmod 0644 "$config.example.new"
mv -f "$config.example.new" "$config.example"
if [ -f "$config" ]; then
  echo "kept the existing $config (compare with $config.example for new options)"
else
  cp "$config.example" "$config"
  # It may come to hold passwords (mirror SASL): readable by root and the service's group only, when that
  # group exists yet; on a fresh image systemd-sysusers creates it at first boot.
  # The group id comes from the target's /etc/group: an image's ids need not be this machine's.
  gid=$(awk -F: '$1 == "cairn" { print $3 }' "$prefix/etc/group" 2>/dev/null || true)
  if [ -n "$gid" ] && chgrp "$gid" "$config" 2>/dev/null; then
    chmod 0640 "$config"
  fi
  echo "installed $config"
fi

cp "$unit" "$prefix/etc/systemd/system/cairn.service.new"
chmod 0644 "$prefix/etc/systemd/system/cairn.service.new"
mv -f "$prefix/etc/systemd/system/cairn.service.new" "$prefix/etc/systemd/system/cairn.service"
if [ -f "$guide" ]; then cp "$guide" "$prefix/usr/local/share/doc/cairn/operations.md"; fi
echo "installed $prefix/etc/systemd/system/cairn.service"

if [ "$enable" = yes ]; then
  mkdir -p "$prefix/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/cairn.service "$prefix/etc/systemd/system/multi-user.target.wants/cairn.service"
  echo "enabled: cairn starts at boot"
fi

if [ "$live" = yes ]; then
  systemctl daemon-reload
  echo "next: systemctl enable --now cairn (or systemctl restart cairn after an upgrade)"
fi
