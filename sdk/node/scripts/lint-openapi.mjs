// Redocly's lint (its `recommended` rules; @redocly/openapi-core is the engine of @redocly/cli)
// over an OpenAPI document; exits 1 on any error.
//   node scripts/lint-openapi.mjs ../../docs/openapi.json
import { createConfig, lint } from '@redocly/openapi-core';

const config = await createConfig({ extends: ['recommended'] });
const problems = await lint({ ref: process.argv[2], config });
for (const problem of problems) {
  console.log(`${problem.severity} ${problem.ruleId}: ${problem.message} ${problem.location?.[0]?.pointer ?? ''}`);
}
const errors = problems.filter((problem) => problem.severity === 'error').length;
console.log(`${errors} errors, ${problems.length - errors} warnings`);
process.exit(errors ? 1 : 0);
