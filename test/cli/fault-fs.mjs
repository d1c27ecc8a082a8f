// File-system faults for the tests: a write to one named file fails as a full or broken disk
// makes it fail, or stops half-way and hangs (the window a kill must hit). Node's ESM namespace
// of a built-in follows its CommonJS exports after syncBuiltinESMExports(), so patching
// node:fs/promises here reaches dawnet's own (lazy) import of it: no code of dawnet's changes.
//
// In this process: injectWriteFaults({ file, mode, skip }) returns a function that undoes it.
// In a child, as a preload (`node --import <this file> cli.js ...`), set by environment:
//   DAWNET_FAULT_FILE  a file's name ('last.safetensors', 'metrics.jsonl')
//   DAWNET_FAULT       'enospc' | 'eio' | 'hang'
//   DAWNET_FAULT_SKIP  writes to that file to let through first (default 0)
// Faulted: fs.appendFile of the file, and the writeFile of a handle opened on it or on
// writeFileAtomic's temporary for it ('.last.safetensors.<pid>.<ms>.tmp'). Half the bytes are
// written first. 'enospc' and 'eio' then fail as Node's write does (code, errno, syscall 'write',
// no path: write(2) takes a descriptor); 'hang' prints 'FAULT: writing <path>' to stderr and
// never returns.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises');

function systemError(code) {
  const [errno, text] = code === 'ENOSPC' ? [-28, 'no space left on device'] : [-5, 'i/o error'];
  return Object.assign(new Error(`${code}: ${text}, write`), { errno, code, syscall: 'write' });
}

const halfOf = (data) => {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.subarray(0, bytes.length >> 1);
};

export function injectWriteFaults({ file, mode, skip = 0 }) {
  const hits = (p) => {
    const name = String(p).split('/').pop();
    return name === file || (name.startsWith(`.${file}.`) && name.endsWith('.tmp'));
  };
  let left = skip;
  const due = () => left-- <= 0;
  const fail = async (path, writeHalf) => {
    await writeHalf();
    if (mode === 'hang') {
      process.stderr.write(`FAULT: writing ${path}\n`);
      // A timer keeps the process alive: a bare pending promise would let it end.
      await new Promise((resolve) => setTimeout(resolve, 1 << 30));
    }
    throw systemError(mode === 'eio' ? 'EIO' : 'ENOSPC');
  };
  const { open, appendFile } = fsp;
  fsp.open = async function faultyOpen(path, ...rest) {
    const handle = await open.call(this, path, ...rest);
    if (hits(path)) {
      const writeFile = handle.writeFile.bind(handle);
      handle.writeFile = async (data, ...more) => (due() ? fail(path, () => handle.write(halfOf(data))) : writeFile(data, ...more));
    }
    return handle;
  };
  fsp.appendFile = async function faultyAppendFile(path, data, ...rest) {
    if (!hits(path) || !due()) return appendFile.call(this, path, data, ...rest);
    return fail(path, () => appendFile.call(this, path, halfOf(data)));
  };
  syncBuiltinESMExports();
  return () => {
    Object.assign(fsp, { open, appendFile });
    syncBuiltinESMExports();
  };
}

if (process.env.DAWNET_FAULT) {
  injectWriteFaults({ file: process.env.DAWNET_FAULT_FILE ?? '', mode: process.env.DAWNET_FAULT, skip: Number(process.env.DAWNET_FAULT_SKIP ?? 0) });
}
