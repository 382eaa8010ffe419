/*
 * efi.h - minimal UEFI declarations for the ueficorn test guests.
 *
 * Written from the UEFI Specification 2.10 (sections 2.3, 4, 7, 8, 9, 12.3,
 * 12.4 and Appendix D), NOT copied from EDK2 or gnu-efi.  Only spec names are
 * declared here: types, fields, constants and GUIDs are spelled exactly as in
 * the specification.  Guest helpers live in guests/lib/, not here.
 *
 * This file is meant to be replaced by a header generated from the project's
 * single declaration of the spec structures; keep it free of anything that is
 * not in the spec.
 *
 * Target: x86-64 (UINTN is 64 bits), Microsoft x64 calling convention.
 */
#ifndef UEFICORN_EFI_H
#define UEFICORN_EFI_H

/* ---------------------------------------------------------------- 2.3.1 -- */
/* Common UEFI data types                                                    */

typedef unsigned char      BOOLEAN;
typedef signed long long   INTN;
typedef unsigned long long UINTN;
typedef signed char        INT8;
typedef unsigned char      UINT8;
typedef signed short       INT16;
typedef unsigned short     UINT16;
typedef signed int         INT32;
typedef unsigned int       UINT32;
typedef signed long long   INT64;
typedef unsigned long long UINT64;
typedef char               CHAR8;
typedef unsigned short     CHAR16;   /* UCS-2; build with -fshort-wchar */
typedef void               VOID;

typedef struct {
  UINT32 Data1;
  UINT16 Data2;
  UINT16 Data3;
  UINT8  Data4[8];
} EFI_GUID;

typedef UINTN  EFI_STATUS;
typedef VOID  *EFI_HANDLE;
typedef VOID  *EFI_EVENT;
typedef UINT64 EFI_LBA;
typedef UINTN  EFI_TPL;
typedef UINT64 EFI_PHYSICAL_ADDRESS;
typedef UINT64 EFI_VIRTUAL_ADDRESS;

#define TRUE  ((BOOLEAN)1)
#define FALSE ((BOOLEAN)0)
#ifndef NULL
#define NULL  ((VOID *)0)
#endif

/* Modifiers used in the spec's prototypes. */
#define IN
#define OUT
#define OPTIONAL
#define CONST const

/* x64 UEFI calling convention (spec 2.3.4.2): Microsoft x64. */
#define EFIAPI __attribute__((ms_abi))

/* ------------------------------------------------------------ Appendix D -- */
/* Status codes.  Error codes have the high bit of UINTN set.                */

#define EFI_SUCCESS                 ((EFI_STATUS)0)

#define EFI_LOAD_ERROR              ((EFI_STATUS)0x8000000000000001ULL)
#define EFI_INVALID_PARAMETER       ((EFI_STATUS)0x8000000000000002ULL)
#define EFI_UNSUPPORTED             ((EFI_STATUS)0x8000000000000003ULL)
#define EFI_BAD_BUFFER_SIZE         ((EFI_STATUS)0x8000000000000004ULL)
#define EFI_BUFFER_TOO_SMALL        ((EFI_STATUS)0x8000000000000005ULL)
#define EFI_NOT_READY               ((EFI_STATUS)0x8000000000000006ULL)
#define EFI_DEVICE_ERROR            ((EFI_STATUS)0x8000000000000007ULL)
#define EFI_WRITE_PROTECTED         ((EFI_STATUS)0x8000000000000008ULL)
#define EFI_OUT_OF_RESOURCES        ((EFI_STATUS)0x8000000000000009ULL)
#define EFI_VOLUME_CORRUPTED        ((EFI_STATUS)0x800000000000000AULL)
#define EFI_VOLUME_FULL             ((EFI_STATUS)0x800000000000000BULL)
#define EFI_NO_MEDIA                ((EFI_STATUS)0x800000000000000CULL)
#define EFI_MEDIA_CHANGED           ((EFI_STATUS)0x800000000000000DULL)
#define EFI_NOT_FOUND               ((EFI_STATUS)0x800000000000000EULL)
#define EFI_ACCESS_DENIED           ((EFI_STATUS)0x800000000000000FULL)
#define EFI_NO_RESPONSE             ((EFI_STATUS)0x8000000000000010ULL)
#define EFI_NO_MAPPING              ((EFI_STATUS)0x8000000000000011ULL)
#define EFI_TIMEOUT                 ((EFI_STATUS)0x8000000000000012ULL)
#define EFI_NOT_STARTED             ((EFI_STATUS)0x8000000000000013ULL)
#define EFI_ALREADY_STARTED         ((EFI_STATUS)0x8000000000000014ULL)
#define EFI_ABORTED                 ((EFI_STATUS)0x8000000000000015ULL)
#define EFI_ICMP_ERROR              ((EFI_STATUS)0x8000000000000016ULL)
#define EFI_TFTP_ERROR              ((EFI_STATUS)0x8000000000000017ULL)
#define EFI_PROTOCOL_ERROR          ((EFI_STATUS)0x8000000000000018ULL)
#define EFI_INCOMPATIBLE_VERSION    ((EFI_STATUS)0x8000000000000019ULL)
#define EFI_SECURITY_VIOLATION      ((EFI_STATUS)0x800000000000001AULL)
#define EFI_CRC_ERROR               ((EFI_STATUS)0x800000000000001BULL)
#define EFI_END_OF_MEDIA            ((EFI_STATUS)0x800000000000001CULL)
#define EFI_END_OF_FILE             ((EFI_STATUS)0x800000000000001FULL)
#define EFI_INVALID_LANGUAGE        ((EFI_STATUS)0x8000000000000020ULL)
#define EFI_COMPROMISED_DATA        ((EFI_STATUS)0x8000000000000021ULL)
#define EFI_IP_ADDRESS_CONFLICT     ((EFI_STATUS)0x8000000000000022ULL)
#define EFI_HTTP_ERROR              ((EFI_STATUS)0x8000000000000023ULL)

#define EFI_WARN_UNKNOWN_GLYPH      ((EFI_STATUS)1)
#define EFI_WARN_DELETE_FAILURE     ((EFI_STATUS)2)
#define EFI_WARN_WRITE_FAILURE      ((EFI_STATUS)3)
#define EFI_WARN_BUFFER_TOO_SMALL   ((EFI_STATUS)4)
#define EFI_WARN_STALE_DATA         ((EFI_STATUS)5)
#define EFI_WARN_FILE_SYSTEM        ((EFI_STATUS)6)
#define EFI_WARN_RESET_REQUIRED     ((EFI_STATUS)7)

/* ------------------------------------------------------------------ 4.2 -- */

typedef struct {
  UINT64 Signature;
  UINT32 Revision;
  UINT32 HeaderSize;
  UINT32 CRC32;
  UINT32 Reserved;
} EFI_TABLE_HEADER;

/* ------------------------------------------------------------ 7.2, 7.1 -- */

typedef enum {
  AllocateAnyPages,
  AllocateMaxAddress,
  AllocateAddress,
  MaxAllocateType
} EFI_ALLOCATE_TYPE;

typedef enum {
  EfiReservedMemoryType,
  EfiLoaderCode,
  EfiLoaderData,
  EfiBootServicesCode,
  EfiBootServicesData,
  EfiRuntimeServicesCode,
  EfiRuntimeServicesData,
  EfiConventionalMemory,
  EfiUnusableMemory,
  EfiACPIReclaimMemory,
  EfiACPIMemoryNVS,
  EfiMemoryMappedIO,
  EfiMemoryMappedIOPortSpace,
  EfiPalCode,
  EfiPersistentMemory,
  EfiUnacceptedMemoryType,
  EfiMaxMemoryType
} EFI_MEMORY_TYPE;

