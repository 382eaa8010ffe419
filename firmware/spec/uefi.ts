// Every guest-visible UEFI structure, GUID, status and service slot, spelled as in the
// UEFI 2.10 specification (names without the EFI_ prefix where we name them, per
// uefi-rs's api_guidelines). Declared once: the host reads this module, and
// scripts/gen-spec.ts generates the firmware's and the C guests' view of it.
import { fnType, struct, type Struct } from "./decl.ts";

// §4.2 EFI_TABLE_HEADER
export const TABLE_HEADER = struct("EFI_TABLE_HEADER", `
  UINT64 Signature;
  UINT32 Revision;
  UINT32 HeaderSize;
  UINT32 CRC32;
  UINT32 Reserved;
`);

// Appendix A
export const GUID = struct("EFI_GUID", `
  UINT32 Data1;
  UINT16 Data2;
  UINT16 Data3;
  UINT8 Data4[8];
`);

// §12.4 SIMPLE_TEXT_OUTPUT_MODE
export const SIMPLE_TEXT_OUTPUT_MODE = struct("SIMPLE_TEXT_OUTPUT_MODE", `
  INT32 MaxMode;
  INT32 Mode;
  INT32 Attribute;
  INT32 CursorColumn;
  INT32 CursorRow;
  BOOLEAN CursorVisible;
`);

// §12.4 EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL
export const SIMPLE_TEXT_OUTPUT_PROTOCOL = struct("EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL", `
  EFI_STATUS Reset(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, BOOLEAN ExtendedVerification);
  EFI_STATUS OutputString(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, CHAR16 *String);
  EFI_STATUS TestString(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, CHAR16 *String);
  EFI_STATUS QueryMode(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, UINTN ModeNumber, UINTN *Columns, UINTN *Rows);
  EFI_STATUS SetMode(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, UINTN ModeNumber);
  EFI_STATUS SetAttribute(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, UINTN Attribute);
  EFI_STATUS ClearScreen(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This);
  EFI_STATUS SetCursorPosition(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, UINTN Column, UINTN Row);
  EFI_STATUS EnableCursor(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, BOOLEAN Visible);
  SIMPLE_TEXT_OUTPUT_MODE *Mode;
`);

// §12.3 EFI_INPUT_KEY and EFI_SIMPLE_TEXT_INPUT_PROTOCOL
export const INPUT_KEY = struct("EFI_INPUT_KEY", `
  UINT16 ScanCode;
  CHAR16 UnicodeChar;
`);

export const SIMPLE_TEXT_INPUT_PROTOCOL = struct("EFI_SIMPLE_TEXT_INPUT_PROTOCOL", `
  EFI_STATUS Reset(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, BOOLEAN ExtendedVerification);
  EFI_STATUS ReadKeyStroke(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, EFI_INPUT_KEY *Key);
  EFI_EVENT WaitForKey;
`);

// §12.2 EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL and its key data. (EFI_KEY_TOGGLE_STATE is a UINT8.)
export const KEY_STATE = struct("EFI_KEY_STATE", `
  UINT32 KeyShiftState;
  UINT8 KeyToggleState;
`);
export const KEY_DATA = struct("EFI_KEY_DATA", `
  EFI_INPUT_KEY Key;
  EFI_KEY_STATE KeyState;
`);
export const SIMPLE_TEXT_INPUT_EX_PROTOCOL = struct("EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL", `
  EFI_STATUS Reset(EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, BOOLEAN ExtendedVerification);
  EFI_STATUS ReadKeyStrokeEx(EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, EFI_KEY_DATA *KeyData);
  EFI_EVENT WaitForKeyEx;
  EFI_STATUS SetState(EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, UINT8 *KeyToggleState);
  EFI_STATUS RegisterKeyNotify(EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, EFI_KEY_DATA *KeyData, VOID *KeyNotificationFunction, VOID **NotifyHandle);
  EFI_STATUS UnregisterKeyNotify(EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, VOID *NotificationHandle);
`);
// §12.2.5 EFI_TOGGLE_STATE_VALID: a toggle state with this bit is one to set.
export const TOGGLE_STATE_VALID = 0x80;

// §4.6 EFI_CONFIGURATION_TABLE
export const CONFIGURATION_TABLE = struct("EFI_CONFIGURATION_TABLE", `
  EFI_GUID VendorGuid;
  VOID *VendorTable;
`);

// §10.2 EFI_DEVICE_PATH_PROTOCOL: a node header; nodes follow each other, Length bytes
// apart, up to an end node (Type 0x7f, SubType 0xff).
export const DEVICE_PATH_PROTOCOL = struct("EFI_DEVICE_PATH_PROTOCOL", `
  UINT8 Type;
  UINT8 SubType;
  UINT8 Length[2];
`);
// Node types and the subtypes the firmware builds or names (§10.3).
export const DEVICE_PATH = {
  HARDWARE_DEVICE_PATH: 0x01, HW_VENDOR_DP: 0x04,
  ACPI_DEVICE_PATH: 0x02,
  MESSAGING_DEVICE_PATH: 0x03, MSG_VENDOR_DP: 0x0a,
  HW_PCI_DP: 0x01, ACPI_DP: 0x01,
  MEDIA_DEVICE_PATH: 0x04, MEDIA_HARDDRIVE_DP: 0x01, MEDIA_VENDOR_DP: 0x03, MEDIA_FILEPATH_DP: 0x04,
  BBS_DEVICE_PATH: 0x05,
  END_DEVICE_PATH_TYPE: 0x7f, END_INSTANCE_DEVICE_PATH_SUBTYPE: 0x01, END_ENTIRE_DEVICE_PATH_SUBTYPE: 0xff,
} as const;

// §10.5 EFI_DEVICE_PATH_UTILITIES_PROTOCOL. Every path it returns is pool memory the
// caller frees.
export const DEVICE_PATH_UTILITIES_PROTOCOL = struct("EFI_DEVICE_PATH_UTILITIES_PROTOCOL", `
  UINTN GetDevicePathSize(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *DuplicateDevicePath(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *AppendDevicePath(CONST EFI_DEVICE_PATH_PROTOCOL *Src1, CONST EFI_DEVICE_PATH_PROTOCOL *Src2);
  EFI_DEVICE_PATH_PROTOCOL *AppendDeviceNode(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath, CONST EFI_DEVICE_PATH_PROTOCOL *DeviceNode);
  EFI_DEVICE_PATH_PROTOCOL *AppendDevicePathInstance(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath, CONST EFI_DEVICE_PATH_PROTOCOL *DevicePathInstance);
  EFI_DEVICE_PATH_PROTOCOL *GetNextDevicePathInstance(EFI_DEVICE_PATH_PROTOCOL **DevicePathInstance, UINTN *DevicePathInstanceSize);
  BOOLEAN IsDevicePathMultiInstance(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *CreateDeviceNode(UINT8 NodeType, UINT8 NodeSubType, UINT16 NodeLength);
`);

