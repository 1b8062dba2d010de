// The `registry` group (serve, gc) and the top-level login/logout.
// Entries are lazy: a command's module is loaded only when it runs.
import { registerGroup, registerTopLevel, lazy } from '../../registry';

registerGroup('registry', 'Run and maintain a registry server', [
  lazy('serve', () => import('./serve').then((m) => m.serveCommand)),
  lazy('gc', () => import('./serve').then((m) => m.gcCommand), ['garbage-collect']),
]);
registerTopLevel(lazy('login', () => import('./login').then((m) => m.loginCommand)));
registerTopLevel(lazy('logout', () => import('./login').then((m) => m.logoutCommand)));