/* Memory attribute definitions (EFI_BOOT_SERVICES.GetMemoryMap()). */
#define EFI_MEMORY_UC            0x0000000000000001ULL
#define EFI_MEMORY_WC            0x0000000000000002ULL
#define EFI_MEMORY_WT            0x0000000000000004ULL
#define EFI_MEMORY_WB            0x0000000000000008ULL
#define EFI_MEMORY_UCE           0x0000000000000010ULL
#define EFI_MEMORY_WP            0x0000000000001000ULL
#define EFI_MEMORY_RP            0x0000000000002000ULL
#define EFI_MEMORY_XP            0x0000000000004000ULL
#define EFI_MEMORY_NV            0x0000000000008000ULL
#define EFI_MEMORY_MORE_RELIABLE 0x0000000000010000ULL
#define EFI_MEMORY_RO            0x0000000000020000ULL
#define EFI_MEMORY_SP            0x0000000000040000ULL
#define EFI_MEMORY_CPU_CRYPTO    0x0000000000080000ULL
#define EFI_MEMORY_RUNTIME       0x8000000000000000ULL
#define EFI_MEMORY_ISA_VALID     0x4000000000000000ULL
#define EFI_MEMORY_ISA_MASK      0x0FFFF00000000000ULL

#define EFI_MEMORY_DESCRIPTOR_VERSION 1

typedef struct {
  UINT32               Type;
  EFI_PHYSICAL_ADDRESS PhysicalStart;
  EFI_VIRTUAL_ADDRESS  VirtualStart;
  UINT64               NumberOfPages;
  UINT64               Attribute;
} EFI_MEMORY_DESCRIPTOR;

/* Task priority levels (7.1). */
#define TPL_APPLICATION 4
#define TPL_CALLBACK    8
#define TPL_NOTIFY      16
#define TPL_HIGH_LEVEL  31

/* Event types (7.1, CreateEvent()). */
#define EVT_TIMER                         0x80000000
#define EVT_RUNTIME                       0x40000000
#define EVT_NOTIFY_WAIT                   0x00000100
#define EVT_NOTIFY_SIGNAL                 0x00000200
#define EVT_SIGNAL_EXIT_BOOT_SERVICES     0x00000201
#define EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE 0x60000202

typedef VOID (EFIAPI *EFI_EVENT_NOTIFY)(IN EFI_EVENT Event, IN VOID *Context);

/* Pre-defined event groups (7.1, CreateEventEx() Related Definitions). */
#define EFI_EVENT_GROUP_EXIT_BOOT_SERVICES \
  { 0x27abf055, 0xb1b8, 0x4c26, { 0x80, 0x48, 0x74, 0x8f, 0x37, 0xba, 0xa2, 0xdf } }
#define EFI_EVENT_GROUP_BEFORE_EXIT_BOOT_SERVICES \
  { 0x8be0e274, 0x3970, 0x4b44, { 0x80, 0xc5, 0x1a, 0xb9, 0x50, 0x2f, 0x3b, 0xfc } }
#define EFI_EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE \
  { 0x13fa7698, 0xc831, 0x49c7, { 0x87, 0xea, 0x8f, 0x43, 0xfc, 0xc2, 0x51, 0x96 } }
#define EFI_EVENT_GROUP_MEMORY_MAP_CHANGE \
  { 0x78bee926, 0x692f, 0x48fd, { 0x9e, 0xdb, 0x01, 0x42, 0x2e, 0xf0, 0xd7, 0xab } }
#define EFI_EVENT_GROUP_READY_TO_BOOT \
  { 0x7ce88fb3, 0x4bd7, 0x4679, { 0x87, 0xa8, 0xa8, 0xd8, 0xde, 0xe5, 0x0d, 0x2b } }

typedef enum {
  TimerCancel,
  TimerPeriodic,
  TimerRelative
} EFI_TIMER_DELAY;

/* 7.3 */
typedef enum {
  EFI_NATIVE_INTERFACE
} EFI_INTERFACE_TYPE;

typedef enum {
  AllHandles,
  ByRegisterNotify,
  ByProtocol
} EFI_LOCATE_SEARCH_TYPE;

#define EFI_OPEN_PROTOCOL_BY_HANDLE_PROTOCOL  0x00000001
#define EFI_OPEN_PROTOCOL_GET_PROTOCOL        0x00000002
#define EFI_OPEN_PROTOCOL_TEST_PROTOCOL       0x00000004
#define EFI_OPEN_PROTOCOL_BY_CHILD_CONTROLLER 0x00000008
#define EFI_OPEN_PROTOCOL_BY_DRIVER           0x00000010
#define EFI_OPEN_PROTOCOL_EXCLUSIVE           0x00000020

typedef struct {
  EFI_HANDLE AgentHandle;
  EFI_HANDLE ControllerHandle;
  UINT32     Attributes;
  UINT32     OpenCount;
} EFI_OPEN_PROTOCOL_INFORMATION_ENTRY;

/* ------------------------------------------------------------------ 10.2 -- */

typedef struct _EFI_DEVICE_PATH_PROTOCOL {
  UINT8 Type;
  UINT8 SubType;
  UINT8 Length[2];
} EFI_DEVICE_PATH_PROTOCOL;

/* --------------------------------------------------------------- 10.5/6 -- */

#define EFI_DEVICE_PATH_UTILITIES_PROTOCOL_GUID \
  { 0x0379be4e, 0xd706, 0x437d, { 0xb0, 0x37, 0xed, 0xb8, 0x2f, 0xb7, 0x72, 0xa4 } }

typedef struct {
  UINTN (EFIAPI *GetDevicePathSize)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *DuplicateDevicePath)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *AppendDevicePath)(IN CONST EFI_DEVICE_PATH_PROTOCOL *Src1,
                                                       IN CONST EFI_DEVICE_PATH_PROTOCOL *Src2);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *AppendDeviceNode)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath,
                                                       IN CONST EFI_DEVICE_PATH_PROTOCOL *DeviceNode);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *AppendDevicePathInstance)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath,
                                                               IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePathInstance);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *GetNextDevicePathInstance)(IN OUT EFI_DEVICE_PATH_PROTOCOL **DevicePathInstance,
                                                                OUT UINTN *DevicePathInstanceSize);
  BOOLEAN (EFIAPI *IsDevicePathMultiInstance)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath);
  EFI_DEVICE_PATH_PROTOCOL *(EFIAPI *CreateDeviceNode)(IN UINT8 NodeType, IN UINT8 NodeSubType,
                                                       IN UINT16 NodeLength);
} EFI_DEVICE_PATH_UTILITIES_PROTOCOL;

#define EFI_DEVICE_PATH_TO_TEXT_PROTOCOL_GUID \
  { 0x8b843e20, 0x8132, 0x4852, { 0x90, 0xcc, 0x55, 0x1a, 0x4e, 0x4a, 0x7f, 0x1c } }

typedef struct {
  CHAR16 *(EFIAPI *ConvertDeviceNodeToText)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DeviceNode,
                                            IN BOOLEAN DisplayOnly, IN BOOLEAN AllowShortcuts);
  CHAR16 *(EFIAPI *ConvertDevicePathToText)(IN CONST EFI_DEVICE_PATH_PROTOCOL *DevicePath,
                                            IN BOOLEAN DisplayOnly, IN BOOLEAN AllowShortcuts);
} EFI_DEVICE_PATH_TO_TEXT_PROTOCOL;

/* ------------------------------------------------------------------ 13.2 -- */

