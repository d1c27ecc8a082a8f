// The geometry of the fused Winograd kernel (conv2d-winograd-fused.ts): how many blocks and
// output channels a workgroup owns, each thread's register tile, the input channels a slice, and
// where V, U and the hand-over of M sit in workgroup memory. Kept apart from the kernel so that
// the fitting rules (workgroup memory, threads a workgroup) can be read and tested on their own.

/** Transform positions ξ of F(4x4, 3x3): the kernel's threads come in 36 groups, one per ξ. */
const XI = 36;

/** What a benchmark or a test may choose of the kernel's tiling (setFusedTile). */
export interface FusedTile {
  /** 4x4 blocks a workgroup owns. */
  blocks: 4 | 8 | 16 | 32;
  /** Blocks in a thread's register tile. */
  threadBlocks: 4 | 8;
  /** Output channels in a thread's register tile. */
  threadChannels: 4 | 8 | 16;
  /** Whether each slice of U is staged in workgroup memory; else each thread reads its own through the caches. */
  sharedU: boolean;
  /**
   * Whether V's staging is split in two rounds (Bᵀ d by (block, channel, column), then · B by
   * (block, channel, row), through workgroup memory), the next slice's reads in flight during
   * the second round and the GEMM; else a thread per (block, channel) reads and transforms the
   * whole 6x6 patch, the slice's reads waited for at once.
   */
  splitStaging?: boolean;
  /**
   * For the probes only, to show what one part of the work costs on a GPU without a profiler:
   * leaves it out, and the output is then wrong. 'input-reads': the patches are made up from
   * their indices instead of read (the transform and V's staging stay); 'gemm': no multiply-adds;
   * 'output': M is handed over but no thread transforms or stores it.
   */
  ablate?: 'input-reads' | 'gemm' | 'output';
}

/**
 * The default, a first guess not yet timed on a GPU: 16 blocks, 4 blocks × 8 channels a thread
 * (32 accumulators), U through the caches. With 32 output channels a workgroup that is
 * 36 · 4 · 4 = 576 threads.
 */
export const DEFAULT_FUSED_TILE: FusedTile = { blocks: 16, threadBlocks: 4, threadChannels: 8, sharedU: false };

/**
 * The tiles tuneConvs times on GPUs (conv2d-tuning.ts), as formatFusedTile writes them: the
 * default, it split, 8x8 thread tiles over 32 blocks, and 8x16 ones split. Four of the probe's,
 * not yet timed on a GPU; the tunings of a GPU say which of them win where.
 */
export const FUSED_TUNING_TILES = ['16b4x8', '16b4x8s', '32b8x8', '16b8x16s'] as const;

/** A tile as tunings save it: blocks 'b' thread blocks 'x' thread channels, then 'u' where U is staged and 's' where the staging is split ('32b8x8us'). */
export function formatFusedTile(t: FusedTile): string {
  return `${t.blocks}b${t.threadBlocks}x${t.threadChannels}${t.sharedU ? 'u' : ''}${t.splitStaging ? 's' : ''}`;
}

/** formatFusedTile's string back as a tile; RangeError naming it where it is not one. */
export function parseFusedTile(text: string): FusedTile {
  const m = /^(4|8|16|32)b(4|8)x(4|8|16)(u?)(s?)$/.exec(text);
  if (!m) throw new RangeError(`fused Winograd tile '${text}': expected BLOCKSbTBxTN[u][s], blocks 4, 8, 16 or 32, a thread's blocks 4 or 8 and its channels 4, 8 or 16 (e.g. '16b4x8', '32b8x8us')`);
  return { blocks: Number(m[1]) as FusedTile['blocks'], threadBlocks: Number(m[2]) as FusedTile['threadBlocks'], threadChannels: Number(m[3]) as FusedTile['threadChannels'], sharedU: m[4] === 'u', splitStaging: m[5] === 's' };
}

/** Input channels a slice, deepest first; 16 only when forced (setFusedSliceDepth). */
export const FUSED_SLICE_DEPTHS = [16, 8, 4, 2, 1] as const;
const DEFAULT_MAX_DEPTH = 8;

