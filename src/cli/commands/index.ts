// Loads the command groups; each group's index registers its commands
// (lazily, see ../registry). Groups without top-level short forms are
// declared here and their index is loaded only when the group is used.
import { registerLazyGroup } from '../registry';
import './container';
import './image';
import './system';
import './registry';

registerLazyGroup('network', 'Manage networks', () => import('./network'));
registerLazyGroup('volume', 'Manage volumes', () => import('./volume'));