typedef struct _EFI_LOAD_FILE2_PROTOCOL EFI_LOAD_FILE2_PROTOCOL;
struct _EFI_LOAD_FILE2_PROTOCOL {
  EFI_STATUS (EFIAPI *LoadFile)(IN EFI_LOAD_FILE2_PROTOCOL *This,
                                IN EFI_DEVICE_PATH_PROTOCOL *FilePath,
                                IN BOOLEAN BootPolicy,
                                IN OUT UINTN *BufferSize,
                                IN VOID *Buffer OPTIONAL);
};

/* ------------------------------------------------------------------ 37.5 -- */

typedef EFI_GUID EFI_RNG_ALGORITHM;

typedef struct _EFI_RNG_PROTOCOL EFI_RNG_PROTOCOL;
struct _EFI_RNG_PROTOCOL {
  EFI_STATUS (EFIAPI *GetInfo)(IN EFI_RNG_PROTOCOL *This,
                               IN OUT UINTN *RNGAlgorithmListSize,
                               OUT EFI_RNG_ALGORITHM *RNGAlgorithmList);
  EFI_STATUS (EFIAPI *GetRNG)(IN EFI_RNG_PROTOCOL *This,
                              IN EFI_RNG_ALGORITHM *RNGAlgorithm OPTIONAL,
                              IN UINTN RNGValueLength,
                              OUT UINT8 *RNGValue);
};

/* ------------------------------------------------------------------- 4.6 -- */

typedef struct {
  UINT16 Version;
  UINT16 Length;
  UINT32 RuntimeServicesSupported;
} EFI_RT_PROPERTIES_TABLE;

/* ------------------------------------------------------------------- 8.x -- */

typedef struct {
  UINT16 Year;        /* 1900 - 9999 */
  UINT8  Month;       /* 1 - 12 */
  UINT8  Day;         /* 1 - 31 */
  UINT8  Hour;        /* 0 - 23 */
  UINT8  Minute;      /* 0 - 59 */
  UINT8  Second;      /* 0 - 59 */
  UINT8  Pad1;
  UINT32 Nanosecond;  /* 0 - 999,999,999 */
  INT16  TimeZone;    /* -1440 to 1440 or 2047 */
  UINT8  Daylight;
  UINT8  Pad2;
} EFI_TIME;

typedef struct {
  UINT32  Resolution;
  UINT32  Accuracy;
  BOOLEAN SetsToZero;
} EFI_TIME_CAPABILITIES;

typedef enum {
  EfiResetCold,
  EfiResetWarm,
  EfiResetShutdown,
  EfiResetPlatformSpecific
} EFI_RESET_TYPE;

typedef struct {
  EFI_GUID CapsuleGuid;
  UINT32   HeaderSize;
  UINT32   Flags;
  UINT32   CapsuleImageSize;
} EFI_CAPSULE_HEADER;

/* --------------------------------------------------------------- 12.3/4 -- */
/* Simple Text Input / Output protocols                                      */

#define EFI_SIMPLE_TEXT_INPUT_PROTOCOL_GUID \
  { 0x387477c1, 0x69c7, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }

#define EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL_GUID \
  { 0x387477c2, 0x69c7, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }

typedef struct _EFI_SIMPLE_TEXT_INPUT_PROTOCOL  EFI_SIMPLE_TEXT_INPUT_PROTOCOL;
typedef struct _EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL;

typedef struct {
  UINT16 ScanCode;
  CHAR16 UnicodeChar;
} EFI_INPUT_KEY;

typedef EFI_STATUS (EFIAPI *EFI_INPUT_RESET)(
  IN EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This,
  IN BOOLEAN                        ExtendedVerification);

typedef EFI_STATUS (EFIAPI *EFI_INPUT_READ_KEY)(
  IN  EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This,
  OUT EFI_INPUT_KEY                  *Key);

struct _EFI_SIMPLE_TEXT_INPUT_PROTOCOL {
  EFI_INPUT_RESET    Reset;
  EFI_INPUT_READ_KEY ReadKeyStroke;
  EFI_EVENT          WaitForKey;
};

typedef struct {
  INT32   MaxMode;
  /* current settings */
  INT32   Mode;
  INT32   Attribute;
  INT32   CursorColumn;
  INT32   CursorRow;
  BOOLEAN CursorVisible;
} SIMPLE_TEXT_OUTPUT_MODE;

typedef EFI_STATUS (EFIAPI *EFI_TEXT_RESET)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN BOOLEAN                         ExtendedVerification);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_STRING)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN CHAR16                          *String);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_TEST_STRING)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN CHAR16                          *String);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_QUERY_MODE)(
  IN  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN  UINTN                           ModeNumber,
  OUT UINTN                           *Columns,
  OUT UINTN                           *Rows);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_SET_MODE)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN UINTN                           ModeNumber);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_SET_ATTRIBUTE)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN UINTN                           Attribute);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_CLEAR_SCREEN)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_SET_CURSOR_POSITION)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN UINTN                           Column,
  IN UINTN                           Row);

typedef EFI_STATUS (EFIAPI *EFI_TEXT_ENABLE_CURSOR)(
  IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
  IN BOOLEAN                         Visible);

struct _EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL {
  EFI_TEXT_RESET               Reset;
  EFI_TEXT_STRING              OutputString;
  EFI_TEXT_TEST_STRING         TestString;
  EFI_TEXT_QUERY_MODE          QueryMode;
  EFI_TEXT_SET_MODE            SetMode;
  EFI_TEXT_SET_ATTRIBUTE       SetAttribute;
  EFI_TEXT_CLEAR_SCREEN        ClearScreen;
  EFI_TEXT_SET_CURSOR_POSITION SetCursorPosition;
  EFI_TEXT_ENABLE_CURSOR       EnableCursor;
  SIMPLE_TEXT_OUTPUT_MODE      *Mode;
};

/* Attributes (12.4, SetAttribute()). */
#define EFI_BLACK                 0x00
#define EFI_BLUE                  0x01
#define EFI_GREEN                 0x02
#define EFI_CYAN                  0x03
#define EFI_RED                   0x04
#define EFI_MAGENTA               0x05
#define EFI_BROWN                 0x06
#define EFI_LIGHTGRAY             0x07
#define EFI_BRIGHT                0x08
#define EFI_DARKGRAY              0x08
#define EFI_LIGHTBLUE             0x09
#define EFI_LIGHTGREEN            0x0A
#define EFI_LIGHTCYAN             0x0B
#define EFI_LIGHTRED              0x0C
#define EFI_LIGHTMAGENTA          0x0D
#define EFI_YELLOW                0x0E
#define EFI_WHITE                 0x0F

#define EFI_BACKGROUND_BLACK      0x00
#define EFI_BACKGROUND_BLUE       0x10
#define EFI_BACKGROUND_GREEN      0x20
#define EFI_BACKGROUND_CYAN       0x30
#define EFI_BACKGROUND_RED        0x40
#define EFI_BACKGROUND_MAGENTA    0x50
#define EFI_BACKGROUND_BROWN      0x60
#define EFI_BACKGROUND_LIGHTGRAY  0x70

#define EFI_TEXT_ATTR(Foreground, Background) ((Foreground) | ((Background) << 4))

/* ------------------------------------------------------------------- 8 --- */
/* Runtime services                                                          */

#define EFI_RUNTIME_SERVICES_SIGNATURE 0x56524553544e5552ULL

typedef EFI_STATUS (EFIAPI *EFI_GET_TIME)(
  OUT EFI_TIME              *Time,
  OUT EFI_TIME_CAPABILITIES *Capabilities OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_SET_TIME)(
  IN EFI_TIME *Time);