// §10.6 EFI_DEVICE_PATH_TO_TEXT_PROTOCOL. The text is pool memory the caller frees.
export const DEVICE_PATH_TO_TEXT_PROTOCOL = struct("EFI_DEVICE_PATH_TO_TEXT_PROTOCOL", `
  CHAR16 *ConvertDeviceNodeToText(CONST EFI_DEVICE_PATH_PROTOCOL *DeviceNode, BOOLEAN DisplayOnly, BOOLEAN AllowShortcuts);
  CHAR16 *ConvertDevicePathToText(CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath, BOOLEAN DisplayOnly, BOOLEAN AllowShortcuts);
`);

// §13.2 EFI_LOAD_FILE2_PROTOCOL (Linux loads its initrd through it, on a vendor media
// device path with LINUX_EFI_INITRD_MEDIA_GUID).
export const LOAD_FILE2_PROTOCOL = struct("EFI_LOAD_FILE2_PROTOCOL", `
  EFI_STATUS LoadFile(EFI_LOAD_FILE2_PROTOCOL *This, EFI_DEVICE_PATH_PROTOCOL *FilePath, BOOLEAN BootPolicy, UINTN *BufferSize, VOID *Buffer);
`);

// §37.5 EFI_RNG_PROTOCOL. (EFI_RNG_ALGORITHM is an EFI_GUID.)
export const RNG_PROTOCOL = struct("EFI_RNG_PROTOCOL", `
  EFI_STATUS GetInfo(EFI_RNG_PROTOCOL *This, UINTN *RNGAlgorithmListSize, EFI_GUID *RNGAlgorithmList);
  EFI_STATUS GetRNG(EFI_RNG_PROTOCOL *This, EFI_GUID *RNGAlgorithm, UINTN RNGValueLength, UINT8 *RNGValue);
`);

// §8 EFI_TIME, EFI_TIME_CAPABILITIES
export const TIME = struct("EFI_TIME", `
  UINT16 Year;
  UINT8 Month;
  UINT8 Day;
  UINT8 Hour;
  UINT8 Minute;
  UINT8 Second;
  UINT8 Pad1;
  UINT32 Nanosecond;
  INT16 TimeZone;
  UINT8 Daylight;
  UINT8 Pad2;
`);

export const TIME_CAPABILITIES = struct("EFI_TIME_CAPABILITIES", `
  UINT32 Resolution;
  UINT32 Accuracy;
  BOOLEAN SetsToZero;
`);

// §8.5.3 EFI_CAPSULE_HEADER (UpdateCapsule's argument; ueficorn takes no capsules).
export const CAPSULE_HEADER = struct("EFI_CAPSULE_HEADER", `
  EFI_GUID CapsuleGuid;
  UINT32 HeaderSize;
  UINT32 Flags;
  UINT32 CapsuleImageSize;
`);

// §13.9 EFI_BLOCK_IO_PROTOCOL (revision 3) and the media it describes.
export const BLOCK_IO_MEDIA = struct("EFI_BLOCK_IO_MEDIA", `
  UINT32 MediaId;
  BOOLEAN RemovableMedia;
  BOOLEAN MediaPresent;
  BOOLEAN LogicalPartition;
  BOOLEAN ReadOnly;
  BOOLEAN WriteCaching;
  UINT32 BlockSize;
  UINT32 IoAlign;
  EFI_LBA LastBlock;
  EFI_LBA LowestAlignedLba;
  UINT32 LogicalBlocksPerPhysicalBlock;
  UINT32 OptimalTransferLengthGranularity;
`);
export const BLOCK_IO_PROTOCOL = struct("EFI_BLOCK_IO_PROTOCOL", `
  UINT64 Revision;
  EFI_BLOCK_IO_MEDIA *Media;
  EFI_STATUS Reset(EFI_BLOCK_IO_PROTOCOL *This, BOOLEAN ExtendedVerification);
  EFI_STATUS ReadBlocks(EFI_BLOCK_IO_PROTOCOL *This, UINT32 MediaId, EFI_LBA Lba, UINTN BufferSize, VOID *Buffer);
  EFI_STATUS WriteBlocks(EFI_BLOCK_IO_PROTOCOL *This, UINT32 MediaId, EFI_LBA Lba, UINTN BufferSize, VOID *Buffer);
  EFI_STATUS FlushBlocks(EFI_BLOCK_IO_PROTOCOL *This);
`);
export const BLOCK_IO_PROTOCOL_REVISION3 = (2 << 16) | 31;

// §13.7 EFI_DISK_IO_PROTOCOL: byte-addressed access over a Block I/O.
export const DISK_IO_PROTOCOL = struct("EFI_DISK_IO_PROTOCOL", `
  UINT64 Revision;
  EFI_STATUS ReadDisk(EFI_DISK_IO_PROTOCOL *This, UINT32 MediaId, UINT64 Offset, UINTN BufferSize, VOID *Buffer);
  EFI_STATUS WriteDisk(EFI_DISK_IO_PROTOCOL *This, UINT32 MediaId, UINT64 Offset, UINTN BufferSize, VOID *Buffer);
`);
export const DISK_IO_PROTOCOL_REVISION = 0x00010000;

// §13.18 EFI_PARTITION_INFO_PROTOCOL. Packed in the spec; natural alignment gives the
// same offsets. Info is the partition's MBR record (16 bytes) or GPT entry (128).
export const PARTITION_INFO_PROTOCOL = struct("EFI_PARTITION_INFO_PROTOCOL", `
  UINT32 Revision;
  UINT32 Type;
  UINT8 System;
  UINT8 Reserved[7];
  UINT8 Info[128];
`);
export const PARTITION_INFO = { REVISION: 0x00010000, TYPE_OTHER: 0, TYPE_MBR: 1, TYPE_GPT: 2 } as const;

