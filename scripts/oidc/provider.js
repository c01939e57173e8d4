// A real OpenID Connect provider on loopback for govex's tests: panva's oidc-provider
// (a certified OpenID implementation) with two static clients for govex — the citizens'
// sign-in, and a department's staff sign-in (通过本单位统一身份认证登录) — a static test
// citizen, a static test staff member and a login page of its own. Authorization-code
// flow with PKCE (S256) only.
//
// Environment (all optional):
//   GOVEX_OIDC_HOST, GOVEX_OIDC_PORT   where to listen (default 127.0.0.1:9400)
//   GOVEX_OIDC_CLIENT_ID               the static client (default govex-console)
//   GOVEX_OIDC_CLIENT_SECRET           its secret (default govex-test-secret)
//   GOVEX_OIDC_REDIRECT_URIS           comma-separated redirect URIs of the client
//                                      (default http://127.0.0.1:8000/console/citizen/callback)
//   GOVEX_OIDC_ID_CLAIM                the claim carrying the 公民身份号码 (default id_number)
//   GOVEX_OIDC_ID_NUMBER               the test citizen's 公民身份号码 (default: the first
//                                      husband of govex's demo city, whose marriage record
//                                      the demo reads)
//   GOVEX_OIDC_USER, GOVEX_OIDC_PASSWORD  the test citizen's sign-in (default citizen / citizen-pass)
//   GOVEX_OIDC_STAFF_CLIENT_ID, GOVEX_OIDC_STAFF_CLIENT_SECRET, GOVEX_OIDC_STAFF_REDIRECT_URIS
//                                      the staff sign-in's client (default govex-staff /
//                                      govex-staff-secret /
//                                      http://127.0.0.1:8000/console/login/oidc/callback)
//   GOVEX_OIDC_STAFF_CLAIM             the claim naming the staff id (default staff_id)
//   GOVEX_OIDC_STAFF_ID                the test staff member's staff id (default gongan-oidc-1)
//   GOVEX_OIDC_STAFF_USER, GOVEX_OIDC_STAFF_PASSWORD  their sign-in (default clerk / clerk-pass)
//   GOVEX_OIDC_AUDITOR_ID              a second staff member (user auditor / auditor-pass),
//                                      default shenji-oidc-1
// ID tokens say how the user signed in (RFC 8176 "amr"): ["pwd"], or ["pwd", "otp"] when
// the login form's one-time code field held the user's static test code.
//
// Prints `issuer=http://HOST:PORT` once it listens.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const env = process.env;
const host = env.GOVEX_OIDC_HOST || '127.0.0.1';
const port = Number(env.GOVEX_OIDC_PORT || 9400);
const issuer = `http://${host}:${port}`;
const idClaim = env.GOVEX_OIDC_ID_CLAIM || 'id_number';
const staffClaim = env.GOVEX_OIDC_STAFF_CLAIM || 'staff_id';
const users = [
  {
    login: env.GOVEX_OIDC_USER || 'citizen',
    password: env.GOVEX_OIDC_PASSWORD || 'citizen-pass',
    sub: 'citizen-0001',
    claims: { name: '赵浩然', [idClaim]: env.GOVEX_OIDC_ID_NUMBER || '413023198012147596' },
  },
  {
    login: env.GOVEX_OIDC_STAFF_USER || 'clerk',
    password: env.GOVEX_OIDC_STAFF_PASSWORD || 'clerk-pass',
    sub: 'staff-0001',
    claims: { name: '钱志远', [staffClaim]: env.GOVEX_OIDC_STAFF_ID || 'gongan-oidc-1' },
  },
  {
    // a staff member whose roles need a second factor: with the static one-time code
    // as well, the ID token says so ("amr": ["pwd", "otp"])
    login: 'auditor',
    password: 'auditor-pass',
    otp: '246810',
    sub: 'staff-0002',
    claims: { name: '周雅琴', [staffClaim]: env.GOVEX_OIDC_AUDITOR_ID || 'shenji-oidc-1' },
  },
];
const uris = (value, fallback) =>
  (value || fallback)
    .split(',')
    .map((uri) => uri.trim())
    .filter(Boolean);

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [
    {
      client_id: env.GOVEX_OIDC_CLIENT_ID || 'govex-console',
      client_secret: env.GOVEX_OIDC_CLIENT_SECRET || 'govex-test-secret',
      redirect_uris: uris(env.GOVEX_OIDC_REDIRECT_URIS, 'http://127.0.0.1:8000/console/citizen/callback'),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    {
      client_id: env.GOVEX_OIDC_STAFF_CLIENT_ID || 'govex-staff',
      client_secret: env.GOVEX_OIDC_STAFF_CLIENT_SECRET || 'govex-staff-secret',
      redirect_uris: uris(env.GOVEX_OIDC_STAFF_REDIRECT_URIS, 'http://127.0.0.1:8000/console/login/oidc/callback'),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: { openid: ['sub', 'name', 'amr', idClaim, staffClaim] },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (_ctx, id) => {
    const user = users.find((u) => u.sub === id);
    if (!user) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...user.claims }) };
  },
  // the client is govex itself (first party): no consent screen, the grant is implied
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid');
    grant.addOIDCClaims(['sub', 'name', idClaim, staffClaim]);
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
const handle = provider.callback();

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, error, login = '') {
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>统一身份认证 Test identity provider</title></head>
<body><h1>统一身份认证（测试） Test identity provider</h1>
${error ? `<p id="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>用户名 User <input id="login" name="login" autocomplete="username" value="${escape(login)}"></label>
<label>密码 Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<label>动态口令 One-time code <input id="otp" name="otp" autocomplete="one-time-code"></label>
<button id="submit" type="submit">登录 Sign in</button>
</form></body></html>`);
}

async function formOf(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res) {
  const match = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== match[1]) throw new Error('interaction mismatch');
  if (!match[2]) {
    loginPage(res, details.uid);
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  const form = await formOf(req);
  const user = users.find((u) => u.login === form.get('login') && u.password === form.get('password'));
  if (!user) {
    loginPage(res, details.uid, '用户名或密码错误 · Wrong user or password', form.get('login') || '');
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.sub, amr: user.otp && form.get('otp') === user.otp ? ['pwd', 'otp'] : ['pwd'] } },
    { mergeWithLastSubmission: false },
  );
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`interaction failed: ${err.message}`);
    });
    return;
  }
  handle(req, res);
});

server.listen(port, host, () => {
  process.stdout.write(`issuer=${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
