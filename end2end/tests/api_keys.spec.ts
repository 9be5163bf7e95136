// API keys end to end, as client@sendback.test: a key made on the API keys page is shown once,
// works for the machine API from outside the browser (GET /api/v1/me, the single-lead Reject
// API), and stops working as soon as it is revoked on the page.
import { expect, test } from '@playwright/test';
import { gotoHydrated, logIn } from './pages/app';

const KEY_NAME = 'CRM';

test('a client makes a key, sees it once, uses it, and revoking it stops it', async ({ page, request }) => {
  await logIn(page, 'client@sendback.test');

  // A lead the key may reject: the newest Received lead of Car Insurance UK (30-day window).
  // The sample files other specs import pick the campaign's oldest Received leads, so this one
  // is none of theirs.
  const campaignId = await page
    .getByLabel('Campaign', { exact: true })
    .locator('option', { hasText: 'Car Insurance UK' })
    .getAttribute('value');
  expect(campaignId).toBeTruthy();
  await page.goto(`/leads?campaign=${campaignId}&status=received`);
  const leadId = (await page.getByRole('table', { name: 'Leads' }).locator('tbody tr a').first().innerText()).trim();
  expect(leadId).toMatch(/^\d+$/);

  // Make the key: it is shown this once.
  await gotoHydrated(page, '/settings/api-keys');
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  const form = page.getByRole('form', { name: 'Create an API key' });
  await form.getByLabel('Name').fill(KEY_NAME);
  await form.getByRole('button', { name: 'Create API key' }).click();
  const shown = page.locator('code.new-key');
  await expect(shown).toBeVisible();
  const key = (await shown.innerText()).trim();
  expect(key).toMatch(/^sbk_[A-Za-z0-9_-]{43}$/);
  await expect(page.getByText('Copy this key now: it will not be shown again.')).toBeVisible();

  // A new visit lists the key by name and first characters only (found by those: an earlier
  // run on the same database may have left a revoked "CRM" key).
  await gotoHydrated(page, '/settings/api-keys');
  const row = page.getByRole('table', { name: 'API keys' }).locator('tbody tr').filter({ hasText: `${key.slice(0, 12)}…` });
  await expect(row).toHaveCount(1);
  await expect(row.getByRole('rowheader')).toHaveText(KEY_NAME);
  await expect(row.locator('code')).toHaveText(`${key.slice(0, 12)}…`);
  await expect(page.locator('code.new-key')).toHaveCount(0);
  await expect(page.getByText(key)).toHaveCount(0);
  expect(await page.content()).not.toContain(key);

  // The key works from outside the browser (Playwright's request context has no session).
  const auth = { Authorization: `Bearer ${key}` };
  const me = await request.get('/api/v1/me', { headers: auth });
  expect(me.status()).toBe(200);
  const who = await me.json();
  expect(who.user.email).toBe('client@sendback.test');
  expect(who.client.name).toBe('Acme Insurance');

  const rejected = await request.post(`/api/v1/lead-status/reject/${leadId}`, {
    headers: auth,
    form: { reason: 'E2E API key check' },
  });
  expect(rejected.status()).toBe(200);
  expect(await rejected.json()).toEqual({ result: 'success', lead_id: Number(leadId), status: 'client_rejected' });
  // The same lead again is already rejected.
  const again = await request.post(`/api/v1/lead-status/reject/${leadId}`, {
    headers: auth,
    form: { reason: 'E2E API key check' },
  });
  expect(again.status()).toBe(409);
  expect((await again.json()).error.code).toBe('ALREADY_REJECTED');
  // The lead page shows the rejection, with the reason.
  await gotoHydrated(page, `/leads/${leadId}`);
  await expect(page.getByTestId('lead-status')).toHaveText('Client Rejected');
  await expect(page.getByRole('table', { name: 'Status history, newest first' }).locator('tbody tr').first()).toContainText('E2E API key check');

  // The page now shows when the key was last used; revoking it stops it at once.
  await gotoHydrated(page, '/settings/api-keys');
  await expect(row.getByText('Never used')).toHaveCount(0);
  await row.getByRole('button', { name: `Revoke key ${KEY_NAME}` }).click();
  await expect(row.getByText('Revoked', { exact: true })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Key revoked.' })).toBeVisible();

  const refused = await request.get('/api/v1/me', { headers: auth });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.code).toBe('INVALID_KEY');
  const refusedReject = await request.post(`/api/v1/lead-status/reject/${leadId}`, {
    headers: auth,
    form: { reason: 'E2E API key check' },
  });
  expect(refusedReject.status()).toBe(401);
  expect((await refusedReject.json()).error.code).toBe('INVALID_KEY');
});