// §13.5 EFI_FILE_PROTOCOL. Revision 2 adds the four asynchronous *Ex slots; ueficorn
// serves revision 1 (Revision says so) and the Ex slots answer UNSUPPORTED.
export const FILE_PROTOCOL = struct("EFI_FILE_PROTOCOL", `
  UINT64 Revision;
  EFI_STATUS Open(EFI_FILE_PROTOCOL *This, EFI_FILE_PROTOCOL **NewHandle, CHAR16 *FileName, UINT64 OpenMode, UINT64 Attributes);
  EFI_STATUS Close(EFI_FILE_PROTOCOL *This);
  EFI_STATUS Delete(EFI_FILE_PROTOCOL *This);
  EFI_STATUS Read(EFI_FILE_PROTOCOL *This, UINTN *BufferSize, VOID *Buffer);
  EFI_STATUS Write(EFI_FILE_PROTOCOL *This, UINTN *BufferSize, VOID *Buffer);
  EFI_STATUS GetPosition(EFI_FILE_PROTOCOL *This, UINT64 *Position);
  EFI_STATUS SetPosition(EFI_FILE_PROTOCOL *This, UINT64 Position);
  EFI_STATUS GetInfo(EFI_FILE_PROTOCOL *This, EFI_GUID *InformationType, UINTN *BufferSize, VOID *Buffer);
  EFI_STATUS SetInfo(EFI_FILE_PROTOCOL *This, EFI_GUID *InformationType, UINTN BufferSize, VOID *Buffer);
  EFI_STATUS Flush(EFI_FILE_PROTOCOL *This);
  EFI_STATUS OpenEx(EFI_FILE_PROTOCOL *This, EFI_FILE_PROTOCOL **NewHandle, CHAR16 *FileName, UINT64 OpenMode, UINT64 Attributes, VOID *Token);
  EFI_STATUS ReadEx(EFI_FILE_PROTOCOL *This, VOID *Token);
  EFI_STATUS WriteEx(EFI_FILE_PROTOCOL *This, VOID *Token);
  EFI_STATUS FlushEx(EFI_FILE_PROTOCOL *This, VOID *Token);
`);
export const FILE_PROTOCOL_REVISION = 0x00010000;
// §13.5.2 open modes, §13.5.2 file attributes (the same bits as a FAT directory entry's).
export const FILE_MODE = { READ: 0x1n, WRITE: 0x2n, CREATE: 0x8000000000000000n } as const;
export const FILE_ATTRIBUTE = { READ_ONLY: 0x01, HIDDEN: 0x02, SYSTEM: 0x04, RESERVED: 0x08, DIRECTORY: 0x10, ARCHIVE: 0x20, VALID_ATTR: 0x37 } as const;

// §13.4 EFI_SIMPLE_FILE_SYSTEM_PROTOCOL
export const SIMPLE_FILE_SYSTEM_PROTOCOL = struct("EFI_SIMPLE_FILE_SYSTEM_PROTOCOL", `
  UINT64 Revision;
  EFI_STATUS OpenVolume(EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *This, EFI_FILE_PROTOCOL **Root);
`);
export const SIMPLE_FILE_SYSTEM_PROTOCOL_REVISION = 0x00010000;

// §13.5.16 EFI_FILE_INFO and §13.5.17 EFI_FILE_SYSTEM_INFO. Both end in a NUL-terminated
// name whose offset is the fixed part's size (SIZE_OF_EFI_FILE_INFO = FileName's offset).
export const FILE_INFO = struct("EFI_FILE_INFO", `
  UINT64 Size;
  UINT64 FileSize;
  UINT64 PhysicalSize;
  EFI_TIME CreateTime;
  EFI_TIME LastAccessTime;
  EFI_TIME ModificationTime;
  UINT64 Attribute;
  CHAR16 FileName[1];
`);
export const FILE_SYSTEM_INFO = struct("EFI_FILE_SYSTEM_INFO", `
  UINT64 Size;
  BOOLEAN ReadOnly;
  UINT64 VolumeSize;
  UINT64 FreeSpace;
  UINT32 BlockSize;
  CHAR16 VolumeLabel[1];
`);

// §10.3 device-path nodes the firmware builds for disks (all packed in the spec; each
// declared here at its natural offsets, which match, and built with its length).
export const ACPI_HID_DEVICE_PATH = struct("ACPI_HID_DEVICE_PATH", `
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT32 HID;
  UINT32 UID;
`);
export const PCI_DEVICE_PATH = struct("PCI_DEVICE_PATH", `
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT8 Function;
  UINT8 Device;
`);
// §10.3.5.1 Hard Drive media node: 42 bytes (SignatureType is the last).
export const HARDDRIVE_DEVICE_PATH = struct("HARDDRIVE_DEVICE_PATH", `
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT32 PartitionNumber;
  UINT64 PartitionStart;
  UINT64 PartitionSize;
  UINT8 Signature[16];
  UINT8 MBRType;
  UINT8 SignatureType;
`);

// §12.4 SetAttribute(): the text colours (EFI_TEXT_ATTR(Foreground, Background) packs two).
export const TEXT_ATTRIBUTE = {
  BLACK: 0x00, BLUE: 0x01, GREEN: 0x02, CYAN: 0x03, RED: 0x04, MAGENTA: 0x05, BROWN: 0x06, LIGHTGRAY: 0x07,
  BRIGHT: 0x08, DARKGRAY: 0x08, LIGHTBLUE: 0x09, LIGHTGREEN: 0x0a, LIGHTCYAN: 0x0b, LIGHTRED: 0x0c,
  LIGHTMAGENTA: 0x0d, YELLOW: 0x0e, WHITE: 0x0f,
  BACKGROUND_BLACK: 0x00, BACKGROUND_BLUE: 0x10, BACKGROUND_GREEN: 0x20, BACKGROUND_CYAN: 0x30,
  BACKGROUND_RED: 0x40, BACKGROUND_MAGENTA: 0x50, BACKGROUND_BROWN: 0x60, BACKGROUND_LIGHTGRAY: 0x70,
} as const;

// §12.9 EFI_GRAPHICS_OUTPUT_PROTOCOL, its mode and mode information.
export const PIXEL_BITMASK = struct("EFI_PIXEL_BITMASK", `
  UINT32 RedMask;
  UINT32 GreenMask;
  UINT32 BlueMask;
  UINT32 ReservedMask;
`);
export const GRAPHICS_OUTPUT_MODE_INFORMATION = struct("EFI_GRAPHICS_OUTPUT_MODE_INFORMATION", `
  UINT32 Version;
  UINT32 HorizontalResolution;
  UINT32 VerticalResolution;
  UINT32 PixelFormat;
  EFI_PIXEL_BITMASK PixelInformation;
  UINT32 PixelsPerScanLine;
`);
export const GRAPHICS_OUTPUT_PROTOCOL_MODE = struct("EFI_GRAPHICS_OUTPUT_PROTOCOL_MODE", `
  UINT32 MaxMode;
  UINT32 Mode;
  EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *Info;
  UINTN SizeOfInfo;
  EFI_PHYSICAL_ADDRESS FrameBufferBase;
  UINTN FrameBufferSize;
`);
export const GRAPHICS_OUTPUT_PROTOCOL = struct("EFI_GRAPHICS_OUTPUT_PROTOCOL", `
  EFI_STATUS QueryMode(EFI_GRAPHICS_OUTPUT_PROTOCOL *This, UINT32 ModeNumber, UINTN *SizeOfInfo, EFI_GRAPHICS_OUTPUT_MODE_INFORMATION **Info);
  EFI_STATUS SetMode(EFI_GRAPHICS_OUTPUT_PROTOCOL *This, UINT32 ModeNumber);
  EFI_STATUS Blt(EFI_GRAPHICS_OUTPUT_PROTOCOL *This, UINT32 *BltBuffer, UINT32 BltOperation, UINTN SourceX, UINTN SourceY, UINTN DestinationX, UINTN DestinationY, UINTN Width, UINTN Height, UINTN Delta);
  EFI_GRAPHICS_OUTPUT_PROTOCOL_MODE *Mode;
`);
// §12.9: PixelBlueGreenRedReserved8BitPerColor; the Blt operations.
export const GRAPHICS = { PIXEL_BGRX: 1, VIDEO_FILL: 0, VIDEO_TO_BLT_BUFFER: 1, BUFFER_TO_VIDEO: 2, VIDEO_TO_VIDEO: 3 } as const;

