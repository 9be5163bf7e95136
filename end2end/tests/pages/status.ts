// Page object for the public status page.
import { expect, type Locator, type Page } from '@playwright/test';

export class StatusPage {
  readonly page: Page;
  readonly heading: Locator;
  readonly checkDatabase: Locator;
  readonly status: Locator;

  constructor(page: Page) {
    this.page = page;
    this.heading = page.getByRole('heading', { level: 1, name: 'System status' });
    this.checkDatabase = page.getByRole('button', { name: 'Check database' });
    this.status = page.getByRole('status');
  }

  async goto() {
    await this.page.goto('/status');
    await expect(this.heading).toBeVisible();
  }
}
