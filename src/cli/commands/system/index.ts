// Top-level system commands (version, info, events, inspect) and the `system` group (also df, prune).
import { registerGroup, registerTopLevel } from '../../registry';
import { versionCommand } from './version';
import { infoCommand } from './info';
import { eventsCommand } from './events';
import { inspectCommand } from './inspect';
import { dfCommand } from './df';
import { pruneCommand } from './prune';

registerTopLevel(versionCommand);
registerTopLevel(infoCommand);
registerTopLevel(eventsCommand);
registerTopLevel(inspectCommand);
registerGroup('system', 'Manage Berth', [dfCommand, eventsCommand, infoCommand, pruneCommand]);
