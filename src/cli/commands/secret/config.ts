// `berth config ...` (see group.ts).
import { registerFileGroup } from './group';

registerFileGroup('config');
