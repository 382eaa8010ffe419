#!/usr/bin/env bash
# scripts/conformance-ovmf.sh - run the conformance guest (guests/conformance.c) under QEMU
# with OVMF, the reference firmware, and report its checks.
#
#   bash scripts/conformance-ovmf.sh        (npm run conformance:ovmf)
#   ARCH=aarch64 bash scripts/conformance-ovmf.sh   (npm run conformance:aavmf: the arm64
#                                           build of the guest under qemu-system-aarch64
#                                           -M virt with AAVMF, OVMF's arm64 build)
#
# Builds the guests if needed, makes a FAT disk image with mtools (no root, no mounts)
# holding \EFI\BOOT\BOOTX64.EFI = build/guests/conformance.efi, boots it under
# qemu-system-x86_64 (TCG) with OVMF_CODE.fd and a private copy of OVMF_VARS.fd, and
# reads the serial console (OVMF mirrors ConOut to it) until the guest's closing line
# "N passed, M failed". Prints the guest's output without terminal escapes.
#
# Exit status: 0 if M == 0, 1 if any check failed, 2 if no closing line came within
# the timeout or QEMU could not run. Everything happens in a temporary directory that
# is removed on exit; OVMF's own debug log (port 0x402) is kept there and shown on a
# timeout.
#
# Environment: ARCH (x86-64, default, or aarch64), OVMF_CODE, OVMF_VARS (default
# /usr/share/OVMF/OVMF_{CODE,VARS}.fd; /usr/share/AAVMF/AAVMF_{CODE,VARS}.fd for aarch64),
# TIMEOUT seconds (default 120; 600 for aarch64, whose TCG is slower), QEMU (default
# qemu-system-x86_64 or qemu-system-aarch64).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARCH=${ARCH:-x86-64}
if [[ $ARCH == aarch64 ]]; then
  OVMF_CODE=${OVMF_CODE:-/usr/share/AAVMF/AAVMF_CODE.fd}
  OVMF_VARS=${OVMF_VARS:-/usr/share/AAVMF/AAVMF_VARS.fd}
  TIMEOUT=${TIMEOUT:-600}
  QEMU=${QEMU:-qemu-system-aarch64}
  GUEST=$ROOT/build/guests/aa64/conformance.efi
  BOOT_NAME=BOOTAA64.EFI
  # The virt board; the disk on virtio-mmio, which AAVMF drives.
  MACHINE=(-M virt -cpu cortex-a72 -drive "if=none,format=raw,file=DISK,id=esp" -device virtio-blk-device,drive=esp)
else
  OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE.fd}
  OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS.fd}
  TIMEOUT=${TIMEOUT:-120}
  QEMU=${QEMU:-qemu-system-x86_64}
  GUEST=$ROOT/build/guests/conformance.efi
  BOOT_NAME=BOOTX64.EFI
  # OVMF's debug log on port 0x402, kept and shown on a timeout.
  MACHINE=(-drive "format=raw,file=DISK" -debugcon "file:DEBUGLOG" -global isa-debugcon.iobase=0x402)
fi

die() { echo "conformance-ovmf: $*" >&2; exit 2; }

for tool in "$QEMU" mformat mmd mcopy; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (bash scripts/setup.sh --bench-tools installs QEMU, OVMF and mtools)"
done
[[ -f $OVMF_CODE && -f $OVMF_VARS ]] || die "no $OVMF_CODE / $OVMF_VARS (bash scripts/setup.sh --bench-tools installs ovmf and qemu-efi-aarch64)"

bash "$ROOT/guests/build.sh" >&2 || die "building the guests failed"
[[ -f $GUEST ]] || die "$GUEST was not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ueficorn-conformance.XXXXXX")
QEMU_PID=
cleanup() {
  if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A 16 MiB FAT16 "superfloppy" (no partition table): OVMF mounts the whole disk and its
# boot manager starts the removable-media path \EFI\BOOT\BOOTX64.EFI (BOOTAA64.EFI).
DISK=$WORK/fat.img
truncate -s 16M "$DISK"
mformat -i "$DISK" -F -v UEFICORN :: 2>/dev/null || mformat -i "$DISK" :: >/dev/null
mmd -i "$DISK" ::/EFI ::/EFI/BOOT
mcopy -i "$DISK" "$GUEST" "::/EFI/BOOT/$BOOT_NAME"
cp "$OVMF_VARS" "$WORK/vars.fd"

# -nographic puts the serial port (and with it OVMF's console) on stdout.
MACHINE=("${MACHINE[@]//DISK/$DISK}")
MACHINE=("${MACHINE[@]//DEBUGLOG/$WORK/ovmf-debug.log}")
"$QEMU" -accel tcg -m 256 -nographic -monitor none -no-reboot \
  -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" \
  -drive "if=pflash,format=raw,file=$WORK/vars.fd" \
  "${MACHINE[@]}" \
  -net none \
  </dev/null >"$WORK/serial.raw" 2>"$WORK/qemu.err" &
QEMU_PID=$!

# The console is an ANSI terminal: drop escape sequences and carriage returns. (Into a
# file, not a pipe: `grep -q` leaving a pipe early kills sed with SIGPIPE, and pipefail
# then makes the whole test say 141.)
clean() { sed -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\r//g' "$WORK/serial.raw" >"$WORK/serial.txt"; cat "$WORK/serial.txt"; }
SUMMARY='^[0-9]+ passed, [0-9]+ failed$'

deadline=$((SECONDS + TIMEOUT))
status=
while ((SECONDS < deadline)); do
  clean >/dev/null
  if grep -Eq "$SUMMARY" "$WORK/serial.txt"; then status=done; break; fi
  if ! kill -0 "$QEMU_PID" 2>/dev/null; then status=exited; break; fi
  sleep 0.5
done
sleep 0.2   # let the last line's bytes arrive

# The guest's output: from its first line to its closing line.
clean >/dev/null
awk -v s="$SUMMARY" '/^conformance: /{p=1} p{print} p && $0 ~ s {exit}' "$WORK/serial.txt"

if [[ $status != done ]]; then
  if [[ $status == exited ]]; then
    echo "conformance-ovmf: QEMU exited before the closing line" >&2
    sed 's/^/  qemu: /' "$WORK/qemu.err" >&2
  else
    echo "conformance-ovmf: no closing line within ${TIMEOUT} s" >&2
  fi
  echo "conformance-ovmf: last lines of the serial console:" >&2
  clean | tail -n 15 | sed 's/^/  | /' >&2
  echo "conformance-ovmf: last lines of OVMF's debug log:" >&2
  tail -n 15 "$WORK/ovmf-debug.log" 2>/dev/null | sed 's/^/  | /' >&2
  exit 2
fi

failed=$(clean | grep -E "$SUMMARY" | tail -n 1 | sed -E 's/^[0-9]+ passed, ([0-9]+) failed$/\1/')
if [[ $failed == 0 ]]; then
  echo "conformance-ovmf: every check passed under $(basename "$OVMF_CODE")" >&2
  exit 0
fi
echo "conformance-ovmf: $failed check(s) failed under $(basename "$OVMF_CODE")" >&2
exit 1
