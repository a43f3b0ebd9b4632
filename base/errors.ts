/**
 * The one error type of berth. `code` is a CNI error code, so the plugins print
 * it as is; the CLI maps it to an exit status. `msg` says what was wrong and with
 * which value; `details` says how to fix it.
 */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimitedConnectivity: 51,
  /** berth's own: the spec leaves codes from 100 to plugins. */
  RangeExhausted: 100,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class BerthError extends Error {
  override readonly name = 'BerthError';
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
    options?: { cause?: unknown },
  ) {
    super(details ? `${msg}: ${details}` : msg, options);
  }

  /** The CNI error object, as printed on stdout. */
  toCni(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

export const invalidConfig = (msg: string, details = '') => new BerthError(ErrorCode.InvalidConfig, msg, details);
export const invalidEnv = (msg: string, details = '') => new BerthError(ErrorCode.InvalidEnvironment, msg, details);

/** Any thrown value as a BerthError: typed ones pass, the rest become 999 with their message. */
export function asBerthError(e: unknown): BerthError {
  if (e instanceof BerthError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BerthError(ErrorCode.Internal, message, '', { cause: e });
}

/** Teardown keeps going; at the end every error it met leaves together. */
export class TeardownErrors extends BerthError {
  constructor(readonly errors: readonly unknown[]) {
    // One code shared by every error is kept (a lock timeout stays 11, so the runtime retries); else 5.
    const codes = new Set(errors.map((e) => (e instanceof BerthError ? e.code : ErrorCode.IOFailure)));
    super(
      codes.size === 1 ? [...codes][0]! : ErrorCode.IOFailure,
      `teardown met ${errors.length} error(s)`,
      errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; '),
    );
  }
}
