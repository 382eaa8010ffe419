// Images (UEFI 2.10 §7.4, §9): LoadImage's statuses and its device-path split into
// DeviceHandle and FilePath, Loaded Image Device Path, StartImage nested with ExitData,
// Exit and UnloadImage, applications unloaded when they return; and the device-path
// protocols (§10.5, §10.6). Images are made here: one .text section of hand-assembled
// code (tests/guest-asm.ts), position-independent, relocatable anywhere.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { ServiceCaller } from "./service-caller.ts";
import { Asm, thunk, place } from "./guest-asm.ts";
import { guidBytes, field } from "../firmware/spec/decl.ts";
import { GUIDS, STATUS, LOADED_IMAGE_PROTOCOL as LI, MEMORY_TYPE as MT, statusName } from "../firmware/spec/uefi.ts";

const is = (s: bigint, name: keyof typeof STATUS, what = "") => assert.is(statusName(s), name, what);
const hello = readFileSync("build/guests/hello.efi");
const APPLICATION = 10, DRIVER = 11;

/** A PE32+ image: headers, then `code` as .text at RVA 0x1000, which is the entry point. */
function pe(code: Asm, subsystem = APPLICATION): Uint8Array {
  const text = Uint8Array.from(code.bytes);
  const raw = Math.ceil(text.length / 0x200) * 0x200 || 0x200;
  const b = new Uint8Array(0x200 + raw);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x5a4d, true); // "MZ"
  v.setUint32(0x3c, 0x40, true); // e_lfanew
  v.setUint32(0x40, 0x4550, true); // "PE\0\0"
  v.setUint16(0x44, 0x8664, true); // Machine
  v.setUint16(0x46, 1, true); // NumberOfSections
  v.setUint16(0x54, 240, true); // SizeOfOptionalHeader: 112 + 16 data directories
  v.setUint16(0x56, 0x22, true); // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
  const o = 0x58;
  v.setUint16(o, 0x20b, true); // PE32+
  v.setUint32(o + 16, 0x1000, true); // AddressOfEntryPoint
  v.setBigUint64(o + 24, 0x1_4000_0000n, true); // ImageBase (relocated anyway)
  v.setUint32(o + 32, 0x1000, true); // SectionAlignment
  v.setUint32(o + 36, 0x200, true); // FileAlignment
  v.setUint32(o + 56, 0x1000 + Math.ceil(raw / 0x1000) * 0x1000, true); // SizeOfImage
  v.setUint32(o + 60, 0x200, true); // SizeOfHeaders
  v.setUint16(o + 68, subsystem, true);
  v.setUint32(o + 108, 16, true); // NumberOfRvaAndSizes
  const s = o + 240;
  b.set(Buffer.from(".text"), s);
  v.setUint32(s + 8, text.length, true); // VirtualSize
  v.setUint32(s + 12, 0x1000, true); // VirtualAddress
  v.setUint32(s + 16, raw, true); // SizeOfRawData
  v.setUint32(s + 20, 0x200, true); // PointerToRawData
  v.setUint32(s + 36, 0x60000020, true); // code, execute, read
  b.set(text, 0x200);
  return b;
}

/** Entry point that returns `status`. */
const returns = (status: bigint) => new Asm().movRax(status).ret();

