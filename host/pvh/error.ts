// Hex for the PVH readers' messages; their error is KernelImageError (host/errors.ts).
export const hex = (v: number | bigint) => "0x" + v.toString(16);
