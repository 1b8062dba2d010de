// One place for the versions Berth reports.
export const BERTH_VERSION = '0.1.0';
export const GIT_COMMIT = 'berth';