typedef EFI_STATUS (EFIAPI *EFI_GET_WAKEUP_TIME)(
  OUT BOOLEAN  *Enabled,
  OUT BOOLEAN  *Pending,
  OUT EFI_TIME *Time);

typedef EFI_STATUS (EFIAPI *EFI_SET_WAKEUP_TIME)(
  IN BOOLEAN  Enable,
  IN EFI_TIME *Time OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_SET_VIRTUAL_ADDRESS_MAP)(
  IN UINTN                 MemoryMapSize,
  IN UINTN                 DescriptorSize,
  IN UINT32                DescriptorVersion,
  IN EFI_MEMORY_DESCRIPTOR *VirtualMap);

typedef EFI_STATUS (EFIAPI *EFI_CONVERT_POINTER)(
  IN UINTN DebugDisposition,
  IN VOID  **Address);

typedef EFI_STATUS (EFIAPI *EFI_GET_VARIABLE)(
  IN     CHAR16   *VariableName,
  IN     EFI_GUID *VendorGuid,
  OUT    UINT32   *Attributes OPTIONAL,
  IN OUT UINTN    *DataSize,
  OUT    VOID     *Data OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_GET_NEXT_VARIABLE_NAME)(
  IN OUT UINTN    *VariableNameSize,
  IN OUT CHAR16   *VariableName,
  IN OUT EFI_GUID *VendorGuid);

typedef EFI_STATUS (EFIAPI *EFI_SET_VARIABLE)(
  IN CHAR16   *VariableName,
  IN EFI_GUID *VendorGuid,
  IN UINT32   Attributes,
  IN UINTN    DataSize,
  IN VOID     *Data);

typedef EFI_STATUS (EFIAPI *EFI_GET_NEXT_HIGH_MONO_COUNT)(
  OUT UINT32 *HighCount);

typedef VOID (EFIAPI *EFI_RESET_SYSTEM)(
  IN EFI_RESET_TYPE ResetType,
  IN EFI_STATUS     ResetStatus,
  IN UINTN          DataSize,
  IN VOID           *ResetData OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_UPDATE_CAPSULE)(
  IN EFI_CAPSULE_HEADER   **CapsuleHeaderArray,
  IN UINTN                CapsuleCount,
  IN EFI_PHYSICAL_ADDRESS ScatterGatherList OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_QUERY_CAPSULE_CAPABILITIES)(
  IN  EFI_CAPSULE_HEADER **CapsuleHeaderArray,
  IN  UINTN              CapsuleCount,
  OUT UINT64             *MaximumCapsuleSize,
  OUT EFI_RESET_TYPE     *ResetType);

typedef EFI_STATUS (EFIAPI *EFI_QUERY_VARIABLE_INFO)(
  IN  UINT32 Attributes,
  OUT UINT64 *MaximumVariableStorageSize,
  OUT UINT64 *RemainingVariableStorageSize,
  OUT UINT64 *MaximumVariableSize);

typedef struct {
  EFI_TABLE_HEADER               Hdr;

  /* Time Services */
  EFI_GET_TIME                   GetTime;
  EFI_SET_TIME                   SetTime;
  EFI_GET_WAKEUP_TIME            GetWakeupTime;
  EFI_SET_WAKEUP_TIME            SetWakeupTime;

  /* Virtual Memory Services */
  EFI_SET_VIRTUAL_ADDRESS_MAP    SetVirtualAddressMap;
  EFI_CONVERT_POINTER            ConvertPointer;

  /* Variable Services */
  EFI_GET_VARIABLE               GetVariable;
  EFI_GET_NEXT_VARIABLE_NAME     GetNextVariableName;
  EFI_SET_VARIABLE               SetVariable;

  /* Miscellaneous Services */
  EFI_GET_NEXT_HIGH_MONO_COUNT   GetNextHighMonotonicCount;
  EFI_RESET_SYSTEM               ResetSystem;

  /* UEFI 2.0 Capsule Services */
  EFI_UPDATE_CAPSULE             UpdateCapsule;
  EFI_QUERY_CAPSULE_CAPABILITIES QueryCapsuleCapabilities;

  /* Miscellaneous UEFI 2.0 Service */
  EFI_QUERY_VARIABLE_INFO        QueryVariableInfo;
} EFI_RUNTIME_SERVICES;

/* ------------------------------------------------------------------- 7 --- */
/* Boot services                                                             */

#define EFI_BOOT_SERVICES_SIGNATURE 0x56524553544f4f42ULL

typedef EFI_TPL (EFIAPI *EFI_RAISE_TPL)(
  IN EFI_TPL NewTpl);

typedef VOID (EFIAPI *EFI_RESTORE_TPL)(
  IN EFI_TPL OldTpl);

typedef EFI_STATUS (EFIAPI *EFI_ALLOCATE_PAGES)(
  IN     EFI_ALLOCATE_TYPE    Type,
  IN     EFI_MEMORY_TYPE      MemoryType,
  IN     UINTN                Pages,
  IN OUT EFI_PHYSICAL_ADDRESS *Memory);

typedef EFI_STATUS (EFIAPI *EFI_FREE_PAGES)(
  IN EFI_PHYSICAL_ADDRESS Memory,
  IN UINTN                Pages);

typedef EFI_STATUS (EFIAPI *EFI_GET_MEMORY_MAP)(
  IN OUT UINTN                 *MemoryMapSize,
  OUT    EFI_MEMORY_DESCRIPTOR *MemoryMap,
  OUT    UINTN                 *MapKey,
  OUT    UINTN                 *DescriptorSize,
  OUT    UINT32                *DescriptorVersion);

typedef EFI_STATUS (EFIAPI *EFI_ALLOCATE_POOL)(
  IN  EFI_MEMORY_TYPE PoolType,
  IN  UINTN           Size,
  OUT VOID            **Buffer);

typedef EFI_STATUS (EFIAPI *EFI_FREE_POOL)(
  IN VOID *Buffer);

typedef EFI_STATUS (EFIAPI *EFI_CREATE_EVENT)(
  IN  UINT32           Type,
  IN  EFI_TPL          NotifyTpl,
  IN  EFI_EVENT_NOTIFY NotifyFunction OPTIONAL,
  IN  VOID             *NotifyContext OPTIONAL,
  OUT EFI_EVENT        *Event);

typedef EFI_STATUS (EFIAPI *EFI_SET_TIMER)(
  IN EFI_EVENT       Event,
  IN EFI_TIMER_DELAY Type,
  IN UINT64          TriggerTime);

typedef EFI_STATUS (EFIAPI *EFI_WAIT_FOR_EVENT)(
  IN  UINTN     NumberOfEvents,
  IN  EFI_EVENT *Event,
  OUT UINTN     *Index);

typedef EFI_STATUS (EFIAPI *EFI_SIGNAL_EVENT)(
  IN EFI_EVENT Event);

typedef EFI_STATUS (EFIAPI *EFI_CLOSE_EVENT)(
  IN EFI_EVENT Event);

typedef EFI_STATUS (EFIAPI *EFI_CHECK_EVENT)(
  IN EFI_EVENT Event);

typedef EFI_STATUS (EFIAPI *EFI_INSTALL_PROTOCOL_INTERFACE)(
  IN OUT EFI_HANDLE         *Handle,
  IN     EFI_GUID           *Protocol,
  IN     EFI_INTERFACE_TYPE InterfaceType,
  IN     VOID               *Interface);

typedef EFI_STATUS (EFIAPI *EFI_REINSTALL_PROTOCOL_INTERFACE)(
  IN EFI_HANDLE Handle,
  IN EFI_GUID   *Protocol,
  IN VOID       *OldInterface,
  IN VOID       *NewInterface);

