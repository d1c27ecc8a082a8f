// The commit this code was bundled from (scripts/build-info.mjs defines __DAWNET_BUILD__ in every
// bundle), for benchmark records; null when it runs from source (vitest, tsx).

declare const __DAWNET_BUILD__: string | undefined;

export const buildCommit: string | null = typeof __DAWNET_BUILD__ === 'string' ? __DAWNET_BUILD__ : null;
