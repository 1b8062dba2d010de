// Loads the command groups; each group's index registers its commands
// (lazily, see ../registry). Groups without top-level short forms are
// declared here and their index is loaded only when the group is used.
import { lazy, registerLazyGroup, registerTopLevel } from '../registry';
import './container';
import './image';
import './system';
import './registry';
// compose is one top-level command; its module (and then its subcommands) load on first use.
registerTopLevel(lazy('compose', () => import('./compose').then((m) => m.composeCommand)));

registerLazyGroup('network', 'Manage networks', () => import('./network'));
registerLazyGroup('volume', 'Manage volumes', () => import('./volume'));
registerLazyGroup('swarm', 'Manage Swarm', () => import('./swarm'));
registerLazyGroup('node', 'Manage Swarm nodes', () => import('./node'));
registerLazyGroup('service', 'Manage services', () => import('./service'));
registerLazyGroup('secret', 'Manage Docker secrets', () => import('./secret'));
registerLazyGroup('config', 'Manage Docker configs', () => import('./secret/config'));
