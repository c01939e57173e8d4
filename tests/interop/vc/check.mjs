// Independent checks of a govex credential with other people's implementations (npm, installed
// by scripts/vc-interop.sh): jsonld.js expansion in safe mode, ajv against the credentialSchema
// the credential names, and Digital Bazaar's @digitalbazaar/vc verifier (Data Integrity,
// eddsa-jcs-2022, Multikey). Run by tests/interop/test_vc_verifiers.py.
//
// stdin: {"credential": {...}, "issuer": "<issuer URL>", "live": "<http://host:port>",
//         "overrides": {"<url or DID>": {...}}}
// stdout: {"expand": {"ok": bool, "error"?: str, "undefined"?: [...]}, "schema": {...},
//          "verify": {...}, "fetched": [<URLs fetched from the live exchange>]}
//
// The document loader knows the W3C contexts (from their npm packages) and, through the
// live exchange, only what is below the issuer URL (the govex context, the schemas, the
// did:web documents, the status lists); anything else is refused. "overrides" replaces a
// fetched document (the tests' deliberately broken artefacts).
import {gunzipSync} from 'node:zlib';
import * as vc from '@digitalbazaar/vc';
import jsonld from 'jsonld';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as credentialsContext from '@digitalbazaar/credentials-context';
import didContext from 'did-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ISSUER_DEPENDENT = 'https://www.w3.org/ns/credentials/issuer-dependent#';
const input = JSON.parse(await new Promise(resolve => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', chunk => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const {credential, issuer, live} = input;
const overrides = input.overrides || {};
const fetched = [];

const w3c = new Map([
  ...credentialsContext.contexts,
  ...didContext.contexts,
  ...multikeyContext.contexts,
]);

// did:web → its https URL (did:web method specification)
function didWebUrl(did) {
  const parts = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
  return parts.length === 1 ?
    `https://${parts[0]}/.well-known/did.json` : `https://${parts.join('/')}/did.json`;
}

async function fromExchange(url) {
  if(Object.hasOwn(overrides, url)) {
    return structuredClone(overrides[url]);
  }
  const base = issuer.replace(/\/$/, '');
  if(!url.startsWith(base + '/')) {
    throw new Error(`document loader: ${url} is neither a W3C context nor below ${base}`);
  }
  const target = live + new URL(url).pathname.slice(new URL(base).pathname.replace(/\/$/, '').length);
  const response = await fetch(target);
  if(!response.ok) {
    throw new Error(`document loader: ${url} answered ${response.status}`);
  }
  fetched.push(url);
  return response.json();
}

async function documentLoader(url) {
  if(w3c.has(url)) {
    return {contextUrl: null, documentUrl: url, document: w3c.get(url)};
  }
  if(url.startsWith('did:web:')) {
    const [did, fragment] = url.split('#');
    const doc = Object.hasOwn(overrides, did) ? structuredClone(overrides[did]) :
      await fromExchange(didWebUrl(did));
    if(doc.id !== did) {
      throw new Error(`${didWebUrl(did)} holds the document of ${doc.id}, not ${did}`);
    }
    if(fragment === undefined) {
      return {contextUrl: null, documentUrl: url, document: doc};
    }
    const method = (doc.verificationMethod || []).find(m => m.id === url);
    if(!method) {
      throw new Error(`${did} has no verification method ${url}`);
    }
    return {contextUrl: null, documentUrl: url,
      document: {'@context': doc['@context'], ...method}};
  }
  return {contextUrl: null, documentUrl: url, document: await fromExchange(url)};
}

function iris(value, out = []) {
  if(Array.isArray(value)) {
    value.forEach(v => iris(v, out));
  } else if(value && typeof value === 'object') {
    for(const [key, item] of Object.entries(value)) {
      if(!key.startsWith('@')) {
        out.push(key);
      }
      if(key === '@type') {
        [].concat(item).forEach(t => out.push(t));
      }
      iris(item, out);
    }
  }
  return out;
}

async function run(check) {
  try {
    return {ok: true, ...(await check())};
  } catch(e) {
    return {ok: false, error: String(e?.message || e) +
      (e?.details ? ' ' + JSON.stringify(e.details).slice(0, 300) : '')};
  }
}

// 1. JSON-LD: safe mode refuses what it would drop; the VC 2.0 context's @vocab turns an
// undefined term into an issuer-dependent IRI, which is refused here too
const expand = await run(async () => {
  const expanded = await jsonld.expand(credential, {documentLoader, safe: true});
  const undefinedTerms = [...new Set(iris(expanded).filter(i => i.startsWith(ISSUER_DEPENDENT)))];
  if(undefinedTerms.length) {
    throw new Error(`undefined terms: ${undefinedTerms.map(i => i.slice(ISSUER_DEPENDENT.length)).join(', ')}`);
  }
  return {triples: iris(expanded).length};
});

// 2. VC JSON Schema: the schema the credential names, with ajv (JSON Schema 2020-12)
const schema = await run(async () => {
  const {id, type} = credential.credentialSchema;
  if(type !== 'JsonSchema') {
    throw new Error(`credentialSchema type ${type} is not JsonSchema`);
  }
  const {document} = await documentLoader(id);
  const ajv = new Ajv2020({allErrors: true, strict: false});
  (addFormats.default || addFormats)(ajv);
  // govex's identifier formats, checked by govex itself: here annotations
  ajv.addFormat('cn-id', true);
  ajv.addFormat('uscc', true);
  const validate = ajv.compile(document);
  if(!validate(credential)) {
    throw new Error(ajv.errorsText(validate.errors));
  }
  return {};
});

// 3. Data Integrity: @digitalbazaar/vc with the eddsa-jcs-2022 cryptosuite
async function checkStatus({credential: vcred}) {
  for(const entry of [].concat(vcred.credentialStatus)) {
    const {document} = await documentLoader(entry.statusListCredential);
    const bits = gunzipSync(Buffer.from(document.credentialSubject.encodedList.slice(1), 'base64url'));
    const index = Number(entry.statusListIndex);
    if(bits[index >> 3] & (0x80 >> (index & 7))) {
      return {verified: false, error: new Error(`${entry.statusPurpose} bit set`)};
    }
  }
  return {verified: true};
}

const verify = await run(async () => {
  const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
  const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
  if(!result.verified) {
    const errors = [result.error, ...(result.results || []).map(r => r.error)]
      .filter(Boolean).map(e => e.message || String(e));
    throw new Error(errors.join('; ') || 'not verified');
  }
  return {};
});

process.stdout.write(JSON.stringify({expand, schema, verify, fetched}) + '\n');
