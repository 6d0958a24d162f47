#!/usr/bin/env node
// Validates an OpenAPI document with swagger-parser: every $ref resolves, and the document
// follows the OpenAPI schema of its version (3.0 or 3.1). For OpenAPI 3 swagger-parser checks
// nothing beyond that schema: tests/openapi_test.cc checks that each path template's parameters
// are declared.
// Usage: node tools/openapi/validate.js FILE   exit 0 when valid; otherwise the error, exit 1.
"use strict";
const SwaggerParser = require("@apidevtools/swagger-parser");

const file = process.argv[2];
if (!file || process.argv.length !== 3) {
  console.error("usage: node validate.js FILE");
  process.exit(2);
}
SwaggerParser.validate(file).then(
  (api) => {
    console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
  },
  (error) => {
    console.error(`${file}: invalid: ${error.message}`);
    process.exit(1);
  });
