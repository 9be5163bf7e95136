// Importing leads in a real browser (issue 14's acceptance test): the owner imports a CSV of
// 1,000 leads into Home Insurance UK from LeadGen Direct, previews it, follows the import's
// progress to the end and downloads the results file; then a client user rejects ten of those
// leads by email on Import Rejections. A second file repeating some emails is refused row by row.
import { expect, test, type Page } from '@playwright/test';
import { gotoHydrated, logIn } from './pages/app';
import { ImportRejections, parseCsv, screenshot } from './pages/rejections';

/** Yesterday at 10:00 UTC, as the file writes it: inside the campaign's 7-day window. */
function yesterday(): string {
  const d = new Date(Date.now() - 24 * 3600 * 1000);
  return `${d.toISOString().slice(0, 10)} 10:00:00`;
}

async function importPage(page: Page) {
  await gotoHydrated(page, '/leads/import');
  await expect(page.getByRole('heading', { level: 1, name: 'Import leads' })).toBeVisible();
}

async function chooseFile(page: Page, name: string, contents: string) {
  await page.getByLabel('CSV file').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(contents) });
  await expect(page.getByText('The first rows, as they will be read')).toBeVisible();
}

async function chooseTarget(page: Page) {
  const campaign = page.getByLabel('Campaign', { exact: true });
  await campaign.selectOption(await campaign.locator('option', { hasText: 'Home Insurance UK' }).getAttribute('value'));
  await page.getByLabel('Supplier', { exact: true }).selectOption({ label: 'LeadGen Direct' });
}

async function downloadResults(page: Page, link: string): Promise<string[][]> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: link }).click()]);
  const { readFileSync } = await import('node:fs');
  return parseCsv(readFileSync((await download.path())!, 'utf8'));
}

