// Lead-status webhooks end to end (issue 18): the owner adds an endpoint on the Webhooks page,
// pointing at a receiver this test runs (the test server allows private addresses); its
// signing secret is shown once. A client's rejection task then sends one signed
// `lead.status_changed` request per rejected lead, which the receiver checks as a real one would;
// the owner sees the deliveries on the Webhooks page and on the lead page (a client does not),
// rotates the secret, resends an event (signed with both secrets), and disables the endpoint.
import { expect, test } from '@playwright/test';
import { gotoHydrated, logIn } from './pages/app';
import { ImportRejections, TaskPage, screenshot } from './pages/rejections';
import { Receiver, WebhooksPage, signature } from './pages/webhooks';

// The endpoint is limited to this campaign (no other spec rejects its leads), and its client.
const CAMPAIGN = 'Energy Switch UK';
const CLIENT = 'bolt@sendback.test';
const REASON = 'E2E webhook check';

test('an endpoint gets signed status changes from a rejection task; the owner sees, resends and rotates', async ({ browser }) => {
  const receiver = await Receiver.start(`/hooks/${Date.now()}`);
  try {
    const ownerContext = await browser.newContext();
    const owner = await ownerContext.newPage();
    const crashes: string[] = [];
    owner.on('pageerror', (e) => crashes.push(e.message));
    const shell = await logIn(owner, 'owner@sendback.test');
    await shell.link('Webhooks').click();
    const hooks = new WebhooksPage(owner);
    await expect(owner.getByRole('heading', { level: 1, name: 'Webhooks' })).toBeVisible();
    await owner.locator('body[data-hydrated="true"]').waitFor();

    // A bad address is refused next to the field.
    await hooks.url.fill('not an address');
    await hooks.add.click();
    await expect(owner.locator('#webhook-url-error')).toContainText("Enter the receiver's full address");
    await expect(hooks.url).toHaveAttribute('aria-invalid', 'true');
    await expect(hooks.secret).toHaveCount(0);

    // The endpoint: Client Rejected is ticked by default; one campaign, every supplier.
    await expect(hooks.choice('Client Rejected')).toBeChecked();
    await expect(hooks.choice('Accepted')).not.toBeChecked();
    await hooks.url.fill(receiver.url);
    await hooks.description.fill('E2E receiver');
    await hooks.choice(CAMPAIGN).check();
    await hooks.add.click();
    await expect(hooks.secretBox).toBeVisible();
    await expect(hooks.secretBox).toContainText('it will not be shown again');
    const secret = (await hooks.secret.innerText()).trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await expect(owner.getByRole('status').filter({ hasText: 'Endpoint added.' })).toBeVisible();
    const row = hooks.endpoint(receiver.url);
    await expect(row).toHaveCount(1);
    await expect(row).toContainText('E2E receiver');
    await expect(row).toContainText('Client Rejected');
    await expect(row).toContainText(CAMPAIGN);
    await expect(row.getByRole('cell', { name: 'All', exact: true })).toHaveCount(1);
    await expect(row).toContainText('Enabled');
    // The form is empty again, ready for the next one.
    await expect(hooks.url).toHaveValue('');

    // A new visit does not show the secret again.
    await hooks.goto();
    await expect(hooks.endpoint(receiver.url)).toHaveCount(1);
    await expect(hooks.secret).toHaveCount(0);
    expect(await owner.content()).not.toContain(secret);

    // The client rejects the three newest Received leads of the campaign.
    const clientContext = await browser.newContext();
    const client = await clientContext.newPage();
    await logIn(client, CLIENT);
    const campaignId = await client
      .getByLabel('Campaign', { exact: true })
      .locator('option', { hasText: CAMPAIGN })
      .getAttribute('value');
    expect(campaignId).toBeTruthy();
    await gotoHydrated(client, `/leads?campaign=${campaignId}&status=received`);
    const links = client.getByRole('table', { name: 'Leads' }).locator('tbody tr a');
    await expect(links.first()).toBeVisible();
    const leadIds = (await links.allInnerTexts()).slice(0, 3).map((s) => s.trim());
    expect(leadIds).toHaveLength(3);

    const form = new ImportRejections(client);
    await form.goto();
    const csv = `Lead ID,Rejection Reason\n${leadIds.map((id) => `${id},${REASON}`).join('\n')}\n`;
    await form.file.setInputFiles({ name: 'webhooks.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await form.fileRead();
    await form.chooseCampaign(CAMPAIGN);
    await expect(form.identifierColumn).toHaveValue('Lead ID');
    await expect(form.reasonColumn).toHaveValue('Rejection Reason');
    const task: TaskPage = await form.start();
    await task.waitForCompletion();
    expect(await task.outcomeCounts()).toEqual({ rejected: 3 });

    // The receiver got one signed request per lead.
    await expect.poll(() => receiver.about(leadIds).length, { timeout: 30_000 }).toBe(3);
    const requests = receiver.about(leadIds);
    expect(requests.map((r) => r.path)).toEqual(requests.map(() => new URL(receiver.url).pathname));
    for (const r of requests) {
      expect(r.headers['content-type']).toContain('application/json');
      expect(r.headers['webhook-id']).toMatch(/^msg_\d+$/);
      expect(r.headers['webhook-timestamp']).toMatch(/^\d+$/);
      expect(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
      expect(r.headers['webhook-signature']).toMatch(/^v1,/);
      expect(r.body).toContain('"type":"lead.status_changed"');
      const body = JSON.parse(r.body);
      expect(body.data.status).toBe('client_rejected');
      expect(body.data.previous_status).toBe('received');
      expect(body.data.campaign).toBe(CAMPAIGN);
      expect(body.data.reason).toBe(REASON);
      // Verified as a receiver would, with the secret shown once.
      expect(String(r.headers['webhook-signature']).split(' ')).toContain(signature(secret, r));
    }
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(3);

    // The owner sees them delivered, with the change, the answer and a link to the lead.
    await hooks.waitForDeliveries(receiver.url, 'delivered', 3);
    const delivered = hooks.deliveryRows(receiver.url, 'delivered');
    await expect(delivered.first()).toContainText('Received → Client Rejected');
    // Its last answer: 200 (the latency column might read 200 too).
    await expect(delivered.first().getByRole('cell', { name: '200', exact: true }).first()).toBeVisible();
    await expect(hooks.endpoint(receiver.url).getByRole('cell', { name: '3', exact: true })).toHaveCount(1);
    await screenshot(owner, 'webhooks-delivered');
    const firstLead = leadIds[0];
    const leadRow = delivered.filter({ has: owner.getByRole('link', { name: firstLead, exact: true }) });
    await expect(leadRow).toHaveCount(1);
    const eventId = (await leadRow.getByRole('rowheader').innerText()).trim();

    // The lead page lists its deliveries for the owner…
    await gotoHydrated(owner, `/leads/${firstLead}`);
    const leadDeliveries = owner.getByRole('table', { name: 'Webhook deliveries, oldest first' });
    await expect(leadDeliveries.locator('tbody tr')).toHaveCount(1);
    await expect(leadDeliveries).toContainText(receiver.url);
    await expect(leadDeliveries).toContainText('Delivered');
    await screenshot(owner, 'lead-webhook-deliveries');
    // …and not for the client.
    await gotoHydrated(client, `/leads/${firstLead}`);
    await expect(client.getByTestId('lead-status')).toHaveText('Client Rejected');
    await expect(client.getByRole('heading', { name: 'Webhook deliveries' })).toHaveCount(0);
    expect(await client.content()).not.toContain(receiver.url);
    // Nor may a client open the Webhooks page or call its server functions.
    const refused = await client.goto('/settings/webhooks');
    expect(refused?.status()).toBe(403);
    await expect(client.getByText(receiver.url)).toHaveCount(0);
    const forged = await client.request.post('/api/webhooks_page', { form: {} });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).not.toContain('Cross-site');

    // Rotating the secret shows the new one once and says the old one still signs.
    await hooks.goto();
    await hooks.endpoint(receiver.url).getByRole('button', { name: `Rotate secret of ${receiver.url}` }).click();
    await expect(hooks.secretBox).toBeVisible();
    await expect(hooks.secretBox).toContainText('The old secret keeps signing for 24 hours');
    const rotated = (await hooks.secret.innerText()).trim();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await screenshot(owner, 'webhooks-rotated');

    // Resending an event sends it again (same webhook-id), signed with both secrets.
    const before = receiver.received.length;
    await hooks.deliveryRows(receiver.url, 'delivered')
      .getByRole('button', { name: `Resend event ${eventId}`, exact: true })
      .click();
    await expect(owner.getByRole('status').filter({ hasText: 'Event queued to be sent again.' })).toBeVisible();
    await expect.poll(() => receiver.received.length, { timeout: 30_000 }).toBeGreaterThan(before);
    const again = receiver.received[before];
    expect(again.headers['webhook-id']).toBe(`msg_${eventId}`);
    const signatures = String(again.headers['webhook-signature']).split(' ');
    expect(signatures).toContain(signature(rotated, again));
    expect(signatures).toContain(signature(secret, again));
    await hooks.waitForDeliveries(receiver.url, 'delivered', 3);

    // Disable and enable; it is left disabled, so nothing more is sent to this test's receiver.
    const endpoint = hooks.endpoint(receiver.url);
    await endpoint.getByRole('button', { name: `Disable ${receiver.url}` }).click();
    await expect(endpoint).toContainText('Disabled');
    await endpoint.getByRole('button', { name: `Enable ${receiver.url}` }).click();
    await expect(endpoint).toContainText('Enabled');
    await endpoint.getByRole('button', { name: `Disable ${receiver.url}` }).click();
    await expect(endpoint).toContainText('Disabled');
    await expect(owner.getByRole('status').filter({ hasText: 'Endpoint disabled' })).toBeVisible();

    expect(crashes).toEqual([]);
    await ownerContext.close();
    await clientContext.close();
  } finally {
    await receiver.close();
  }
});