// §19.2 EFI_UNICODE_COLLATION_PROTOCOL (the UnicodeCollation2 GUID: RFC 4646 codes).
export const UNICODE_COLLATION_PROTOCOL = struct("EFI_UNICODE_COLLATION_PROTOCOL", `
  INTN StriColl(EFI_UNICODE_COLLATION_PROTOCOL *This, CHAR16 *Str1, CHAR16 *Str2);
  BOOLEAN MetaiMatch(EFI_UNICODE_COLLATION_PROTOCOL *This, CHAR16 *String, CHAR16 *Pattern);
  VOID StrLwr(EFI_UNICODE_COLLATION_PROTOCOL *This, CHAR16 *Str);
  VOID StrUpr(EFI_UNICODE_COLLATION_PROTOCOL *This, CHAR16 *Str);
  VOID FatToStr(EFI_UNICODE_COLLATION_PROTOCOL *This, UINTN FatSize, CHAR8 *Fat, CHAR16 *String);
  BOOLEAN StrToFat(EFI_UNICODE_COLLATION_PROTOCOL *This, CHAR16 *String, UINTN FatSize, CHAR8 *Fat);
  CHAR8 *SupportedLanguages;
`);

// §3.1.3 EFI_LOAD_OPTION (Boot####): Description (NUL-terminated) follows at its offset,
// then FilePathListLength bytes of device paths, then the optional data.
export const LOAD_OPTION = struct("EFI_LOAD_OPTION", `
  UINT32 Attributes;
  UINT16 FilePathListLength;
  CHAR16 Description[1];
`);
export const LOAD_OPTION_ACTIVE = 0x1;

// §4.6 EFI_RT_PROPERTIES_TABLE: bit i of RuntimeServicesSupported is runtime service i
// in table order (GetTime = bit 0 ... QueryVariableInfo = bit 13).
export const RT_PROPERTIES_TABLE = struct("EFI_RT_PROPERTIES_TABLE", `
  UINT16 Version;
  UINT16 Length;
  UINT32 RuntimeServicesSupported;
`);

// §7.2 EFI_MEMORY_DESCRIPTOR (version 1). GetMemoryMap reports a larger
// DescriptorSize (MEMORY_DESCRIPTOR_STRIDE) so guests that step by sizeof break here,
// not on real firmware, as EDK2 does.
export const MEMORY_DESCRIPTOR = struct("EFI_MEMORY_DESCRIPTOR", `
  UINT32 Type;
  EFI_PHYSICAL_ADDRESS PhysicalStart;
  EFI_VIRTUAL_ADDRESS VirtualStart;
  UINT64 NumberOfPages;
  UINT64 Attribute;
`);
export const MEMORY_DESCRIPTOR_STRIDE = 48;
export const MEMORY_DESCRIPTOR_VERSION = 1;

// §9.1 EFI_LOADED_IMAGE_PROTOCOL
export const LOADED_IMAGE_PROTOCOL = struct("EFI_LOADED_IMAGE_PROTOCOL", `
  UINT32 Revision;
  EFI_HANDLE ParentHandle;
  EFI_SYSTEM_TABLE *SystemTable;
  EFI_HANDLE DeviceHandle;
  EFI_DEVICE_PATH_PROTOCOL *FilePath;
  VOID *Reserved;
  UINT32 LoadOptionsSize;
  VOID *LoadOptions;
  VOID *ImageBase;
  UINT64 ImageSize;
  EFI_MEMORY_TYPE ImageCodeType;
  EFI_MEMORY_TYPE ImageDataType;
  VOID *Unload;
`);
export const LOADED_IMAGE_PROTOCOL_REVISION = 0x1000;

// §7.1 EFI_EVENT_NOTIFY (CreateEvent's NotifyFunction) and §4.1 EFI_IMAGE_ENTRY_POINT.
export const EVENT_NOTIFY = fnType("EFI_EVENT_NOTIFY", "VOID (EFI_EVENT Event, VOID *Context)");
export const IMAGE_ENTRY_POINT = fnType("EFI_IMAGE_ENTRY_POINT", "EFI_STATUS (EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable)");

