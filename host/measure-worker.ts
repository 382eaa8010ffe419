// A worker process of the per-kernel campaign's pool (host/kernel-campaign.ts), built to
// build/measure-worker.cjs: it runs the boots it is handed, one at a time.
import workerpool from "workerpool";
import { kernelJob } from "./kernel-campaign.ts";

workerpool.worker({ kernelJob });
