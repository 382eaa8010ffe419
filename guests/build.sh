#!/usr/bin/env bash
# guests/build.sh - build every guests/*.c into build/guests/NAME.efi, and the
# kernel boots' first userspace program guests/linux/init.c into
# build/guests/linux/init (a static Linux executable)
#
# One EFI application per guests/*.c, each linked with guests/lib/*.c.
# Incremental: an object is rebuilt when its source, any header it includes
# (clang -MMD dependency file) or the compiler flags changed; an image is
# relinked when any of its objects or the link flags changed.  Prints
# "build: guests/NAME.efi" for every image it (re)links.  Any error aborts
# with a non-zero exit status.
#
# Environment: CC (default clang-14 or clang), LLD_LINK (lld-link-14 or
# lld-link), OUT (default build/guests; arm64 builds go to OUT/aa64), V=1 to echo the commands.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/guests"
OUT="${OUT:-$ROOT/build/guests}"

pick() { for t in "$@"; do command -v "$t" >/dev/null 2>&1 && { echo "$t"; return; }; done; }
CC="${CC:-$(pick clang-14 clang)}"
LLD_LINK="${LLD_LINK:-$(pick lld-link-14 lld-link)}"
[ -n "$CC" ] || { echo "build: error: clang not found (apt-get install clang)" >&2; exit 1; }
[ -n "$LLD_LINK" ] || { echo "build: error: lld-link not found (apt-get install lld)" >&2; exit 1; }

# --target=x86_64-unknown-windows  (and aarch64-: build_efi) COFF objects, Microsoft x64 ABI (what UEFI
#                                  uses), wchar_t literals usable as CHAR16
# -ffreestanding                   no hosted libc; implies -fno-builtin, so
#                                  our memset/memcpy are not turned into calls
#                                  to themselves
# -fshort-wchar                    L"..." is UCS-2 (CHAR16)
# -fno-stack-protector             no __security_cookie / __stack_chk_*
# -mno-stack-arg-probe             no __chkstk (x86) / __chkstk_arm64 calls for frames > 4 KiB (there
#                                  is no CRT to provide it)
# -mno-red-zone                    harmless on the MS ABI (it has none), kept
#                                  for anyone switching the target
# -fno-asynchronous-unwind-tables  no .pdata/.xdata: nothing unwinds here
# -O2                              SSE is used (UEFI x64 guarantees it), e.g.
#                                  movaps to the stack: needs CR4.OSFXSR and a
#                                  16-byte aligned stack at the call
CFLAGS=(
  -ffreestanding -fshort-wchar -fno-stack-protector -mno-stack-arg-probe
  -mno-red-zone -fno-asynchronous-unwind-tables -fno-unwind-tables
  -O2 -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter
  -I"$SRC/include" -I"$SRC"
)
# -subsystem:efi_application   PE Subsystem 10 (EFI application)
# -entry:efi_main              AddressOfEntryPoint
# -nodefaultlib                no CRT / import libraries
# -dynamicbase -fixed:no       keep the .reloc section (base relocations):
#                              the firmware loads us wherever it likes
# -base:0x140000000            the usual x64 default, far from where the
#                              firmware loads images, so relocation matters
# -timestamp:0                 reproducible output (-Brepro would add a
#                              debug directory; this adds nothing)
# -opt:ref -debug:symtab       drop unreferenced code; a COFF symbol table in the file (no
#                              PDB), from which the host names addresses in faults and traces
# no -dll: an EFI application is not a DLL (IMAGE_FILE_DLL stays clear)
LDFLAGS=(
  -subsystem:efi_application -entry:efi_main -nodefaultlib
  -dynamicbase -fixed:no -base:0x140000000 -timestamp:0 -opt:ref -debug:symtab
)

run() { [ "${V:-}" = 1 ] && echo "  $*" >&2; "$@"; }

# Flag stamps: changing flags or tools forces a rebuild.
stamp() { # file content
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s' "$2" > "$1"; fi
}

# newer_than TARGET DEP...: true if TARGET is missing or older than any DEP
newer_than() {
  local t="$1"; shift
  [ -e "$t" ] || return 0
  local d
  for d in "$@"; do [ "$d" -nt "$t" ] && return 0; done
  return 1
}