// §4.4 EFI_BOOT_SERVICES. The Reserved slot is a VOID* in the spec; we give it a thunk
// like every other slot so a stray call is traced and answered, not a jump to NULL.
export const BOOT_SERVICES = struct("EFI_BOOT_SERVICES", `
  EFI_TABLE_HEADER Hdr;
  EFI_TPL RaiseTPL(EFI_TPL NewTpl);
  VOID RestoreTPL(EFI_TPL OldTpl);
  EFI_STATUS AllocatePages(EFI_ALLOCATE_TYPE Type, EFI_MEMORY_TYPE MemoryType, UINTN Pages, EFI_PHYSICAL_ADDRESS *Memory);
  EFI_STATUS FreePages(EFI_PHYSICAL_ADDRESS Memory, UINTN Pages);
  EFI_STATUS GetMemoryMap(UINTN *MemoryMapSize, EFI_MEMORY_DESCRIPTOR *MemoryMap, UINTN *MapKey, UINTN *DescriptorSize, UINT32 *DescriptorVersion);
  EFI_STATUS AllocatePool(EFI_MEMORY_TYPE PoolType, UINTN Size, VOID **Buffer);
  EFI_STATUS FreePool(VOID *Buffer);
  EFI_STATUS CreateEvent(UINT32 Type, EFI_TPL NotifyTpl, EFI_EVENT_NOTIFY NotifyFunction, VOID *NotifyContext, EFI_EVENT *Event);
  EFI_STATUS SetTimer(EFI_EVENT Event, EFI_TIMER_DELAY Type, UINT64 TriggerTime);
  EFI_STATUS WaitForEvent(UINTN NumberOfEvents, EFI_EVENT *Event, UINTN *Index);
  EFI_STATUS SignalEvent(EFI_EVENT Event);
  EFI_STATUS CloseEvent(EFI_EVENT Event);
  EFI_STATUS CheckEvent(EFI_EVENT Event);
  EFI_STATUS InstallProtocolInterface(EFI_HANDLE *Handle, EFI_GUID *Protocol, EFI_INTERFACE_TYPE InterfaceType, VOID *Interface);
  EFI_STATUS ReinstallProtocolInterface(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID *OldInterface, VOID *NewInterface);
  EFI_STATUS UninstallProtocolInterface(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID *Interface);
  EFI_STATUS HandleProtocol(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID **Interface);
  EFI_STATUS Reserved(VOID);
  EFI_STATUS RegisterProtocolNotify(EFI_GUID *Protocol, EFI_EVENT Event, VOID **Registration);
  EFI_STATUS LocateHandle(EFI_LOCATE_SEARCH_TYPE SearchType, EFI_GUID *Protocol, VOID *SearchKey, UINTN *BufferSize, EFI_HANDLE *Buffer);
  EFI_STATUS LocateDevicePath(EFI_GUID *Protocol, EFI_DEVICE_PATH_PROTOCOL **DevicePath, EFI_HANDLE *Device);
  EFI_STATUS InstallConfigurationTable(EFI_GUID *Guid, VOID *Table);
  EFI_STATUS LoadImage(BOOLEAN BootPolicy, EFI_HANDLE ParentImageHandle, EFI_DEVICE_PATH_PROTOCOL *DevicePath, VOID *SourceBuffer, UINTN SourceSize, EFI_HANDLE *ImageHandle);
  EFI_STATUS StartImage(EFI_HANDLE ImageHandle, UINTN *ExitDataSize, CHAR16 **ExitData);
  EFI_STATUS Exit(EFI_HANDLE ImageHandle, EFI_STATUS ExitStatus, UINTN ExitDataSize, CHAR16 *ExitData);
  EFI_STATUS UnloadImage(EFI_HANDLE ImageHandle);
  EFI_STATUS ExitBootServices(EFI_HANDLE ImageHandle, UINTN MapKey);
  EFI_STATUS GetNextMonotonicCount(UINT64 *Count);
  EFI_STATUS Stall(UINTN Microseconds);
  EFI_STATUS SetWatchdogTimer(UINTN Timeout, UINT64 WatchdogCode, UINTN DataSize, CHAR16 *WatchdogData);
  EFI_STATUS ConnectController(EFI_HANDLE ControllerHandle, EFI_HANDLE *DriverImageHandle, EFI_DEVICE_PATH_PROTOCOL *RemainingDevicePath, BOOLEAN Recursive);
  EFI_STATUS DisconnectController(EFI_HANDLE ControllerHandle, EFI_HANDLE DriverImageHandle, EFI_HANDLE ChildHandle);
  EFI_STATUS OpenProtocol(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID **Interface, EFI_HANDLE AgentHandle, EFI_HANDLE ControllerHandle, UINT32 Attributes);
  EFI_STATUS CloseProtocol(EFI_HANDLE Handle, EFI_GUID *Protocol, EFI_HANDLE AgentHandle, EFI_HANDLE ControllerHandle);
  EFI_STATUS OpenProtocolInformation(EFI_HANDLE Handle, EFI_GUID *Protocol, EFI_OPEN_PROTOCOL_INFORMATION_ENTRY **EntryBuffer, UINTN *EntryCount);
  EFI_STATUS ProtocolsPerHandle(EFI_HANDLE Handle, EFI_GUID ***ProtocolBuffer, UINTN *ProtocolBufferCount);
  EFI_STATUS LocateHandleBuffer(EFI_LOCATE_SEARCH_TYPE SearchType, EFI_GUID *Protocol, VOID *SearchKey, UINTN *NoHandles, EFI_HANDLE **Buffer);
  EFI_STATUS LocateProtocol(EFI_GUID *Protocol, VOID *Registration, VOID **Interface);
  EFI_STATUS InstallMultipleProtocolInterfaces(EFI_HANDLE *Handle, ...);
  EFI_STATUS UninstallMultipleProtocolInterfaces(EFI_HANDLE Handle, ...);
  EFI_STATUS CalculateCrc32(VOID *Data, UINTN DataSize, UINT32 *Crc32);
  VOID CopyMem(VOID *Destination, VOID *Source, UINTN Length);
  VOID SetMem(VOID *Buffer, UINTN Size, UINT8 Value);
  EFI_STATUS CreateEventEx(UINT32 Type, EFI_TPL NotifyTpl, EFI_EVENT_NOTIFY NotifyFunction, VOID *NotifyContext, EFI_GUID *EventGroup, EFI_EVENT *Event);
`);
export const BOOT_SERVICES_SIGNATURE = 0x56524553544f4f42n; // "BOOTSERV"

// §4.5 EFI_RUNTIME_SERVICES
export const RUNTIME_SERVICES = struct("EFI_RUNTIME_SERVICES", `
  EFI_TABLE_HEADER Hdr;
  EFI_STATUS GetTime(EFI_TIME *Time, EFI_TIME_CAPABILITIES *Capabilities);
  EFI_STATUS SetTime(EFI_TIME *Time);
  EFI_STATUS GetWakeupTime(BOOLEAN *Enabled, BOOLEAN *Pending, EFI_TIME *Time);
  EFI_STATUS SetWakeupTime(BOOLEAN Enable, EFI_TIME *Time);
  EFI_STATUS SetVirtualAddressMap(UINTN MemoryMapSize, UINTN DescriptorSize, UINT32 DescriptorVersion, EFI_MEMORY_DESCRIPTOR *VirtualMap);
  EFI_STATUS ConvertPointer(UINTN DebugDisposition, VOID **Address);
  EFI_STATUS GetVariable(CHAR16 *VariableName, EFI_GUID *VendorGuid, UINT32 *Attributes, UINTN *DataSize, VOID *Data);
  EFI_STATUS GetNextVariableName(UINTN *VariableNameSize, CHAR16 *VariableName, EFI_GUID *VendorGuid);
  EFI_STATUS SetVariable(CHAR16 *VariableName, EFI_GUID *VendorGuid, UINT32 Attributes, UINTN DataSize, VOID *Data);
  EFI_STATUS GetNextHighMonotonicCount(UINT32 *HighCount);
  VOID ResetSystem(EFI_RESET_TYPE ResetType, EFI_STATUS ResetStatus, UINTN DataSize, VOID *ResetData);
  EFI_STATUS UpdateCapsule(EFI_CAPSULE_HEADER **CapsuleHeaderArray, UINTN CapsuleCount, EFI_PHYSICAL_ADDRESS ScatterGatherList);
  EFI_STATUS QueryCapsuleCapabilities(EFI_CAPSULE_HEADER **CapsuleHeaderArray, UINTN CapsuleCount, UINT64 *MaximumCapsuleSize, EFI_RESET_TYPE *ResetType);
  EFI_STATUS QueryVariableInfo(UINT32 Attributes, UINT64 *MaximumVariableStorageSize, UINT64 *RemainingVariableStorageSize, UINT64 *MaximumVariableSize);
`);
export const RUNTIME_SERVICES_SIGNATURE = 0x56524553544e5552n; // "RUNTSERV"

