// Opens one of dawnet's self-contained report pages (report.html, lr-find.html, cv.html) in
// headless Chromium and checks that its charts were drawn with no page error.
import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** Loads `file`, waits for the page's chart script to finish, expects 'ready' and no error; `more` runs on the page before it closes. */
export async function expectChartsDrawn(file: string, more?: (page: Page) => Promise<void>): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`file://${file}`);
    await page.waitForFunction(() => document.body.dataset.charts !== 'pending');
    expect(await page.evaluate(() => document.body.dataset.charts)).toBe('ready');
    await more?.(page);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
}
