// Setting up an instance in a real browser (issue 13's acceptance test): the owner creates a
// client, a campaign with a maximum rejection time, a deduplicated email field, a supplier that
// may send to it and a cap; a user of the new client then finds the campaign on Import
// Rejections, until the owner clears its maximum rejection time. And dedupe is refused on a demo
// field whose values repeat, with a link to the duplicates.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { LoginPage, gotoHydrated, logIn } from './pages/app';
import { ImportRejections } from './pages/rejections';

// `NO_MAXIMUM_REJECTION_TIME` in app/src/domain/messages.rs.
const NO_MAXIMUM_REJECTION_TIME =
  'This campaign has no maximum rejection time, so it does not accept rejections. Ask your lead supplier to set one.';

/** A form by its heading, e.g. "Create a client". */
function form(page: Page, name: string): Locator {
  return page.getByRole('form', { name });
}

/** The campaign set-up page. */
class CampaignSetup {
  readonly settings: Locator;
  readonly fields: Locator;
  readonly caps: Locator;

  constructor(readonly page: Page) {
    this.settings = form(page, 'Settings');
    this.fields = page.getByRole('region', { name: 'Fields' });
    this.caps = page.getByRole('region', { name: 'Caps' });
  }

  async addField(key: string, label: string, kind: 'email' | 'phone' | 'text', dedupe: boolean) {
    const add = form(this.page, 'Add a field');
    await add.getByLabel('Key').fill(key);
    await add.getByLabel('Label').fill(label);
    await add.getByLabel('Kind').selectOption(kind);
    await add.getByLabel('Dedupe').setChecked(dedupe);
    await add.getByRole('button', { name: 'Add field' }).click();
    await expect(this.fields.getByRole('status')).toHaveText('Field added.');
  }

  async addCap(supplier: string, period: 'day' | 'week' | 'month' | 'total', limit: number) {
    const add = form(this.page, 'Add a cap');
    await add.getByLabel('Supplier').selectOption({ label: supplier });
    await add.getByLabel('Period').selectOption(period);
    await add.getByLabel('Limit').fill(String(limit));
    await add.getByRole('button', { name: 'Add cap' }).click();
    await expect(this.caps.getByRole('status')).toHaveText('Cap added.');
  }

  async saveSettings(name: string, days: string) {
    await this.settings.getByLabel('Name').fill(name);
    await this.settings.getByLabel('Maximum rejection days').fill(days);
    await this.settings.getByRole('button', { name: 'Save' }).click();
    await expect(this.settings.getByRole('status')).toHaveText('Settings saved.');
  }
}

