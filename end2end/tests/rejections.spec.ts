// Import Rejections end to end, as client@sendback.test: choosing a file (input and drag and
// drop), campaign, mapping, options, preview, starting, live progress, counts, the results file,
// the rejected lead's page; every identifier mode; each option's effect; the refusals; a
// 100,000-row file. Screenshots go to end2end/output/screenshots/.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logIn } from './pages/app';
import { ImportRejections, SAMPLES, TaskPage, parseCsv, screenshot, type Counts } from './pages/rejections';

test.describe.configure({ mode: 'serial' });

const today = new Date().toISOString().slice(0, 10);

async function importPage(page: Page): Promise<ImportRejections> {
  await logIn(page, 'client@sendback.test');
  const form = new ImportRejections(page);
  await form.goto();
  return form;
}

/** Runs a started task to the end and checks its counts against the preview. */
async function completes(task: TaskPage, preview: Counts) {
  await task.waitForCompletion();
  expect(await task.outcomeCounts()).toEqual(preview);
}

/** The results file has one row per data row of the input, in order, with its identifier. */
function matchesInput(results: string[][], input: string[][], identifierColumn: number) {
  expect(results[0]).toEqual(['row', 'identifier', 'reason', 'outcome', 'lead_id', 'message']);
  const data = input.slice(1).filter((r) => r.some((c) => c.trim() !== ''));
  expect(results.length - 1).toBe(data.length);
  data.forEach((r, i) => {
    expect(results[i + 1][0]).toBe(String(i + 2));
    expect(results[i + 1][1]).toBe(r[identifierColumn].trim());
  });
}

test('bad input is refused next to its field and creates no task', async ({ page }) => {
  const form = await importPage(page);
  await screenshot(page, 'import-rejections-empty');
  const tasksBefore = await form.historyRows();

  // An xlsx renamed to .csv.
  await form.file.setInputFiles({ name: 'leads.csv', mimeType: 'text/csv', buffer: Buffer.from('PK\x03\x04\x14\x00\x06\x00[Content_Types].xml') });
  await expect(page.locator('#file-error')).toContainText('This is not a CSV file');
  await expect(form.file).toHaveAttribute('aria-invalid', 'true');

  // No header row.
  await form.file.setInputFiles({ name: 'noheader.csv', mimeType: 'text/csv', buffer: Buffer.from('1020069,Duplicate lead\n1020070,Wrong number\n') });
  await expect(page.locator('#file-error')).toContainText('The file has no header row');

  // A file without a reason column: nothing to map it to.
  await form.file.setInputFiles({ name: 'ids-only.csv', mimeType: 'text/csv', buffer: Buffer.from('Lead ID\n1020069\n') });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  await expect(form.identifierColumn).toHaveValue('Lead ID');
  await expect(form.reasonColumn).toHaveValue('');
  await form.startButton.click();
  await expect(page.locator('#reason-column-error')).toHaveText('Choose the column of your file that holds the rejection reason.');

  // A mapped column missing from the header (a hand-made request): the server says which.
  const uploaded = await page.request.post('/api/uploads?name=x.csv', { data: 'Lead ID,Reason\n1020069,x\n' });
  expect(uploaded.status()).toBe(200);
  const campaignId = Number(await form.campaign.inputValue());
  const forged = await page.request.post('/api/start_rejection_task', {
    data: {
      form: {
        upload_id: (await uploaded.json()).upload_id, campaign_id: campaignId, mode: 'lead_id',
        identifier_column: 'Lead ID', reason_column: 'Why', reject_from: '',
        options: { move_outside_to_accepted: false, reject_affiliate_events: false, move_remaining_to_accepted: false, count_towards_cap: false },
      },
    },
  });
  expect(forged.status()).toBe(422);
  expect(JSON.stringify(await forged.json())).toContain('The column \\"Why\\" is not in the file');

  // A campaign without a maximum rejection time.
  await form.chooseFile(join(SAMPLES, 'home-insurance-lead-ids.csv'));
  await form.chooseCampaign('Pet Insurance UK');
  await expect(page.locator('#campaign-note')).toContainText('no maximum rejection time');
  await form.startButton.click();
  await expect(page.locator('#campaign-error')).toContainText('does not accept rejections');
  await expect(form.campaign).toHaveAttribute('aria-invalid', 'true');

  // A reject-from date in the future.
  await form.chooseCampaign('Home Insurance UK');
  await form.rejectFrom.fill('2099-01-01');
  await form.previewButton.click();
  await expect(page.locator('#reject-from-error')).toHaveText('The reject-from date is in the future. Choose today or an earlier date.');
  await form.startButton.click();
  await expect(page.locator('#reject-from-error')).toContainText('in the future');

  await form.goto();
  expect(await form.historyRows()).toBe(tasksBefore);
});