typedef EFI_STATUS (EFIAPI *EFI_UNINSTALL_PROTOCOL_INTERFACE)(
  IN EFI_HANDLE Handle,
  IN EFI_GUID   *Protocol,
  IN VOID       *Interface);

typedef EFI_STATUS (EFIAPI *EFI_HANDLE_PROTOCOL)(
  IN  EFI_HANDLE Handle,
  IN  EFI_GUID   *Protocol,
  OUT VOID       **Interface);

typedef EFI_STATUS (EFIAPI *EFI_REGISTER_PROTOCOL_NOTIFY)(
  IN  EFI_GUID  *Protocol,
  IN  EFI_EVENT Event,
  OUT VOID      **Registration);

typedef EFI_STATUS (EFIAPI *EFI_LOCATE_HANDLE)(
  IN     EFI_LOCATE_SEARCH_TYPE SearchType,
  IN     EFI_GUID               *Protocol OPTIONAL,
  IN     VOID                   *SearchKey OPTIONAL,
  IN OUT UINTN                  *BufferSize,
  OUT    EFI_HANDLE             *Buffer);

typedef EFI_STATUS (EFIAPI *EFI_LOCATE_DEVICE_PATH)(
  IN     EFI_GUID                 *Protocol,
  IN OUT EFI_DEVICE_PATH_PROTOCOL **DevicePath,
  OUT    EFI_HANDLE               *Device);

typedef EFI_STATUS (EFIAPI *EFI_INSTALL_CONFIGURATION_TABLE)(
  IN EFI_GUID *Guid,
  IN VOID     *Table);

typedef EFI_STATUS (EFIAPI *EFI_IMAGE_LOAD)(
  IN  BOOLEAN                  BootPolicy,
  IN  EFI_HANDLE               ParentImageHandle,
  IN  EFI_DEVICE_PATH_PROTOCOL *DevicePath OPTIONAL,
  IN  VOID                     *SourceBuffer OPTIONAL,
  IN  UINTN                    SourceSize,
  OUT EFI_HANDLE               *ImageHandle);

typedef EFI_STATUS (EFIAPI *EFI_IMAGE_START)(
  IN  EFI_HANDLE ImageHandle,
  OUT UINTN      *ExitDataSize,
  OUT CHAR16     **ExitData OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_EXIT)(
  IN EFI_HANDLE ImageHandle,
  IN EFI_STATUS ExitStatus,
  IN UINTN      ExitDataSize,
  IN CHAR16     *ExitData OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_IMAGE_UNLOAD)(
  IN EFI_HANDLE ImageHandle);

typedef EFI_STATUS (EFIAPI *EFI_EXIT_BOOT_SERVICES)(
  IN EFI_HANDLE ImageHandle,
  IN UINTN      MapKey);

typedef EFI_STATUS (EFIAPI *EFI_GET_NEXT_MONOTONIC_COUNT)(
  OUT UINT64 *Count);

typedef EFI_STATUS (EFIAPI *EFI_STALL)(
  IN UINTN Microseconds);

typedef EFI_STATUS (EFIAPI *EFI_SET_WATCHDOG_TIMER)(
  IN UINTN  Timeout,
  IN UINT64 WatchdogCode,
  IN UINTN  DataSize,
  IN CHAR16 *WatchdogData OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_CONNECT_CONTROLLER)(
  IN EFI_HANDLE               ControllerHandle,
  IN EFI_HANDLE               *DriverImageHandle OPTIONAL,
  IN EFI_DEVICE_PATH_PROTOCOL *RemainingDevicePath OPTIONAL,
  IN BOOLEAN                  Recursive);

typedef EFI_STATUS (EFIAPI *EFI_DISCONNECT_CONTROLLER)(
  IN EFI_HANDLE ControllerHandle,
  IN EFI_HANDLE DriverImageHandle OPTIONAL,
  IN EFI_HANDLE ChildHandle OPTIONAL);

typedef EFI_STATUS (EFIAPI *EFI_OPEN_PROTOCOL)(
  IN  EFI_HANDLE Handle,
  IN  EFI_GUID   *Protocol,
  OUT VOID       **Interface OPTIONAL,
  IN  EFI_HANDLE AgentHandle,
  IN  EFI_HANDLE ControllerHandle,
  IN  UINT32     Attributes);

typedef EFI_STATUS (EFIAPI *EFI_CLOSE_PROTOCOL)(
  IN EFI_HANDLE Handle,
  IN EFI_GUID   *Protocol,
  IN EFI_HANDLE AgentHandle,
  IN EFI_HANDLE ControllerHandle);

typedef EFI_STATUS (EFIAPI *EFI_OPEN_PROTOCOL_INFORMATION)(
  IN  EFI_HANDLE                          Handle,
  IN  EFI_GUID                            *Protocol,
  OUT EFI_OPEN_PROTOCOL_INFORMATION_ENTRY **EntryBuffer,
  OUT UINTN                               *EntryCount);

typedef EFI_STATUS (EFIAPI *EFI_PROTOCOLS_PER_HANDLE)(
  IN  EFI_HANDLE Handle,
  OUT EFI_GUID   ***ProtocolBuffer,
  OUT UINTN      *ProtocolBufferCount);

typedef EFI_STATUS (EFIAPI *EFI_LOCATE_HANDLE_BUFFER)(
  IN     EFI_LOCATE_SEARCH_TYPE SearchType,
  IN     EFI_GUID               *Protocol OPTIONAL,
  IN     VOID                   *SearchKey OPTIONAL,
  OUT    UINTN                  *NoHandles,
  OUT    EFI_HANDLE             **Buffer);

typedef EFI_STATUS (EFIAPI *EFI_LOCATE_PROTOCOL)(
  IN  EFI_GUID *Protocol,
  IN  VOID     *Registration OPTIONAL,
  OUT VOID     **Interface);

typedef EFI_STATUS (EFIAPI *EFI_INSTALL_MULTIPLE_PROTOCOL_INTERFACES)(
  IN OUT EFI_HANDLE *Handle,
  ...);

typedef EFI_STATUS (EFIAPI *EFI_UNINSTALL_MULTIPLE_PROTOCOL_INTERFACES)(
  IN EFI_HANDLE Handle,
  ...);

typedef EFI_STATUS (EFIAPI *EFI_CALCULATE_CRC32)(
  IN  VOID   *Data,
  IN  UINTN  DataSize,
  OUT UINT32 *Crc32);

typedef VOID (EFIAPI *EFI_COPY_MEM)(
  IN VOID  *Destination,
  IN VOID  *Source,
  IN UINTN Length);

typedef VOID (EFIAPI *EFI_SET_MEM)(
  IN VOID  *Buffer,
  IN UINTN Size,
  IN UINT8 Value);

typedef EFI_STATUS (EFIAPI *EFI_CREATE_EVENT_EX)(
  IN       UINT32           Type,
  IN       EFI_TPL          NotifyTpl,
  IN       EFI_EVENT_NOTIFY NotifyFunction OPTIONAL,
  IN CONST VOID             *NotifyContext OPTIONAL,
  IN CONST EFI_GUID         *EventGroup OPTIONAL,
  OUT      EFI_EVENT        *Event);

