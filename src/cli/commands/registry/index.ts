// The `registry` group (serve, gc) and the top-level login/logout.
import { registerGroup, registerTopLevel } from '../../registry';
import { serveCommand, gcCommand } from './serve';
import { loginCommand, logoutCommand } from './login';

registerGroup('registry', 'Run and maintain a registry server', [serveCommand, gcCommand]);
registerTopLevel(loginCommand);
registerTopLevel(logoutCommand);
