// Loads every command group; each group's index registers its commands.
import './container';
import './image';
import './system';
import './registry';
import './network';
import './volume';
import './compose';
