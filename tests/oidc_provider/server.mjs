// A real OpenID Provider for the portal's sign-in tests: panva's certified `oidc-provider`,
// configured like a company IdP (groups claim, PKCE required, RP-initiated logout).
//
// Started by the `oidc_provider` fixture (tests/oidc_fixtures.py) on a free loopback port:
//
//   TEST_OIDC_USERS='{"ann": {"email": ..., "groups": [...]}, ...}' node server.mjs
//
// It prints one JSON line, {"issuer": "http://127.0.0.1:<port>"}, once it is listening, and
// stops on SIGTERM. Users sign in through the library's own development login form (any
// password); the account id typed there is the `sub`, and its claims come from
// TEST_OIDC_USERS. Clients are registered through standard Dynamic Client Registration
// (`POST /reg`), so each test run can register its own redirect URIs.
//
// Our only additions are two test controls:
// - `POST /_test/next-id-token` with a body of `tamper` or `expire` alters the ID token of
//   the next token response only, so the tests can check that the portal refuses a token
//   whose signature no longer matches, or a properly signed one that has expired;
// - `PUT /_test/users/<sub>` with a JSON body replaces that user's claims (say, their
//   groups), as an administrator would change them in the directory.

import { createServer } from 'node:http';

import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const users = JSON.parse(process.env.TEST_OIDC_USERS || '{}');

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-only-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  // Every client must use PKCE, so a portal that forgot it could not sign in at all.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, sub) {
    if (!Object.hasOwn(users, sub)) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...users[sub] }) };
  },
});

// --- Test control: spoil the next ID token ------------------------------------------------

let nextIdToken = 'normal';

function decodePart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString());
}

async function spoil(idToken, how) {
  const [header, payload, signature] = idToken.split('.');
  const claims = decodePart(payload);
  if (how === 'tamper') {
    // Claim to be someone else, keeping the original signature.
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    return `${header}.${forged}.${signature}`;
  }
  // Expired an hour ago, and properly signed with the provider's own key.
  const now = Math.floor(Date.now() / 1000);
  const expired = { ...claims, iat: now - 7200, exp: now - 3600 };
  return new CompactSign(Buffer.from(JSON.stringify(expired)))
    .setProtectedHeader(decodePart(header))
    .sign(privateKey);
}

async function readBody(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/_test/next-id-token') {
    const how = (await readBody(ctx)).trim();
    if (!['normal', 'tamper', 'expire'].includes(how)) ctx.throw(400, `unknown mode ${how}`);
    nextIdToken = how;
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'PUT' && ctx.path.startsWith('/_test/users/')) {
    users[decodeURIComponent(ctx.path.slice('/_test/users/'.length))] = JSON.parse(await readBody(ctx));
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && nextIdToken !== 'normal') {
    ctx.body = { ...ctx.body, id_token: await spoil(ctx.body.id_token, nextIdToken) };
    nextIdToken = 'normal';
  }
});

server.on('request', provider.callback());
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