typedef struct {
  EFI_TABLE_HEADER                           Hdr;

  /* Task Priority Services */
  EFI_RAISE_TPL                              RaiseTPL;
  EFI_RESTORE_TPL                            RestoreTPL;

  /* Memory Services */
  EFI_ALLOCATE_PAGES                         AllocatePages;
  EFI_FREE_PAGES                             FreePages;
  EFI_GET_MEMORY_MAP                         GetMemoryMap;
  EFI_ALLOCATE_POOL                          AllocatePool;
  EFI_FREE_POOL                              FreePool;

  /* Event & Timer Services */
  EFI_CREATE_EVENT                           CreateEvent;
  EFI_SET_TIMER                              SetTimer;
  EFI_WAIT_FOR_EVENT                         WaitForEvent;
  EFI_SIGNAL_EVENT                           SignalEvent;
  EFI_CLOSE_EVENT                            CloseEvent;
  EFI_CHECK_EVENT                            CheckEvent;

  /* Protocol Handler Services */
  EFI_INSTALL_PROTOCOL_INTERFACE             InstallProtocolInterface;
  EFI_REINSTALL_PROTOCOL_INTERFACE           ReinstallProtocolInterface;
  EFI_UNINSTALL_PROTOCOL_INTERFACE           UninstallProtocolInterface;
  EFI_HANDLE_PROTOCOL                        HandleProtocol;
  VOID                                       *Reserved;
  EFI_REGISTER_PROTOCOL_NOTIFY               RegisterProtocolNotify;
  EFI_LOCATE_HANDLE                          LocateHandle;
  EFI_LOCATE_DEVICE_PATH                     LocateDevicePath;
  EFI_INSTALL_CONFIGURATION_TABLE            InstallConfigurationTable;

  /* Image Services */
  EFI_IMAGE_LOAD                             LoadImage;
  EFI_IMAGE_START                            StartImage;
  EFI_EXIT                                   Exit;
  EFI_IMAGE_UNLOAD                           UnloadImage;
  EFI_EXIT_BOOT_SERVICES                     ExitBootServices;

  /* Miscellaneous Services */
  EFI_GET_NEXT_MONOTONIC_COUNT               GetNextMonotonicCount;
  EFI_STALL                                  Stall;
  EFI_SET_WATCHDOG_TIMER                     SetWatchdogTimer;

  /* DriverSupport Services */
  EFI_CONNECT_CONTROLLER                     ConnectController;
  EFI_DISCONNECT_CONTROLLER                  DisconnectController;

  /* Open and Close Protocol Services */
  EFI_OPEN_PROTOCOL                          OpenProtocol;
  EFI_CLOSE_PROTOCOL                         CloseProtocol;
  EFI_OPEN_PROTOCOL_INFORMATION              OpenProtocolInformation;

  /* Library Services */
  EFI_PROTOCOLS_PER_HANDLE                   ProtocolsPerHandle;
  EFI_LOCATE_HANDLE_BUFFER                   LocateHandleBuffer;
  EFI_LOCATE_PROTOCOL                        LocateProtocol;
  EFI_INSTALL_MULTIPLE_PROTOCOL_INTERFACES   InstallMultipleProtocolInterfaces;
  EFI_UNINSTALL_MULTIPLE_PROTOCOL_INTERFACES UninstallMultipleProtocolInterfaces;

  /* 32-bit CRC Services */
  EFI_CALCULATE_CRC32                        CalculateCrc32;

  /* Miscellaneous Services */
  EFI_COPY_MEM                               CopyMem;
  EFI_SET_MEM                                SetMem;
  EFI_CREATE_EVENT_EX                        CreateEventEx;
} EFI_BOOT_SERVICES;

/* ------------------------------------------------------------------ 4.6 -- */

typedef struct {
  EFI_GUID VendorGuid;
  VOID     *VendorTable;
} EFI_CONFIGURATION_TABLE;

#define EFI_ACPI_20_TABLE_GUID \
  { 0x8868e871, 0xe4f1, 0x11d3, { 0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81 } }

#define SMBIOS3_TABLE_GUID \
  { 0xf2fd1544, 0x9794, 0x4a2c, { 0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94 } }

/* ------------------------------------------------------------------ 4.3 -- */

#define EFI_SYSTEM_TABLE_SIGNATURE 0x5453595320494249ULL

#define EFI_2_100_SYSTEM_TABLE_REVISION ((2 << 16) | (100))
#define EFI_2_90_SYSTEM_TABLE_REVISION  ((2 << 16) | (90))
#define EFI_2_80_SYSTEM_TABLE_REVISION  ((2 << 16) | (80))
#define EFI_2_70_SYSTEM_TABLE_REVISION  ((2 << 16) | (70))
#define EFI_SYSTEM_TABLE_REVISION       EFI_2_100_SYSTEM_TABLE_REVISION
#define EFI_SPECIFICATION_VERSION       EFI_SYSTEM_TABLE_REVISION

typedef struct {
  EFI_TABLE_HEADER                Hdr;
  CHAR16                          *FirmwareVendor;
  UINT32                          FirmwareRevision;
  EFI_HANDLE                      ConsoleInHandle;
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL  *ConIn;
  EFI_HANDLE                      ConsoleOutHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *ConOut;
  EFI_HANDLE                      StandardErrorHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *StdErr;
  EFI_RUNTIME_SERVICES            *RuntimeServices;
  EFI_BOOT_SERVICES               *BootServices;
  UINTN                           NumberOfTableEntries;
  EFI_CONFIGURATION_TABLE         *ConfigurationTable;
} EFI_SYSTEM_TABLE;

/* ---------------------------------------------------------------- 4.1 ---- */

typedef EFI_STATUS (EFIAPI *EFI_IMAGE_ENTRY_POINT)(
  IN EFI_HANDLE       ImageHandle,
  IN EFI_SYSTEM_TABLE *SystemTable);

/* ------------------------------------------------------------------ 9.1 -- */

#define EFI_LOADED_IMAGE_PROTOCOL_GUID \
  { 0x5B1B31A1, 0x9562, 0x11d2, { 0x8E, 0x3F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B } }

#define EFI_LOADED_IMAGE_PROTOCOL_REVISION 0x1000

#define EFI_LOADED_IMAGE_DEVICE_PATH_PROTOCOL_GUID \
  { 0xbc62157e, 0x3e33, 0x4fec, { 0x99, 0x20, 0x2d, 0x3b, 0x36, 0xd7, 0x50, 0xdf } }

typedef struct {
  UINT32                   Revision;
  EFI_HANDLE               ParentHandle;
  EFI_SYSTEM_TABLE         *SystemTable;

  /* Source location of the image */
  EFI_HANDLE               DeviceHandle;
  EFI_DEVICE_PATH_PROTOCOL *FilePath;
  VOID                     *Reserved;

  /* Image's load options */
  UINT32                   LoadOptionsSize;
  VOID                     *LoadOptions;

  /* Location where image was loaded */
  VOID                     *ImageBase;
  UINT64                   ImageSize;
  EFI_MEMORY_TYPE          ImageCodeType;
  EFI_MEMORY_TYPE          ImageDataType;
  EFI_IMAGE_UNLOAD         Unload;
} EFI_LOADED_IMAGE_PROTOCOL;

#define EFI_DEVICE_PATH_PROTOCOL_GUID \
  { 0x09576e91, 0x6d3f, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }

/* ------------------------------------------------- 13.x, disks and files -- */

typedef struct {
  UINT32  MediaId;
  BOOLEAN RemovableMedia;
  BOOLEAN MediaPresent;
  BOOLEAN LogicalPartition;
  BOOLEAN ReadOnly;
  BOOLEAN WriteCaching;
  UINT32  BlockSize;
  UINT32  IoAlign;
  EFI_LBA LastBlock;
  EFI_LBA LowestAlignedLba;
  UINT32  LogicalBlocksPerPhysicalBlock;
  UINT32  OptimalTransferLengthGranularity;
} EFI_BLOCK_IO_MEDIA;

