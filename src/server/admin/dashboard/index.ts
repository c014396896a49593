// Runs on: the main thread (assets.ts) and the browser (browser/, bundled by build.mjs into
// page.js). The admin port's dashboard: GET / serves index.html, /dashboard.css and
// /dashboard.js; the page polls /ring?lists, /stats, /anti-entropy, /latency and /cluster and draws the ring, nodes,
// shards, live charts, backlogs and placement warnings. Read-only: no request it sends
// changes anything.
export { dashboardRoutes } from './assets.js';
