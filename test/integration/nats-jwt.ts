/**
 * NATS decentralized auth for tests: an operator, an account and users as nkeys, their JWTs signed with
 * ed25519 (a JWT is base64url JSON header and claims, signed by the issuer's nkey), the server config that
 * trusts the operator, and `.creds` files for the users.
 */
import { randomBytes } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createOperator>;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs `claims` as a NATS JWT issued by `issuer`. */
function sign(claims: Record<string, unknown>, issuer: KeyPair): string {
  const header = b64url({ typ: 'JWT', alg: 'ed25519-nkey' });
  const body = b64url({
    // The tools derive jti from a hash of the claims; the server only needs it to be unique.
    jti: randomBytes(16).toString('hex').toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    ...claims,
  });
  const signature = issuer.sign(new TextEncoder().encode(`${header}.${body}`));
  return `${header}.${body}.${Buffer.from(signature).toString('base64url')}`;
}

/** A user of the test account: its JWT, seed, and the contents of its credentials file. */
export interface NatsUser {
  readonly jwt: string;
  readonly seed: string;
  readonly creds: string;
}

/** An operator with one account whose users may do anything; `serverConfig` makes nats-server trust it. */
export interface NatsOperator {
  readonly serverConfig: string;
  /** A new user of the account, valid for `expiresInS` seconds when given. */
  user(name: string, options?: { readonly expiresInS?: number }): NatsUser;
  /** A user signed by a key the server does not trust (a stranger's account). */
  stranger(name: string): NatsUser;
}

function credsFile(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

function userOf(account: KeyPair, name: string, expiresInS?: number): NatsUser {
  const user = nkeys.createUser();
  const jwt = sign(
    {
      name,
      sub: user.getPublicKey(),
      ...(expiresInS === undefined ? {} : { exp: Math.floor(Date.now() / 1000) + expiresInS }),
      nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 },
    },
    account,
  );
  const seed = new TextDecoder().decode(user.getSeed());
  return { jwt, seed, creds: credsFile(jwt, seed) };
}

/** Makes an operator and an account (the account's JWT preloaded into the server's memory resolver). */
export function makeOperator(): NatsOperator {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const operatorJwt = sign(
    { name: 'keel-test-operator', sub: operator.getPublicKey(), nats: { type: 'operator', version: 2 } },
    operator,
  );
  const accountJwt = sign(
    {
      name: 'keel-test-account',
      sub: account.getPublicKey(),
      nats: {
        limits: {
          subs: -1,
          data: -1,
          payload: -1,
          imports: -1,
          exports: -1,
          wildcards: true,
          conn: -1,
          leaf: -1,
        },
        default_permissions: { pub: {}, sub: {} },
        type: 'account',
        version: 2,
      },
    },
    operator,
  );
  const serverConfig = [
    `operator: ${operatorJwt}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${account.getPublicKey()}: ${accountJwt}`,
    '}',
    '',
  ].join('\n');
  return {
    serverConfig,
    user: (name, options) => userOf(account, name, options?.expiresInS),
    stranger: (name) => userOf(nkeys.createAccount(), name),
  };
}
