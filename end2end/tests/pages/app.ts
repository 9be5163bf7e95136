// Page objects for logging in and the signed-in shell.
import { expect, type Locator, type Page } from '@playwright/test';

export const PASSWORD = 'sendback-demo';

/** Opens `url` and waits until the browser bundle has hydrated the page (clicks before that
 * would be plain HTML navigation, racing the router). */
export async function gotoHydrated(page: Page, url: string) {
  const response = await page.goto(url);
  await page.locator('body[data-hydrated="true"]').waitFor();
  return response;
}

export class LoginPage {
  readonly page: Page;
  readonly email: Locator;
  readonly password: Locator;
  readonly submit: Locator;

  constructor(page: Page) {
    this.page = page;
    this.email = page.getByLabel('Email');
    this.password = page.getByLabel('Password');
    this.submit = page.getByRole('button', { name: 'Log in' });
  }

  async goto() {
    await gotoHydrated(this.page, '/login');
    await expect(this.page.getByRole('heading', { name: 'Log in to Sendback' })).toBeVisible();
  }

  async logIn(email: string, password = PASSWORD) {
    await this.email.fill(email);
    await this.password.fill(password);
    // Enabled once hydrated.
    await expect(this.submit).toBeEnabled();
    await this.submit.click();
  }
}

export class Shell {
  readonly page: Page;
  readonly nav: Locator;
  readonly logOut: Locator;

  constructor(page: Page) {
    this.page = page;
    this.nav = page.getByRole('navigation', { name: 'Main' });
    this.logOut = page.getByRole('button', { name: 'Log out' });
  }

  link(name: string): Locator {
    return this.nav.getByRole('link', { name, exact: true });
  }

  /** The sidebar's link names, in order. */
  async linkNames(): Promise<string[]> {
    return (await this.nav.getByRole('link').allTextContents()).map((s) => s.trim());
  }
}

/** Logs in through the form and waits for the signed-in shell. */
export async function logIn(page: Page, email: string) {
  const login = new LoginPage(page);
  await login.goto();
  await login.logIn(email);
  await expect(page.getByRole('heading', { level: 1, name: 'All leads' })).toBeVisible();
  await page.locator('body[data-hydrated="true"]').waitFor();
  return new Shell(page);
}
