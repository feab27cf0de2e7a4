// What the browser tests share: Debian's chromium (no browser download), the two screens,
// screenshots to KIZUNA_ARTEFACTS, and signing in as an institution.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const base = process.env.KIZUNA_BASE;
const artefacts = process.env.KIZUNA_ARTEFACTS ?? 'portal-e2e-artefacts';
mkdirSync(artefacts, { recursive: true });

export const desktop = { viewport: { width: 1280, height: 800 }, locale: 'ja-JP' };
export const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'ja-JP' };

export function launch() {
  return chromium.launch({
    executablePath: process.env.KIZUNA_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });
}

export async function signIn(page, institution, staff) {
  await page.goto(`${base}/portal/`);
  await page.getByRole('heading', { name: 'サインイン' }).waitFor();
  await page.getByRole('radio', { name: new RegExp(institution) }).check();
  await page.getByLabel('お名前（職員）').fill(staff);
  await page.getByRole('button', { name: 'サインイン' }).click();
  await page.getByRole('heading', { name: '患者さんを探す' }).waitFor();
}
