// Page objects for Import Rejections, the task page and the lead page.
import { expect, type Locator, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gotoHydrated } from './app';

export const SAMPLES = join(__dirname, '../../../samples');
const SCREENSHOTS = join(__dirname, '../../output/screenshots');

/** Saves a full-page screenshot under end2end/output/screenshots/. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export type Counts = Record<string, number>;

/** Rows per outcome from a table whose rows carry `data-outcome`; zero counts left out. */
async function readCounts(scope: Locator): Promise<Counts> {
  const counts: Counts = {};
  for (const row of await scope.locator('tr[data-outcome]').all()) {
    const n = Number((await row.locator('td').innerText()).trim());
    if (n > 0) counts[(await row.getAttribute('data-outcome'))!] = n;
  }
  return counts;
}

export class ImportRejections {
  readonly file: Locator;
  readonly campaign: Locator;
  readonly field: Locator;
  readonly identifierColumn: Locator;
  readonly reasonColumn: Locator;
  readonly rejectFrom: Locator;
  readonly previewButton: Locator;
  readonly startButton: Locator;
  readonly previewPanel: Locator;
  readonly history: Locator;

  constructor(readonly page: Page) {
    this.file = page.getByLabel('CSV file');
    this.campaign = page.getByLabel('Campaign', { exact: true });
    this.field = page.getByLabel('Field', { exact: true });
    this.identifierColumn = page.getByLabel('Identifier column');
    this.reasonColumn = page.getByLabel('Rejection Reason column');
    this.rejectFrom = page.getByLabel('Reject from the date');
    this.previewButton = page.getByRole('button', { name: 'Preview outcomes' });
    this.startButton = page.getByRole('button', { name: 'Start Rejection Task' });
    this.previewPanel = page.getByRole('region', { name: 'Preview: nothing has changed yet' });
    this.history = page.getByRole('region', { name: 'Task history' });
  }

  async goto() {
    await gotoHydrated(this.page, '/leads/import-rejections');
    await expect(this.page.getByRole('heading', { level: 1, name: 'Import Rejections' })).toBeVisible();
  }

  /** Waits for the server's reading of the file (or its refusal). */
  async fileRead() {
    await expect(this.page.getByText('The first rows, as they will be read')).toBeVisible();
  }

  async chooseFile(path: string) {
    await this.file.setInputFiles(path);
    await this.fileRead();
  }

  /** Drops a file on the import box, as a drag from the desktop does. */
  async dropFile(name: string, contents: string) {
    const dataTransfer = await this.page.evaluateHandle(
      ({ name, contents }) => {
        const dt = new DataTransfer();
        dt.items.add(new File([contents], name, { type: 'text/csv' }));
        return dt;
      },
      { name, contents },
    );
    await this.page.getByTestId('dropzone').dispatchEvent('dragover', { dataTransfer });
    await this.page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer });
  }

  async chooseCampaign(name: string) {
    const value = await this.campaign.locator('option', { hasText: name }).getAttribute('value');
    await this.campaign.selectOption(value!);
  }

  async identifier(mode: 'Use Lead IDs' | 'Use Consumer Session IDs' | 'Use another field', field?: string) {
    await this.page.getByLabel(mode).check();
    if (field) await this.field.selectOption({ label: field });
  }

  async option(label: string) {
    await this.page.getByLabel(label, { exact: true }).check();
  }

  async preview(): Promise<Counts> {
    await this.previewButton.click();
    await expect(this.previewPanel).toBeVisible();
    return readCounts(this.previewPanel);
  }

  /** Starts the task and lands on its page. */
  async start(): Promise<TaskPage> {
    await this.startButton.click();
    await expect(this.page).toHaveURL(/\/leads\/import-rejections\/tasks\/\d+$/);
    return new TaskPage(this.page);
  }

  /** Number of tasks in the history table. */
  async historyRows(): Promise<number> {
    await expect(this.history.getByText(/Loading/)).toHaveCount(0);
    return this.history.locator('tbody tr').count();
  }
}

export class TaskPage {
  readonly progress: Locator;
  readonly status: Locator;
  readonly counts: Locator;

  constructor(readonly page: Page) {
    this.progress = page.getByRole('progressbar', { name: 'Task progress' });
    this.status = page.getByTestId('task-status');
    this.counts = page.getByRole('region', { name: 'Rows per outcome' });
  }

  get id(): number {
    return Number(this.page.url().split('/').pop());
  }

  async waitForCompletion(timeout = 60_000) {
    await expect(this.status).toHaveText('Completed', { timeout });
    const max = await this.progress.getAttribute('max');
    await expect(this.progress).toHaveAttribute('value', max!);
  }

  async outcomeCounts(): Promise<Counts> {
    return readCounts(this.counts);
  }

  /** Downloads the results file and returns its rows (header first). */
  async downloadResults(): Promise<string[][]> {
    const [download] = await Promise.all([
      this.page.waitForEvent('download'),
      this.page.getByRole('link', { name: 'Download results' }).click(),
    ]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    return parseCsv(readFileSync(path!, 'utf8'));
  }

  /** Links to the leads the task changed. */
  leadLinks(): Locator {
    return this.page.getByRole('region', { name: 'Leads changed' }).getByRole('link');
  }
}

/** A small RFC 4180 reader (quoted fields, doubled quotes, embedded delimiters and newlines). */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const src = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += c;
    }
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
