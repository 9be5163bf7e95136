// Page object for the Webhooks page (/settings/webhooks, owner staff), and a small HTTP receiver
// the tests point an endpoint at.
import { expect, type Locator, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gotoHydrated } from './app';

export class WebhooksPage {
  readonly form: Locator;
  readonly url: Locator;
  readonly description: Locator;
  readonly add: Locator;
  readonly endpoints: Locator;
  readonly deliveries: Locator;
  readonly secretBox: Locator;
  readonly secret: Locator;

  constructor(readonly page: Page) {
    this.form = page.getByRole('form', { name: 'Add an endpoint' });
    this.url = this.form.getByLabel('URL');
    this.description = this.form.getByLabel('Description');
    this.add = this.form.getByRole('button', { name: 'Add endpoint' });
    this.endpoints = page.getByRole('table', { name: 'Webhook endpoints' });
    this.deliveries = page.getByRole('table', { name: 'Recent deliveries' });
    this.secretBox = page.getByRole('status', { name: 'Signing secret' });
    this.secret = page.getByTestId('webhook-secret');
  }

  async goto() {
    await gotoHydrated(this.page, '/settings/webhooks');
    await expect(this.page.getByRole('heading', { level: 1, name: 'Webhooks' })).toBeVisible();
  }

  /** A checkbox of the form, e.g. a status ("Client Rejected") or a campaign. */
  choice(label: string): Locator {
    return this.form.getByLabel(label, { exact: true });
  }

  /** The endpoint's row, found by its URL. */
  endpoint(url: string): Locator {
    return this.endpoints.locator('tbody tr').filter({ has: this.page.getByRole('rowheader', { name: url, exact: true }) });
  }

  /** Rows of Recent deliveries for `url` whose state is `state` (`delivered`, `pending`, `failed`). */
  deliveryRows(url: string, state: string): Locator {
    return this.deliveries.locator(`tbody tr[data-state="${state}"]`).filter({ hasText: url });
  }

  /** Reloads the page until Recent deliveries shows `count` rows for `url` in `state`. */
  async waitForDeliveries(url: string, state: string, count: number, timeout = 30_000) {
    await expect(async () => {
      await this.goto();
      await expect(this.deliveryRows(url, state)).toHaveCount(count, { timeout: 1_000 });
    }).toPass({ timeout });
  }
}

export type Received = { path: string; headers: IncomingHttpHeaders; body: string };

/** An HTTP server on 127.0.0.1 (a random port) that answers 200 to anything and keeps what it got. */
export class Receiver {
  readonly received: Received[] = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(path: string): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        receiver?.received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new Receiver(server, `http://127.0.0.1:${port}${path}`);
    return receiver;
  }

  /** The requests whose body is about one of `leadIds`. */
  about(leadIds: string[]): Received[] {
    return this.received.filter((r) => leadIds.includes(String(JSON.parse(r.body).data?.lead_id)));
  }

  async close() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The Standard Webhooks v1 signature of a request with a `whsec_…` secret. */
export function signature(secret: string, r: Received): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}
