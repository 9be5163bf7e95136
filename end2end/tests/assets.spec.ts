// The browser bundle is served as built: split by page, in a directory named by its content,
// cached for good, and sent as the brotli (or gzip) copy made at build time to a browser that
// accepts it. Pages are never cached.
import { expect, test, type APIRequestContext, type Browser, type Page } from '@playwright/test';
import { LoginPage, logIn } from './pages/app';
import { ImportRejections } from './pages/rejections';

/** The most a first page may download of the bundle, brotli-compressed (issue 21). */
const FIRST_PAGE_BUDGET = 350_000;

/** Records the path and headers of every `/pkg/` file the page fetches, and (`twice`) each path
 * fetched again: within one page load, a preload its script did not use. */
function watchAssets(page: Page) {
  const assets = new Map<string, Record<string, string>>();
  const twice: string[] = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (!path.startsWith('/pkg/')) return;
    if (assets.has(path)) twice.push(path);
    assets.set(path, r.headers());
  });
  return { assets, twice };
}

/** The `kind_*.wasm` files (`bundle`, `split`, `chunk`) among `paths`. */
function filesOf(kind: string, paths: string[]): string[] {
  return paths.filter((n) => new RegExp(`/${kind}_[^/]+\\.wasm$`).test(n));
}

/** What `paths` weigh as a browser that takes brotli downloads them. */
async function brotliBytes(request: APIRequestContext, paths: string[]): Promise<number> {
  let total = 0;
  for (const path of paths) {
    const r = await request.get(path, { headers: { 'accept-encoding': 'br' } });
    expect(r.status(), path).toBe(200);
    expect(r.headers()['content-encoding'], path).toBe('br');
    total += Number(r.headers()['content-length']);
  }
  return total;
}

test('the bundle is split by page, content-named, immutable and precompressed; pages are no-store', async ({ page, request }) => {
  const { assets, twice } = watchAssets(page);
  const doc = await page.goto('/login');
  expect(doc?.headers()['cache-control']).toBe('no-store');
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  // Each file came once: the script read the bundle leptos preloaded.
  expect(twice).toEqual([]);

  const names = [...assets.keys()].sort();
  // The script, the main WebAssembly and the stylesheet, in `/pkg/<16 hex digits>/`.
  const dir = names.map((n) => /^\/pkg\/([0-9a-f]{16})\/sendback\.js$/.exec(n)?.[1]).find(Boolean);
  expect(dir, names.join(' ')).toBeTruthy();
  for (const ext of ['css', 'js', 'wasm']) {
    expect(names, names.join(' ')).toContain(`/pkg/${dir}/sendback.${ext}`);
  }
  // The log-in page's own code, and the code it shares with other pages, came in one file: the
  // bundle of its split point, and none of the split's files one by one.
  expect(filesOf('bundle', names), names.join(' ')).toHaveLength(1);
  expect(filesOf('split', names), names.join(' ')).toEqual([]);
  expect(filesOf('chunk', names), names.join(' ')).toEqual([]);
  for (const [path, headers] of assets) {
    expect(path.startsWith(`/pkg/${dir}/`), path).toBe(true);
    expect(headers['cache-control'], path).toBe('public, max-age=31536000, immutable');
  }
  const loginBytes = await brotliBytes(request, names);
  console.log(`first page /login: ${names.length} files, ${loginBytes} bytes brotli`);
  expect(loginBytes).toBeLessThanOrEqual(FIRST_PAGE_BUDGET);

  // A client user's first page after logging in: only the All leads page's code is added, its
  // own file and the chunks the log-in page did not bring, one by one (no second bundle).
  await logIn(page, 'client@sendback.test');
  const afterLogIn = [...assets.keys()].sort();
  const added = afterLogIn.filter((n) => !names.includes(n));
  expect(filesOf('split', added), afterLogIn.join(' ')).toHaveLength(1);
  expect(filesOf('bundle', added), afterLogIn.join(' ')).toEqual([]);

  // A client that accepts brotli gets the build's brotli copy; one that takes only gzip, the
  // gzip copy; one that takes neither, the file itself.
  const wasm = `/pkg/${dir}/sendback.wasm`;
  const raw = await request.get(wasm, { headers: { 'accept-encoding': 'identity' } });
  expect(raw.headers()['content-encoding']).toBeUndefined();
  const rawLength = Number(raw.headers()['content-length']);
  for (const [accept, encoding] of [
    ['br, gzip', 'br'],
    ['gzip', 'gzip'],
  ]) {
    const r = await request.get(wasm, { headers: { 'accept-encoding': accept } });
    expect(r.status()).toBe(200);
    expect(r.headers()['content-encoding'], accept).toBe(encoding);
    expect(r.headers()['content-type']).toBe('application/wasm');
    expect(r.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers()['vary']).toBe('accept-encoding');
    expect(Number(r.headers()['content-length']), accept).toBeLessThan(rawLength / 2);
  }
  // A name that is not the bundle's is not cached for good.
  const missing = await request.get('/pkg/0000000000000000/sendback.js');
  expect(missing.status()).toBe(404);
  expect(missing.headers()['cache-control']).toBe('no-store');
});

