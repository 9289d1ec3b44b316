/**
 * Data errors: every message names the file (or field) and says what was expected, so a user
 * can fix the input. Thrown by loaders, decoders and the cache.
 */
export class IgmDataError extends Error {
  override name = 'IgmDataError';
  /** The file or folder the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(file ? `${file}: ${message}` : message, options);
    this.file = file;
  }
}

/** Message of an unknown thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
