// Row numbers a spreadsheet user recognises, and the task history's pages, as client@sendback.test:
// a results row after a note over several lines keeps the spreadsheet's row number; the history
// stays one line per task and pages to older tasks and back.
import { expect, test, type Page } from '@playwright/test';
import { logIn } from './pages/app';
import { ImportRejections, TaskPage } from './pages/rejections';

test.describe.configure({ mode: 'serial' });

async function importPage(page: Page): Promise<ImportRejections> {
  await logIn(page, 'client@sendback.test');
  const form = new ImportRejections(page);
  await form.goto();
  return form;
}

test('results number rows as the spreadsheet shows them, even after a multi-line note', async ({ page }) => {
  const form = await importPage(page);
  // As a spreadsheet opens it: header row 1, each record one row (the notes span lines), the
  // blank line row 5.
  const file = [
    'Lead ID,Rejection Reason',
    '99999991,"Called twice',
    'and said no"',
    '99999992,Wrong number',
    '99999993,"one',
    'two',
    'three"',
    '',
    '99999994,Fake details',
    '',
  ].join('\r\n');
  await form.file.setInputFiles({ name: 'notes.csv', mimeType: 'text/csv', buffer: Buffer.from(file) });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  await expect(form.reasonColumn).toHaveValue('Rejection Reason');
  const task = await form.start();
  await task.waitForCompletion();
  const results = await task.downloadResults();
  expect(results.slice(1).map((r) => [r[0], r[1]])).toEqual([
    ['2', '99999991'],
    ['3', '99999992'],
    ['4', '99999993'],
    ['6', '99999994'],
  ]);
  expect(results[1][2]).toBe('Called twice\r\nand said no');
});

test('the task history is one line per task and pages to older tasks', async ({ page }) => {
  const form = await importPage(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  const campaignId = Number(await form.campaign.locator('option', { hasText: 'Home Insurance UK' }).getAttribute('value'));
  // Enough tasks for a second page (20 a page), one with a long file name.
  const start = async (name: string) => {
    const uploaded = await page.request.post(`/api/uploads?name=${encodeURIComponent(name)}`, { data: 'Lead ID,Reason\n99999999,x\n' });
    expect(uploaded.status()).toBe(200);
    const started = await page.request.post('/api/start_rejection_task', {
      data: {
        form: {
          upload_id: (await uploaded.json()).upload_id, campaign_id: campaignId, mode: 'lead_id',
          identifier_column: 'Lead ID', reason_column: 'Reason', reject_from: '',
          options: { move_outside_to_accepted: false, reject_affiliate_events: false, move_remaining_to_accepted: false, count_towards_cap: false },
        },
      },
    });
    expect(started.status()).toBe(200);
  };
  for (let i = 0; i < 21; i++) await start(`history-${i}.csv`);
  const long = `a-very-long-file-name-that-would-wrap-the-history-table-into-tall-rows-${'x'.repeat(80)}.csv`;
  await start(long);

  await form.goto();
  expect(await form.historyRows()).toBe(20);
  // One line per task: every row as tall as the shortest; the long name whole in its title.
  const rows = form.history.locator('tbody tr');
  const heights = await rows.evaluateAll((trs) => trs.map((tr) => tr.getBoundingClientRect().height));
  expect(Math.max(...heights)).toBeLessThan(Math.min(...heights) + 1);
  const cell = form.history.getByRole('cell', { name: long });
  await expect(cell).toHaveAttribute('title', long);
  const table = await form.history.locator('table').boundingBox();
  expect(table!.width).toBeLessThanOrEqual(1280);

  // Older and newer pages, by link (the router's navigation, once hydrated).
  const newest = await rows.first().getByRole('link').innerText();
  await form.history.getByRole('link', { name: 'Older tasks' }).click();
  await expect(page).toHaveURL(/\?before=\d+$/);
  await expect(form.history.getByRole('link', { name: newest, exact: true })).toHaveCount(0);
  await expect(rows.first()).toBeVisible();
  await form.history.getByRole('link', { name: 'Newer tasks' }).click();
  await expect(form.history.getByRole('link', { name: newest, exact: true })).toBeVisible();
  await expect(form.history.getByRole('link', { name: 'Newer tasks' })).toHaveCount(0);
});
