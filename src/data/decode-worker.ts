// Worker thread of the batch loader (batches.ts): reads a slice and its mask, decodes and resizes
// them, and hands the float arrays back without copying (transferred). One task at a time; a bad
// file comes back as an error message that names it, and the worker carries on.

import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import type { DecodeReply, DecodeTask } from './batches.js';
import { decodeSlice } from './slice-decode.js';

async function decode(task: DecodeTask): Promise<{ reply: DecodeReply; transfer: ArrayBuffer[] }> {
  try {
    const [image, mask] = await Promise.all([readFile(task.imagePath), readFile(task.maskPath)]);
    const d = decodeSlice(image, mask, task.size, { image: task.imagePath, mask: task.maskPath });
    return { reply: d, transfer: [d.image.buffer as ArrayBuffer, d.mask.buffer as ArrayBuffer] };
  } catch (e) {
    return { reply: { error: (e as Error).message ?? String(e) }, transfer: [] };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (task: DecodeTask) => {
    void decode(task).then(({ reply, transfer }) => port.postMessage(reply, transfer));
  });
}
