#!/usr/bin/env node
// Requests a token from a Hessra issuer over mTLS, from Node.js.
//
// It loads proto/hessra/v1/issuer.proto at run time with @grpc/proto-loader: no
// generated code, so this is what any gRPC language does with the .proto files.
//
//   node client.js --target 127.0.0.1:50051 --ca ca.crt --cert client.crt --key client.key \
//       --resource orders --operation read [--server-name issuer.example] [--ttl 60]
//
// Prints one JSON object on stdout: {"token", "subject", "expires_at", "policy_revision",
// "key_id", "token_id", "pending_signoffs"}. On an RPC error it prints
// {"error": {"code", "name", "details"}} on stderr and exits 1; bad usage exits 2.
"use strict";

const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = path.resolve(__dirname, "..", "..", "proto");

const FLAGS = {
  target: true,
  ca: true,
  cert: true,
  key: true,
  resource: true,
  operation: true,
  "server-name": false,
  ttl: false,
  domain: false,
  "proto-root": false,
  "timeout-ms": false,
};

function usage(message) {
  process.stderr.write(`client.js: ${message}\n`);
  process.stderr.write(
    "usage: node client.js --target HOST:PORT --ca FILE --cert FILE --key FILE " +
      "--resource R --operation O [--server-name NAME] [--ttl SECONDS] [--domain D]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flag.startsWith("--") || !(flag.slice(2) in FLAGS)) usage(`unknown option ${flag}`);
    if (i + 1 >= argv.length) usage(`${flag} needs a value`);
    args[flag.slice(2)] = argv[i + 1];
  }
  for (const [name, required] of Object.entries(FLAGS)) {
    if (required && !(name in args)) usage(`--${name} is required`);
  }
  return args;
}

function readFile(name, file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    usage(`--${name}: cannot read ${file} (${err.code})`);
  }
  return null;
}

function loadIssuerService(protoRoot) {
  const definition = protoLoader.loadSync("hessra/v1/issuer.proto", {
    includeDirs: [protoRoot],
    keepCase: true, // field names exactly as in the .proto (snake_case)
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).hessra.v1.Issuer;
}

function timestampToIso(ts) {
  if (!ts) return null;
  const millis = Number(ts.seconds) * 1000 + Math.floor((ts.nanos || 0) / 1e6);
  return new Date(millis).toISOString();
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const Issuer = loadIssuerService(args["proto-root"] || PROTO_ROOT);
  const credentials = grpc.credentials.createSsl(
    readFile("ca", args.ca),
    readFile("key", args.key),
    readFile("cert", args.cert),
  );
  const options = {};
  if (args["server-name"]) {
    // Connect to an address while checking the certificate for the service's DNS name.
    options["grpc.ssl_target_name_override"] = args["server-name"];
    options["grpc.default_authority"] = args["server-name"];
  }
  const client = new Issuer(args.target, credentials, options);
  const request = { resource: args.resource, operation: args.operation };
  if (args.ttl !== undefined) request.ttl_seconds = Number(args.ttl);
  if (args.domain !== undefined) request.domain = args.domain;
  const deadline = new Date(Date.now() + Number(args["timeout-ms"] || 10000));

  client.RequestToken(request, { deadline }, (err, response) => {
    client.close();
    if (err) {
      const name = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code);
      process.stderr.write(
        JSON.stringify({ error: { code: err.code, name, details: err.details } }) + "\n",
      );
      process.exitCode = 1;
      return;
    }
    const out = {
      token: response.token,
      subject: response.subject,
      expires_at: timestampToIso(response.expires_at),
      policy_revision: response.policy_revision,
      key_id: response.key_id,
      token_id: response.token_id,
      pending_signoffs: response.pending_signoffs.map((p) => ({
        name: p.name,
        endpoint: p.endpoint,
        public_key: p.public_key,
      })),
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  });
}

main();