typedef struct _EFI_BLOCK_IO_PROTOCOL EFI_BLOCK_IO_PROTOCOL;
struct _EFI_BLOCK_IO_PROTOCOL {
  UINT64              Revision;
  EFI_BLOCK_IO_MEDIA *Media;
  EFI_STATUS (EFIAPI *Reset)(IN EFI_BLOCK_IO_PROTOCOL *This, IN BOOLEAN ExtendedVerification);
  EFI_STATUS (EFIAPI *ReadBlocks)(IN EFI_BLOCK_IO_PROTOCOL *This, IN UINT32 MediaId, IN EFI_LBA Lba,
                                  IN UINTN BufferSize, OUT VOID *Buffer);
  EFI_STATUS (EFIAPI *WriteBlocks)(IN EFI_BLOCK_IO_PROTOCOL *This, IN UINT32 MediaId, IN EFI_LBA Lba,
                                   IN UINTN BufferSize, IN VOID *Buffer);
  EFI_STATUS (EFIAPI *FlushBlocks)(IN EFI_BLOCK_IO_PROTOCOL *This);
};

typedef struct _EFI_DISK_IO_PROTOCOL EFI_DISK_IO_PROTOCOL;
struct _EFI_DISK_IO_PROTOCOL {
  UINT64 Revision;
  EFI_STATUS (EFIAPI *ReadDisk)(IN EFI_DISK_IO_PROTOCOL *This, IN UINT32 MediaId, IN UINT64 Offset,
                                IN UINTN BufferSize, OUT VOID *Buffer);
  EFI_STATUS (EFIAPI *WriteDisk)(IN EFI_DISK_IO_PROTOCOL *This, IN UINT32 MediaId, IN UINT64 Offset,
                                 IN UINTN BufferSize, IN VOID *Buffer);
};

typedef struct {
  UINT32 Revision;
  UINT32 Type;        /* 0 other, 1 MBR, 2 GPT */
  UINT8  System;      /* 1: the EFI system partition */
  UINT8  Reserved[7];
  UINT8  Info[128];   /* the MBR record (16 bytes) or the GPT entry */
} EFI_PARTITION_INFO_PROTOCOL;

typedef struct _EFI_FILE_PROTOCOL EFI_FILE_PROTOCOL;
struct _EFI_FILE_PROTOCOL {
  UINT64 Revision;
  EFI_STATUS (EFIAPI *Open)(IN EFI_FILE_PROTOCOL *This, OUT EFI_FILE_PROTOCOL **NewHandle,
                            IN CHAR16 *FileName, IN UINT64 OpenMode, IN UINT64 Attributes);
  EFI_STATUS (EFIAPI *Close)(IN EFI_FILE_PROTOCOL *This);
  EFI_STATUS (EFIAPI *Delete)(IN EFI_FILE_PROTOCOL *This);
  EFI_STATUS (EFIAPI *Read)(IN EFI_FILE_PROTOCOL *This, IN OUT UINTN *BufferSize, OUT VOID *Buffer);
  EFI_STATUS (EFIAPI *Write)(IN EFI_FILE_PROTOCOL *This, IN OUT UINTN *BufferSize, IN VOID *Buffer);
  EFI_STATUS (EFIAPI *GetPosition)(IN EFI_FILE_PROTOCOL *This, OUT UINT64 *Position);
  EFI_STATUS (EFIAPI *SetPosition)(IN EFI_FILE_PROTOCOL *This, IN UINT64 Position);
  EFI_STATUS (EFIAPI *GetInfo)(IN EFI_FILE_PROTOCOL *This, IN EFI_GUID *InformationType,
                               IN OUT UINTN *BufferSize, OUT VOID *Buffer);
  EFI_STATUS (EFIAPI *SetInfo)(IN EFI_FILE_PROTOCOL *This, IN EFI_GUID *InformationType,
                               IN UINTN BufferSize, IN VOID *Buffer);
  EFI_STATUS (EFIAPI *Flush)(IN EFI_FILE_PROTOCOL *This);
  EFI_STATUS (EFIAPI *OpenEx)(IN EFI_FILE_PROTOCOL *This, OUT EFI_FILE_PROTOCOL **NewHandle,
                              IN CHAR16 *FileName, IN UINT64 OpenMode, IN UINT64 Attributes, IN OUT VOID *Token);
  EFI_STATUS (EFIAPI *ReadEx)(IN EFI_FILE_PROTOCOL *This, IN OUT VOID *Token);
  EFI_STATUS (EFIAPI *WriteEx)(IN EFI_FILE_PROTOCOL *This, IN OUT VOID *Token);
  EFI_STATUS (EFIAPI *FlushEx)(IN EFI_FILE_PROTOCOL *This, IN OUT VOID *Token);
};

#define EFI_FILE_MODE_READ   0x0000000000000001ULL
#define EFI_FILE_MODE_WRITE  0x0000000000000002ULL
#define EFI_FILE_MODE_CREATE 0x8000000000000000ULL
#define EFI_FILE_DIRECTORY   0x0000000000000010ULL

typedef struct _EFI_SIMPLE_FILE_SYSTEM_PROTOCOL EFI_SIMPLE_FILE_SYSTEM_PROTOCOL;
struct _EFI_SIMPLE_FILE_SYSTEM_PROTOCOL {
  UINT64 Revision;
  EFI_STATUS (EFIAPI *OpenVolume)(IN EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *This, OUT EFI_FILE_PROTOCOL **Root);
};

typedef struct {
  UINT64   Size;
  UINT64   FileSize;
  UINT64   PhysicalSize;
  EFI_TIME CreateTime;
  EFI_TIME LastAccessTime;
  EFI_TIME ModificationTime;
  UINT64   Attribute;
  CHAR16   FileName[1];
} EFI_FILE_INFO;

typedef struct {
  UINT64  Size;
  BOOLEAN ReadOnly;
  UINT64  VolumeSize;
  UINT64  FreeSpace;
  UINT32  BlockSize;
  CHAR16  VolumeLabel[1];
} EFI_FILE_SYSTEM_INFO;

/* 10.3 device-path nodes for disks (packed in the spec; these natural layouts match) */
typedef struct {
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT32 HID;
  UINT32 UID;
} ACPI_HID_DEVICE_PATH;

typedef struct {
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT8 Function;
  UINT8 Device;
} PCI_DEVICE_PATH;

typedef struct {
  EFI_DEVICE_PATH_PROTOCOL Header;
  UINT32 PartitionNumber;
  UINT64 PartitionStart;
  UINT64 PartitionSize;
  UINT8  Signature[16];
  UINT8  MBRType;
  UINT8  SignatureType;
} HARDDRIVE_DEVICE_PATH;

/* 3.1.3: Description follows, then FilePathListLength bytes of paths, then optional data */
typedef struct {
  UINT32 Attributes;
  UINT16 FilePathListLength;
  CHAR16 Description[1];
} EFI_LOAD_OPTION;

#define EFI_BLOCK_IO_PROTOCOL_GUID \
  { 0x964e5b21, 0x6459, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }
#define EFI_DISK_IO_PROTOCOL_GUID \
  { 0xce345171, 0xba0b, 0x11d2, { 0x8e, 0x4f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }
#define EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID \
  { 0x964e5b22, 0x6459, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }
#define EFI_FILE_INFO_ID \
  { 0x09576e92, 0x6d3f, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }
#define EFI_FILE_SYSTEM_INFO_ID \
  { 0x09576e93, 0x6d3f, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } }
