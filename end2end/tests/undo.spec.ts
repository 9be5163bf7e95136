// Undoing a rejection task, as client@sendback.test: a task rejects three received leads of
// Home Insurance UK; "Undo this task" on its page shows the confirmation, then the undo runs as a
// task of its own; the lead page shows the lead back as it was, with the undo in its history;
// the original task's page says "Undone by task N" and offers no second undo.
import { expect, test, type Page } from '@playwright/test';
import { gotoHydrated, logIn } from './pages/app';
import { ImportRejections, TaskPage, screenshot } from './pages/rejections';

/** The newest received leads of Home Insurance UK (inside its rejection window). */
async function receivedLeads(page: Page, n: number): Promise<string[]> {
  await gotoHydrated(page, '/leads');
  const campaign = await page.locator('#lead-campaign option', { hasText: 'Home Insurance UK' }).getAttribute('value');
  await gotoHydrated(page, `/leads?campaign=${campaign}&status=received&sort=newest`);
  const ids = await page.locator('table.data tbody tr td:first-child a').allInnerTexts();
  expect(ids.length).toBeGreaterThanOrEqual(n);
  return ids.slice(0, n).map((s) => s.trim());
}

test('a client undoes a task from its page and the leads are back as they were', async ({ page }) => {
  await logIn(page, 'client@sendback.test');
  const ids = await receivedLeads(page, 3);
  await gotoHydrated(page, `/leads/${ids[0]}`);
  await expect(page.getByTestId('lead-status')).toHaveText('Received');
  const reasonBefore = await page.getByTestId('lead-reason').count();

  const form = new ImportRejections(page);
  await form.goto();
  const csv = 'Lead ID,Rejection Reason\n' + ids.map((id) => `${id},Wrong campaign`).join('\n') + '\n';
  await form.file.setInputFiles({ name: 'wrong-campaign.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  const task = await form.start();
  const taskId = task.id;
  await task.waitForCompletion();
  expect((await task.outcomeCounts()).rejected).toBe(3);

  // The confirmation says what will happen before anything changes.
  await page.getByRole('button', { name: 'Undo this task' }).click();
  const confirmation = page.getByTestId('undo-confirmation');
  await expect(confirmation).toContainText('put 3 lead(s) back to the status and reason they had before');
  await expect(confirmation).toContainText('leave 0 lead(s) changed since the task as they are');
  await screenshot(page, 'undo-confirmation');
  await gotoHydrated(page, `/leads/${ids[0]}`);
  await expect(page.getByTestId('lead-status')).toHaveText('Client Rejected');

  // Confirmed: the undo is a task of its own, with its page.
  await gotoHydrated(page, `/leads/import-rejections/tasks/${taskId}`);
  await page.getByRole('button', { name: 'Undo this task' }).click();
  await page.getByRole('button', { name: 'Undo task', exact: true }).click();
  await expect(page).not.toHaveURL(new RegExp(`/tasks/${taskId}$`));
  await expect(page).toHaveURL(/\/leads\/import-rejections\/tasks\/\d+$/);
  const undo = new TaskPage(page);
  const undoId = undo.id;
  await expect(page.getByTestId('undo-of')).toContainText(`Undo of task ${taskId}`);
  await expect(undo.status).toHaveText('Completed', { timeout: 60_000 });
  await expect(page.locator('tr[data-outcome="restored"] td')).toHaveText('3');
  await expect(page.locator('tr[data-outcome="changed_since"] td')).toHaveText('0');
  await expect(page.getByRole('button', { name: 'Undo this task' })).toHaveCount(0);
  await screenshot(page, 'undo-completed');
  const results = await undo.downloadResults();
  expect(results[0]).toEqual(['lead_id', 'uid', 'outcome', 'status', 'message']);
  expect(results.slice(1).map((r) => [r[0], r[2], r[3]])).toEqual(ids.slice().sort((a, b) => Number(a) - Number(b)).map((id) => [id, 'restored', 'received']));

  // The lead is back as it was, with the undo in its history.
  await gotoHydrated(page, `/leads/${ids[0]}`);
  await expect(page.getByTestId('lead-status')).toHaveText('Received');
  await expect(page.getByTestId('lead-reason')).toHaveCount(reasonBefore);
  await expect(page.getByRole('cell', { name: `Undo of task ${taskId}` })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'Client Rejected → Received' })).toBeVisible();

  // The original says who undid it, and cannot be undone again.
  await gotoHydrated(page, `/leads/import-rejections/tasks/${taskId}`);
  await expect(page.getByTestId('undone-by')).toHaveText(`Undone by task ${undoId}`);
  await expect(page.getByRole('button', { name: 'Undo this task' })).toHaveCount(0);
});
