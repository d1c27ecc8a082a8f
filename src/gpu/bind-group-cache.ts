// Bind groups reused across dispatches that bind the same buffer ranges. Creating one is the
// largest CPU cost of a dispatch in Dawn (about 17 us on this machine, against 2 us to set it and
// dispatch), and a training step repeats the same dispatches on the same pool buffers every step:
// the pool hands buffers out in a deterministic order, uniform params included. Keyed on the
// layout and every (buffer, offset, size), buffers by an id given on first sight (a new buffer
// never takes a destroyed one's id, so a stale group cannot be hit); least recently used entries
// go past CAPACITY. A group keeps its buffers referenced, so the pool calls forget() before it
// destroys one.

/** Bind groups kept: a few U-Net training steps' worth of distinct dispatches. */
const CAPACITY = 4096;

export interface BoundRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class BindGroupCache {
  private ids = new WeakMap<GPUBuffer, number>();
  private layoutIds = new WeakMap<GPUBindGroupLayout, number>();
  private nextId = 1;
  private groups = new Map<string, GPUBindGroup>();
  /** Cache keys by buffer id, to forget a destroyed buffer's groups. */
  private keysByBuffer = new Map<number, Set<string>>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = CAPACITY,
  ) {}

  private idOf(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) this.ids.set(buffer, (id = this.nextId++));
    return id;
  }

  /** The bind group of `ranges` at bindings 0..n-1 under `layout`. */
  get(layout: GPUBindGroupLayout, label: string, ranges: readonly BoundRange[]): GPUBindGroup {
    let layoutId = this.layoutIds.get(layout);
    if (layoutId === undefined) this.layoutIds.set(layout, (layoutId = this.nextId++));
    const ids = ranges.map((r) => this.idOf(r.buffer));
    const key = `${layoutId}|${ranges.map((r, i) => `${ids[i]}:${r.offset}:${r.size}`).join(',')}`;
    const hit = this.groups.get(key);
    if (hit) {
      // Refresh its place in the insertion order, which is the eviction order.
      this.groups.delete(key);
      this.groups.set(key, hit);
      this.hits++;
      return hit;
    }
    this.misses++;
    const group = this.device.createBindGroup({
      label,
      layout,
      entries: ranges.map((r, i) => ({ binding: i, resource: { buffer: r.buffer, offset: r.offset, size: r.size } })),
    });
    this.groups.set(key, group);
    for (const id of ids) {
      let keys = this.keysByBuffer.get(id);
      if (!keys) this.keysByBuffer.set(id, (keys = new Set()));
      keys.add(key);
    }
    if (this.groups.size > this.capacity) this.evictOldest();
    return group;
  }

  /** Drops every bind group that binds `buffer` (called before it is destroyed). */
  forget(buffer: GPUBuffer): void {
    const id = this.ids.get(buffer);
    if (id === undefined) return;
    for (const key of this.keysByBuffer.get(id) ?? []) this.drop(key);
    this.keysByBuffer.delete(id);
    this.ids.delete(buffer);
  }

  get size(): number {
    return this.groups.size;
  }

  private evictOldest(): void {
    const oldest = this.groups.keys().next();
    if (!oldest.done) this.drop(oldest.value);
  }

  private drop(key: string): void {
    if (!this.groups.delete(key)) return;
    // The key lists its buffer ids after the layout: 'layout|id:offset:size,...'.
    for (const part of key.slice(key.lastIndexOf('|') + 1).split(',')) {
      const id = Number(part.slice(0, part.indexOf(':')));
      const keys = this.keysByBuffer.get(id);
      keys?.delete(key);
      if (keys && keys.size === 0) this.keysByBuffer.delete(id);
    }
  }
}