test('the owner sets up a client, campaign, field, supplier and cap; the client rejects against it', async ({ browser }) => {
  const stamp = Date.now();
  const client = `Setup Co ${stamp}`;
  const campaign = `Setup Campaign ${stamp}`;
  const supplier = `Setup Supplier ${stamp}`;
  const email = `setup.${stamp}@setup.example`;
  const password = 'a long enough password';

  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  const crashes: string[] = [];
  owner.on('pageerror', (e) => crashes.push(e.message));
  const shell = await logIn(owner, 'owner@sendback.test');

  // A client.
  await shell.link('Clients').click();
  await expect(owner.getByRole('heading', { level: 1, name: 'Clients' })).toBeVisible();
  const createClient = form(owner, 'Create a client');
  await createClient.getByRole('button', { name: 'Create client' }).click();
  await expect(createClient.getByRole('alert').filter({ hasText: "Enter the client's name." })).toBeVisible();
  await createClient.getByLabel('Name').fill(client);
  await createClient.getByRole('button', { name: 'Create client' }).click();
  await expect(createClient.getByRole('status')).toHaveText('Client created.');
  await expect(owner.getByRole('rowheader', { name: client, exact: true })).toBeVisible();

  // A campaign for it that accepts rejections for 7 days; creating it opens its page.
  await shell.link('Campaigns').click();
  await expect(owner.getByRole('heading', { level: 1, name: 'Campaigns' })).toBeVisible();
  const createCampaign = form(owner, 'Create a campaign');
  await createCampaign.getByLabel('Client').selectOption({ label: client });
  await createCampaign.getByLabel('Name').fill(campaign);
  await createCampaign.getByLabel('Maximum rejection days').fill('seven');
  await createCampaign.getByRole('button', { name: 'Create campaign' }).click();
  await expect(createCampaign.getByRole('alert').filter({ hasText: 'Enter a whole number of days' })).toBeVisible();
  await createCampaign.getByLabel('Maximum rejection days').fill('7');
  await createCampaign.getByRole('button', { name: 'Create campaign' }).click();
  await expect(owner).toHaveURL(/\/settings\/campaigns\/\d+$/);
  await expect(owner.getByRole('heading', { level: 1, name: campaign })).toBeVisible();
  const campaignUrl = owner.url();
  const setup = new CampaignSetup(owner);
  await expect(owner.getByRole('definition').filter({ hasText: '7 days' })).toBeVisible();
  await expect(setup.settings.getByLabel('Maximum rejection days')).toHaveValue('7');

  // A deduplicated email field.
  await setup.addField('email', 'Email', 'email', true);
  await expect(setup.fields.getByLabel('Label of email')).toHaveValue('Email');
  await expect(setup.fields.getByLabel('Kind of email')).toHaveValue('email');
  await expect(setup.fields.getByLabel('Dedupe on email')).toBeChecked();

  // A supplier that may send to the campaign.
  await shell.link('Suppliers').click();
  await expect(owner.getByRole('heading', { level: 1, name: 'Suppliers' })).toBeVisible();
  const createSupplier = form(owner, 'Create a supplier');
  await createSupplier.getByLabel('Name').fill(supplier);
  await createSupplier.getByRole('button', { name: 'Create supplier' }).click();
  await expect(createSupplier.getByRole('status')).toHaveText('Supplier created.');
  const choices = owner.getByRole('group', { name: `Campaigns ${supplier} may send to` });
  await choices.getByLabel(campaign).check();
  await choices.getByRole('button', { name: 'Save campaigns' }).click();
  await expect(owner.getByRole('status').filter({ hasText: 'Campaigns saved.' })).toBeVisible();
  const supplierRow = owner.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: supplier, exact: true }) });
  await expect(supplierRow.getByRole('link', { name: campaign })).toBeVisible();

  // A weekly cap on that supplier's leads, nothing used yet.
  await supplierRow.getByRole('link', { name: campaign }).click();
  await expect(owner.getByRole('heading', { level: 1, name: campaign })).toBeVisible();
  await expect(owner.getByRole('region', { name: 'Suppliers' }).getByRole('listitem').filter({ hasText: supplier })).toBeVisible();
  await setup.addCap(supplier, 'week', 100);
  const capRow = setup.caps.getByRole('row').filter({ hasText: supplier });
  await expect(capRow).toContainText('per week');
  await expect(capRow).toContainText('0 used this week');
  await expect(capRow.getByRole('textbox', { name: `Limit of ${supplier} per week` })).toHaveValue('100');
  await expect(owner.getByRole('table', { name: 'Changes to this campaign, newest first' })).toContainText('Added a cap');

  // A user of the new client, allowed to reject leads.
  await shell.link('Users').click();
  const createUser = form(owner, 'Create a client user');
  await createUser.getByLabel('Email').fill(email);
  await createUser.getByLabel('Name').fill('Sam Setup');
  await createUser.getByLabel('Client').selectOption({ label: client });
  await createUser.getByLabel('Initial password').fill(password);
  await createUser.getByRole('button', { name: 'Create user' }).click();
  await expect(createUser.getByRole('status')).toHaveText('User created.');
  await owner.getByRole('button', { name: `Grant Reject Leads as a Client to ${email}` }).click();
  await expect(owner.getByRole('button', { name: `Revoke Reject Leads as a Client from ${email}` })).toBeVisible();

  // The client user finds the campaign on Import Rejections, with its window and email field.
  const clientContext = await browser.newContext();
  const user = await clientContext.newPage();
  const login = new LoginPage(user);
  await login.goto();
  await login.logIn(email, password);
  await expect(user.getByRole('heading', { level: 1, name: 'All leads' })).toBeVisible();
  const imports = new ImportRejections(user);
  await imports.goto();
  await imports.chooseCampaign(campaign);
  await expect(user.locator('#campaign-note')).toContainText('up to 7 days');
  await imports.identifier('Use another field');
  await expect(imports.field.getByRole('option', { name: 'Email', exact: true })).toHaveCount(1);
  await imports.field.selectOption({ label: 'Email' });

  // The owner clears the maximum rejection time: the campaign now refuses rejections.
  await gotoHydrated(owner, campaignUrl);
  await setup.saveSettings(campaign, '');
  await expect(owner.getByRole('definition').filter({ hasText: 'None — does not accept rejections' })).toBeVisible();
  await expect(owner.getByRole('table', { name: 'Changes to this campaign, newest first' })).toContainText('7 days → none');

  await imports.goto();
  await imports.file.setInputFiles({ name: 'setup.csv', mimeType: 'text/csv', buffer: Buffer.from('Lead ID,Reason\n1,Test\n') });
  await imports.fileRead();
  await imports.chooseCampaign(campaign);
  await expect(imports.campaign.locator('option', { hasText: campaign })).toContainText('not accepting rejections');
  await expect(user.locator('#campaign-note')).toHaveText(NO_MAXIMUM_REJECTION_TIME);
  await imports.startButton.click();
  await expect(user.locator('#campaign-error')).toContainText('does not accept rejections');

  // Every page above hydrated and ran without a crash in the browser.
  expect(crashes).toEqual([]);
  await clientContext.close();
  await ownerContext.close();
});