// §4.3 EFI_SYSTEM_TABLE
export const SYSTEM_TABLE = struct("EFI_SYSTEM_TABLE", `
  EFI_TABLE_HEADER Hdr;
  CHAR16 *FirmwareVendor;
  UINT32 FirmwareRevision;
  EFI_HANDLE ConsoleInHandle;
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL *ConIn;
  EFI_HANDLE ConsoleOutHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *ConOut;
  EFI_HANDLE StandardErrorHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *StdErr;
  EFI_RUNTIME_SERVICES *RuntimeServices;
  EFI_BOOT_SERVICES *BootServices;
  UINTN NumberOfTableEntries;
  EFI_CONFIGURATION_TABLE *ConfigurationTable;
`);
export const SYSTEM_TABLE_SIGNATURE = 0x5453595320494249n; // "IBI SYST"
// §4.3: revision 2.70 = (2 << 16) | 70
export const SYSTEM_TABLE_REVISION = (2 << 16) | 70;

// §7.3 EFI_OPEN_PROTOCOL_INFORMATION_ENTRY, one per (agent, controller, attributes) that
// has a protocol open, as OpenProtocolInformation returns them.
export const OPEN_PROTOCOL_INFORMATION_ENTRY = struct("EFI_OPEN_PROTOCOL_INFORMATION_ENTRY", `
  EFI_HANDLE AgentHandle;
  EFI_HANDLE ControllerHandle;
  UINT32 Attributes;
  UINT32 OpenCount;
`);

/** Every struct, for generators and layout tests. */
export const STRUCTS: Struct[] = [
  TABLE_HEADER, GUID, SIMPLE_TEXT_OUTPUT_MODE, SIMPLE_TEXT_OUTPUT_PROTOCOL, INPUT_KEY,
  SIMPLE_TEXT_INPUT_PROTOCOL, CONFIGURATION_TABLE, DEVICE_PATH_PROTOCOL, LOAD_FILE2_PROTOCOL, RNG_PROTOCOL,
  DEVICE_PATH_UTILITIES_PROTOCOL, DEVICE_PATH_TO_TEXT_PROTOCOL,
  BLOCK_IO_MEDIA, BLOCK_IO_PROTOCOL, DISK_IO_PROTOCOL, PARTITION_INFO_PROTOCOL, FILE_PROTOCOL,
  SIMPLE_FILE_SYSTEM_PROTOCOL, FILE_INFO, FILE_SYSTEM_INFO, ACPI_HID_DEVICE_PATH, PCI_DEVICE_PATH,
  HARDDRIVE_DEVICE_PATH, LOAD_OPTION, PIXEL_BITMASK, GRAPHICS_OUTPUT_MODE_INFORMATION, GRAPHICS_OUTPUT_PROTOCOL_MODE,
  GRAPHICS_OUTPUT_PROTOCOL, KEY_STATE, KEY_DATA, SIMPLE_TEXT_INPUT_EX_PROTOCOL, UNICODE_COLLATION_PROTOCOL,
  RT_PROPERTIES_TABLE, MEMORY_DESCRIPTOR, LOADED_IMAGE_PROTOCOL,
  BOOT_SERVICES, TIME, TIME_CAPABILITIES, CAPSULE_HEADER, RUNTIME_SERVICES, SYSTEM_TABLE,
  OPEN_PROTOCOL_INFORMATION_ENTRY,
];

/**
 * The interfaces whose function slots are served by thunks, with the short table name
 * used for service ids, handler names (`BS_AllocatePages`) and traces.
 */
export const INTERFACES: { table: string; struct: Struct }[] = [
  { table: "BS", struct: BOOT_SERVICES },
  { table: "RT", struct: RUNTIME_SERVICES },
  { table: "ConOut", struct: SIMPLE_TEXT_OUTPUT_PROTOCOL },
  { table: "ConIn", struct: SIMPLE_TEXT_INPUT_PROTOCOL },
  { table: "LoadFile2", struct: LOAD_FILE2_PROTOCOL },
  { table: "DevicePathUtilities", struct: DEVICE_PATH_UTILITIES_PROTOCOL },
  { table: "DevicePathToText", struct: DEVICE_PATH_TO_TEXT_PROTOCOL },
  { table: "Rng", struct: RNG_PROTOCOL },
  { table: "BlockIo", struct: BLOCK_IO_PROTOCOL },
  { table: "DiskIo", struct: DISK_IO_PROTOCOL },
  { table: "SimpleFileSystem", struct: SIMPLE_FILE_SYSTEM_PROTOCOL },
  { table: "File", struct: FILE_PROTOCOL },
  { table: "Gop", struct: GRAPHICS_OUTPUT_PROTOCOL },
  { table: "SimpleTextInputEx", struct: SIMPLE_TEXT_INPUT_EX_PROTOCOL },
  { table: "UnicodeCollation", struct: UNICODE_COLLATION_PROTOCOL },
];

// Appendix D. Error codes have the high bit set; warnings do not.
export const ERROR_BIT = 1n << 63n;
export const STATUS = {
  SUCCESS: 0n,
  LOAD_ERROR: ERROR_BIT | 1n,
  INVALID_PARAMETER: ERROR_BIT | 2n,
  UNSUPPORTED: ERROR_BIT | 3n,
  BAD_BUFFER_SIZE: ERROR_BIT | 4n,
  BUFFER_TOO_SMALL: ERROR_BIT | 5n,
  NOT_READY: ERROR_BIT | 6n,
  DEVICE_ERROR: ERROR_BIT | 7n,
  WRITE_PROTECTED: ERROR_BIT | 8n,
  OUT_OF_RESOURCES: ERROR_BIT | 9n,
  VOLUME_CORRUPTED: ERROR_BIT | 10n,
  VOLUME_FULL: ERROR_BIT | 11n,
  NO_MEDIA: ERROR_BIT | 12n,
  MEDIA_CHANGED: ERROR_BIT | 13n,
  NOT_FOUND: ERROR_BIT | 14n,
  ACCESS_DENIED: ERROR_BIT | 15n,
  NO_RESPONSE: ERROR_BIT | 16n,
  NO_MAPPING: ERROR_BIT | 17n,
  TIMEOUT: ERROR_BIT | 18n,
  NOT_STARTED: ERROR_BIT | 19n,
  ALREADY_STARTED: ERROR_BIT | 20n,
  ABORTED: ERROR_BIT | 21n,
  ICMP_ERROR: ERROR_BIT | 22n,
  TFTP_ERROR: ERROR_BIT | 23n,
  PROTOCOL_ERROR: ERROR_BIT | 24n,
  INCOMPATIBLE_VERSION: ERROR_BIT | 25n,
  SECURITY_VIOLATION: ERROR_BIT | 26n,
  CRC_ERROR: ERROR_BIT | 27n,
  END_OF_MEDIA: ERROR_BIT | 28n,
  END_OF_FILE: ERROR_BIT | 31n,
  INVALID_LANGUAGE: ERROR_BIT | 32n,
  COMPROMISED_DATA: ERROR_BIT | 33n,
  IP_ADDRESS_CONFLICT: ERROR_BIT | 34n,
  HTTP_ERROR: ERROR_BIT | 35n,
  WARN_UNKNOWN_GLYPH: 1n,
  WARN_DELETE_FAILURE: 2n,
  WARN_WRITE_FAILURE: 3n,
  WARN_BUFFER_TOO_SMALL: 4n,
  WARN_STALE_DATA: 5n,
  WARN_FILE_SYSTEM: 6n,
  WARN_RESET_REQUIRED: 7n,
} as const;
export type StatusName = keyof typeof STATUS;

