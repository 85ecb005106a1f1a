#!/usr/bin/env node
// Compiles every contract in contracts/src with solc-js (standard JSON) and writes one artifact per
// deployable contract to watchdog/artifacts/<Name>.json, so the Python side needs no Node at run time.
//
//   node compile.js           compile and write the artifacts
//   node compile.js --check   compile in memory; exit 1 if a committed artifact differs or is missing
//
// The output is deterministic: sorted keys, two-space indentation, a final newline, and no paths or
// timestamps of the machine that ran it. Compiler errors (not warnings) make the script exit 1.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const solc = require('solc');

const CONTRACTS_DIR = __dirname;
const SRC_DIR = path.join(CONTRACTS_DIR, 'src');
const NODE_MODULES = path.join(CONTRACTS_DIR, 'node_modules');
const ARTIFACTS_DIR = path.join(CONTRACTS_DIR, '..', 'watchdog', 'artifacts');

// anvil 1.7.1 runs the latest hardfork by default (it reports "Bpo1", after Osaka); cancun bytecode runs
// there and also on py-evm through eth-tester, which the zero-setup demo uses.
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
};

function fail(message) {
  process.stderr.write(`compile.js: ${message}\n`);
  process.exit(1);
}

/** Source unit names ("src/ModelMonitor.sol") of every .sol file under src/, sorted. */
function listSources(dir, prefix) {
  const names = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) names.push(...listSources(path.join(dir, entry.name), rel));
    else if (entry.isFile() && entry.name.endsWith('.sol')) names.push(rel);
  }
  return names.sort();
}

/** Import callback: resolves package imports ("@openzeppelin/...") inside node_modules only. */
function findImports(unitName) {
  if (unitName.split('/').includes('..') || path.isAbsolute(unitName)) {
    return { error: `refusing to import ${unitName}: only package paths under node_modules are allowed` };
  }
  const file = path.join(NODE_MODULES, unitName);
  try {
    return { contents: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    return { error: `cannot read ${unitName} from ${NODE_MODULES}: ${err.message}; run \`cd contracts && npm ci\`` };
  }
}

/** Deep copy with object keys sorted, so JSON.stringify is stable. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function sha256(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

function compile() {
  if (!fs.existsSync(SRC_DIR)) fail(`no source directory at ${SRC_DIR}`);
  const ownSources = listSources(SRC_DIR, 'src');
  if (ownSources.length === 0) fail(`no .sol files under ${SRC_DIR}`);

  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(
      ownSources.map((name) => [name, { content: fs.readFileSync(path.join(CONTRACTS_DIR, name), 'utf8') }]),
    ),
    settings: {
      ...SETTINGS,
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'metadata'] },
      },
    },
  };

  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors || [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  for (const d of diagnostics) process.stderr.write(`${d.formattedMessage || d.message}\n`);
  if (errors.length > 0) fail(`${errors.length} compiler error(s), no artifact written`);

  // Every source unit the compiler saw (our files and the imported OpenZeppelin files), by content.
  const contents = {};
  for (const name of Object.keys(output.sources || {})) {
    contents[name] = name in input.sources ? input.sources[name].content : findImports(name).contents;
    if (typeof contents[name] !== 'string') fail(`cannot re-read source ${name}`);
  }

  const artifacts = {};
  for (const unit of ownSources) {
    for (const [contractName, compiled] of Object.entries(output.contracts[unit] || {})) {
      const bytecode = compiled.evm.bytecode.object;
      if (!bytecode) continue; // interfaces and abstract contracts
      if (artifacts[contractName]) fail(`two contracts named ${contractName}; artifact names must be unique`);
      // The contract's own transitive sources, as listed in its metadata, in a stable order.
      const deps = Object.keys(JSON.parse(compiled.metadata).sources).sort();
      const sourceHash = crypto.createHash('sha256');
      const perSource = {};
      for (const name of deps) {
        // Name and length framing, so moving text between files changes the hash.
        sourceHash.update(`${name}\n${Buffer.byteLength(contents[name], 'utf8')}\n`, 'utf8');
        sourceHash.update(contents[name], 'utf8');
        perSource[name] = sha256(contents[name]);
      }
      const artifact = {
        contractName,
        sourceName: unit,
        abi: compiled.abi,
        bytecode: `0x${bytecode}`,
        deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
        compiler: { name: 'solc', version: solc.version() },
        settings: SETTINGS,
        sourceHash: `0x${sourceHash.digest('hex')}`,
        sources: perSource,
      };
      artifacts[contractName] = `${JSON.stringify(sortKeys(artifact), null, 2)}\n`;
    }
  }
  if (Object.keys(artifacts).length === 0) fail('no deployable contract found under src/');
  return artifacts;
}

function main(argv) {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) fail(`unknown argument(s): ${unknown.join(' ')}; usage: node compile.js [--check]`);
  const check = argv.includes('--check');
  const artifacts = compile();

  if (check) {
    const stale = [];
    for (const [name, text] of Object.entries(artifacts)) {
      const file = path.join(ARTIFACTS_DIR, `${name}.json`);
      const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      if (current === null) stale.push(`${file} is missing`);
      else if (current !== text) stale.push(`${file} differs from a fresh compile of contracts/src`);
    }
    if (stale.length > 0) fail(`${stale.join('\n')}\nrun \`cd contracts && npm run compile\` and commit the result`);
    process.stdout.write(`compile.js: ${Object.keys(artifacts).length} artifact(s) up to date\n`);
    return;
  }

  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  for (const [name, text] of Object.entries(artifacts)) {
    const file = path.join(ARTIFACTS_DIR, `${name}.json`);
    fs.writeFileSync(file, text);
    process.stdout.write(`compile.js: wrote ${path.relative(process.cwd(), file)}\n`);
  }
}

main(process.argv.slice(2));
