// A safe unpickler for what torch.save writes: a stack machine over Python's pickle opcodes
// (protocols 2 to 5) that builds plain data (null, booleans, numbers, bigints, strings, bytes,
// arrays for lists and tuples, Maps for dicts, Sets) and NEVER runs code from the file.
//
// Python's pickle calls any global the file names; that is how a .pt file can run os.system.
// Here GLOBAL and STACK_GLOBAL resolve only against ALLOWED_GLOBALS below: a few tensor rebuilders,
// OrderedDict and the storage types, each implemented here as a function that returns a
// description (TensorRef, StorageType), not a Python call. Any other global throws FormatError
// naming the file and the global at the opcode that names it. Tensor bytes are not touched here:
// persistent ids (BINPERSID) go to the caller's persistentLoad, and rebuilding a tensor only
// records storage, offset, shape and stride, so the whole file is vetted before any data is read.

import { FormatError } from '../errors.js';

/** A torch storage class such as torch.FloatStorage, by the safetensors dtype of its elements. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: string) {}
}

/**
 * What torch._utils._rebuild_tensor_v2 would build: a strided view of a persistent storage. The
 * offset, size and stride are kept as the file wrote them; the reader checks them (torch.ts's
 * checkView) where it knows the tensor's name and its storage's length.
 */
export class TensorRef {
  constructor(readonly storage: unknown, readonly offset: unknown, readonly shape: unknown, readonly stride: unknown) {}
}

/** An allowed global that may be called (REDUCE, NEWOBJ). */
export class PyCallable {
  constructor(readonly name: string, readonly call: (args: unknown[], source: string) => unknown) {}
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32', HalfStorage: 'F16', DoubleStorage: 'F64', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL', UntypedStorage: 'U8',
};

function rebuildTensor([storage, offset, size, stride]: unknown[]): TensorRef {
  return new TensorRef(storage, offset, size, stride);
}

/** The only globals a file may name. Each is a plain function over already-decoded data. */
const ALLOWED_GLOBALS = new Map<string, PyCallable | StorageType>([
  ['collections.OrderedDict', new PyCallable('collections.OrderedDict', () => new Map())],
  ['torch._utils._rebuild_tensor', new PyCallable('torch._utils._rebuild_tensor', rebuildTensor)],
  ['torch._utils._rebuild_tensor_v2', new PyCallable('torch._utils._rebuild_tensor_v2', rebuildTensor)],
  // A Parameter rebuilds to its data: requires_grad and hooks do not matter for weights.
  ['torch._utils._rebuild_parameter', new PyCallable('torch._utils._rebuild_parameter', ([data]) => data)],
  ['torch._utils._rebuild_parameter_with_state', new PyCallable('torch._utils._rebuild_parameter_with_state', ([data]) => data)],
  // Protocol 2 has no bytes opcode: Python writes bytes as _codecs.encode(text, 'latin1').
  ['_codecs.encode', new PyCallable('_codecs.encode', ([text, encoding], source) => {
    if (typeof text !== 'string') throw new FormatError(`${source}: _codecs.encode of a non-string`);
    if (encoding === 'latin1' || encoding === 'latin-1') return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    return new TextEncoder().encode(text);
  })],
  ...Object.entries(STORAGE_DTYPES).map(([name, dtype]): [string, StorageType] => [`torch.${name}`, new StorageType(name, dtype)]),
]);

export interface UnpickleOptions {
  /** File name or path, for error messages. */
  source: string;
  /** Resolves a BINPERSID id (torch: ('storage', StorageType, key, location, numel, ...)). */
  persistentLoad?: (pid: unknown) => unknown;
}

/** Reads one pickle starting at `start`; returns the value and the offset just past STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): { value: unknown; end: number } {
  const { source } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8', { fatal: false });
  let pos = start;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (why: string): never => {
    throw new FormatError(`${source}: bad pickle at byte ${pos}: ${why}`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated (needs ${n} more bytes, file has ${bytes.length - pos})`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => {
    const n = view.getBigUint64(need(8), true);
    return n > BigInt(bytes.length) ? fail(`length ${n} exceeds the file`) : Number(n);
  };
  const raw = (n: number) => bytes.subarray(need(n), pos);
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated GLOBAL line');
    const s = text.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => (stack.length ? stack.pop() : fail('stack underflow'));
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : fail('stack underflow'));
  const popMark = (): unknown[] => {
    const items = stack;
    stack = metastack.pop() ?? fail('no MARK on the stack');
    return items;
  };
  const resolveGlobal = (module: string, name: string): unknown => {
    const found = ALLOWED_GLOBALS.get(`${module}.${name}`);
    if (!found) {
      throw new FormatError(
        `${source}: refusing to load: the pickle names the global '${module}.${name}', which is not a tensor ` +
          `rebuilder (the file may run code when Python loads it, or hold a pickled object rather than a state_dict)`,
      );
    }
    return found;
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyCallable)) fail(`call of something that is not an allowed callable`);
    if (!Array.isArray(args)) fail('call arguments are not a tuple');
    return (fn as PyCallable).call(args as unknown[], source);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) fail('APPEND(S) on something that is not a list');
    // A loop, not push(...items): spreading a hostile APPENDS of a million items overflows the call stack.
    for (const item of items) (list as unknown[]).push(item);
  };
  const signedLittleEndian = (b: Uint8Array): number | bigint => {
    // Through hex, in linear time: shifting a BigInt byte by byte is quadratic, and LONG4's length
    // is the file's to choose (a megabyte-long integer took minutes).
    let hex = '0x0';
    for (let i = b.length - 1; i >= 0; i--) hex += HEX[b[i]];
    let n = BigInt(hex);
    if (b.length && b[b.length - 1] & 0x80) n -= 1n << BigInt(8 * b.length);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: need(8); break; // FRAME: a read-ahead hint
      case 0x2e: { // STOP
        if (metastack.length || stack.length !== 1) fail('STOP with an unbalanced stack');
        return { value: stack[0], end: pos };
      }
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x8a: stack.push(signedLittleEndian(raw(u8()))); break; // LONG1
      case 0x8b: stack.push(signedLittleEndian(raw(u32()))); break; // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(text.decode(raw(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(text.decode(raw(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(text.decode(raw(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(latin1(raw(u32()))); break; // BINSTRING (Python 2 str)
      case 0x55: stack.push(latin1(raw(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(raw(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(raw(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: stack.push(raw(u64()).slice()); break; // BINBYTES8, BYTEARRAY8
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE (popMark swaps `stack`)
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail('ADDITEMS on something that is not a set');
        for (const item of items) (set as Set<unknown>).add(item);
        break;
      }
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`memo key ${key} was never stored`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: { const module = line(); stack.push(resolveGlobal(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL operands are not strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); stack.push(call(pop(), args)); break; } // REDUCE
      case 0x81: { const args = pop(); stack.push(call(pop(), args)); break; } // NEWOBJ
      // BUILD would call __setstate__; the state of allowed objects (OrderedDict's _metadata,
      // a Parameter's Python attributes) carries no weights, so it is dropped.
      case 0x62: pop(); top(); break;
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent id in a pickle that should have none');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} (not a protocol 2-5 pickle of plain data)`);
    }
  }
}

/** True when the bytes start like a binary pickle (PROTO 2..5). */
export function looksLikePickle(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}