export function statusName(s: bigint): string {
  for (const [k, v] of Object.entries(STATUS)) if (v === s) return k;
  return (s & ERROR_BIT ? "ERROR|0x" : "0x") + (s & ~ERROR_BIT).toString(16);
}

// §7.2 EFI_MEMORY_TYPE
export const MEMORY_TYPE = {
  ReservedMemoryType: 0, LoaderCode: 1, LoaderData: 2, BootServicesCode: 3,
  BootServicesData: 4, RuntimeServicesCode: 5, RuntimeServicesData: 6,
  ConventionalMemory: 7, UnusableMemory: 8, ACPIReclaimMemory: 9, ACPIMemoryNVS: 10,
  MemoryMappedIO: 11, MemoryMappedIOPortSpace: 12, PalCode: 13, PersistentMemory: 14,
  UnacceptedMemoryType: 15, MaxMemoryType: 16,
} as const;

// §7.2 EFI_ALLOCATE_TYPE
export const ALLOCATE_TYPE = { AllocateAnyPages: 0, AllocateMaxAddress: 1, AllocateAddress: 2, MaxAllocateType: 3 } as const;

// §7.2 memory attributes
export const MEMORY_ATTRIBUTE = {
  UC: 0x1n, WC: 0x2n, WT: 0x4n, WB: 0x8n, UCE: 0x10n, WP: 0x1000n, RP: 0x2000n, XP: 0x4000n, NV: 0x8000n,
  MORE_RELIABLE: 0x10000n, RO: 0x20000n, SP: 0x40000n, CPU_CRYPTO: 0x80000n,
  RUNTIME: 1n << 63n, ISA_VALID: 1n << 62n, ISA_MASK: 0x0fff_f000_0000_0000n,
} as const;

// §7.3 OpenProtocol attributes, §7.3 EFI_INTERFACE_TYPE, §7.3 EFI_LOCATE_SEARCH_TYPE
export const OPEN_PROTOCOL = {
  BY_HANDLE_PROTOCOL: 0x01, GET_PROTOCOL: 0x02, TEST_PROTOCOL: 0x04,
  BY_CHILD_CONTROLLER: 0x08, BY_DRIVER: 0x10, EXCLUSIVE: 0x20,
} as const;
export const LOCATE_SEARCH_TYPE = { AllHandles: 0, ByRegisterNotify: 1, ByProtocol: 2 } as const;
export const INTERFACE_TYPE = { EFI_NATIVE_INTERFACE: 0 } as const;

// §8.5.1 EFI_RESET_TYPE
export const RESET_TYPE = { EfiResetCold: 0, EfiResetWarm: 1, EfiResetShutdown: 2, EfiResetPlatformSpecific: 3 } as const;

// §7.1 TPL levels
export const TPL = { APPLICATION: 4, CALLBACK: 8, NOTIFY: 16, HIGH_LEVEL: 31 } as const;

// §7.1 CreateEvent() event types. The two EVT_SIGNAL_* values are whole types, not bits.
export const EVT = {
  TIMER: 0x80000000, RUNTIME: 0x40000000, NOTIFY_WAIT: 0x00000100, NOTIFY_SIGNAL: 0x00000200,
  SIGNAL_EXIT_BOOT_SERVICES: 0x00000201, SIGNAL_VIRTUAL_ADDRESS_CHANGE: 0x60000202,
} as const;

// §7.1 EFI_TIMER_DELAY
export const TIMER_DELAY = { TimerCancel: 0, TimerPeriodic: 1, TimerRelative: 2 } as const;

