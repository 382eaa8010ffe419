// PE/COFF structures the firmware's image loader reads (Microsoft PE/COFF
// specification, "PE Format"), declared with the same mechanism as the UEFI tables.
import { struct } from "./decl.ts";

export const IMAGE_DOS_HEADER = struct("IMAGE_DOS_HEADER", `
  UINT16 e_magic;
  UINT8 e_unused[58];
  UINT32 e_lfanew;
`);

// "PE\0\0" then the COFF file header.
export const IMAGE_NT_HEADERS_PREFIX = struct("IMAGE_NT_HEADERS_PREFIX", `
  UINT32 Signature;
  UINT16 Machine;
  UINT16 NumberOfSections;
  UINT32 TimeDateStamp;
  UINT32 PointerToSymbolTable;
  UINT32 NumberOfSymbols;
  UINT16 SizeOfOptionalHeader;
  UINT16 Characteristics;
`);

export const IMAGE_DATA_DIRECTORY = struct("IMAGE_DATA_DIRECTORY", `
  UINT32 VirtualAddress;
  UINT32 Size;
`);

// PE32+ optional header; DataDirectory[NumberOfRvaAndSizes] follows at SIZE.
export const IMAGE_OPTIONAL_HEADER64 = struct("IMAGE_OPTIONAL_HEADER64", `
  UINT16 Magic;
  UINT8 MajorLinkerVersion;
  UINT8 MinorLinkerVersion;
  UINT32 SizeOfCode;
  UINT32 SizeOfInitializedData;
  UINT32 SizeOfUninitializedData;
  UINT32 AddressOfEntryPoint;
  UINT32 BaseOfCode;
  UINT64 ImageBase;
  UINT32 SectionAlignment;
  UINT32 FileAlignment;
  UINT16 MajorOperatingSystemVersion;
  UINT16 MinorOperatingSystemVersion;
  UINT16 MajorImageVersion;
  UINT16 MinorImageVersion;
  UINT16 MajorSubsystemVersion;
  UINT16 MinorSubsystemVersion;
  UINT32 Win32VersionValue;
  UINT32 SizeOfImage;
  UINT32 SizeOfHeaders;
  UINT32 CheckSum;
  UINT16 Subsystem;
  UINT16 DllCharacteristics;
  UINT64 SizeOfStackReserve;
  UINT64 SizeOfStackCommit;
  UINT64 SizeOfHeapReserve;
  UINT64 SizeOfHeapCommit;
  UINT32 LoaderFlags;
  UINT32 NumberOfRvaAndSizes;
`);

export const IMAGE_SECTION_HEADER = struct("IMAGE_SECTION_HEADER", `
  UINT8 Name[8];
  UINT32 VirtualSize;
  UINT32 VirtualAddress;
  UINT32 SizeOfRawData;
  UINT32 PointerToRawData;
  UINT32 PointerToRelocations;
  UINT32 PointerToLinenumbers;
  UINT16 NumberOfRelocations;
  UINT16 NumberOfLinenumbers;
  UINT32 Characteristics;
`);

export const IMAGE_BASE_RELOCATION = struct("IMAGE_BASE_RELOCATION", `
  UINT32 VirtualAddress;
  UINT32 SizeOfBlock;
`);

export const PE_CONST = {
  DOS_MAGIC: 0x5a4d,              // "MZ"
  NT_SIGNATURE: 0x4550,           // "PE\0\0"
  MACHINE_X64: 0x8664,
  MACHINE_AA64: 0xaa64,
  OPTIONAL_MAGIC_PE32PLUS: 0x20b,
  SUBSYSTEM_EFI_APPLICATION: 10,
  SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER: 11,
  SUBSYSTEM_EFI_RUNTIME_DRIVER: 12,
  FILE_RELOCS_STRIPPED: 0x0001,
  DIRECTORY_BASERELOC: 5,
  REL_BASED_ABSOLUTE: 0,
  REL_BASED_DIR64: 10,
} as const;