#define EFI_PARTITION_INFO_PROTOCOL_GUID \
  { 0x8cf2f62c, 0xbc9b, 0x4821, { 0x80, 0x8d, 0xec, 0x9e, 0xc4, 0x21, 0xa1, 0xa0 } }

/* ------------------------------------------------------- 12.9 graphics -- */

typedef struct {
  UINT32 RedMask;
  UINT32 GreenMask;
  UINT32 BlueMask;
  UINT32 ReservedMask;
} EFI_PIXEL_BITMASK;

typedef struct {
  UINT32            Version;
  UINT32            HorizontalResolution;
  UINT32            VerticalResolution;
  UINT32            PixelFormat;   /* 1: PixelBlueGreenRedReserved8BitPerColor */
  EFI_PIXEL_BITMASK PixelInformation;
  UINT32            PixelsPerScanLine;
} EFI_GRAPHICS_OUTPUT_MODE_INFORMATION;

typedef struct {
  UINT32                                MaxMode;
  UINT32                                Mode;
  EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *Info;
  UINTN                                 SizeOfInfo;
  EFI_PHYSICAL_ADDRESS                  FrameBufferBase;
  UINTN                                 FrameBufferSize;
} EFI_GRAPHICS_OUTPUT_PROTOCOL_MODE;

typedef struct _EFI_GRAPHICS_OUTPUT_PROTOCOL EFI_GRAPHICS_OUTPUT_PROTOCOL;
struct _EFI_GRAPHICS_OUTPUT_PROTOCOL {
  EFI_STATUS (EFIAPI *QueryMode)(IN EFI_GRAPHICS_OUTPUT_PROTOCOL *This, IN UINT32 ModeNumber,
                                 OUT UINTN *SizeOfInfo, OUT EFI_GRAPHICS_OUTPUT_MODE_INFORMATION **Info);
  EFI_STATUS (EFIAPI *SetMode)(IN EFI_GRAPHICS_OUTPUT_PROTOCOL *This, IN UINT32 ModeNumber);
  EFI_STATUS (EFIAPI *Blt)(IN EFI_GRAPHICS_OUTPUT_PROTOCOL *This, IN OUT UINT32 *BltBuffer OPTIONAL,
                           IN UINT32 BltOperation, IN UINTN SourceX, IN UINTN SourceY,
                           IN UINTN DestinationX, IN UINTN DestinationY, IN UINTN Width,
                           IN UINTN Height, IN UINTN Delta OPTIONAL);
  EFI_GRAPHICS_OUTPUT_PROTOCOL_MODE *Mode;
};

/* ------------------------------------------- 12.2 and 19.2: input, collation -- */

typedef struct {
  UINT32 KeyShiftState;
  UINT8  KeyToggleState;
} EFI_KEY_STATE;

typedef struct {
  EFI_INPUT_KEY Key;
  EFI_KEY_STATE KeyState;
} EFI_KEY_DATA;

typedef struct _EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL;
struct _EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL {
  EFI_STATUS (EFIAPI *Reset)(IN EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, IN BOOLEAN ExtendedVerification);
  EFI_STATUS (EFIAPI *ReadKeyStrokeEx)(IN EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, OUT EFI_KEY_DATA *KeyData);
  EFI_EVENT WaitForKeyEx;
  EFI_STATUS (EFIAPI *SetState)(IN EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, IN UINT8 *KeyToggleState);
  EFI_STATUS (EFIAPI *RegisterKeyNotify)(IN EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, IN EFI_KEY_DATA *KeyData,
                                         IN VOID *KeyNotificationFunction, OUT VOID **NotifyHandle);
  EFI_STATUS (EFIAPI *UnregisterKeyNotify)(IN EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *This, IN VOID *NotificationHandle);
};

typedef struct _EFI_UNICODE_COLLATION_PROTOCOL EFI_UNICODE_COLLATION_PROTOCOL;
struct _EFI_UNICODE_COLLATION_PROTOCOL {
  INTN    (EFIAPI *StriColl)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN CHAR16 *Str1, IN CHAR16 *Str2);
  BOOLEAN (EFIAPI *MetaiMatch)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN CHAR16 *String, IN CHAR16 *Pattern);
  VOID    (EFIAPI *StrLwr)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN OUT CHAR16 *Str);
  VOID    (EFIAPI *StrUpr)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN OUT CHAR16 *Str);
  VOID    (EFIAPI *FatToStr)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN UINTN FatSize, IN CHAR8 *Fat, OUT CHAR16 *String);
  BOOLEAN (EFIAPI *StrToFat)(IN EFI_UNICODE_COLLATION_PROTOCOL *This, IN CHAR16 *String, IN UINTN FatSize, OUT CHAR8 *Fat);
  CHAR8 *SupportedLanguages;
};

#define EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL_GUID \
  { 0xdd9e7534, 0x7762, 0x4698, { 0x8c, 0x14, 0xf5, 0x85, 0x17, 0xa6, 0x25, 0xaa } }
#define EFI_UNICODE_COLLATION2_PROTOCOL_GUID \
  { 0xa4c751fc, 0x23ae, 0x4c3e, { 0x92, 0xe9, 0x49, 0x64, 0xcf, 0x63, 0xf3, 0x49 } }

/* ---------------------------------------------------------- layout checks */

_Static_assert(sizeof(EFI_GUID) == 16, "EFI_GUID");
_Static_assert(sizeof(EFI_TABLE_HEADER) == 24, "EFI_TABLE_HEADER");
_Static_assert(sizeof(EFI_SYSTEM_TABLE) == 120, "EFI_SYSTEM_TABLE");
_Static_assert(sizeof(EFI_BOOT_SERVICES) == 376, "EFI_BOOT_SERVICES");
_Static_assert(sizeof(EFI_RUNTIME_SERVICES) == 136, "EFI_RUNTIME_SERVICES");
_Static_assert(sizeof(EFI_LOADED_IMAGE_PROTOCOL) == 96, "EFI_LOADED_IMAGE_PROTOCOL");
_Static_assert(sizeof(EFI_MEMORY_DESCRIPTOR) == 40, "EFI_MEMORY_DESCRIPTOR");
_Static_assert(sizeof(EFI_CONFIGURATION_TABLE) == 24, "EFI_CONFIGURATION_TABLE");
_Static_assert(sizeof(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL) == 80, "EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL");
_Static_assert(sizeof(SIMPLE_TEXT_OUTPUT_MODE) == 24, "SIMPLE_TEXT_OUTPUT_MODE");
_Static_assert(sizeof(EFI_SIMPLE_TEXT_INPUT_PROTOCOL) == 24, "EFI_SIMPLE_TEXT_INPUT_PROTOCOL");
_Static_assert(sizeof(EFI_INPUT_KEY) == 4, "EFI_INPUT_KEY");
_Static_assert(sizeof(EFI_TIME) == 16, "EFI_TIME");
_Static_assert(__builtin_offsetof(EFI_SYSTEM_TABLE, ConIn) == 48, "ConIn");
_Static_assert(__builtin_offsetof(EFI_SYSTEM_TABLE, BootServices) == 96, "BootServices");
_Static_assert(__builtin_offsetof(EFI_BOOT_SERVICES, HandleProtocol) == 152, "HandleProtocol");
_Static_assert(__builtin_offsetof(EFI_BOOT_SERVICES, CreateEventEx) == 368, "CreateEventEx");
_Static_assert(__builtin_offsetof(EFI_LOADED_IMAGE_PROTOCOL, LoadOptions) == 56, "LoadOptions");
_Static_assert(__builtin_offsetof(EFI_LOADED_IMAGE_PROTOCOL, ImageBase) == 64, "ImageBase");

#endif /* UEFICORN_EFI_H */
