// The portal clicked through in Debian's chromium against a running `kizuna demo`
// (crates/kizuna/tests/portal_demo.rs starts it): a patient seen at a hospital and a clinic,
// with a software card on the demo's reader. KIZUNA_DEMO_* name them as the demo printed them.
// Screenshots go to KIZUNA_ARTEFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, desktop, phone, launch, shot, signIn } from './common.mjs';

const card = process.env.KIZUNA_DEMO_CARD;
const [family, given] = (process.env.KIZUNA_DEMO_NAME ?? '').split(' ');
const home = process.env.KIZUNA_DEMO_HOME;
const other = process.env.KIZUNA_DEMO_OTHER;
const name = new RegExp(`${family}.${given}`);

let browser;
before(async () => {
  for (const [k, v] of Object.entries({ base, card, family, given, home, other })) {
    assert.ok(v, `${k} is given by the demo`);
  }
  browser = await launch();
});
after(async () => { await browser?.close(); });

async function openPatient(page) {
  await page.getByLabel('氏名（漢字・カナ）').fill(family);
  await page.getByRole('button', { name: '検索' }).click();
  await page.getByRole('link', { name }).first().click();
  await page.getByRole('heading', { name: '病名' }).waitFor();
}

test('reception: the card and PIN open the hospital\'s records to the clinic', async () => {
  const context = await browser.newContext(desktop);
  const page = await context.newPage();
  await signIn(page, other, '受付 鈴木');
  await openPatient(page);
  // Before consent the clinic sees its own records only.
  assert.ok(!(await page.locator('main').innerText()).includes(home), `${home} is not shown yet`);
  await shot(page, 'demo-summary-before-consent');
  await page.getByRole('link', { name: '受付（同意）' }).click();
  await page.getByRole('heading', { name: '受付（同意）' }).waitFor();
  await page.getByLabel('リーダー上のカード').selectOption(card);
  await page.getByLabel('暗証番号（4桁）').fill('9999');
  await page.getByRole('button', { name: '同意を受け付ける' }).click();
  await page.getByRole('alert').getByText('あと2回').waitFor();
  await shot(page, 'demo-reception-wrong-pin');
  await page.getByLabel('暗証番号（4桁）').fill('1234');
  await page.getByRole('button', { name: '同意を受け付ける' }).click();
  await page.getByRole('heading', { name: '同意を受け付けました' }).waitFor();
  assert.ok((await page.locator('#granted').innerText()).includes('有効期限'));
  await shot(page, 'demo-consent-granted');
  await page.getByRole('link', { name }).first().click();
  await page.getByRole('heading', { name: '病名' }).waitFor();
  assert.ok((await page.locator('main').innerText()).includes(home), `${home}'s records are shown`);
  await shot(page, 'demo-summary-after-consent');
  await page.getByRole('link', { name: '検査結果' }).click();
  await page.getByRole('heading', { name: 'バイタルサイン' }).waitFor();
  const charts = page.locator('figure.chart img');
  assert.ok(await charts.count() > 0, 'trend charts are drawn');
  // The charts are real images the browser decoded, each described in words.
  const drawn = await charts.evaluateAll((imgs) => imgs.every((i) => i.complete && i.naturalWidth > 0));
  assert.ok(drawn, 'every chart decodes');
  assert.match(await charts.first().getAttribute('alt'), /推移/);
  await shot(page, 'demo-labs');
  await page.getByRole('link', { name: '経過' }).click();
  await page.getByRole('heading', { name: '経過' }).nth(0).waitFor();
  const timeline = await page.locator('ol.timeline').innerText();
  assert.ok(timeline.includes(home) && timeline.includes(other), 'both institutions\' visits');
  await shot(page, 'demo-timeline');
  await context.close();
});

test('a phone reads the lab results without scrolling sideways', async () => {
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  await signIn(page, home, 'dr-tanaka');
  await openPatient(page);
  await page.getByRole('link', { name: '検査結果' }).click();
  await page.getByRole('heading', { name: 'バイタルサイン' }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await shot(page, 'demo-labs-phone');
  await context.close();
});

test('emergency access is marked, and asks who and why', async () => {
  const context = await browser.newContext(desktop);
  const page = await context.newPage();
  await signIn(page, home, 'dr-tanaka');
  await page.getByRole('link', { name: '緊急アクセス' }).click();
  await page.getByRole('heading', { name: '緊急アクセス' }).waitFor();
  await page.getByLabel(/^患者さん/).fill('00000000:x:1:01');
  await page.getByLabel('理由').fill('救急搬送、意識障害のため');
  await page.getByRole('button', { name: '緊急アクセスを開始する' }).click();
  await page.getByRole('alert').getByText('見つかりません').waitFor();
  await shot(page, 'demo-emergency-unknown');
  await context.close();
});
