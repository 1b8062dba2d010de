// A Compose model error (loading, validation, interpolation): printed as is,
// exit 1 — compose v2 prints these without a prefix or with the file name.
export class ComposeError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'ComposeError';
  }
}