class Images {
  readonly parent: bigint;
  constructor(readonly c: ServiceCaller) {
    this.parent = c.m.loadImage(hello);
  }
  load(image: Uint8Array, path = 0n): { status: bigint; handle: bigint } {
    const src = this.c.bytes(image);
    const out = this.c.cell();
    const status = this.c.call("BS.LoadImage", 0n, this.parent, path, src, BigInt(image.length), out);
    return { status, handle: this.c.u64(out) };
  }
  /** The Loaded Image protocol's address on h. */
  loadedImage(h: bigint): bigint {
    const out = this.c.cell();
    is(this.c.call("BS.HandleProtocol", h, this.c.bytes(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL)), out), "SUCCESS", "LoadedImage");
    return this.c.u64(out);
  }
  li(h: bigint, f: string): bigint { return this.c.u64(this.loadedImage(h) + BigInt(field(LI, f).offset)); }
  alive(h: bigint): boolean {
    return statusName(this.c.call("BS.HandleProtocol", h, this.c.bytes(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL)), this.c.cell())) === "SUCCESS";
  }
  protocol(name: keyof typeof GUIDS): bigint {
    const out = this.c.cell();
    is(this.c.call("BS.LocateProtocol", this.c.bytes(guidBytes(GUIDS[name])), 0n, out), "SUCCESS", name);
    return this.c.u64(out);
  }
  /** DevicePathToText of a path (guest address), as a JS string. */
  text(path: bigint): string {
    const p = this.c.call("DevicePathToText.ConvertDevicePathToText", path, 0n, 0n);
    if (!p) return "<NULL>";
    let s = "";
    for (let a = Number(p); this.c.m.fw.ramView.getUint16(a, true); a += 2) s += String.fromCharCode(this.c.m.fw.ramView.getUint16(a, true));
    return s;
  }
}

const filePathNode = (name: string) => {
  const s = Buffer.from(name + "\0", "utf16le");
  return Uint8Array.of(4, 4, (4 + s.length) & 0xff, (4 + s.length) >> 8, ...s);
};
const END = [0x7f, 0xff, 4, 0];

test("LoadImage: NOT_FOUND without a buffer, LOAD_ERROR for an empty one, INVALID_PARAMETER for bad handles and paths", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  const img = pe(returns(0n));
  const src = c.bytes(img);
  const path = c.bytes(Uint8Array.of(...filePathNode("\\a.efi"), ...END));
  is(c.call("BS.LoadImage", 0n, im.parent, 0n, 0n, 0n, c.cell()), "NOT_FOUND", "neither buffer nor path");
  is(c.call("BS.LoadImage", 0n, im.parent, path, 0n, 0n, c.cell()), "NOT_FOUND", "a path, and no file system");
  is(c.call("BS.LoadImage", 0n, im.parent, 0n, src, 0n, c.cell()), "LOAD_ERROR", "SourceSize 0");
  is(c.call("BS.LoadImage", 0n, c.cell(), 0n, src, BigInt(img.length), c.cell()), "INVALID_PARAMETER", "parent not an image");
  is(c.call("BS.LoadImage", 0n, im.parent, 0n, src, BigInt(img.length), 0n), "INVALID_PARAMETER", "NULL ImageHandle");
  is(c.call("BS.LoadImage", 0n, im.parent, c.bytes(Uint8Array.of(4, 4, 1, 0)), src, BigInt(img.length), c.cell()), "INVALID_PARAMETER", "a malformed path");
  c.close();
});

