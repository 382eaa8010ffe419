#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root; CI is a clean clone).
#
#   bash scripts/setup.sh [--quiet]
#
# Each step first checks whether it is needed and prints one line "setup: <what>" on
# stderr only when it does work. Without --quiet a run that did nothing says so; with
# --quiet it prints nothing. Command output goes to .cache/setup-logs/ and is shown
# only when a command fails.
#
# Steps: 1 Debian packages, 2 npm packages, 3 Unicorn >= 2.1 into .cache/unicorn/,
#        4 build hooks (firmware, host CLI, instruction counter, guests), 5 the kernels
#        (Debian 12's cloud and generic; 13's and unstable's through private lists;
#        Debian 12's arm64 cloud kernel) and the Debian 12 installer,
#        6 EFI boot loaders (systemd-boot, GRUB, shim) into .cache/loaders/.
# Environment: UEFICORN_LIBUNICORN=path uses that libunicorn.so.2 (checked >= 2.1)
# instead of fetching one; UEFICORN_SETUP_KEYRING=path replaces the system keyring in
# step 3 (to exercise the keyring fallback).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUIET=0
BENCH_TOOLS=0
for arg in "$@"; do
  case $arg in
    --quiet|-q) QUIET=1 ;;
    --bench-tools) BENCH_TOOLS=1 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument '$arg' (usage: bash scripts/setup.sh [--quiet])" >&2; exit 2 ;;
  esac
done

CACHE=$ROOT/.cache
LOGS=$CACHE/setup-logs
DID_WORK=0

