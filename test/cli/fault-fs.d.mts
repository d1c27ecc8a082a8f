// Types of fault-fs.mjs (plain JavaScript, so that a child `node --import` can preload it).
export function injectWriteFaults(options: { file: string; mode: 'enospc' | 'eio' | 'hang'; skip?: number }): () => void;
