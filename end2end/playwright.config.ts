// Playwright runs against a server it starts itself: the release binary, on a free port, with a
// fresh embedded database in a temporary directory (never a server already on port 3000).
// `make test-e2e` sets SENDBACK_BIN, SENDBACK_SITE_ROOT, SENDBACK_E2E_PORT and SENDBACK_E2E_DATA.
import { defineConfig } from '@playwright/test';

const port = process.env.SENDBACK_E2E_PORT;
const bin = process.env.SENDBACK_BIN;
const siteRoot = process.env.SENDBACK_SITE_ROOT;
const dataDir = process.env.SENDBACK_E2E_DATA;
if (!port || !bin || !siteRoot || !dataDir) {
  throw new Error('Run the end-to-end tests with `make test-e2e` (it builds the app and sets SENDBACK_* variables).');
}
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './tests',
  outputDir: './output/test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    // --allow-private-webhooks: webhooks.spec.ts's receiver listens on 127.0.0.1 (plain http).
    command: `"${bin}" --data-dir "${dataDir}" serve --listen 127.0.0.1:${port} --site-root "${siteRoot}" --allow-private-webhooks`,
    url: `${baseURL}/health`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