test("Loaded Image fields: DeviceHandle and FilePath split from the device path, Loaded Image Device Path whole", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  // The host's own image comes from ueficorn's boot device.
  const device = im.li(im.parent, "DeviceHandle");
  assert.ok(device !== 0n, "DeviceHandle");
  const dpOut = c.cell();
  is(c.call("BS.HandleProtocol", device, c.bytes(guidBytes(GUIDS.DEVICE_PATH_PROTOCOL)), dpOut), "SUCCESS", "the device has a device path");
  assert.is(im.text(c.u64(dpOut)), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})`);
  assert.is(im.text(im.li(im.parent, "FilePath")), `VenMedia(${GUIDS.UEFICORN_BOOT_IMAGE})`);

  // LoadImage with the device's path and a file node: the device is found, the file node is FilePath.
  const devPath = c.u64(dpOut);
  const devBytes = c.m.fw.ram.slice(Number(devPath), Number(devPath) + 20);
  const path = c.bytes(Uint8Array.of(...devBytes, ...filePathNode("\\EFI\\x.efi"), ...END));
  const { status, handle } = im.load(pe(returns(0n)), path);
  is(status, "SUCCESS");
  assert.is(im.li(handle, "DeviceHandle"), device);
  assert.is(im.text(im.li(handle, "FilePath")), "\\EFI\\x.efi");
  assert.is(im.li(handle, "ParentHandle"), im.parent);
  assert.is(Number(im.li(handle, "ImageCodeType") & 0xffffffffn), MT.LoaderCode);
  const lidp = c.cell();
  is(c.call("BS.HandleProtocol", handle, c.bytes(guidBytes(GUIDS.LOADED_IMAGE_DEVICE_PATH_PROTOCOL)), lidp), "SUCCESS");
  assert.is(im.text(c.u64(lidp)), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})/\\EFI\\x.efi`);
  assert.ok(c.u64(lidp) !== path, "a copy");

  // No path: no device, no FilePath, and Loaded Image Device Path installed with NULL (as EDK2).
  const bare = im.load(pe(returns(0n))).handle;
  assert.equal([im.li(bare, "DeviceHandle"), im.li(bare, "FilePath")], [0n, 0n]);
  const none = c.cell(7n);
  is(c.call("BS.HandleProtocol", bare, c.bytes(guidBytes(GUIDS.LOADED_IMAGE_DEVICE_PATH_PROTOCOL)), none), "SUCCESS");
  assert.is(c.u64(none), 0n);
  c.close();
});

test("StartImage, nested: the child's Exit status and a pool copy of its ExitData reach the parent; applications are unloaded", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  const message = c.ucs2("child failed");
  const child = im.load(pe(new Asm().subRsp(0x28)
    .movRdx(STATUS.ABORTED).movR8(26n).movR9(message) // Exit(ImageHandle, EFI_ABORTED, 26, L"child failed")
    .movRax(thunk(c, "BS.Exit")).callRax()
    .addRsp(0x28).ret())).handle;
  const sizeOut = c.cell(), dataOut = c.cell();
  // The parent starts the child and returns what StartImage gave it.
  const parent = im.load(pe(new Asm().subRsp(0x28)
    .movRcx(child).movRdx(sizeOut).movR8(dataOut).movRax(thunk(c, "BS.StartImage")).callRax()
    .addRsp(0x28).ret())).handle;
  const childBase = im.li(child, "ImageBase");
  is(c.call("BS.StartImage", parent, 0n, 0n), "ABORTED", "the parent returns the child's status");
  assert.is(c.u64(sizeOut), 26n);
  const data = c.u64(dataOut);
  assert.ok(data !== 0n && data !== message, "a copy");
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(data), Number(data) + 24)).toString("utf16le"), "child failed");
  is(c.call("BS.FreePool", data), "SUCCESS", "pool the caller frees");
  assert.not.ok(im.alive(child), "the child application is unloaded");
  assert.not.ok(im.alive(parent), "so is the parent");
  is(c.call("BS.StartImage", child, 0n, 0n), "INVALID_PARAMETER", "an unloaded image");
  // Its pages are free again.
  const at = c.cell(childBase);
  is(c.call("BS.AllocatePages", 2n, BigInt(MT.LoaderData), 1n, at), "SUCCESS", "the child's pages are free memory");

  // ExitData is ignored with EFI_SUCCESS (§7.4).
  const ok = im.load(pe(new Asm().subRsp(0x28).movRdx(0n).movR8(26n).movR9(message).movRax(thunk(c, "BS.Exit")).callRax().addRsp(0x28).ret())).handle;
  const size2 = c.cell(5n), data2 = c.cell(5n);
  is(c.call("BS.StartImage", ok, size2, data2), "SUCCESS");
  assert.equal([c.u64(size2), c.u64(data2)], [0n, 0n]);
  c.close();
});