// GUIDs, canonical text, each beside the protocol or table it names. Linux's own
// GUIDs come from include/linux/efi.h.
export const GUIDS = {
  LOADED_IMAGE_PROTOCOL: "5b1b31a1-9562-11d2-8e3f-00a0c969723b",
  LOADED_IMAGE_DEVICE_PATH_PROTOCOL: "bc62157e-3e33-4fec-9920-2d3b36d750df",
  DEVICE_PATH_PROTOCOL: "09576e91-6d3f-11d2-8e39-00a0c969723b",
  DEVICE_PATH_UTILITIES_PROTOCOL: "0379be4e-d706-437d-b037-edb82fb772a4",
  DEVICE_PATH_TO_TEXT_PROTOCOL: "8b843e20-8132-4852-90cc-551a4e4a7f1c",
  SIMPLE_TEXT_INPUT_PROTOCOL: "387477c1-69c7-11d2-8e39-00a0c969723b",
  SIMPLE_TEXT_OUTPUT_PROTOCOL: "387477c2-69c7-11d2-8e39-00a0c969723b",
  SIMPLE_TEXT_INPUT_EX_PROTOCOL: "dd9e7534-7762-4698-8c14-f58517a625aa",
  UNICODE_COLLATION2_PROTOCOL: "a4c751fc-23ae-4c3e-92e9-4964cf63f349",
  LOAD_FILE2_PROTOCOL: "4006c0c1-fcb3-403e-996d-4a6c8724e06d",
  GRAPHICS_OUTPUT_PROTOCOL: "9042a9de-23dc-4a38-96fb-7aded080516a",
  UGA_DRAW_PROTOCOL: "982c298b-f4fa-41cb-b838-77aa688fb839",
  PCI_IO_PROTOCOL: "4cf5b200-68b8-4ca5-9eec-b23e3f50029a",
  TCG2_PROTOCOL: "607f766c-7455-42be-930b-e4d76db2720f",
  RNG_PROTOCOL: "3152bca5-eade-433d-862e-c01cdc291f44",
  BLOCK_IO_PROTOCOL: "964e5b21-6459-11d2-8e39-00a0c969723b",
  DISK_IO_PROTOCOL: "ce345171-ba0b-11d2-8e4f-00a0c969723b",
  PARTITION_INFO_PROTOCOL: "8cf2f62c-bc9b-4821-808d-ec9ec421a1a0",
  SIMPLE_FILE_SYSTEM_PROTOCOL: "964e5b22-6459-11d2-8e39-00a0c969723b",
  FILE_INFO: "09576e92-6d3f-11d2-8e39-00a0c969723b",
  FILE_SYSTEM_INFO: "09576e93-6d3f-11d2-8e39-00a0c969723b",
  FILE_SYSTEM_VOLUME_LABEL: "db47d7d3-fe81-11d3-9a35-0090273fc14d",
  // §5.3.3: the EFI system partition's type; EDK2 also installs it as a protocol (NULL
  // interface) on the ESP's handle, and loaders search for it.
  PART_TYPE_SYSTEM_PART: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
  // §37.5.1: the one algorithm ueficorn's RNG offers: the host's bytes as they come.
  RNG_ALGORITHM_RAW: "e43176d7-b6e8-4827-b784-7ffdc4b68561",
  GLOBAL_VARIABLE: "8be4df61-93ca-11d2-aa0d-00e098032b8c",
  DRIVER_BINDING_PROTOCOL: "18a031ab-b443-4d1a-a5c0-0c09261e9f71",
  EVENT_GROUP_EXIT_BOOT_SERVICES: "27abf055-b1b8-4c26-8048-748f37baa2df",
  EVENT_GROUP_BEFORE_EXIT_BOOT_SERVICES: "8be0e274-3970-4b44-80c5-1ab9502f3bfc",
  EVENT_GROUP_MEMORY_MAP_CHANGE: "78bee926-692f-48fd-9edb-01422ef0d7ab",
  EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE: "13fa7698-c831-49c7-87ea-8f43fcc25196",
  ACPI_20_TABLE: "8868e871-e4f1-11d3-bc22-0080c73c8881",
  // §4.6.1.3 EFI_DTB_TABLE_GUID: a flattened device tree (AArch64 machines, host/arm64/fdt.ts).
  DEVICE_TREE: "b1b621d5-f19c-41a5-830b-d9152c69aae0",
  SMBIOS3_TABLE: "f2fd1544-9794-4a2c-992e-e5bbcf20e394",
  RT_PROPERTIES_TABLE: "eb66918a-7eef-402a-842e-931d21c38ae9",
  MEMORY_ATTRIBUTES_TABLE: "dcfa911d-26eb-469f-a220-38b7dc461220",
  LINUX_EFI_BOOT_MEMMAP: "800f683f-d08b-423a-a293-965c3c6fe2b4",
  LINUX_EFI_INITRD_MEDIA: "5568e427-68fc-4f3d-ac74-ca555231cc68",
  // ueficorn's own vendor device-path nodes: the device the host's image comes from
  // (VenHw) and that image on it (VenMedia), for LoadedImage's DeviceHandle and FilePath.
  UEFICORN_BOOT_DEVICE: "f81c4704-653f-4027-8950-ffe63400da13",
  UEFICORN_BOOT_IMAGE: "3be9837c-07eb-416f-8bbb-422fb78bfa40",
} as const;
export type GuidName = keyof typeof GUIDS;

/** A GUID's name in C as the spec (or Linux, or ueficorn) spells it: most are EFI_<name>_GUID. */
export function guidCName(name: GuidName): string {
  const spelled: Partial<Record<GuidName, string>> = {
    GLOBAL_VARIABLE: "EFI_GLOBAL_VARIABLE", FILE_INFO: "EFI_FILE_INFO_ID", FILE_SYSTEM_INFO: "EFI_FILE_SYSTEM_INFO_ID",
    FILE_SYSTEM_VOLUME_LABEL: "EFI_FILE_SYSTEM_VOLUME_LABEL_ID", SMBIOS3_TABLE: "SMBIOS3_TABLE_GUID", DEVICE_TREE: "EFI_DTB_TABLE_GUID",
    PART_TYPE_SYSTEM_PART: "EFI_PART_TYPE_EFI_SYSTEM_PART_GUID", RNG_ALGORITHM_RAW: "EFI_RNG_ALGORITHM_RAW",
  };
  if (spelled[name]) return spelled[name]!;
  if (name.startsWith("EVENT_GROUP_")) return `EFI_${name}`;
  if (name.startsWith("LINUX_") || name.startsWith("UEFICORN_")) return `${name}_GUID`;
  return `EFI_${name}_GUID`;
}

/**
 * The enums and constants C guests see (guests/include/efi.h, generated): each enum's
 * type name, the prefix its members take in C and its values; each group of constants
 * with its prefix. Layouts, statuses and GUIDs come from the declarations above.
 */
export const C_ENUMS: [string, string, Record<string, number>][] = [
  ["EFI_ALLOCATE_TYPE", "", ALLOCATE_TYPE], ["EFI_MEMORY_TYPE", "Efi", MEMORY_TYPE], ["EFI_TIMER_DELAY", "", TIMER_DELAY],
  ["EFI_INTERFACE_TYPE", "", INTERFACE_TYPE], ["EFI_LOCATE_SEARCH_TYPE", "", LOCATE_SEARCH_TYPE], ["EFI_RESET_TYPE", "", RESET_TYPE],
];
export const C_CONSTANTS: [string, Record<string, number | bigint>][] = [
  ["EFI_MEMORY_", MEMORY_ATTRIBUTE], ["TPL_", TPL], ["EVT_", EVT], ["EFI_OPEN_PROTOCOL_", OPEN_PROTOCOL],
  ["EFI_FILE_MODE_", FILE_MODE], ["EFI_FILE_", FILE_ATTRIBUTE], ["EFI_", TEXT_ATTRIBUTE],
  ["EFI_", {
    SYSTEM_TABLE_SIGNATURE, BOOT_SERVICES_SIGNATURE, RUNTIME_SERVICES_SIGNATURE, MEMORY_DESCRIPTOR_VERSION,
    LOADED_IMAGE_PROTOCOL_REVISION, BLOCK_IO_PROTOCOL_REVISION3, DISK_IO_PROTOCOL_REVISION, FILE_PROTOCOL_REVISION,
    SIMPLE_FILE_SYSTEM_PROTOCOL_REVISION, TOGGLE_STATE_VALID,
  }],
  ["", { LOAD_OPTION_ACTIVE }],
];

export const FIRMWARE_VENDOR = "ueficorn";
export const FIRMWARE_REVISION = 0x00010000;
