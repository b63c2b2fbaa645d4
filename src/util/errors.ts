/**
 * Errors with a stable `name` that tests and scripts can rely on. Messages tell the user what to do.
 * `exitCode` is what the CLI exits with when such an error reaches it.
 */
export class MirrormeshError extends Error {
  readonly exitCode: number = 1
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Bytes whose hash or size is not the one they were announced with. */
export class IntegrityError extends MirrormeshError {}
/** Something asked for is not there. */
export class NotFoundError extends MirrormeshError {}
/** A command was used wrongly (bad flag, bad path): exit code 2, like most CLIs. */
export class UsageError extends MirrormeshError {
  override readonly exitCode = 2
}
/** A signature that does not verify. */
export class SignatureError extends MirrormeshError {}
/** A head signed by a key this node does not trust. */
export class UntrustedKeyError extends MirrormeshError {}
/** A head older than the one already adopted. */
export class RollbackError extends MirrormeshError {}
/** Two different heads with the same publisher and seq. */
export class ForkError extends MirrormeshError {}
/** A bundle that is malformed, truncated, or carries something it must not. */
export class BundleFormatError extends MirrormeshError {}
/** Input files for `bundle create` that are not what they claim to be. */
export class BundleInputError extends MirrormeshError {}
/** The store is held by another process or is otherwise unusable. */
export class StoreLockedError extends MirrormeshError {}
/** A key file that is missing, malformed or readable by others. */
export class KeyFileError extends MirrormeshError {}