test("Exit: a never-started image is unloaded; only the running image may exit", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  const loaded = im.load(pe(returns(0n))).handle;
  is(c.call("BS.Exit", loaded, 0n, 0n, 0n), "SUCCESS");
  assert.not.ok(im.alive(loaded), "unloaded");
  const driver = im.load(pe(returns(0n), DRIVER)).handle;
  is(c.call("BS.StartImage", driver, 0n, 0n), "SUCCESS");
  assert.ok(im.alive(driver), "a driver that succeeded stays resident");
  is(c.call("BS.Exit", driver, 0n, 0n, 0n), "INVALID_PARAMETER", "not the running image");
  is(c.call("BS.StartImage", driver, 0n, 0n), "INVALID_PARAMETER", "started already");
  is(c.call("BS.Exit", c.cell(), 0n, 0n, 0n), "INVALID_PARAMETER", "not an image");
  const failing = im.load(pe(returns(STATUS.DEVICE_ERROR), DRIVER)).handle;
  is(c.call("BS.StartImage", failing, 0n, 0n), "DEVICE_ERROR");
  assert.not.ok(im.alive(failing), "a driver that failed is unloaded");
  c.close();
});

test("UnloadImage: a loaded image goes; a started one only through its Unload function", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  is(c.call("BS.UnloadImage", c.cell()), "INVALID_PARAMETER");
  const loaded = im.load(pe(returns(0n))).handle;
  is(c.call("BS.UnloadImage", loaded), "SUCCESS");
  assert.not.ok(im.alive(loaded));
  const driver = im.load(pe(returns(0n), DRIVER)).handle;
  is(c.call("BS.StartImage", driver, 0n, 0n), "SUCCESS");
  is(c.call("BS.UnloadImage", driver), "UNSUPPORTED", "no Unload function");
  const unload = c.m.fw.ramView;
  const slot = Number(im.loadedImage(driver)) + field(LI, "Unload").offset;
  unload.setBigUint64(slot, place(c, returns(STATUS.ACCESS_DENIED)), true);
  is(c.call("BS.UnloadImage", driver), "ACCESS_DENIED", "the Unload function's refusal");
  assert.ok(im.alive(driver));
  // Unload(ImageHandle): it gets its handle and says yes.
  const seen = c.cell();
  unload.setBigUint64(slot, place(c, new Asm().movRax(seen).rcxToRaxAt().movRax(0n).ret()), true);
  is(c.call("BS.UnloadImage", driver), "SUCCESS");
  assert.is(c.u64(seen), driver, "Unload was called with the image handle");
  assert.not.ok(im.alive(driver));
  c.close();
});

