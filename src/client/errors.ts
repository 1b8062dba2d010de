// The one error type the client throws for an answer the daemon refused:
// the HTTP status and Docker's `{"message": ...}` text.
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The daemon could not be reached at all (socket missing, refused, TLS failure). */
export class ConnectionError extends Error {
  /** `detail` given: a failure past the socket (TLS, protocol), printed as docker's "error during connect". */
  constructor(readonly host: string, override readonly cause?: unknown, detail?: string) {
    super(detail ? `error during connect: ${detail}` : `Cannot connect to the Berth daemon at ${host}. Is the berth daemon running?`);
    this.name = 'ConnectionError';
  }
}
