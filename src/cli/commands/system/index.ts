// Top-level system commands (version, info, events, inspect) and the `system` group (also df, prune).
import { registerGroup, registerTopLevel } from '../../registry';
import { versionCommand } from './version';
import { infoCommand } from './info';
import { eventsCommand } from './events';
import { inspectCommand } from './inspect';
import { checkCommand } from './check';
import { completionCommand } from './completion';
import { dfCommand } from './df';
import { pruneCommand } from './prune';

registerTopLevel(versionCommand);
registerTopLevel(infoCommand);
registerTopLevel(eventsCommand);
registerTopLevel(inspectCommand);
registerTopLevel(completionCommand);
registerGroup('system', 'Manage Berth', [checkCommand, dfCommand, eventsCommand, infoCommand, pruneCommand]);
