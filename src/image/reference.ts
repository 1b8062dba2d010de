// References are parsed in src/common (the CLI validates them too, as docker's
// client does); the image service keeps importing them from here.
export * from '../common/reference';
