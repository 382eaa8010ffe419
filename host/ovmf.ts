// Run an EFI application under QEMU (TCG) with OVMF, the reference firmware, and return
// what it printed: OVMF mirrors ConOut to the serial console. The image boots from a
// FAT disk image as \EFI\BOOT\BOOTX64.EFI, built with mtools (no root, no mounts).
import { childProcess } from "./lazy.ts";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd";

function must(cmd: string, args: string[]): void {
  const r = childProcess().spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** The console output of `efi` under OVMF, until a line matches `until` (or the timeout). */
export async function runUnderOvmf(efi: string, until: RegExp, timeoutMs = 120_000): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-ovmf-"));
  try {
    const disk = join(dir, "esp.img");
    must("dd", ["if=/dev/zero", `of=${disk}`, "bs=1M", "count=16", "status=none"]);
    must("mkfs.vfat", ["-F", "16", disk]);
    must("mmd", ["-i", disk, "::/EFI", "::/EFI/BOOT"]);
    must("mcopy", ["-i", disk, efi, "::/EFI/BOOT/BOOTX64.EFI"]);
    const vars = join(dir, "vars.fd");
    copyFileSync(OVMF_VARS, vars);
    const args = [
      "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-net", "none", "-monitor", "none",
      "-drive", `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
      "-drive", `if=pflash,format=raw,file=${vars}`,
      "-drive", `format=raw,file=${disk}`,
    ];
    return await new Promise((resolve, reject) => {
      const q = childProcess().spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const done = (err?: Error) => {
        clearTimeout(timer);
        q.kill("SIGKILL");
        if (err) reject(err);
        else resolve(clean(out));
      };
      const timer = setTimeout(() => done(new Error(`OVMF run of ${efi}: no line matching ${until} within ${timeoutMs} ms`)), timeoutMs);
      q.stdout.on("data", (d: Buffer) => {
        out += d.toString("latin1");
        if (until.test(clean(out))) done();
      });
      q.on("error", (e) => done(e));
      q.on("exit", () => { if (!until.test(clean(out))) done(new Error(`qemu exited before ${until} was printed`)); });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Serial output without terminal escapes and carriage returns. */
function clean(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}
