// Reports as the supplier sees them: a client's rejection task shows up in the owner's report
// with the right counts, and the CSV export matches the page.
import { expect, test, type Page } from '@playwright/test';
import { gotoHydrated, logIn } from './pages/app';
import { ImportRejections, parseCsv } from './pages/rejections';

const REASON = 'E2E report check';

/** Rows of a report table: first cell → the other cells. */
async function tableRows(page: Page, name: string): Promise<Record<string, string[]>> {
  const rows: Record<string, string[]> = {};
  for (const row of await page.getByRole('table', { name }).locator('tbody tr').all()) {
    const cells = (await row.locator('th, td').allInnerTexts()).map((c) => c.trim());
    rows[cells[0]] = cells.slice(1);
  }
  return rows;
}

test('a client rejection task appears in the owner report, and the CSV matches the page', async ({ browser }) => {
  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  await logIn(owner, 'owner@sendback.test');
  await gotoHydrated(owner, '/reports');
  const before = await tableRows(owner, 'Client rejections by campaign');
  const homeBefore = Number(before['Home Insurance UK'][1]);

  // The client rejects five recent received leads of Home Insurance UK.
  const clientContext = await browser.newContext();
  const client = await clientContext.newPage();
  await logIn(client, 'client@sendback.test');
  const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
  const campaignId = await client.getByLabel('Campaign', { exact: true }).locator('option', { hasText: 'Home Insurance UK' }).getAttribute('value');
  await client.goto(`/leads?campaign=${campaignId}&status=received&from=${day(6)}&to=${day(2)}`);
  const ids = (await client.getByRole('table', { name: 'Leads' }).locator('tbody tr a').allInnerTexts()).slice(0, 5);
  expect(ids).toHaveLength(5);
  const form = new ImportRejections(client);
  await form.goto();
  await form.file.setInputFiles({
    name: 'report-check.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(['Lead ID,Reason', ...ids.map((id) => `${id},${REASON}`)].join('\n')),
  });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  expect(await form.preview()).toEqual({ rejected: 5 });
  const task = await form.start();
  await task.waitForCompletion();
  await clientContext.close();

  await gotoHydrated(owner, '/reports');
  const after = await tableRows(owner, 'Client rejections by campaign');
  expect(Number(after['Home Insurance UK'][1])).toBe(homeBefore + 5);
  const reasons = await tableRows(owner, 'Client rejections by reason');
  expect(reasons[REASON]).toEqual(['5']);
  await expect(owner.getByRole('img', { name: /Client rejections per day/ })).toBeVisible();

  const [download] = await Promise.all([
    owner.waitForEvent('download'),
    owner.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  const { readFileSync } = await import('node:fs');
  const csv = parseCsv(readFileSync((await download.path())!, 'utf8'));
  expect(csv[0]).toEqual(['section', 'name', 'delivered', 'client_rejected', 'rejection_rate']);
  for (const [name, cells] of Object.entries(after)) {
    expect(csv.find((r) => r[0] === 'campaign' && r[1] === name)?.slice(2)).toEqual(cells);
  }
  expect(csv.find((r) => r[0] === 'reason' && r[1] === REASON)?.[3]).toBe('5');
  await ownerContext.close();
});
