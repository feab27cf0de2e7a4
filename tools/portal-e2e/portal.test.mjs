// The portal clicked through in Debian's chromium (playwright-core, no browser download),
// against a running Kizuna (KIZUNA_BASE) whose data crates/server/tests/portal.rs seeded: a
// hospital's patient 山田花子 (ヤマダハナコ) with a diagnosis, an allergy and a lab result, and a
// clinic without her consent. Screenshots go to KIZUNA_ARTEFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, desktop, phone, launch, shot, signIn } from './common.mjs';

let browser;
before(async () => {
  assert.ok(base, 'KIZUNA_BASE names the server');
  browser = await launch();
});
after(async () => { await browser?.close(); });

test('a hospital doctor finds the patient by kana and reads her summary', async () => {
  const context = await browser.newContext(desktop);
  const page = await context.newPage();
  await page.goto(`${base}/portal/`);
  await shot(page, 'signin-ja-desktop');
  // The first Tab reaches the skip link: the page works by keyboard.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip');
  await signIn(page, '絆病院', 'dr-tanaka');
  await page.getByLabel('氏名（漢字・カナ）').fill('ヤマダ');
  await page.keyboard.press('Enter');
  const link = page.getByRole('link', { name: /山田.花子/ });
  await link.waitFor();
  await shot(page, 'search-ja-desktop');
  await link.click();
  await page.getByRole('heading', { name: '病名' }).waitFor();
  const body = await page.locator('main').innerText();
  for (const shown of ['2型糖尿病', 'ペニシリン', 'HbA1c', '7.2 %', '絆病院', '1970年5月1日（昭和45年）']) {
    assert.ok(body.includes(shown), `${shown} is shown`);
  }
  await shot(page, 'summary-ja-desktop');
  // In English at one click, on the same page.
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Diagnoses' }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await shot(page, 'summary-en-desktop');
  await page.getByRole('link', { name: '日本語' }).click();
  await page.getByRole('heading', { name: '病名' }).waitFor();
  // Signing out ends the session: its pages ask to sign in again.
  await page.getByRole('button', { name: 'サインアウト' }).click();
  await page.getByRole('heading', { name: 'サインイン' }).waitFor();
  await page.goto(`${base}/portal/patients?name=ヤマダ`);
  await page.getByRole('heading', { name: 'サインイン' }).waitFor();
  assert.equal(await page.getByText('花子').count(), 0);
  await context.close();
});

test('the summary reads on a phone', async () => {
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  await signIn(page, '絆病院', 'dr-tanaka');
  await page.getByLabel('生年月日').fill('1970-05-01');
  await page.getByRole('button', { name: '検索' }).click();
  await page.getByRole('link', { name: /山田.花子/ }).click();
  await page.getByRole('heading', { name: '病名' }).waitFor();
  // Nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await shot(page, 'summary-ja-phone');
  await context.close();
});

test('a clinic without her consent finds nothing, and bad input is said in plain words', async () => {
  const context = await browser.newContext(desktop);
  const page = await context.newPage();
  await signIn(page, '絆クリニック', 'dr-sato');
  await page.getByLabel('氏名（漢字・カナ）').fill('山田');
  await page.getByRole('button', { name: '検索' }).click();
  await page.getByText('閲覧できる範囲にいません').waitFor();
  assert.equal(await page.getByText('花子').count(), 0);
  await shot(page, 'search-clinic-ja-desktop');
  await page.getByLabel('氏名（漢字・カナ）').fill('');
  await page.getByRole('button', { name: '検索' }).click();
  await page.getByRole('alert').getByText('検索する条件を1つ以上入力してください').waitFor();
  await shot(page, 'search-empty-ja-desktop');
  await context.close();
});
