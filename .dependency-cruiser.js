// `npm run deps`: the folder rules of docs/ARCHITECTURE.md ("Dependencies"),
// checked by dependency-cruiser in CI (.ci/run). Type-only imports count.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'Folders depend one way: a cycle between two folders (at any depth) means a type or helper sits in the wrong room.',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'daemon-is-the-root',
      severity: 'error',
      comment: 'src/daemon composes everything; nothing else in src imports it (domains get plain option values, routes narrow backends).',
      from: { path: '^src/', pathNot: '^src/daemon/' },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'api-stays-on-top',
      severity: 'error',
      comment: 'Services never import the HTTP layer; only daemon/ wires it.',
      from: { path: '^src/', pathNot: '^src/(api|daemon)/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'clients-stay-clients',
      severity: 'error',
      comment: 'The client and compose talk to a daemon over the Engine API only.',
      from: { path: '^src/(client|compose)/' },
      to: { path: '^src/', pathNot: '^src/(client|compose|common|util)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
