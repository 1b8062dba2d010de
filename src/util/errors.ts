// Typed errors that carry the HTTP status Docker answers with. Services throw
// these; api/ maps them to `{"message": ...}` responses and the CLI prints them.

export class BerthError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the request itself is wrong. */
export class InvalidParameter extends BerthError {
  constructor(message: string) { super(message, 400); }
}

/** 404: no such object. */
export class NotFound extends BerthError {
  constructor(message: string) { super(message, 404); }
}

/** 409: the object exists or is in a state that forbids the request. */
export class Conflict extends BerthError {
  constructor(message: string) { super(message, 409); }
}

/** 304: nothing to do (start of a running container, stop of a stopped one). */
export class NotModified extends BerthError {
  constructor(message = '') { super(message, 304); }
}

/** 403: forbidden (e.g. removing a network that is a predefined one). */
export class Forbidden extends BerthError {
  constructor(message: string) { super(message, 403); }
}

/** 401: the registry or server wants credentials. */
export class Unauthorized extends BerthError {
  constructor(message: string) { super(message, 401); }
}

/** 500: something failed on the host. */
export class SystemError extends BerthError {
  constructor(message: string) { super(message, 500); }
}

export function statusOf(err: unknown): number {
  return err instanceof BerthError ? err.status : 500;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