say() { echo "setup: $*" >&2; DID_WORK=1; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# run LOGNAME CMD...: run quietly, appending to .cache/setup-logs/LOGNAME.log; on failure
# show the end of the log and stop.
run() {
  local log=$LOGS/$1.log; shift
  mkdir -p "$LOGS"
  echo "+ $*" >>"$log"
  if ! "$@" >>"$log" 2>&1 </dev/null; then
    echo "setup: ERROR: '$*' failed; last lines of $log:" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    exit 1
  fi
}

# ---------------------------------------------------------------------------------------
# 1. Debian packages
# clang + lld (lld-link) build the test guests; ca-certificates for https mirrors;
# chromium renders the measurement report's HTML page in a test; dosfstools (mkfs.fat,
# fsck.fat), mtools (mmd, mcopy, mdir, mtype) and fdisk (sfdisk) build and check the disk
# images of tests/disk-image.ts; e2fsprogs (mke2fs -d) makes the ext4 root GRUB boots
# from and binutils (objcopy) the unified kernel image in tests/loaders.test.ts; gdb
# drives the --gdb stub in tests/gdb.test.ts; QEMU with OVMF and AAVMF run the
# conformance guest under the reference firmwares (tests/conformance.test.ts); gzip,
# bzip2, xz-utils, lzop, lz4 and zstd make each kernel payload format Linux builds, for
# the PVH reader's tests (tests/pvh.test.ts).
APT_PACKAGES=(clang lld ca-certificates chromium dosfstools mtools fdisk e2fsprogs binutils gdb
  qemu-system-x86 ovmf qemu-system-arm qemu-efi-aarch64 gzip bzip2 xz-utils lzop lz4 zstd)
APT_UPDATED=0

apt_update_once() {
  if [[ $APT_UPDATED == 0 ]]; then
    run apt apt-get update
    APT_UPDATED=1
  fi
}

is_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

setup_debian_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done
  [[ ${#missing[@]} == 0 ]] && return 0
  [[ $(id -u) == 0 ]] || die "Debian packages missing (${missing[*]}) and not root: apt-get install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  apt_update_once
  run apt env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------------------------------
# 2. npm packages
# npm writes node_modules/.package-lock.json at the end of every install: it is the
# "node_modules is current" marker.
setup_npm() {
  local lock=package-lock.json cmd=(npm ci)
  if [[ ! -f $lock ]]; then lock=package.json; cmd=(npm install); fi
  local marker=node_modules/.package-lock.json
  if [[ -d node_modules && -f $marker && ! $lock -nt $marker ]]; then return 0; fi
  say "installing npm packages (${cmd[*]})"
  run npm "${cmd[@]}" --no-audit --no-fund --loglevel=error
}

# ---------------------------------------------------------------------------------------
# 3. Unicorn >= 2.1
# Debian 12 ships libunicorn 2.0.1, which is not usable (no real paging translation,
# hard-coded CPUID; see shared ARCHITECTURE.md). Debian 13's libunicorn2t64 (2.1.x)
# needs only libc6 >= 2.34 and loads on Debian 12. We download it (and libunicorn-dev,
# for the headers scripts/gen-unicorn-consts.ts reads) through the machine's own
# Debian mirror with a private apt configuration under .cache/apt, and unpack it into
# .cache/unicorn/root: the system's packages and apt configuration are not touched.
#
# Result: .cache/unicorn/libpath holds the library path (relative to .cache/unicorn/),
# read by host/unicorn/index.ts; .cache/unicorn/stamp makes the step a no-op.
UNICORN_DIR=$CACHE/unicorn
UNICORN_STAMP=$UNICORN_DIR/stamp
UNICORN_RECIPE=1            # bump to make every checkout fetch again
UNICORN_SUITE=trixie        # Debian 13
UNICORN_PACKAGES=(libunicorn2t64 libunicorn-dev)
SYSTEM_KEYRING=${UEFICORN_SETUP_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

# unicorn_version LIB: print "MAJOR.MINOR.PATCH" of a library, loading it exactly as the
# host does (koffi), so a missing GLIBC symbol or dependency fails here too. Exit 0 iff
# the version is >= 2.1.
unicorn_version() {
  node -e '
    let v;
    try {
      const lib = require("koffi").load(process.argv[1]);
      v = lib.func("unsigned int uc_version(void *major, void *minor)")(null, null);
    } catch (e) { console.log(e.message); process.exit(4); }
    const [maj, min, pat] = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff];
    const ok = maj > 2 || (maj === 2 && min >= 1);
    console.log(ok ? `${maj}.${min}.${pat}` : `version ${maj}.${min}.${pat} is older than 2.1`);
    process.exit(ok ? 0 : 3);
  ' "$1"
}

# The machine's configured Debian archive (not the security archive): the first URI
# whose suite is this release's codename, from deb822 .sources files or sources.list.
debian_mirror() {
  local codename f uri
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || return 1
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk -v want="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uris != "") {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        types = uris = suites = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); $1 = ""; sub(/^[ \t]+/, ""); val = $0 }
      key == "types:" { types = val } key == "uris:" { uris = val }
      key == "suites:" { suites = val } key == "enabled:" { enabled = tolower(val) }
      END { if (!found) flush() }' "$f")
    [[ -n $uri ]] && { echo "${uri%/}"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk -v want="$codename" '
      $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == want) { print $i; exit } }' "$f")
    [[ -n $uri ]] && { echo "${uri%/}"; return 0; }
  done
  return 1
}

APT_DIR=$CACHE/apt
# private_apt CMD ARGS...: apt-get/apt-cache with only .cache/apt's sources, lists,
# cache, an empty dpkg status and no preferences. /etc/apt/apt.conf.d still applies
# (proxies and the like).
private_apt() {
  local cmd=$1; shift
  "$cmd" -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
         -o Dir::Etc::SourceParts="$APT_DIR/empty.d" \
         -o Dir::Etc::Preferences="$APT_DIR/empty.d/none" \
         -o Dir::Etc::PreferencesParts="$APT_DIR/empty.d" \
         -o Dir::State::Lists="$APT_DIR/lists" \
         -o Dir::State::Status="$APT_DIR/status" \
         -o Dir::Cache="$APT_DIR/cache" \
         -o Acquire::Languages=none \
         -q "$@"
}

private_apt_init() {   # private_apt_init "SOURCES.LIST LINE"...
  rm -rf "$APT_DIR"
  mkdir -p "$APT_DIR"/{empty.d,lists/partial,cache/archives/partial,dl}
  : >"$APT_DIR/status"
  printf '%s\n' "$@" >"$APT_DIR/sources.list"
  # apt-get download drops privileges to _apt and needs to write the current folder.
  chown _apt "$APT_DIR/dl" 2>/dev/null || true
}

# Debian signs each release's InRelease with the automatic keys of the last two
# releases, so trixie's is (in 2025) signed by the 12/bookworm key too and Debian 12's
# own keyring verifies it; debian-archive-keyring 2023.3+deb12u2 also carries the
# trixie keys. Should neither hold on some machine, we take the keyring package from
# the machine's own release (its Release file verified by the system keyring, the .deb
# by its hash) and verify trixie with that: a verified chain, no [trusted=yes].
private_trixie_update() {   # private_trixie_update MIRROR KEYRING [SUITE]
  local arch; arch=$(dpkg --print-architecture)
  private_apt_init "deb [arch=$arch signed-by=$2] $1 ${3:-$UNICORN_SUITE} main"
  private_apt apt-get update
}

# private_trixie MIRROR [SUITE]: the private lists of Debian 13 ($UNICORN_SUITE), or of
# SUITE, in .cache/apt, verified by the system keyring or, when that is too old to verify
# them, by debian-archive-keyring from this release's own archive (TRIXIE_VERIFIED_BY).
TRIXIE_VERIFIED_BY=$SYSTEM_KEYRING
private_trixie() {
  mkdir -p "$LOGS"
  local log=$LOGS/unicorn.log suite=${2:-$UNICORN_SUITE}
  : >"$log"
  if ! private_trixie_update "$1" "$SYSTEM_KEYRING" "$suite" >>"$log" 2>&1; then
    if grep -qE 'NO_PUBKEY|not signed|EXPKEYSIG|KEYEXPIRED' "$log"; then
      say "the system keyring does not verify $suite; taking debian-archive-keyring from this release's archive"
      local keyring; keyring=$(fetch_newer_keyring "$1")
      TRIXIE_VERIFIED_BY="$(cd "$APT_DIR/dl" && echo debian-archive-keyring_*.deb) from $(. /etc/os-release && echo "$VERSION_CODENAME")"
      run unicorn private_trixie_update "$1" "$keyring" "$suite"
    else
      echo "setup: ERROR: apt-get update of the private $suite list failed; last lines of $log:" >&2
      tail -n 25 "$log" | sed 's/^/  | /' >&2
      exit 1
    fi
  fi
}

fetch_newer_keyring() {   # fetch_newer_keyring MIRROR -> prints keyring path
  local codename arch kdir deb
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  arch=$(dpkg --print-architecture)
  private_apt_init "deb [arch=$arch signed-by=$SYSTEM_KEYRING] $1 $codename main"
  run unicorn private_apt apt-get update
  (cd "$APT_DIR/dl" && run unicorn private_apt apt-get download debian-archive-keyring)
  kdir=$CACHE/keyring
  rm -rf "$kdir"; mkdir -p "$kdir"
  deb=$(echo "$APT_DIR"/dl/debian-archive-keyring_*.deb)
  run unicorn dpkg-deb -x "$deb" "$kdir"
  echo "$kdir/usr/share/keyrings/debian-archive-keyring.gpg"
}

unicorn_lib_current() {   # the stamp and the library it names are there
  [[ -f $UNICORN_STAMP && -f $UNICORN_DIR/libpath ]] || return 1
  [[ $(head -n1 "$UNICORN_STAMP") == "recipe=$UNICORN_RECIPE" ]] || return 1
  local p; p=$(cat "$UNICORN_DIR/libpath")
  [[ $p == /* ]] || p=$UNICORN_DIR/$p
  [[ -f $p ]]
}

setup_unicorn() {
  if [[ -n ${UEFICORN_LIBUNICORN:-} ]]; then
    [[ -f $UEFICORN_LIBUNICORN ]] || die "UEFICORN_LIBUNICORN=$UEFICORN_LIBUNICORN does not exist (unset it to let setup fetch Unicorn 2.1)"
    local v
    v=$(unicorn_version "$UEFICORN_LIBUNICORN" 2>&1) ||
      die "UEFICORN_LIBUNICORN=$UEFICORN_LIBUNICORN is not usable (need Unicorn >= 2.1): $v"
    return 0
  fi
  unicorn_lib_current && return 0

  local mirror
  mirror=$(debian_mirror) || die "found no Debian mirror in /etc/apt/sources.list{,.d} to fetch Unicorn 2.1 from; set UEFICORN_LIBUNICORN to a libunicorn.so.2 >= 2.1 instead"
  say "fetching Unicorn 2.1 (${UNICORN_PACKAGES[*]} from $UNICORN_SUITE, $mirror) into .cache/unicorn"
  private_trixie "$mirror"
  (cd "$APT_DIR/dl" && run unicorn private_apt apt-get download "${UNICORN_PACKAGES[@]}")

  local root=$UNICORN_DIR/root deb lib v
  rm -rf "$UNICORN_DIR"; mkdir -p "$root" "$UNICORN_DIR/debs"
  for deb in "$APT_DIR"/dl/*.deb; do
    run unicorn dpkg-deb -x "$deb" "$root"
    mv "$deb" "$UNICORN_DIR/debs/"
  done
  lib=$(find "$root/usr/lib" -name libunicorn.so.2 -type f | head -n1)
  [[ -n $lib ]] || die "no libunicorn.so.2 in the downloaded packages (see $UNICORN_DIR/debs)"
  [[ -f $root/usr/include/unicorn/x86.h ]] || die "no unicorn/x86.h in the downloaded libunicorn-dev"
  v=$(unicorn_version "$lib" 2>&1) || die "the downloaded $lib does not load or is too old: $v"
  echo "${lib#"$UNICORN_DIR"/}" >"$UNICORN_DIR/libpath"
  {
    echo "recipe=$UNICORN_RECIPE"
    echo "version=$v"
    echo "mirror=$mirror"
    echo "verified-by=$TRIXIE_VERIFIED_BY"
    for deb in "$UNICORN_DIR"/debs/*.deb; do echo "deb=${deb##*/} sha256=$(sha256sum <"$deb" | cut -d' ' -f1)"; done
  } >"$UNICORN_STAMP"
  rm -rf "$APT_DIR" "$CACHE/keyring"   # the private lists (~20 MB) are not needed again
}

# ---------------------------------------------------------------------------------------
# 4. Build hooks (filled in by the firmware and guest owners). Each runs only when its
# build script exists and an output is missing or older than its sources.
FIRMWARE_OUT=build/firmware.wasm          # what `npm run build:firmware` writes
FIRMWARE_SOURCES=(firmware asconfig.json package.json)
GUESTS_STAMP=build/guests/.built          # touched after guests/build.sh succeeds
GUESTS_SOURCES=(guests)

# newer_than OUTPUT SOURCE...: true if OUTPUT is missing or any SOURCE file is newer.
newer_than() {
  local out=$1 src; shift
  [[ -e $out ]] || return 0
  for src in "$@"; do
    [[ -e $src ]] || continue
    [[ -n $(find "$src" -type f -newer "$out" -print -quit) ]] && return 0
  done
  return 1
}

build_firmware() {
  [[ -f firmware/index.ts ]] || return 0
  grep -q '"build:firmware"' package.json || return 0
  newer_than "$FIRMWARE_OUT" "${FIRMWARE_SOURCES[@]}" || return 0
  say "building the firmware (npm run build:firmware)"
  run build-firmware npm run --silent build:firmware
}

# The CLI as one JavaScript file (build/cli.cjs), started by build/ueficorn.cjs through
# V8's code cache (host/launch.cts): ~60 ms to the guest's first instruction, ~0.4 s
# through tsx; and the library (`import ... from "ueficorn"`: build/lib.mjs, build/lib.cjs
# for require, its types in build/types/), and the measurement pool's worker
# (build/measure-worker.cjs). Rebuilt when any of them is missing or older than the sources.
HOST_OUTS=(build/ueficorn.cjs build/cli.cjs build/measure-worker.cjs build/lib.mjs build/lib.cjs build/types/host/index.d.ts)
build_host() {
  grep -q '"build:host"' package.json || return 0
  local out stale=
  for out in "${HOST_OUTS[@]}"; do newer_than "$out" host firmware/spec package.json tsconfig.json tsconfig.lib.json && stale=1; done
  [[ -n $stale ]] || return 0
  say "bundling the host CLI and library (npm run build:host)"
  run build-host npm run --silent build:host
}

# Native callbacks for Unicorn (host/unicorn/native.c): the guest instruction counter
# and the EFI trap gate, loaded by host/unicorn/index.ts with koffi. It links no
# libunicorn, so it serves any library UEFICORN_LIBUNICORN picks.
NATIVE_OUT=build/libueficorn-native.so
NATIVE_SOURCE=host/unicorn/native.c
build_native() {
  [[ -f $NATIVE_SOURCE ]] || return 0
  newer_than "$NATIVE_OUT" "$NATIVE_SOURCE" || return 0
  say "building the native Unicorn callbacks ($NATIVE_SOURCE -> $NATIVE_OUT, clang)"
  mkdir -p "$(dirname "$NATIVE_OUT")"
  run build-native clang -O2 -Wall -Werror -shared -fPIC -o "$NATIVE_OUT" "$NATIVE_SOURCE"
}

# The kernel boots' initrd: guests/linux/init as /init, with /dev/console.
INITRD_OUT=build/guests/linux/initrd.cpio
build_initrd() {
  [[ -f scripts/initrd.ts ]] || return 0
  newer_than "$INITRD_OUT" build/guests/linux/init build/guests/linux/aa64/init host/initramfs.ts scripts/initrd.ts || newer_than build/guests/linux/aa64/initrd.cpio build/guests/linux/aa64/init ||
    newer_than build/guests/linux/busybox.cpio "$CACHE/busybox/amd64/busybox" host/initramfs.ts scripts/initrd.ts || return 0
  say "packing the test initrd (scripts/initrd.ts -> $INITRD_OUT)"
  run build-initrd npx tsx scripts/initrd.ts
}

build_guests() {
  [[ -f guests/build.sh ]] || return 0
  newer_than "$GUESTS_STAMP" "${GUESTS_SOURCES[@]}" || return 0
  say "building the test guests (guests/build.sh)"
  run build-guests bash guests/build.sh
  mkdir -p "$(dirname "$GUESTS_STAMP")"; touch "$GUESTS_STAMP"
}

# One file of a .deb, written atomically: deb_member DEB PATH-IN-IT OUT.
deb_member() {
  dpkg-deb --fsys-tarfile "$1" | tar -x -O "./$2" >"$3.tmp"
  mv "$3.tmp" "$3"
}

# ---------------------------------------------------------------------------------------
# 5. The Debian kernel the boot path runs (issue: boot Debian's cloud kernel).
# The current linux-image-6.1.0-*-cloud-amd64 that linux-image-cloud-amd64 depends on,
# through the system's own apt (lists refreshed once if it does not know the package),
# unpacked into .cache/kernel/<version>/; .cache/kernel/vmlinuz points at its bzImage.
# Also System.map from the matching -dbg package (a 280 MB download, ~10 s here; only
# the map is kept), so that reports name the kernel function at RIP.
# UEFICORN_KERNEL_SYMBOLS=0 skips it.
KERNEL_DIR=$CACHE/kernel

kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

setup_kernel() {
  local pkg
  pkg=$(kernel_package)
  if [[ -z $pkg ]]; then
    apt_update_once
    pkg=$(kernel_package)
  fi
  [[ -n $pkg ]] || die "cannot find the package linux-image-cloud-amd64 depends on (apt-cache depends linux-image-cloud-amd64)"
  local dir=$KERNEL_DIR/$pkg
  if [[ ! -f $dir/vmlinuz ]]; then
    say "fetching the Debian kernel $pkg into .cache/kernel/"
    mkdir -p "$dir/deb"
    (cd "$dir/deb" && run kernel apt-get download "$pkg")
    run kernel dpkg-deb -x "$dir"/deb/*.deb "$dir/root"
    cp "$dir"/root/boot/vmlinuz-* "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
    rm -rf "$dir/deb" "$dir/root"
  fi
  ln -sfn "$pkg/vmlinuz" "$KERNEL_DIR/vmlinuz"
  if [[ ${UEFICORN_KERNEL_SYMBOLS:-1} == 1 && ! -f $dir/System.map ]]; then
    say "fetching System.map of $pkg (its -dbg package, ~280 MB)"
    mkdir -p "$dir/dbg"
    (cd "$dir/dbg" && run kernel apt-get download "$pkg-dbg")
    local version=${pkg#linux-image-}
    deb_member "$(echo "$dir"/dbg/*.deb)" "usr/lib/debug/boot/System.map-$version" "$dir/System.map"
    rm -rf "$dir/dbg"
  fi
  if [[ -f $dir/System.map ]]; then ln -sfn "$pkg/System.map" "$KERNEL_DIR/System.map"; fi
}

# ---------------------------------------------------------------------------------------
# 5a. Debian 12's generic kernel (issue 12): linux-image-amd64's kernel, an xz payload the
# EFI stub decompresses itself, into .cache/kernel/<package>/ and .cache/kernel/generic
# (no System.map: its -dbg package is far larger). UEFICORN_GENERIC_KERNEL=0 skips it.
setup_generic_kernel() {
  [[ ${UEFICORN_GENERIC_KERNEL:-1} == 1 ]] || return 0
  [[ -f $KERNEL_DIR/generic/vmlinuz ]] && return 0
  local pkg dir
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [[ -z $pkg ]]; then
    apt_update_once
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [[ -n $pkg ]] || die "cannot find the package linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
  say "fetching Debian 12's generic kernel $pkg into .cache/kernel/"
  dir=$KERNEL_DIR/$pkg
  rm -rf "$dir"; mkdir -p "$dir/deb"
  chown _apt "$dir/deb" 2>/dev/null || true
  (cd "$dir/deb" && run kernel apt-get download "$pkg")
  run kernel dpkg-deb -x "$dir"/deb/*.deb "$dir/root"
  cp "$dir"/root/boot/vmlinuz-* "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
  rm -rf "$dir/deb" "$dir/root"
  ln -sfn "$pkg" "$KERNEL_DIR/generic"
}

# private_kernel APT PKG LINK SUFFIX DBG_MB: fetch kernel package PKG (SUFFIX: ":arm64" or
# empty, for APT, a private_apt wrapper) from the private lists into .cache/kernel/PKG/vmlinuz
# (found wherever the package keeps it: /boot, or sid's usr/lib/modules/VERSION), with
# System.map-VERSION from PKG-dbg beside it when DBG_MB (its download size, for the
# message) is given and UEFICORN_KERNEL_SYMBOLS is not 0; .cache/kernel/LINK points at it,
# and the private lists are removed.
private_kernel() {
  local apt=$1 pkg=$2 link=$3 suffix=$4 dbg_mb=${5:-} dir=$KERNEL_DIR/$2 vmlinuz
  rm -rf "$dir"; mkdir -p "$dir/root"
  (cd "$APT_DIR/dl" && run kernel "$apt" apt-get download "$pkg$suffix")
  run kernel dpkg-deb -x "$APT_DIR"/dl/"$pkg"_*.deb "$dir/root"
  vmlinuz=$(find "$dir/root" -name 'vmlinuz*' -type f | head -n1)
  [[ -n $vmlinuz ]] || die "$pkg holds no vmlinuz"
  cp "$vmlinuz" "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
  rm -rf "$dir/root"
  if [[ -n $dbg_mb && ${UEFICORN_KERNEL_SYMBOLS:-1} == 1 ]]; then
    say "fetching System.map of $pkg (its -dbg package, ~$dbg_mb MB)"
    (cd "$APT_DIR/dl" && run kernel "$apt" apt-get download "$pkg-dbg$suffix")
    # Named System.map-VERSION beside the kernel, where the host looks (host/symbols.ts systemMapFor).
    local map=$dir/System.map-${pkg#linux-image-}
    deb_member "$(echo "$APT_DIR"/dl/"$pkg"-dbg_*.deb)" "usr/lib/debug/boot/${map##*/}" "$map"
  fi
  rm -rf "$APT_DIR"
  ln -sfn "$pkg" "$KERNEL_DIR/$link"
}

# ---------------------------------------------------------------------------------------
# 5b. Debian 13's cloud kernel beside Debian 12's (issue 12: every current Debian kernel),
# through the private trixie lists Unicorn comes from (the system's apt untouched), into
# .cache/kernel/<package>/ and, as for Debian 12's, System.map-VERSION from its -dbg package
# (~320 MB; the one in its /boot is a placeholder; UEFICORN_KERNEL_SYMBOLS=0 skips it);
# .cache/kernel/debian13 points at that folder. UEFICORN_KERNEL13=0 skips the step.
setup_kernel13() {
  [[ ${UEFICORN_KERNEL13:-1} == 1 ]] || return 0
  local symbols=${UEFICORN_KERNEL_SYMBOLS:-1}
  local maps=("$KERNEL_DIR"/debian13/System.map-*)
  [[ -f $KERNEL_DIR/debian13/vmlinuz && ( $symbols == 0 || -f ${maps[0]} ) ]] && return 0
  local mirror pkg
  mirror=$(debian_mirror) || die "found no Debian mirror in /etc/apt/sources.list{,.d} to fetch Debian 13's kernel from (UEFICORN_KERNEL13=0 skips it)"
  private_trixie "$mirror"
  pkg=$(private_apt apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n $pkg ]] || die "Debian 13's lists name no kernel for linux-image-cloud-amd64"
  say "fetching Debian 13's kernel $pkg into .cache/kernel/"
  private_kernel private_apt "$pkg" debian13 "" 320
}

# ---------------------------------------------------------------------------------------
# 5d. Debian unstable's cloud kernel (issue 12): its linux-binary-* package (where sid
# keeps the kernel, in usr/lib/modules/VERSION/vmlinuz) through private sid lists, into
# .cache/kernel/<package>/ and .cache/kernel/unstable (no System.map: ~350 MB more).
# UEFICORN_KERNEL_SID=0 skips it.
setup_kernel_sid() {
  [[ ${UEFICORN_KERNEL_SID:-1} == 1 ]] || return 0
  [[ -f $KERNEL_DIR/unstable/vmlinuz ]] && return 0
  local mirror image pkg
  mirror=$(debian_mirror) || die "found no Debian mirror to fetch Debian unstable's kernel from (UEFICORN_KERNEL_SID=0 skips it)"
  private_trixie "$mirror" sid
  image=$(private_apt apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  pkg=$(private_apt apt-cache depends "$image" 2>/dev/null | awk '/Depends: linux-binary-/ {print $2; exit}')
  [[ -n $pkg ]] || pkg=$image   # a kernel package that still carries /boot/vmlinuz itself
  [[ -n $pkg ]] || die "Debian unstable's lists name no kernel for linux-image-cloud-amd64"
  say "fetching Debian unstable's kernel $pkg into .cache/kernel/"
  private_kernel private_apt "$pkg" unstable ""
}

# ---------------------------------------------------------------------------------------
# 5e. Debian 12's arm64 cloud kernel (issue 14): a raw Image that is also a PE32+ for
# machine 0xAA64, through private lists with the arm64 architecture (bookworm and
# bookworm-security, signed by the system keyring) into .cache/kernel/<package>/ and
# .cache/kernel/arm64, with System.map-VERSION from its -dbg package (~260 MB;
# UEFICORN_KERNEL_SYMBOLS=0 skips it). UEFICORN_KERNEL_ARM64=0 skips the step.
arm64_apt() { private_apt "$@" -o APT::Architecture=arm64 -o APT::Architectures=arm64; }
setup_kernel_arm64() {
  [[ ${UEFICORN_KERNEL_ARM64:-1} == 1 ]] || return 0
  local symbols=${UEFICORN_KERNEL_SYMBOLS:-1}
  local maps=("$KERNEL_DIR"/arm64/System.map-*)
  [[ -f $KERNEL_DIR/arm64/vmlinuz && ( $symbols == 0 || -f ${maps[0]} ) ]] && return 0
  local mirror pkg
  mirror=$(debian_mirror) || die "found no Debian mirror to fetch the arm64 kernel from (UEFICORN_KERNEL_ARM64=0 skips it)"
  private_apt_init "deb [arch=arm64 signed-by=$SYSTEM_KEYRING] $mirror bookworm main" \
    "deb [arch=arm64 signed-by=$SYSTEM_KEYRING] ${mirror%/debian}/debian-security bookworm-security main"
  run kernel arm64_apt apt-get update
  pkg=$(arm64_apt apt-cache depends linux-image-cloud-arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n $pkg ]] || die "the arm64 lists name no kernel for linux-image-cloud-arm64"
  say "fetching Debian's arm64 kernel $pkg into .cache/kernel/"
  private_kernel arm64_apt "$pkg" arm64 :arm64 260
}

# ---------------------------------------------------------------------------------------
# 5c. The Debian 12 netboot installer (issue 12): its text-mode kernel and initrd from
# debian-installer-12-netboot-amd64, through the system's apt as the kernel is, into
# .cache/installer/ (linux, initrd.gz, VERSION). UEFICORN_INSTALLER=0 skips it.
INSTALLER_DIR=$CACHE/installer
setup_installer() {
  [[ ${UEFICORN_INSTALLER:-1} == 1 ]] || return 0
  [[ -f $INSTALLER_DIR/linux && -f $INSTALLER_DIR/initrd.gz && -f $INSTALLER_DIR/VERSION ]] && return 0
  local pkg=debian-installer-12-netboot-amd64 tmp=$CACHE/installer-tmp deb images
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then apt_update_once; fi
  say "fetching the Debian 12 installer ($pkg, ~130 MB) into .cache/installer/"
  rm -rf "$tmp"; mkdir -p "$tmp/deb" "$INSTALLER_DIR"
  chown _apt "$tmp/deb" 2>/dev/null || true
  (cd "$tmp/deb" && run installer apt-get download "$pkg")
  deb=$(echo "$tmp"/deb/"$pkg"_*.deb)
  run installer dpkg-deb -x "$deb" "$tmp/root"
  images=$tmp/root/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
  [[ -f $images/linux && -f $images/initrd.gz ]] || die "$deb has no text-mode linux and initrd.gz under ${images#"$tmp/root"}"
  for f in linux initrd.gz; do cp "$images/$f" "$INSTALLER_DIR/$f.tmp" && mv "$INSTALLER_DIR/$f.tmp" "$INSTALLER_DIR/$f"; done
  dpkg-deb -f "$deb" Version >"$INSTALLER_DIR/VERSION"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------------------------------
# 6. EFI boot loaders for the disk-boot tests: Debian's systemd-boot (and its stub for
# unified kernel images), its signed GRUB and
# (where the apt sources have it) its signed shim, fetched through the system's apt as
# the kernel is. Only the .efi files are kept, in .cache/loaders/, with VERSIONS
# (package=version, one a line). VERSIONS is written last: with it and every file of
# the packages it names present, the step does nothing. A machine without shim-signed
# gets a VERSIONS without it and is not asked again (rm -r .cache/loaders to retry).
LOADERS_DIR=$CACHE/loaders
# package, file in the package (checked with dpkg-deb -c), name in .cache/loaders/,
# required or optional
LOADERS=(
  "systemd-boot-efi      usr/lib/systemd/boot/efi/systemd-bootx64.efi        systemd-bootx64.efi required"
  "systemd-boot-efi      usr/lib/systemd/boot/efi/linuxx64.efi.stub          linuxx64.efi.stub   required"
  "grub-efi-amd64-signed usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed grubx64.efi         required"
  "shim-signed           usr/lib/shim/shimx64.efi.signed                     shimx64.efi         optional"
)

apt_candidate() {   # apt_candidate PACKAGE: the version apt would fetch; empty if none
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" {print $2; exit}'
}

loaders_current() {
  local versions=$LOADERS_DIR/VERSIONS entry pkg path file need
  [[ -f $versions ]] || return 1
  for entry in "${LOADERS[@]}"; do
    read -r pkg path file need <<<"$entry"
    if [[ $need == required ]] || grep -q "^$pkg=" "$versions"; then
      [[ -f $LOADERS_DIR/$file ]] || return 1
    fi
  done
}

setup_loaders() {
  loaders_current && return 0
  local entry pkg path file need wanted=()
  for entry in "${LOADERS[@]}"; do
    read -r pkg path file need <<<"$entry"
    if [[ -z $(apt_candidate "$pkg") ]]; then apt_update_once; fi
    if [[ -z $(apt_candidate "$pkg") ]]; then
      [[ $need == optional ]] && continue
      die "apt knows no package $pkg (apt-cache policy $pkg); it is in Debian 12's main"
    fi
    [[ " ${wanted[*]} " == *" $pkg "* ]] || wanted+=("$pkg")
  done
  say "fetching EFI boot loaders (${wanted[*]}) into .cache/loaders/"
  local tmp=$CACHE/loaders-tmp deb versions=
  rm -rf "$tmp"; mkdir -p "$tmp/deb" "$LOADERS_DIR"
  (cd "$tmp/deb" && run loaders apt-get download "${wanted[@]}")
  for entry in "${LOADERS[@]}"; do
    read -r pkg path file need <<<"$entry"
    [[ " ${wanted[*]} " == *" $pkg "* ]] || continue
    deb=$(echo "$tmp/deb/${pkg}"_*.deb)
    [[ -d $tmp/$pkg ]] || run loaders dpkg-deb -x "$deb" "$tmp/$pkg"
    [[ -f $tmp/$pkg/$path ]] || die "$deb has no $path (see dpkg-deb -c $deb)"
    cp "$tmp/$pkg/$path" "$LOADERS_DIR/$file.tmp"
    mv "$LOADERS_DIR/$file.tmp" "$LOADERS_DIR/$file"
    [[ $versions == *"$pkg="* ]] || versions+="$pkg=$(dpkg-deb -f "$deb" Version)"$'\n'
  done
  printf '%s' "$versions" >"$LOADERS_DIR/VERSIONS.tmp"
  mv "$LOADERS_DIR/VERSIONS.tmp" "$LOADERS_DIR/VERSIONS"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------------------------------
# --bench-tools: only QEMU, OVMF and mtools/dosfstools (to make the FAT disk OVMF boots
# from), which `npm run bench` and `npm run measure` compare against, and QEMU's arm64
# system emulator with AAVMF (OVMF's arm64 build). The full setup installs them too: the
# conformance test runs the guest under both reference firmwares.
if [[ $BENCH_TOOLS == 1 ]]; then
  APT_PACKAGES=(qemu-system-x86 ovmf mtools dosfstools qemu-system-arm qemu-efi-aarch64)
  setup_debian_packages
  exit 0
fi

# ---------------------------------------------------------------------------------------
# 6. A real userspace: Debian's static busybox for amd64 (the system's apt) and arm64 (the
# private arm64 lists), into .cache/busybox/<arch>/busybox, from which scripts/initrd.ts
# packs build/guests/linux{,/aa64}/busybox.cpio (a shell script /init run by busybox's sh).
# UEFICORN_BUSYBOX=0 skips it.
BUSYBOX_DIR=$CACHE/busybox
setup_busybox() {
  [[ ${UEFICORN_BUSYBOX:-1} == 1 ]] || return 0
  [[ -f $BUSYBOX_DIR/amd64/busybox && -f $BUSYBOX_DIR/arm64/busybox ]] && return 0
  local tmp=$CACHE/busybox-tmp arch mirror
  say "fetching Debian's busybox-static (amd64, arm64) into .cache/busybox/"
  rm -rf "$tmp"; mkdir -p "$tmp/amd64" "$tmp/arm64"
  chown _apt "$tmp/amd64" 2>/dev/null || true
  if [[ -z $(apt_candidate busybox-static) ]]; then apt_update_once; fi
  (cd "$tmp/amd64" && run busybox apt-get download busybox-static)
  mirror=$(debian_mirror) || die "found no Debian mirror to fetch the arm64 busybox from (UEFICORN_BUSYBOX=0 skips it)"
  private_apt_init "deb [arch=arm64 signed-by=$SYSTEM_KEYRING] $mirror bookworm main"
  run busybox arm64_apt apt-get update
  (cd "$APT_DIR/dl" && run busybox arm64_apt apt-get download busybox-static:arm64)
  mv "$APT_DIR"/dl/busybox-static_*.deb "$tmp/arm64/"
  rm -rf "$APT_DIR"
  for arch in amd64 arm64; do
    mkdir -p "$BUSYBOX_DIR/$arch"
    deb_member "$(echo "$tmp/$arch"/busybox-static_*.deb)" bin/busybox "$BUSYBOX_DIR/$arch/busybox"
    chmod 755 "$BUSYBOX_DIR/$arch/busybox"
  done
  rm -rf "$tmp"
}

setup_debian_packages
setup_npm
setup_unicorn
build_firmware
build_host
build_native
build_guests
setup_busybox
build_initrd
setup_kernel
setup_generic_kernel
setup_kernel13
setup_kernel_sid
setup_kernel_arm64
setup_installer
setup_loaders

if [[ $DID_WORK == 0 && $QUIET == 0 ]]; then
  echo "setup: everything is up to date" >&2
fi
