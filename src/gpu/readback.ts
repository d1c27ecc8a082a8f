// Readback planning: which staging buffer each source is copied into. One staging buffer while the
// sources fit maxBufferSize (the pool's largest request, largestBufferSize), as many as they need
// past it: a source never splits, since one that could be read alone fits a staging buffer alone.

/** A buffer to read back: `bytes` from its start; `label` (a tensor's name and shape) names it in errors. */
export interface ReadSource {
  buffer: GPUBuffer;
  bytes: number;
  label?: string;
}

/** One staging buffer's share of a readback: each source's bytes (padded to 4) at its offset. */
export interface StagingGroup {
  bytes: number;
  parts: { source: number; offset: number; bytes: number }[];
}

/**
 * Sources in order, packed into staging buffers of at most `limit` bytes (whole sources: one that
 * could be read alone fits one). One group at least, of 4 bytes at least: an empty read still
 * submits and waits, and mapping needs a buffer.
 */
export function stagingGroups(sources: ReadSource[], limit: number): StagingGroup[] {
  const groups: StagingGroup[] = [{ bytes: 0, parts: [] }];
  sources.forEach((s, source) => {
    const bytes = Math.ceil(s.bytes / 4) * 4;
    let g = groups[groups.length - 1];
    if (g.parts.length && g.bytes + bytes > limit) groups.push((g = { bytes: 0, parts: [] }));
    g.parts.push({ source, offset: g.bytes, bytes });
    g.bytes += bytes;
  });
  for (const g of groups) g.bytes = Math.max(4, g.bytes);
  return groups;
}

/** The sources of a readback for an error message: labels and sizes, the first few of many. */
export function describeSources(sources: ReadSource[]): string {
  const shown = 4;
  const list = sources.slice(0, shown).map((s) => `${s.label ?? 'a buffer'} (${s.bytes} bytes)`);
  const more = sources.length > shown ? ` and ${sources.length - shown} more` : '';
  return `${list.join(', ')}${more}`;
}
