// Accounts and access in a real browser: log-in per demo user, the sidebar each one sees, the
// permission explanation, granting the permission, and log-out with the Back button.
import { expect, test } from '@playwright/test';
import { LoginPage, gotoHydrated, logIn } from './pages/app';

test('anyone not signed in is sent to the log-in page', async ({ page }) => {
  await page.goto('/leads/import-rejections');
  await expect(page).toHaveURL(/\/login\?next=\/leads\/import-rejections$/);
  await expect(page.getByRole('heading', { name: 'Log in to Sendback' })).toBeVisible();
});

test('a wrong password gets a clear message and no session', async ({ page }) => {
  const login = new LoginPage(page);
  await login.goto();
  await login.logIn('client@sendback.test', 'not-the-password');
  await expect(page.getByRole('alert').filter({ hasText: 'do not match an account' })).toBeVisible();
  await expect(page).toHaveURL(/\/login/);
});

const sidebars: Array<[string, string[]]> = [
  ['owner@sendback.test', ['All leads', 'Rejection tasks', 'Import leads', 'Clients', 'Campaigns', 'Suppliers', 'Webhooks', 'API keys', 'Users', 'Reports']],
  ['client@sendback.test', ['All leads', 'Import Rejections', 'API keys']],
  ['viewer@sendback.test', ['All leads']],
  ['bolt@sendback.test', ['All leads', 'Import Rejections', 'API keys']],
  ['other@sendback.test', ['All leads', 'Rejection tasks', 'Import leads', 'Clients', 'Campaigns', 'Suppliers', 'Webhooks', 'API keys', 'Users', 'Reports']],
];

for (const [email, links] of sidebars) {
  test(`${email} sees the right sidebar`, async ({ page }) => {
    const shell = await logIn(page, email);
    expect(await shell.linkNames()).toEqual(links);
  });
}

test('the owner grants the permission and the viewer then sees Import Rejections', async ({ browser }) => {
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  const viewerShell = await logIn(viewer, 'viewer@sendback.test');
  await expect(viewerShell.link('Import Rejections')).toHaveCount(0);

  // The direct URL explains who can enable it.
  const response = await viewer.goto('/leads/import-rejections');
  expect(response?.status()).toBe(403);
  await expect(viewer.getByText('Your lead supplier (the instance owner) must enable it')).toBeVisible();

  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  const ownerShell = await logIn(owner, 'owner@sendback.test');
  await ownerShell.link('Users').click();
  await expect(owner.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  const grant = owner.getByRole('button', { name: 'Grant Reject Leads as a Client to viewer@sendback.test' });
  await grant.click();
  await expect(owner.getByRole('button', { name: 'Revoke Reject Leads as a Client from viewer@sendback.test' })).toBeVisible();

  await gotoHydrated(viewer, '/leads');
  await expect(viewerShell.link('Import Rejections')).toBeVisible();
  await viewerShell.link('Import Rejections').click();
  await expect(viewer.getByRole('heading', { level: 1, name: 'Import Rejections' })).toBeVisible();
  await expect(viewer.getByLabel('CSV file')).toBeVisible();

  // Put it back for the other tests.
  await owner.getByRole('button', { name: 'Revoke Reject Leads as a Client from viewer@sendback.test' }).click();
  await expect(owner.getByRole('button', { name: 'Grant Reject Leads as a Client to viewer@sendback.test' })).toBeVisible();
  await viewerContext.close();
  await ownerContext.close();
});

test('the owner creates a client user, with errors shown by the field', async ({ page }) => {
  const shell = await logIn(page, 'owner@sendback.test');
  await shell.link('Users').click();
  const form = page.getByRole('form', { name: 'Create a client user' });
  await form.getByLabel('Email').fill('e2e.user@acme.example');
  await form.getByLabel('Name').fill('Eve Endtoend');
  await form.getByLabel('Client').selectOption({ label: 'Acme Insurance' });
  await form.getByLabel('Initial password').fill('short');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(form.getByText('Use at least 12 characters')).toBeVisible();
  await form.getByLabel('Initial password').fill('a long enough password');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(form.getByRole('status')).toHaveText('User created.');
  await expect(page.getByRole('cell', { name: 'e2e.user@acme.example', exact: true })).toBeVisible();
});

test('after log-out, Back shows nothing private', async ({ page }) => {
  const shell = await logIn(page, 'client@sendback.test');
  await expect(page.getByRole('table')).toBeVisible();
  await shell.logOut.click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goBack();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole('heading', { name: 'Log in to Sendback' })).toBeVisible();
  await expect(page.getByRole('table')).toHaveCount(0);
  await expect(page.getByText('Cara Client')).toHaveCount(0);
});