test('dedupe is refused on a field whose values repeat, and the duplicates are listed', async ({ page }) => {
  // Car Insurance UK's demo leads share last names, and the field is not deduplicated.
  const shell = await logIn(page, 'owner@sendback.test');
  await shell.link('Campaigns').click();
  await page.getByRole('link', { name: 'Car Insurance UK', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Car Insurance UK' })).toBeVisible();
  const setup = new CampaignSetup(page);
  await expect(setup.fields.getByLabel('Key of last_name')).toBeDisabled();
  await setup.fields.getByLabel('Dedupe on last_name').check();
  await setup.fields.getByRole('button', { name: 'Save field last_name' }).click();
  const refusal = setup.fields.getByRole('alert').filter({ hasText: 'Dedupe cannot be turned on for Last name' });
  await expect(refusal).toBeVisible();
  const surplus = Number((await refusal.innerText()).match(/(\d+) leads of this campaign repeat/)![1]);
  expect(surplus).toBeGreaterThan(0);

  await refusal.getByRole('link', { name: 'See the duplicates' }).click();
  await expect(page).toHaveURL(/\/settings\/campaigns\/\d+\/fields\/\d+\/duplicates$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Duplicate values of Last name' })).toBeVisible();
  await expect(page.getByTestId('surplus')).toHaveText(`${surplus} leads repeat a Last name value an earlier lead has.`);
  const rows = page.getByRole('table', { name: 'Values held by more than one lead' }).locator('tbody tr');
  expect(await rows.count()).toBeGreaterThan(0);
  const lead = rows.first().getByRole('link').first();
  const id = (await lead.innerText()).trim();
  await lead.click();
  await expect(page.getByRole('heading', { level: 1, name: `Lead ${id}` })).toBeVisible();
  await page.goBack();
  await page.getByRole('link', { name: 'Back to Car Insurance UK' }).click();
  // Nothing changed: dedupe is still off.
  await expect(new CampaignSetup(page).fields.getByLabel('Dedupe on last_name')).not.toBeChecked();
});

test('the owner makes an intake key for a supplier, sees it once, and revokes it', async ({ page }) => {
  const supplier = 'Quote Partners';
  const crashes: string[] = [];
  page.on('pageerror', (e) => crashes.push(e.message));
  const shell = await logIn(page, 'owner@sendback.test');
  await shell.link('Suppliers').click();
  await expect(page.getByRole('heading', { level: 1, name: 'Suppliers' })).toBeVisible();
  const keys = page.getByRole('group', { name: `Intake keys of ${supplier}` });

  // Made: the whole key is shown once, in a box that says so, with how to post a lead.
  await keys.getByRole('button', { name: `Create intake key for ${supplier}` }).click();
  const box = keys.getByRole('status').filter({ hasText: 'Copy this key now: it will not be shown again.' });
  await expect(box).toBeVisible();
  const key = (await box.locator('code.new-key').innerText()).trim();
  expect(key).toMatch(/^sbk_[0-9a-f]+$/);
  await expect(box).toContainText('POST /api/v1/lead');
  const shown = `${key.slice(0, 12)}…`;
  const row = keys.getByRole('row').filter({ hasText: shown });
  await expect(row).toContainText('Never used');
  await expect(page.getByRole('status').filter({ hasText: 'Intake key created.' })).toBeVisible();

  // After a reload only its first characters are listed.
  await gotoHydrated(page, page.url());
  await expect(row).toBeVisible();
  await expect(page.locator('code.new-key')).toHaveCount(0);
  expect(await page.content()).not.toContain(key);

  // Revoked: it says so, and there is nothing left to revoke.
  await keys.getByRole('button', { name: `Revoke key ${shown}` }).click();
  await expect(row).toContainText('Revoked');
  await expect(keys.getByRole('button', { name: `Revoke key ${shown}` })).toHaveCount(0);
  expect(crashes).toEqual([]);
});