export interface FusedLayout {
  /** Blocks a workgroup (bt), a thread (tb); channel vec4s a thread (nb4); channel subtiles a workgroup (sn); channel vec4s a workgroup (nt4 = sn · nb4). */
  bt: number;
  tb: number;
  nb4: number;
  sn: number;
  nt4: number;
  /** Input channels a slice. */
  ck: number;
  sharedU: boolean;
  splitStaging: boolean;
  ablate: FusedTile['ablate'];
  threads: number;
  /**
   * V's slice in workgroup memory, in vec4s: (ξ, c, block) at ξ·xs4 + c·rs4 + block / 4. A row of
   * blocks is padded by a vec4 (rs4 = bt/4 + 1) so that the staging writes of 8 neighbouring
   * channels land in distinct banks; a ξ's plane is padded so that xs4 ≡ bt/4 (mod 8): the
   * GEMM's reads of two ξ by one warp then fall side by side in the banks, not on each other.
   */
  rs4: number;
  xs4: number;
  /** U's slice, when staged: after V, (ξ, c, channel vec4) at 36·xs4 + ξ·us4 + c·nt4 + q. */
  us4: number;
  /**
   * The split staging's Bᵀ d, after V and U, in floats from es4·4: (column q, row i, pair) at
   * (6q + i)·(bt·ck + 4) + pair. The 4 staggers the banks of the columns that one warp writes.
   */
  es4: number;
  /**
   * Channel vec4s of the workgroup's whose M one hand-over pass takes (36 · bt · pw4 vec4s of
   * workgroup memory; pw4 divides nt4, and may split a thread's tile between passes), and the
   * passes, nt4 / pw4.
   */
  pw4: number;
  passes: number;
  /** The workgroup array's size in vec4s: the larger of the slice's staging and a pass of M. */
  shVec4s: number;
}

interface Limits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

function sliceVec4s(bt: number, ck: number, nt4: number, sharedU: boolean, split: boolean) {
  const rs4 = bt / 4 + 1;
  const plain = ck * rs4;
  const xs4 = plain + ((((bt / 4 - plain) % 8) + 8) % 8);
  const us4 = ck * nt4 + 1;
  const es4 = XI * xs4 + (sharedU ? XI * us4 : 0);
  return { rs4, xs4, us4, es4, vec4s: es4 + (split ? (XI * (bt * ck + 4)) / 4 : 0) };
}

/**
 * The layout for a conv of n4 output channel vec4s, at most `groups` of them a workgroup, over
 * `blocks` 4x4 blocks in all (a sample chunk's): the tile's blocks are halved (down to a
 * thread's) until the threads and the workgroup memory fit the device; the slice is `depth` deep
 * where given (RangeError where it cannot fit), else the deepest of 8, 4, 2 and 1 that fits.
 */
export function fusedLayout(n4: number, groups: number, tile: FusedTile, depth: number | null, limits: Limits, blocks = Infinity): FusedLayout {
  const tb = tile.threadBlocks;
  const want4 = Math.min(groups, n4);
  let nb4 = Math.min(tile.threadChannels / 4, want4);
  let sn = Math.ceil(want4 / nb4);
  // No more blocks a workgroup than the conv has (rounded up to a power of 2): at 2x2 images a
  // 16-block workgroup would multiply 15 blocks of zeros.
  let bt = Math.max(Math.min(tile.blocks, 2 ** Math.ceil(Math.log2(Math.max(blocks, 1)))), tb);
  const room = limits.maxComputeWorkgroupStorageSize / 16; // in vec4s
  for (;;) {
    const threads = XI * (bt / tb) * sn;
    if (threads > limits.maxComputeInvocationsPerWorkgroup) {
      if (bt > tb) bt /= 2;
      else if (nb4 < 4 && sn > 1) {
        nb4 *= 2;
        sn = Math.ceil(want4 / nb4);
      } else throw new RangeError(`the fused Winograd kernel needs ${threads} threads a workgroup; this device allows ${limits.maxComputeInvocationsPerWorkgroup}`);
      continue;
    }
    const nt4 = sn * nb4;
    const depths = depth !== null ? [depth] : FUSED_SLICE_DEPTHS.filter((d) => d <= DEFAULT_MAX_DEPTH);
    const split = tile.splitStaging ?? false;
    const ck = depths.find((d) => sliceVec4s(bt, d, nt4, tile.sharedU, split).vec4s <= room);
    // Whole passes: pw4 divides nt4, so that no pass reads channels that nobody wrote.
    const fit = Math.min(nt4, Math.floor(room / (XI * bt)));
    const pw4 = Array.from({ length: Math.max(fit, 0) }, (_, i) => fit - i).find((d) => nt4 % d === 0) ?? 0;
    if (ck === undefined || pw4 < 1) {
      if (bt > tb) {
        bt /= 2;
        continue;
      }
      throw new RangeError(`the fused Winograd kernel's ${depth ?? 1}-channel slices do not fit this device's ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
    }
    const s = sliceVec4s(bt, ck, nt4, tile.sharedU, split);
    return { bt, tb, nb4, sn, nt4, ck, sharedU: tile.sharedU, splitStaging: split, ablate: tile.ablate, threads, rs4: s.rs4, xs4: s.xs4, us4: s.us4, es4: s.es4, pw4, passes: nt4 / pw4, shVec4s: Math.max(s.vec4s, XI * bt * pw4) };
  }
}
