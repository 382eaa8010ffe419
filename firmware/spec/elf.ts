// The ELF64 structures the PVH path reads from a vmlinux (System V gABI, "ELF-64 Object
// File Format"; glibc's elf.h). gABI's Elf64_Half/Word/Addr/Off/Xword are declared here
// as UINT16/UINT32/UINT64/UINT64/UINT64: the same sizes and natural alignment.
import { struct } from "./decl.ts";

// Elf64_Ehdr, 64 bytes.
//
//   0 e_ident[16]   magic, class, data, version, OS ABI
//  16 e_type        20 e_version   24 e_entry   32 e_phoff   40 e_shoff
//  18 e_machine     48 e_flags     52 e_ehsize  54 e_phentsize 56 e_phnum
//  58 e_shentsize   60 e_shnum     62 e_shstrndx
export const ELF64_EHDR = struct("Elf64_Ehdr", `
  UINT8 e_ident[16];
  UINT16 e_type;
  UINT16 e_machine;
  UINT32 e_version;
  UINT64 e_entry;
  UINT64 e_phoff;
  UINT64 e_shoff;
  UINT32 e_flags;
  UINT16 e_ehsize;
  UINT16 e_phentsize;
  UINT16 e_phnum;
  UINT16 e_shentsize;
  UINT16 e_shnum;
  UINT16 e_shstrndx;
`);

// Elf64_Phdr, 56 bytes: e_phnum of them at e_phoff, e_phentsize apart.
export const ELF64_PHDR = struct("Elf64_Phdr", `
  UINT32 p_type;
  UINT32 p_flags;
  UINT64 p_offset;
  UINT64 p_vaddr;
  UINT64 p_paddr;
  UINT64 p_filesz;
  UINT64 p_memsz;
  UINT64 p_align;
`);

// Elf64_Nhdr, 12 bytes, then the name (n_namesz bytes with its NUL) and the description
// (n_descsz bytes), each padded to the note alignment (4 in Linux's .notes).
export const ELF64_NHDR = struct("Elf64_Nhdr", `
  UINT32 n_namesz;
  UINT32 n_descsz;
  UINT32 n_type;
`);

/** Indices into e_ident. */
export const EI = { MAG0: 0, CLASS: 4, DATA: 5, VERSION: 6, OSABI: 7, NIDENT: 16 } as const;

export const ELF = {
  /** e_ident[EI_MAG0..3] = "\x7fELF". */
  MAGIC: [0x7f, 0x45, 0x4c, 0x46] as readonly number[],
  CLASS64: 2,
  DATA2LSB: 1,
  EV_CURRENT: 1,
  ET_EXEC: 2,
  EM_X86_64: 62,
  PT_NULL: 0,
  PT_LOAD: 1,
  PT_NOTE: 4,
  /** e_phnum = PN_XNUM: the real count is in section 0 (not supported here). */
  PN_XNUM: 0xffff,
  PF_X: 1,
  PF_W: 2,
  PF_R: 4,
} as const;

export const ELF_STRUCTS = [ELF64_EHDR, ELF64_PHDR, ELF64_NHDR];