test('Lead IDs from the file input: preview, start, progress, counts, results, the lead page', async ({ page }) => {
  const form = await importPage(page);
  const path = join(SAMPLES, 'home-insurance-lead-ids.csv');
  await form.chooseFile(path);
  await expect(page.getByText('comma (,) separated')).toBeVisible();
  await form.chooseCampaign('Home Insurance UK');
  await expect(page.locator('#campaign-note')).toContainText('up to 7 days');
  // Pre-selected from the header.
  await expect(form.identifierColumn).toHaveValue('Lead ID');
  await expect(form.reasonColumn).toHaveValue('Rejection Reason');
  const preview = await form.preview();
  for (const o of ['rejected', 'outside_window', 'already_rejected', 'not_delivered', 'not_found', 'duplicate_in_file', 'invalid']) {
    expect(preview[o], o).toBeGreaterThan(0);
  }
  await expect(form.previewPanel).toContainText(/Leads received on or after \d{4}-\d{2}-\d{2} are inside the rejection window \(7 days before/);
  await screenshot(page, 'import-rejections-preview');
  // A changed input drops the stale preview.
  await form.option('Reject affiliate events');
  await expect(form.previewPanel).toHaveCount(0);
  await page.getByLabel('Reject affiliate events', { exact: true }).uncheck();

  // A double click starts one task, not two.
  const tasksBefore = await form.historyRows();
  await form.startButton.dblclick();
  await expect(page).toHaveURL(/\/leads\/import-rejections\/tasks\/\d+$/);
  const task = new TaskPage(page);
  const taskId = task.id;
  await completes(task, preview);
  await screenshot(page, 'task-completed');

  const input = parseCsv(readFileSync(path, 'utf8'));
  const results = await task.downloadResults();
  matchesInput(results, input, 0);
  results.slice(1).forEach((r, i) => expect(r[2]).toBe(input[i + 1][1].trim()));

  // The first rejected lead shows Client Rejected with the reason from the file.
  const first = results.find((r) => r[3] === 'rejected')!;
  await task.leadLinks().first().click();
  await expect(page.getByRole('heading', { level: 1, name: `Lead ${first[4]}` })).toBeVisible();
  await expect(page.getByTestId('lead-status')).toHaveText('Client Rejected');
  await expect(page.getByTestId('lead-reason')).toHaveText(first[2]);
  await expect(page.getByRole('cell', { name: 'Received → Client Rejected' })).toBeVisible();

  await form.goto();
  await expect(form.history.getByRole('link', { name: `Task ${taskId}` })).toBeVisible();
  expect(await form.historyRows()).toBe(tasksBefore + 1);
});

test('a phone field, dropped on the import box, with affiliate events and caps', async ({ page }) => {
  const form = await importPage(page);
  await form.dropFile('phones.csv', readFileSync(join(SAMPLES, 'home-insurance-phones.csv'), 'utf8'));
  await form.fileRead();
  await expect(page.getByText('pipe (|) separated')).toBeVisible();
  await form.chooseCampaign('Home Insurance UK');
  await form.identifier('Use another field', 'Phone');
  await expect(form.identifierColumn).toHaveValue('Phone');
  await expect(form.reasonColumn).toHaveValue('Reason');
  await form.option('Reject affiliate events');
  await form.option('Count these rejections towards the cap');
  const preview = await form.preview();
  const units = Number((await form.previewPanel.getByText(/cap units would be given back/).innerText()).match(/^(\d+)/)![1]);
  expect(preview.rejected).toBeGreaterThan(0);
  expect(units).toBeGreaterThanOrEqual(preview.rejected);

  const task = await form.start();
  await completes(task, preview);
  await expect(page.getByText(`Cap units given back: ${units}`)).toBeVisible();
  // Option 3: no rejected lead keeps an approved affiliate event.
  const hrefs = await task.leadLinks().evaluateAll((links) => links.map((a) => a.getAttribute('href')!));
  expect(hrefs.length).toBe(preview.rejected);
  let withEvents = 0;
  for (const href of hrefs) {
    await page.goto(href);
    await expect(page.getByTestId('lead-status')).toHaveText('Client Rejected');
    const events = page.getByRole('table', { name: 'Affiliate events' });
    if (await events.count()) {
      withEvents++;
      await expect(events.getByRole('cell', { name: 'approved', exact: true })).toHaveCount(0);
      await expect(events.getByRole('cell', { name: 'rejected', exact: true }).first()).toBeVisible();
    }
  }
  expect(withEvents).toBeGreaterThan(0);
});

test('emails, untidy and semicolon-separated, with a reject-from date', async ({ page }) => {
  const form = await importPage(page);
  const path = join(SAMPLES, 'home-insurance-emails.csv');
  await form.chooseFile(path);
  await form.chooseCampaign('Home Insurance UK');
  await form.identifier('Use another field', 'Email');
  await expect(form.identifierColumn).toHaveValue('email');
  await expect(form.reasonColumn).toHaveValue('rejection_reason');
  await form.rejectFrom.fill(today);
  const preview = await form.preview();
  expect(preview.not_found).toBe(1);
  const task = await form.start();
  await completes(task, preview);
  await expect(page.getByRole('definition').filter({ hasText: today })).toBeVisible();
  matchesInput(await task.downloadResults(), parseCsv(readFileSync(path, 'utf8'), ';'), 0);
});

test('outside the window with "Move leads older than maximum rejected date to accepted"', async ({ page }) => {
  const form = await importPage(page);
  // The sample's rows that are outside the window.
  const sample = readFileSync(join(SAMPLES, 'home-insurance-lead-ids.csv'), 'utf8').split('\n');
  const old = sample.filter((l) => l.includes('Outside the window'));
  expect(old.length).toBe(3);
  await form.dropFile('old.csv', [sample[0], ...old].join('\n'));
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  await form.option('Move leads older than maximum rejected date to accepted');
  const preview = await form.preview();
  expect(preview).toEqual({ accepted_outside_window: 3 });
  const task = await form.start();
  await completes(task, preview);
  const results = await task.downloadResults();
  expect(results.slice(1).map((r) => r[3])).toEqual(Array(3).fill('accepted_outside_window'));
  await task.leadLinks().first().click();
  await expect(page.getByTestId('lead-status')).toHaveText('Accepted');
  await expect(page.getByTestId('lead-window')).toContainText('Outside the rejection window');
});

test('Consumer Session IDs with "Move any remaining leads to accepted"', async ({ page }) => {
  const form = await importPage(page);
  await form.chooseFile(join(SAMPLES, 'car-insurance-uids.csv'));
  await expect(page.getByText('tab separated')).toBeVisible();
  await form.chooseCampaign('Car Insurance UK');
  await form.identifier('Use Consumer Session IDs');
  await expect(form.identifierColumn).toHaveValue('uid');
  await form.option('Move any remaining leads to accepted');
  const preview = await form.preview();
  expect(preview).toEqual({ rejected: 15, outside_window: 2 });
  const remaining = Number((await form.previewPanel.getByText(/remaining Received leads would move/).innerText()).match(/^(\d+)/)![1]);
  expect(remaining).toBeGreaterThan(0);
  const task = await form.start();
  await completes(task, preview);
  await expect(page.getByText(`Remaining leads moved to Accepted: ${remaining}`)).toBeVisible();
});

test('a 100,000-row file completes while the app stays usable', async ({ page }) => {
  test.setTimeout(180_000);
  const form = await importPage(page);
  // Lead IDs across the demo's range (most belong to other campaigns: "not found").
  const lines = ['lead_id,reason'];
  for (let i = 0; i < 100_000; i++) lines.push(`${1_000_000 + i},Bulk clean-up ${i % 7}`);
  await form.file.setInputFiles({ name: 'bulk.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n') + '\n') });
  await form.fileRead();
  await form.chooseCampaign('Car Insurance UK');
  await expect(form.identifierColumn).toHaveValue('lead_id');
  // The preview runs in the background: "Previewing… N rows read" until its result replaces it.
  await form.previewButton.click();
  const progress = page.getByTestId('preview-progress');
  await expect(progress.or(form.previewPanel).first()).toBeVisible();
  console.log(`preview showed first: ${(await progress.or(form.previewPanel).first().innerText()).split('\n')[0]}`);
  await expect(form.previewPanel).toContainText('100000 rows read');
  await expect(progress).toHaveCount(0);
  // Previewing again replaces it, with the same figures.
  const preview = await form.preview();
  expect(Object.values(preview).reduce((a, b) => a + b, 0)).toBe(100_000);
  const task = await form.start();
  await expect(task.progress).toBeVisible();
  // Live progress: the page asks again while the task runs (it may already be done here).
  await expect(task.status).toHaveText(/Running|Completed/);
  console.log(`task page showed: ${await task.status.innerText()}, ${await page.locator('.progress-text').innerText()}`);
  await screenshot(page, 'task-running');
  // Other pages answer while it runs.
  const started = Date.now();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'All leads' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'All leads' })).toBeVisible();
  console.log(`All leads opened in ${Date.now() - started} ms while the task ran`);
  await page.goBack();
  await completes(task, preview);
  const results = await task.downloadResults();
  expect(results.length).toBe(100_001);
});
