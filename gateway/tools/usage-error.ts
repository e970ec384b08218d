/** Bad command-line usage (unknown flag, missing value, unknown command): exit code 2 with usage. */
export class UsageError extends Error {
  readonly code = 'CAIRN_USAGE'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
