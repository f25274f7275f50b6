/** The logging calls Butter makes; a pino logger satisfies it. */
export interface Logger {
  debug(context: object, message?: string): void;
  info(context: object, message?: string): void;
  warn(context: object, message?: string): void;
  error(context: object, message?: string): void;
}

const ignore = (): void => undefined;

/** The default: thousands of simulated nodes in one process must not pay for logging they do not read. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
