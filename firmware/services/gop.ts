// EFI_GRAPHICS_OUTPUT_PROTOCOL (UEFI 2.10 §12.9): one mode of the size the host asks for
// (fw_set_screen), 32-bit BGRX pixels in a linear framebuffer in guest RAM, reserved in the
// memory map (the OS keeps drawing there after ExitBootServices, as on a PCI display's
// BAR), and Blt in its four operations. The host reads the framebuffer for screenshots.
// ConOut draws its text here too (text.ts).
import { gp, guest } from "../mem";
import { allocPages, allocPool, NONE, FLAG_FIRMWARE } from "./alloc";
import { install, newHandle } from "./handles";
import { fillSlots } from "./system";
import { consoleOnScreen } from "./text";
import {
  GRAPHICS_OUTPUT_MODE_INFORMATION, GRAPHICS_OUTPUT_PROTOCOL, GRAPHICS_OUTPUT_PROTOCOL_MODE, PIXEL_BITMASK,
  Graphics, Guid, MemoryType, Status, Table,
} from "../spec/gen";

let gop: u64 = 0;
export let framebuffer: u64 = 0;
export let screenWidth: u32 = 0;
export let screenHeight: u32 = 0;
const PIXEL: u64 = 4;

/** A display of width x height pixels; false when there is no memory for it. */
export function gopInit(width: u32, height: u32): bool {
  const bytes = <u64>width * <u64>height * PIXEL;
  const fb = allocPages(MemoryType.ReservedMemoryType, (bytes + 4095) / 4096, FLAG_FIRMWARE);
  const inst = allocPool(MemoryType.BootServicesData, GRAPHICS_OUTPUT_PROTOCOL.SIZE + GRAPHICS_OUTPUT_PROTOCOL_MODE.SIZE + GRAPHICS_OUTPUT_MODE_INFORMATION.SIZE);
  const h = newHandle();
  if (fb == NONE || inst == NONE || !h) return false;
  const mode = inst + <u64>GRAPHICS_OUTPUT_PROTOCOL.SIZE;
  const info = mode + <u64>GRAPHICS_OUTPUT_PROTOCOL_MODE.SIZE;
  fillSlots(Table.Gop, inst);
  store<u64>(gp(inst) + GRAPHICS_OUTPUT_PROTOCOL.Mode, mode);
  const m = gp(mode);
  store<u32>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.MaxMode, 1);
  store<u32>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.Mode, 0);
  store<u64>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.Info, info);
  store<u64>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.SizeOfInfo, GRAPHICS_OUTPUT_MODE_INFORMATION.SIZE);
  store<u64>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.FrameBufferBase, fb);
  store<u64>(m + GRAPHICS_OUTPUT_PROTOCOL_MODE.FrameBufferSize, bytes);
  modeInfo(gp(info), width, height);
  gop = inst;
  framebuffer = fb;
  screenWidth = width;
  screenHeight = height;
  install(h, Guid.GRAPHICS_OUTPUT_PROTOCOL, inst);
  consoleOnScreen();
  return true;
}

function modeInfo(i: usize, width: u32, height: u32): void {
  store<u32>(i + GRAPHICS_OUTPUT_MODE_INFORMATION.Version, 0);
  store<u32>(i + GRAPHICS_OUTPUT_MODE_INFORMATION.HorizontalResolution, width);
  store<u32>(i + GRAPHICS_OUTPUT_MODE_INFORMATION.VerticalResolution, height);
  store<u32>(i + GRAPHICS_OUTPUT_MODE_INFORMATION.PixelFormat, Graphics.PIXEL_BGRX);
  memory.fill(i + GRAPHICS_OUTPUT_MODE_INFORMATION.PixelInformation, 0, PIXEL_BITMASK.SIZE);
  store<u32>(i + GRAPHICS_OUTPUT_MODE_INFORMATION.PixelsPerScanLine, width);
}

/** §12.9.2 QueryMode: a pool copy of the mode's information, which the caller frees. */
export function Gop_QueryMode(self: u64, mode: u32, sizeOut: u64, infoOut: u64): u64 {
  const size = guest(sizeOut, 8), out = guest(infoOut, 8);
  if (!self || self != gop || !size || !out) return Status.INVALID_PARAMETER;
  if (mode != 0) return Status.INVALID_PARAMETER;
  const info = allocPool(MemoryType.BootServicesData, GRAPHICS_OUTPUT_MODE_INFORMATION.SIZE);
  if (info == NONE) return Status.OUT_OF_RESOURCES;
  modeInfo(gp(info), screenWidth, screenHeight);
  store<u64>(size, GRAPHICS_OUTPUT_MODE_INFORMATION.SIZE);
  store<u64>(out, info);
  return Status.SUCCESS;
}

