// Top-level system commands (version, info, events, inspect) and the `system` group (also df, prune).
// Entries are lazy: a command's module is loaded only when it runs.
import { registerGroup, registerTopLevel, lazy } from '../../registry';

const events = lazy('events', () => import('./events').then((m) => m.eventsCommand));
const info = lazy('info', () => import('./info').then((m) => m.infoCommand));

registerTopLevel(lazy('version', () => import('./version').then((m) => m.versionCommand)));
registerTopLevel(info);
registerTopLevel(events);
registerTopLevel(lazy('inspect', () => import('./inspect').then((m) => m.inspectCommand)));
registerTopLevel(lazy('completion', () => import('./completion').then((m) => m.completionCommand)));
registerGroup('system', 'Manage Berth', [
  lazy('check', () => import('./check').then((m) => m.checkCommand)),
  lazy('df', () => import('./df').then((m) => m.dfCommand)),
  events,
  info,
  lazy('prune', () => import('./prune').then((m) => m.pruneCommand)),
]);
