// The foundation: pages render on the server, hydrate in the browser, and server functions
// reach the database.
import { expect, test } from '@playwright/test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StatusPage } from './pages/status';

// The newest migration's version, as Diesel records it: the folder's date prefix, digits only.
const newestMigration = readdirSync(join(__dirname, '../../migrations/sqlite'))
  .filter((d) => /^\d{4}-\d{2}-\d{2}-\d{6}_/.test(d))
  .sort()
  .pop()!
  .split('_')[0]
  .replace(/-/g, '');

test('pages are server-rendered before any script runs', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/status');
  await expect(page.getByRole('heading', { level: 1, name: 'System status' })).toBeVisible();
  // Without the browser bundle the button cannot work, so it is not offered as if it could.
  await expect(page.getByRole('button', { name: 'Check database' })).toBeDisabled();
  await context.close();
});

test('after hydration a click calls a server function that reads the database', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  const home = new StatusPage(page);
  await home.goto();
  // Enabled only once the wasm bundle has hydrated the page.
  await expect(home.checkDatabase).toBeEnabled();
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/check_database')),
    home.checkDatabase.click(),
  ]);
  expect(response.status()).toBe(200);
  await expect(home.status).toContainText(`Database OK: SQLite, schema version ${newestMigration}`);
  expect(errors).toEqual([]);
});

test('unknown pages answer 404 with a helpful page', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
});

test('health endpoint reports the database', async ({ request }) => {
  const response = await request.get('/health');
  expect(response.status()).toBe(200);
  expect(await response.json()).toEqual({ status: 'ok', database: 'SQLite', schema_version: newestMigration });
});
