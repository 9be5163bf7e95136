// Page object for the start page.
import { expect, type Locator, type Page } from '@playwright/test';

export class HomePage {
  readonly page: Page;
  readonly heading: Locator;
  readonly checkDatabase: Locator;
  readonly status: Locator;

  constructor(page: Page) {
    this.page = page;
    this.heading = page.getByRole('heading', { level: 1, name: 'Sendback' });
    this.checkDatabase = page.getByRole('button', { name: 'Check database' });
    this.status = page.getByRole('status');
  }

  async goto() {
    await this.page.goto('/');
    await expect(this.heading).toBeVisible();
  }
}