/** §12.9.2 SetMode: the one mode, cleared to black. */
export function Gop_SetMode(self: u64, mode: u32): u64 {
  if (!self || self != gop) return Status.INVALID_PARAMETER;
  if (mode != 0) return Status.UNSUPPORTED;
  fillRect(0, 0, screenWidth, screenHeight, 0);
  return Status.SUCCESS;
}

// Drawing on the screen, for Blt and for the console's text (text.ts): rectangles the
// caller has checked to lie on the screen, so that every coordinate fits in 32 bits.

/** Fill the w x h rectangle at (x, y) with one BGRX pixel. */
export function fillRect(x: u32, y: u32, w: u32, h: u32, pixel: u32): void {
  let line = gp(framebuffer) + <usize>((y * screenWidth + x) << 2);
  for (let j: u32 = 0; j < h; j++, line += <usize>(screenWidth << 2)) {
    for (let i: u32 = 0; i < w; i++) store<u32>(line + (i << 2), pixel);
  }
}

/** Copy the w x h rectangle at (sx, sy) to (dx, dy); overlapping rectangles are copied rows first to last or last to first, whichever does not overwrite what is still to copy. */
export function moveRect(sx: u32, sy: u32, dx: u32, dy: u32, w: u32, h: u32): void {
  const fb = gp(framebuffer), W = screenWidth;
  for (let k: u32 = 0; k < h; k++) {
    const j = dy > sy ? h - 1 - k : k;
    memory.copy(fb + <usize>(((dy + j) * W + dx) << 2), fb + <usize>(((sy + j) * W + sx) << 2), <usize>(w << 2));
  }
}

/** §12.9.2 Blt: a rectangle filled from one pixel, copied between the screen and a buffer, or within the screen. */
export function Gop_Blt(self: u64, buffer: u64, op: u32, sx: u64, sy: u64, dx: u64, dy: u64, width: u64, height: u64, delta: u64): u64 {
  if (!self || self != gop || op > Graphics.VIDEO_TO_VIDEO || !width || !height) return Status.INVALID_PARAMETER;
  const W = <u64>screenWidth, H = <u64>screenHeight;
  // The screen rectangle(s) involved must lie on the screen.
  const srcOnScreen = op == Graphics.VIDEO_TO_BLT_BUFFER || op == Graphics.VIDEO_TO_VIDEO;
  const dstOnScreen = op != Graphics.VIDEO_TO_BLT_BUFFER;
  if (srcOnScreen && (sx >= W || sy >= H || width > W - sx || height > H - sy)) return Status.INVALID_PARAMETER;
  if (dstOnScreen && (dx >= W || dy >= H || width > W - dx || height > H - dy)) return Status.INVALID_PARAMETER;
  const fb = gp(framebuffer);
  const row = width * PIXEL;
  // Delta: the buffer's bytes per row (0: Width pixels).
  const stride = delta ? delta : row;
  if (op == Graphics.VIDEO_FILL) {
    const px = guest(buffer, PIXEL);
    if (!px) return Status.INVALID_PARAMETER;
    fillRect(<u32>dx, <u32>dy, <u32>width, <u32>height, load<u32>(px));
    return Status.SUCCESS;
  }
  if (op == Graphics.VIDEO_TO_VIDEO) {
    moveRect(<u32>sx, <u32>sy, <u32>dx, <u32>dy, <u32>width, <u32>height);
    return Status.SUCCESS;
  }
  // The buffer's rectangle starts at (SourceX, SourceY) for BufferToVideo, (DestinationX, DestinationY) for VideoToBltBuffer.
  const bx = op == Graphics.BUFFER_TO_VIDEO ? sx : dx, by = op == Graphics.BUFFER_TO_VIDEO ? sy : dy;
  if (stride < row) return Status.INVALID_PARAMETER;
  const first = by * stride + bx * PIXEL;
  const buf = guest(buffer + first, (height - 1) * stride + row);
  if (!buf) return Status.INVALID_PARAMETER;
  for (let y: u64 = 0; y < height; y++) {
    const b = buf + <usize>(y * stride);
    if (op == Graphics.BUFFER_TO_VIDEO) memory.copy(fb + <usize>(((dy + y) * W + dx) * PIXEL), b, <usize>row);
    else memory.copy(b, fb + <usize>(((sy + y) * W + sx) * PIXEL), <usize>row);
  }
  return Status.SUCCESS;
}
