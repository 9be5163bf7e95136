// The browser bundle is served as built: named by its content, cached for good, and sent as the
// brotli (or gzip) copy made at build time to a browser that accepts it. Pages are never cached.
import { expect, test } from '@playwright/test';

test('the bundle is content-named, immutable and precompressed; pages are no-store', async ({ page, request }) => {
  const assets = new Map<string, Record<string, string>>();
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/pkg/')) assets.set(path, r.headers());
  });
  const doc = await page.goto('/login');
  expect(doc?.headers()['cache-control']).toBe('no-store');
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();

  const names = [...assets.keys()].sort();
  // The script, the WebAssembly and the stylesheet, each `sendback.<16 hex digits>.<ext>`.
  for (const ext of ['css', 'js', 'wasm']) {
    expect(names.filter((n) => new RegExp(`^/pkg/sendback\\.[0-9a-f]{16}\\.${ext}$`).test(n)), names.join(' ')).toHaveLength(1);
  }
  for (const [path, headers] of assets) {
    expect(headers['cache-control'], path).toBe('public, max-age=31536000, immutable');
  }

  // A client that accepts brotli gets the build's brotli copy; one that takes only gzip, the
  // gzip copy; one that takes neither, the file itself.
  const wasm = names.find((n) => n.endsWith('.wasm'))!;
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
  const missing = await request.get('/pkg/sendback.0000000000000000.js');
  expect(missing.status()).toBe(404);
  expect(missing.headers()['cache-control']).toBe('no-store');
});
