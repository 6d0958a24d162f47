// Runs one local AWS stand-in on 127.0.0.1 only, on a port the kernel picks (port 0, so there is
// no race for a free port), and writes that port to DIR/NAME.port once it listens.
// Usage: node [--openssl-legacy-provider] serve.js dynalite|kinesalite|s3rver DIR
// Started and stopped by scripts/standins. The CLIs are not used: kinesalite's binds every
// interface, and s3rver needs the legacy OpenSSL provider for the DES cipher of its continuation
// tokens (paginated listings fail with 500 without it). Tables and streams stay in CREATING,
// UPDATING and DELETING for 50 ms (default 500): clients still have to wait for ACTIVE, but
// tests run faster. dynalite and kinesalite keep their data in memory; s3rver in DIR/s3, with
// the bucket evs-test made at start.
'use strict';
const fs = require('fs');
const path = require('path');

const HOST = '127.0.0.1';
const [name, dir] = process.argv.slice(2);

function fail(message) {
  console.error(`serve.js ${name || ''}: ${message}`);
  process.exit(1);
}

function ready(port) {
  const file = path.join(dir, `${name}.port`);
  fs.writeFileSync(`${file}.tmp`, `${port}\n`);
  fs.renameSync(`${file}.tmp`, file); // scripts/standins never sees a half-written file
  console.log(`${name} listening on http://${HOST}:${port}`);
}

function listen(server) {
  server.on('error', (e) => fail(e.message));
  server.listen(0, HOST, () => ready(server.address().port));
}

if (!dir || !fs.existsSync(dir)) fail('usage: serve.js dynalite|kinesalite|s3rver EXISTING_DIR');

switch (name) {
  case 'dynalite':
    listen(require('dynalite')({ createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 }));
    break;
  case 'kinesalite':
    listen(require('kinesalite')({
      createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50,
      // Tests run in parallel and the CLI test keeps its stream: more than AWS's default 10.
      shardLimit: 200,
    }));
    break;
  case 's3rver': {
    if (!process.execArgv.includes('--openssl-legacy-provider')) {
      fail('run with node --openssl-legacy-provider, or paginated listings fail with 500');
    }
    const S3rver = require('s3rver');
    new S3rver({
      address: HOST,
      port: 0,
      directory: path.join(dir, 's3'),
      silent: true,
      configureBuckets: [{ name: 'evs-test' }],
    })
      .run()
      .then((a) => ready(a.port), (e) => fail(e.message));
    break;
  }
  default:
    fail(`unknown stand-in "${name}"`);
}
