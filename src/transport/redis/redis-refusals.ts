/**
 * Redis's refusals turned into Keel errors: credentials refused at open (WRONGPASS, NOAUTH) and an ACL
 * denial (NOPERM), which no retry can cure, apart from the connection failures that one may.
 */
import { describe } from '../../errors.ts';
import { messageOf, TransportAuthError, TransportPermissionError } from '../transport-errors.ts';

/** The reply code Redis puts first in an error reply (`NOPERM this user has no permissions ...`). */
function replyCode(error: unknown): string {
  return /^[A-Z]+/.exec(messageOf(error))?.[0] ?? '';
}

/** Redis refused the credentials: a wrong password or disabled user, or none given where one is needed. */
export function credentialRefusal(error: unknown, server: string): TransportAuthError | undefined {
  const code = replyCode(error);
  if (code === 'WRONGPASS') {
    return new TransportAuthError(
      `Redis at redis://${server} refused the user name or password in the URL: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (code === 'NOAUTH') {
    return new TransportAuthError(
      `Redis at redis://${server} requires a password; give it in the URL (redis://[user:]pass@host): ${messageOf(error)}`,
      { cause: error },
    );
  }
  return undefined;
}

/** Redis's ACL denies this user the command, or a channel it names. */
export function permissionDenial(
  error: unknown,
  server: string,
  operation: string,
  subject: string,
): TransportPermissionError | undefined {
  if (replyCode(error) !== 'NOPERM') return undefined;
  return new TransportPermissionError(operation.startsWith('subscribe') ? 'subscribe' : 'publish', subject, {
    message: `Redis at redis://${server} does not allow this user to ${operation} ${describe(subject)}: ${messageOf(error)}`,
    cause: error,
  });
}
