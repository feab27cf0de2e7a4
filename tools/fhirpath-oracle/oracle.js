#!/usr/bin/env node
// The FHIRPath oracle: evaluates cases with fhirpath.js, the reference JavaScript implementation,
// so that Kizuna's evaluator (crates/fhir/src/fhirpath) can be compared with it
// (crates/fhir/tests/fhirpath_oracle.rs runs this once per test run, for every case at once).
//
//   node oracle.js [cases.json]      reads the cases from the file, or from stdin without one
//
// Input, one JSON document:
//   { "resources": [ <resource JSON>, ... ],
//     "cases": [ { "expr": "<FHIRPath>", "resource": <index into resources> }, ... ] }
// Output on stdout, one JSON document: an array with, for each case in order, either
//   { "ok": [ { "type": "FHIR.Coding" | "System.String" | ..., "value": <JSON> }, ... ] }
// or
//   { "error": "<message>" }
// Items whose value is null (a primitive that has only its `_x` extension) are left out, as
// fhirpath.js itself leaves them out of its results.
//
// resolve(): fhirpath.js resolves references by fetching them from a FHIR server. Here no
// request ever leaves the process: `fetch` is replaced by a stub that answers, for a reference
// whose target type can be read from the reference itself, a resource that has only its
// `resourceType`, and "not found" for anything else. This is the rule Kizuna's `resolve()`
// follows (it has no store either):
//   - `Type/id` and `Type/id/_history/vid` (relative): a `Type`, if `Type` is a concrete
//     resource type;
//   - `http(s)://.../Type/id[/_history/vid]` (absolute): a `Type`, by the last two segments;
//   - `#id`: the contained resource with that id (fhirpath.js does this itself);
//   - anything else (urn:uuid:, canonicals, other shapes): nothing.
// So `where(resolve() is Patient)` is compared for real; navigating into a resolved reference
// yields nothing on both sides.
'use strict';

const fs = require('fs');
const fhirpath = require('fhirpath');
const r4Model = require('fhirpath/fhir-context/r4');

const STUB_SERVER = 'http://resolve.stub.invalid/fhir';

function isConcreteResourceType(name) {
  const parent = r4Model.type2Parent[name];
  return (parent === 'Resource' || parent === 'DomainResource') && name !== 'DomainResource';
}

// The resource type a reference names, or null (see the rule above).
function stubType(url) {
  let relative = false;
  if (url.startsWith(STUB_SERVER + '/')) {
    url = url.slice(STUB_SERVER.length + 1);
    relative = true;
  } else if (/^https?:\/\/[^/]+\//.test(url)) {
    url = url.replace(/^https?:\/\/[^/]+\//, '');
  } else {
    return null;
  }
  if (url.includes('?') || url.includes('#') || url.includes('|')) {
    return null;
  }
  let segments = url.split('/');
  const history = segments.indexOf('_history');
  if (history >= 0 && history === segments.length - 2) {
    segments = segments.slice(0, history);
  }
  if (relative && segments.length !== 2) {
    return null;
  }
  if (segments.length < 2) {
    return null;
  }
  const [type, id] = segments.slice(-2);
  return id && isConcreteResourceType(type) ? type : null;
}

globalThis.fetch = async (url) => {
  const type = stubType(String(url));
  const body = type ? { resourceType: type } : { resourceType: 'OperationOutcome' };
  return new Response(JSON.stringify(body), {
    status: type ? 200 : 404,
    headers: { 'Content-Type': 'application/fhir+json' },
  });
};

async function evaluateCase(resource, expr) {
  const result = await fhirpath.evaluate(
    resource,
    expr,
    { resource, rootResource: resource },
    r4Model,
    { resolveInternalTypes: false, async: 'always', fhirServerUrl: STUB_SERVER },
  );
  const types = fhirpath.types(result);
  const values = fhirpath.resolveInternalTypes(result);
  const items = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) {
      continue;
    }
    items.push({ type: types[i], value: values[i] });
  }
  return items;
}

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2] || 0, 'utf8'));
  const out = [];
  for (const c of input.cases) {
    try {
      out.push({ ok: await evaluateCase(input.resources[c.resource], c.expr) });
    } catch (e) {
      out.push({ error: String((e && e.message) || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`oracle failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
