/** The app's own log lines (outside HTTP requests, which the gateway's pino logs): one JSON object a line. */

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** A logger writing JSON lines to stdout (info) and stderr (warn, error), each with the role and the time. */
export function jsonLog(
  role: string,
  write: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Log {
  return (level, msg, fields = {}) => {
    const error =
      fields.error instanceof Error
        ? {
            error: {
              name: fields.error.name,
              message: fields.error.message,
              code: (fields.error as { code?: unknown }).code,
            },
          }
        : {};
    const line = `${JSON.stringify({ level, time: Date.now(), role, msg, ...fields, ...error })}\n`;
    if (level === 'info') write.out(line);
    else write.err(line);
  };
}

/** Writes nothing: for tests that do not look at logs. */
export const silentLog: Log = () => {};