test("DevicePathUtilities: size, duplicate, append path, node and instance, instances, new nodes", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  assert.ok(im.protocol("DEVICE_PATH_UTILITIES_PROTOCOL") !== 0n);
  const u = (f: string, ...a: bigint[]) => c.call(`DevicePathUtilities.${f}`, ...a);
  const hw = Uint8Array.of(1, 4, 20, 0, ...guidBytes(GUIDS.UEFICORN_BOOT_DEVICE));
  const file = filePathNode("\\f");
  const a = c.bytes(Uint8Array.of(...hw, ...END));
  const b = c.bytes(Uint8Array.of(...file, ...END));
  assert.is(u("GetDevicePathSize", a), 24n);
  assert.is(u("GetDevicePathSize", 0n), 0n);
  assert.is(u("GetDevicePathSize", c.bytes(Uint8Array.of(1, 4, 2, 0))), 0n, "invalid");
  const dup = u("DuplicateDevicePath", a);
  assert.ok(dup !== 0n && dup !== a);
  assert.is(im.text(dup), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})`);
  const ab = u("AppendDevicePath", a, b);
  assert.is(im.text(ab), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})/\\f`);
  assert.is(u("GetDevicePathSize", ab), 20n + BigInt(file.length) + 4n);
  assert.is(u("GetDevicePathSize", u("AppendDevicePath", 0n, 0n)), 4n, "both NULL: an empty path");
  assert.is(im.text(u("AppendDeviceNode", a, b)), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})/\\f`, "a node: b's first node");
  assert.is(im.text(u("AppendDeviceNode", 0n, c.bytes(hw))), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})`);
  const multi = u("AppendDevicePathInstance", a, b);
  assert.is(u("IsDevicePathMultiInstance", multi), 1n);
  assert.is(u("IsDevicePathMultiInstance", a), 0n);
  assert.is(im.text(multi), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE}),\\f`);
  assert.is(u("AppendDevicePathInstance", a, 0n), 0n);
  // GetNextDevicePathInstance walks the instances, each copied as a whole path.
  const pp = c.cell(multi), size = c.cell();
  const first = u("GetNextDevicePathInstance", pp, size);
  assert.is(im.text(first), `VenHw(${GUIDS.UEFICORN_BOOT_DEVICE})`);
  assert.is(c.u64(size), 24n);
  const second = u("GetNextDevicePathInstance", pp, size);
  assert.is(im.text(second), "\\f");
  assert.is(c.u64(pp), 0n, "no more instances");
  assert.is(u("GetNextDevicePathInstance", pp, size), 0n);
  assert.is(c.u64(size), 0n);
  const node = u("CreateDeviceNode", 3n, 10n, 24n);
  assert.equal([...c.m.fw.ram.subarray(Number(node), Number(node) + 6)], [3, 10, 24, 0, 0, 0]);
  assert.is(u("CreateDeviceNode", 1n, 1n, 3n), 0n, "shorter than a header");
  c.close();
});

test("DevicePathToText: vendor, file, PCI root, PCI and hard-drive nodes by name (§10.6.1), others in the generic form", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const im = new Images(c);
  assert.ok(im.protocol("DEVICE_PATH_TO_TEXT_PROTOCOL") !== 0n);
  const node = (bytes: number[]) => {
    const p = c.call("DevicePathToText.ConvertDeviceNodeToText", c.bytes(Uint8Array.from(bytes)), 0n, 0n);
    let s = "";
    for (let a = Number(p); c.m.fw.ramView.getUint16(a, true); a += 2) s += String.fromCharCode(c.m.fw.ramView.getUint16(a, true));
    return s;
  };
  assert.is(node([4, 3, 22, 0, ...guidBytes(GUIDS.LINUX_EFI_INITRD_MEDIA), 0xab, 0xcd]), `VenMedia(${GUIDS.LINUX_EFI_INITRD_MEDIA},abcd)`);
  assert.is(node([2, 1, 12, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0]), "PciRoot(0x0)");
  assert.is(node([2, 1, 12, 0, 0xd0, 0x41, 0x01, 0x05, 2, 0, 0, 0]), "Acpi(0x050141d0,0x2)", "another HID");
  assert.is(node([1, 1, 6, 0, 3, 0x1f]), "Pci(0x1f,0x3)");
  const hd = [4, 1, 42, 0, 2, 0, 0, 0, ...[0x00, 0x08, 0, 0, 0, 0, 0, 0], ...[0x00, 0x80, 0, 0, 0, 0, 0, 0], 0x78, 0x56, 0x34, 0x12, ...new Array(12).fill(0), 1, 1];
  assert.is(node(hd), "HD(2,MBR,0x12345678,0x800,0x8000)");
  assert.is(node([2, 1, 11, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0]), "AcpiPath(1,d041030a000000)", "a node of the wrong length stays generic");
  assert.is(node([9, 2, 5, 0, 0x11]), "Path(9,2,11)");
  assert.is(node([0x7f, 0xff, 4, 0]), "Path(127,255)");
  assert.is(im.text(c.bytes(Uint8Array.of(...END))), "", "an empty path is an empty string");
  assert.is(c.call("DevicePathToText.ConvertDevicePathToText", 0n, 0n, 0n), 0n);
  c.close();
});

test.run();
