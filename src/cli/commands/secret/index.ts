// `berth secret ...` (see group.ts; `berth config` is config.ts).
import { registerFileGroup } from './group';

registerFileGroup('secret');