test('the owner imports 1,000 leads and a client then rejects some of them', async ({ browser }) => {
  test.setTimeout(120_000);
  const stamp = Date.now();
  const emails = Array.from({ length: 1000 }, (_, i) => `import.${stamp}.${i}@import.example`);
  const received = yesterday();
  const file = ['Email address,First name,Received at', ...emails.map((e, i) => `${e},Imported ${i},${received}`)].join('\n') + '\n';

  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  const crashes: string[] = [];
  owner.on('pageerror', (e) => crashes.push(e.message));
  const shell = await logIn(owner, 'owner@sendback.test');
  await shell.link('Import leads').click();
  await expect(owner.getByRole('heading', { level: 1, name: 'Import leads' })).toBeVisible();
  await owner.locator('body[data-hydrated="true"]').waitFor();

  // Starting without a file, campaign or supplier says what is missing.
  await owner.getByRole('button', { name: 'Start import' }).click();
  await expect(owner.getByRole('alert').filter({ hasText: 'Choose the CSV file of leads.' })).toBeVisible();
  await chooseFile(owner, 'history.csv', file);
  await owner.getByRole('button', { name: 'Start import' }).click();
  await expect(owner.getByRole('alert').filter({ hasText: 'Choose the campaign.' })).toBeVisible();
  await chooseTarget(owner);
  // The columns are guessed from their headers.
  await expect(owner.getByLabel('Email address')).toHaveValue(/^field:\d+$/);
  await expect(owner.getByLabel('First name')).toHaveValue(/^field:\d+$/);
  await expect(owner.getByLabel('Received at')).toHaveValue('received_at');

  await owner.getByRole('button', { name: 'Preview' }).click();
  const preview = owner.getByRole('region', { name: 'Preview: nothing has been imported yet' });
  await expect(preview).toContainText('All 1000 rows: 1000 would become leads, 0 would be refused.');
  await owner.getByRole('button', { name: 'Start import' }).click();
  await expect(owner).toHaveURL(/\/leads\/import\/\d+$/);
  const importId = owner.url().split('/').pop();
  await expect(owner.getByRole('heading', { level: 1, name: `Lead import ${importId}` })).toBeVisible();
  await expect(owner.getByRole('progressbar', { name: 'Import progress' })).toBeVisible();
  await expect(owner.getByTestId('import-status')).toHaveText('Completed', { timeout: 60_000 });
  await expect(owner.locator('.progress-text')).toHaveText('1000 of 1000 rows (100%)');
  await expect(owner.getByTestId('leads-created')).toHaveText('1000');
  await expect(owner.getByTestId('rows-refused')).toHaveText('0');
  await screenshot(owner, 'lead-import-completed');
  const results = await downloadResults(owner, 'Download results');
  expect(results[0]).toEqual(['line', 'result', 'lead_id', 'uid', 'status', 'message']);
  expect(results.length).toBe(1001);
  expect(results.slice(1).every((r, i) => r[0] === String(i + 2) && r[1] === 'created' && r[4] === 'Received')).toBe(true);
  const leadIds = results.slice(1).map((r) => r[2]);

  // The import is listed; the lead page shows an imported lead with its history.
  await importPage(owner);
  await expect(owner.getByRole('region', { name: 'Recent imports' }).getByRole('link', { name: `Import ${importId}` })).toBeVisible();
  await gotoHydrated(owner, `/leads/${leadIds[0]}`);
  await expect(owner.getByText(emails[0]).first()).toBeVisible();
  await expect(owner.getByText(`Lead import ${importId}`).first()).toBeVisible();

  // A second file repeating three of the emails (in any case) and one bad row.
  const again = ['Email,First name', emails[0].toUpperCase() + ',Again', emails[1] + ',Again', 'not an email,Bad', `fresh.${stamp}@import.example,Fresh`].join('\n') + '\n';
  await importPage(owner);
  await chooseFile(owner, 'again.csv', again);
  await chooseTarget(owner);
  await owner.getByRole('button', { name: 'Start import' }).click();
  await expect(owner.getByTestId('import-status')).toHaveText('Completed', { timeout: 60_000 });
  await expect(owner.getByTestId('leads-created')).toHaveText('1');
  await expect(owner.getByTestId('rows-refused')).toHaveText('3');
  const second = await downloadResults(owner, 'Download results');
  expect(second[1]).toEqual(['2', 'refused', '', '', '', `Duplicate Email (lead ${leadIds[0]})`]);
  expect(second[2]).toEqual(['3', 'refused', '', '', '', `Duplicate Email (lead ${leadIds[1]})`]);
  expect(second[3][5]).toMatch(/^Invalid Email/);
  expect(second[4][1]).toBe('created');
  expect(crashes).toEqual([]);
  await ownerContext.close();

  // The client rejects ten of the imported leads by email.
  const clientContext = await browser.newContext();
  const client = await clientContext.newPage();
  await logIn(client, 'client@sendback.test');
  const form = new ImportRejections(client);
  await form.goto();
  const rejects = ['email,reason', ...emails.slice(0, 10).map((e) => `${e},Not interested`)].join('\n') + '\n';
  await form.file.setInputFiles({ name: 'rejects.csv', mimeType: 'text/csv', buffer: Buffer.from(rejects) });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  await form.identifier('Use another field', 'Email');
  await expect(form.identifierColumn).toHaveValue('email');
  expect(await form.preview()).toEqual({ rejected: 10 });
  const task = await form.start();
  await task.waitForCompletion();
  expect(await task.outcomeCounts()).toEqual({ rejected: 10 });
  await gotoHydrated(client, `/leads/${leadIds[3]}`);
  await expect(client.getByText('Client Rejected').first()).toBeVisible();
  await expect(client.getByText('Not interested').first()).toBeVisible();
  await clientContext.close();
});

test('only owner staff can import leads', async ({ page, request }) => {
  await logIn(page, 'client@sendback.test');
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Import leads' })).toHaveCount(0);
  await gotoHydrated(page, '/leads/import');
  await expect(page.getByRole('heading', { level: 1, name: 'Import leads' })).toBeVisible();
  await expect(page.getByText(/permission|not allowed|owner/i).first()).toBeVisible();
  // The server refuses the upload whatever the page shows.
  const refused = await page.evaluate(async () => {
    const r = await fetch('/api/lead-uploads?name=x.csv', { method: 'POST', body: 'email\na@b.example\n' });
    return { status: r.status, body: await r.json() };
  });
  expect(refused.status).toBe(403);
  expect(refused.body.error).toBe("Importing leads is for the instance owner's staff.");
  void request;
});
