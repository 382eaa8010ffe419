// Body size of every function of a WASM module, named from its "name" section
// (WebAssembly core spec §5.5 binary format; name section, custom-section appendix).

function leb(b: Uint8Array, at: { p: number }): number {
  let v = 0, shift = 0, byte: number;
  do {
    byte = b[at.p++];
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return v;
}

export interface FunctionSize { index: number; name: string; bytes: number }

export function wasmFunctionSizes(wasm: Uint8Array): FunctionSize[] {
  if (wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) throw new Error("not a WebAssembly module");
  const at = { p: 8 };
  let imported = 0;
  const bodies: number[] = [];
  const names = new Map<number, string>();
  while (at.p < wasm.length) {
    const id = wasm[at.p++];
    const size = leb(wasm, at);
    const end = at.p + size;
    if (id === 2) { // imports: count the functions, which come first in the index space
      const n = leb(wasm, at);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < 2; k++) at.p += leb(wasm, at); // module, field
        const kind = wasm[at.p++];
        if (kind === 0) { imported++; leb(wasm, at); }
        else if (kind === 1) { at.p++; const f = wasm[at.p++]; leb(wasm, at); if (f & 1) leb(wasm, at); }
        else if (kind === 2) { const f = wasm[at.p++]; leb(wasm, at); if (f & 1) leb(wasm, at); }
        else if (kind === 3) { at.p += 2; }
      }
    } else if (id === 10) { // code
      const n = leb(wasm, at);
      for (let i = 0; i < n; i++) {
        const len = leb(wasm, at);
        bodies.push(len);
        at.p += len;
      }
    } else if (id === 0) { // custom: the name section's function names
      const nameLen = leb(wasm, at);
      const name = new TextDecoder().decode(wasm.subarray(at.p, at.p + nameLen));
      at.p += nameLen;
      while (name === "name" && at.p < end) {
        const sub = wasm[at.p++];
        const subSize = leb(wasm, at);
        const subEnd = at.p + subSize;
        if (sub === 1) {
          const n = leb(wasm, at);
          for (let i = 0; i < n; i++) {
            const idx = leb(wasm, at);
            const len = leb(wasm, at);
            names.set(idx, new TextDecoder().decode(wasm.subarray(at.p, at.p + len)));
            at.p += len;
          }
        }
        at.p = subEnd;
      }
    }
    at.p = end;
  }
  return bodies.map((bytes, i) => ({ index: imported + i, name: names.get(imported + i) ?? `func${imported + i}`, bytes }));
}
