// Finding and verifying a lead: All leads search (email, and a phone written differently), the
// lead page (fields, rejection window, history), and "not found" with 404 for everyone else.
import { expect, test } from '@playwright/test';
import { logIn } from './pages/app';

const JANE_EMAIL = 'jane.smith@example.co.uk';

test('a client finds a lead by email and by phone, and opens it', async ({ page }) => {
  await logIn(page, 'client@sendback.test');
  const search = page.getByRole('searchbox', { name: 'Search' });
  await search.fill('  Jane.Smith@Example.co.uk ');
  await page.getByRole('button', { name: 'Find leads' }).click();
  await expect(page).toHaveURL(/q=/);
  const rows = page.getByRole('table', { name: 'Leads' }).locator('tbody tr');
  await expect(rows).toHaveCount(1);
  const id = (await rows.first().getByRole('link').innerText()).trim();

  // The phone as stored is `+44 7700 900123`; typed as a UK number it is the same lead.
  await page.getByRole('searchbox', { name: 'Search' }).fill('07700900123');
  await page.getByRole('button', { name: 'Find leads' }).click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first().getByRole('link')).toHaveText(id);

  await rows.first().getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1, name: `Lead ${id}` })).toBeVisible();
  await expect(page.getByRole('definition').filter({ hasText: JANE_EMAIL })).toBeVisible();
  await expect(page.getByRole('definition').filter({ hasText: 'Home Insurance UK' })).toBeVisible();
  await expect(page.getByTestId('lead-window')).toContainText(/rejection window/);
  await expect(page.getByRole('table', { name: 'Status history, newest first' }).locator('tbody tr').first()).toBeVisible();
});

for (const who of ['bolt@sendback.test', 'other@sendback.test']) {
  test(`${who} gets "not found" for the same lead`, async ({ page }) => {
    // Learn Jane's id as her client sees it.
    await logIn(page, 'client@sendback.test');
    await page.goto(`/leads?q=${encodeURIComponent(JANE_EMAIL)}`);
    const id = (await page.getByRole('table', { name: 'Leads' }).locator('tbody tr a').first().innerText()).trim();
    await page.context().clearCookies();

    await logIn(page, who);
    const response = await page.goto(`/leads/${id}`);
    expect(response?.status()).toBe(404);
    await expect(page.getByRole('heading', { level: 1, name: 'Not found' })).toBeVisible();
    await expect(page.getByText(JANE_EMAIL)).toHaveCount(0);
    // Searching does not find it either.
    await page.goto(`/leads?q=${encodeURIComponent(JANE_EMAIL)}`);
    await expect(page.getByRole('status').filter({ hasText: 'No leads match.' })).toBeVisible();
  });
}

test('All leads pages forward and sorts by column', async ({ page }) => {
  await logIn(page, 'owner@sendback.test');
  const firstId = async () => (await page.getByRole('table', { name: 'Leads' }).locator('tbody tr a').first().innerText()).trim();
  const page1 = await firstId();
  await page.getByRole('link', { name: 'Next page' }).click();
  await expect(page.getByRole('link', { name: 'First page' })).toBeVisible();
  expect(await firstId()).not.toBe(page1);
  await page.getByRole('link', { name: 'Lead ID' }).click();
  await expect(page.getByRole('columnheader', { name: 'Lead ID' })).toHaveAttribute('aria-sort', 'descending');
  await page.getByRole('link', { name: 'Lead ID' }).click();
  await expect(page.getByRole('columnheader', { name: 'Lead ID' })).toHaveAttribute('aria-sort', 'ascending');
  const ids = (await page.getByRole('table', { name: 'Leads' }).locator('tbody tr a').allInnerTexts()).map(Number);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
});