/**
 * Opens `path` as a client who comes back signed in, in a new browser context with the same
 * session: nothing cached, as when the client opens their bookmark another day. Waits until the
 * page has hydrated and shows its `heading`, then weighs the `/pkg/` files it loaded as brotli.
 */
async function firstPage(browser: Browser, page: Page, request: APIRequestContext, path: string, heading: string) {
  const fresh = await browser.newContext({ storageState: await page.context().storageState() });
  const back = await fresh.newPage();
  const { assets, twice } = watchAssets(back);
  await back.goto(new URL(path, page.url()).href);
  await back.locator('body[data-hydrated="true"]').waitFor();
  await expect(back.getByRole('heading', { level: 1, name: heading })).toBeVisible();
  expect(twice).toEqual([]);
  const names = [...assets.keys()].sort();
  const bytes = await brotliBytes(request, names);
  console.log(`first page ${path}: ${names.length} files, ${bytes} bytes brotli`);
  return { fresh, back, bytes };
}

test('a client who opens Sendback signed in loads the shell and the All leads page only', async ({ browser, page, request }) => {
  await logIn(page, 'client@sendback.test');
  const { fresh, back, bytes } = await firstPage(browser, page, request, '/leads', 'All leads');
  expect(bytes).toBeLessThanOrEqual(FIRST_PAGE_BUDGET);
  // The page works: its search runs in the browser.
  await back.getByRole('searchbox', { name: 'Search' }).fill('jane.smith@example.co.uk');
  await back.getByRole('button', { name: 'Find leads' }).click();
  await expect(back).toHaveURL(/q=/);
  await expect(back.getByRole('table', { name: 'Leads' }).locator('tbody tr')).toHaveCount(1);
  await fresh.close();
});

test("a client's first page of API keys stays within the budget: it carries no owner page's code", async ({ browser, page, request }) => {
  await logIn(page, 'client@sendback.test');
  const { fresh, bytes } = await firstPage(browser, page, request, '/settings/api-keys', 'API keys');
  expect(bytes).toBeLessThanOrEqual(FIRST_PAGE_BUDGET);
  await fresh.close();
});

test("a client's first page of Import Rejections stays within the budget, and its form works", async ({ browser, page, request }) => {
  await logIn(page, 'client@sendback.test');
  const { fresh, back, bytes } = await firstPage(browser, page, request, '/leads/import-rejections', 'Import Rejections');
  expect(bytes).toBeLessThanOrEqual(FIRST_PAGE_BUDGET);
  // The code that came in the bundle runs: the file is sent, read and shown.
  const form = new ImportRejections(back);
  await form.file.setInputFiles({ name: 'first.csv', mimeType: 'text/csv', buffer: Buffer.from('Lead ID,Reason\n1020069,Duplicate lead\n') });
  await form.fileRead();
  await form.chooseCampaign('Home Insurance UK');
  await expect(form.identifierColumn).toHaveValue('Lead ID');
  await expect(form.reasonColumn).toHaveValue('Reason');
  await fresh.close();
});

test('a page whose bundle cannot be fetched loads its files one by one and works', async ({ page }) => {
  await page.route(/\/bundle_[^/]+\.wasm$/, (route) => route.fulfill({ status: 503, body: 'busy' }));
  const { assets } = watchAssets(page);
  await page.goto('/login');
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  const names = [...assets.keys()];
  expect(filesOf('split', names), names.join(' ')).toHaveLength(1);
  expect(filesOf('chunk', names).length, names.join(' ')).toBeGreaterThan(0);
  const login = new LoginPage(page);
  await login.logIn('client@sendback.test');
  await expect(page.getByRole('heading', { level: 1, name: 'All leads' })).toBeVisible();
});