# deps_of OBJECT: prerequisites listed in its .d file (clang -MMD)
deps_of() {
  local d="${1%.o}.d"
  [ -f "$d" ] || return 0
  sed -e 's/^[^:]*://' -e 's/\\$//' "$d" | tr ' ' '\n' | sed '/^$/d'
}

compile() { # SRC.c OBJ.o OBJDIR FLAGS...
  local src="$1" obj="$2" dir="$3" deps; shift 3
  mapfile -t deps < <(deps_of "$obj")
  # a vanished header forces a rebuild too
  local d missing=0
  for d in "${deps[@]}"; do [ -e "$d" ] || missing=1; done
  if [ "$missing" = 1 ] || newer_than "$obj" "$src" "${deps[@]}" "$dir/cflags.stamp"; then
    run "$CC" "$@" -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" ||
      { rm -f "$obj"; echo "build: error: compiling ${src#"$ROOT"/} failed" >&2; exit 1; }
  fi
}

shopt -s nullglob
guests=("$SRC"/*.c)
[ "${#guests[@]}" -gt 0 ] || { echo "build: error: no guests/*.c found" >&2; exit 1; }

# build_efi OUTDIR TARGET MACHINE: every guest for one architecture, objects in OUTDIR/obj.
build_efi() {
  local out="$1" target="$2" machine="$3" obj="$1/obj"
  local cflags=(--target="$target" "${CFLAGS[@]}") ldflags=(-machine:"$machine" "${LDFLAGS[@]}")
  mkdir -p "$obj"
  stamp "$obj/cflags.stamp" "$CC ${cflags[*]}"
  stamp "$obj/ldflags.stamp" "$LLD_LINK ${ldflags[*]}"
  local lib_objs=() src o name efi
  for src in "$SRC"/lib/*.c; do
    o="$obj/lib_$(basename "${src%.c}").o"
    compile "$src" "$o" "$obj" "${cflags[@]}"
    lib_objs+=("$o")
  done
  for src in "${guests[@]}"; do
    name="$(basename "${src%.c}")"
    o="$obj/$name.o"
    efi="$out/$name.efi"
    compile "$src" "$o" "$obj" "${cflags[@]}"
    if newer_than "$efi" "$o" "${lib_objs[@]}" "$obj/ldflags.stamp"; then
      # link to a temporary name so a failed link never leaves a stale image
      run "$LLD_LINK" "${ldflags[@]}" -out:"$efi.tmp" "$o" "${lib_objs[@]}" ||
        { rm -f "$efi.tmp"; echo "build: error: linking ${efi#"$ROOT"/} failed" >&2; exit 1; }
      mv -f "$efi.tmp" "$efi"
      echo "build: ${efi#"$ROOT"/}"
    fi
  done
}

build_efi "$OUT" x86_64-unknown-windows x64
# The same guests for AArch64 (issue 14): COFF for arm64, AAPCS64 as UEFI's AArch64
# binding uses it (UEFI 2.10 §2.3.6), FP/SIMD available (the firmware enables it).
build_efi "$OUT/aa64" aarch64-unknown-windows arm64

# The Linux init: a static Linux ELF with no libc (raw system calls), linked by clang's
# ld.lld, for x86-64 (build/guests/linux/init) and AArch64 (build/guests/linux/aa64/init).
# -fno-pic -static: loaded where it is linked, no dynamic loader.
LINUX_FLAGS=(-ffreestanding -fno-stack-protector -fno-pic -static -nostdlib
  -fuse-ld=lld -O2 -std=c11 -Wall -Wextra -Werror -Wl,--build-id=none)
build_init() { # OUT TARGET
  local init="$1/init" flags=(--target="$2" "${LINUX_FLAGS[@]}")
  mkdir -p "$1"
  stamp "$1/flags.stamp" "$CC ${flags[*]}"
  if newer_than "$init" "$SRC/linux/init.c" "$1/flags.stamp"; then
    run "$CC" "${flags[@]}" -o "$init.tmp" "$SRC/linux/init.c" ||
      { rm -f "$init.tmp"; echo "build: error: building ${init#"$ROOT"/} failed" >&2; exit 1; }
    mv -f "$init.tmp" "$init"
    echo "build: ${init#"$ROOT"/}"
  fi
}
build_init "$OUT/linux" x86_64-linux-gnu
build_init "$OUT/linux/aa64" aarch64-linux-gnu
