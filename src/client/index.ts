// The typed Engine API client: `new EngineClient({ host })`.
export { EngineClient, CLIENT_API_VERSION } from './client';
export type { ClientOptions, PingResult, Hijack, AttachOptions, LogsOptions } from './client';
export { ApiError, ConnectionError } from './errors';
export { parseEndpoint, resolveHost, DEFAULT_HOST } from './host';
export type { Endpoint, HostOptions, TlsOptions } from './host';
export { Demuxer, demuxTo, encodeFrame, jsonLines, STDIN, STDOUT, STDERR, SYSTEMERR } from './stream';
export type { Frame } from './stream';
export type * from './types';
export type * from './swarm-types';
