// Exits 0 and prints the adapter's description when Dawn (npm `webgpu`) finds a WebGPU adapter.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
let gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const info = adapter.info ?? {};
console.log(`${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.trim());
gpu = null;
process.exit(0);
