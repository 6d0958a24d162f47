#!/usr/bin/env node
// Reference check of the Terraform configuration in deploy/terraform, for machines without the AWS
// provider (terraform init, and so terraform validate, cannot run there).
//
//   node deploy/terraform/check.js [DIR]      (DIR defaults to the folder of this script)
//
// Every .tf file under DIR is parsed with HashiCorp's HCL parser (the Go hcl2 library compiled to
// WebAssembly, npm package @cdktf/hcl2json, installed by scripts/setup into tools/aws-standins).
// Each folder with .tf files is one Terraform module. In each, every expression's references are
// resolved the way Terraform scopes them:
//   var.X        a variable X is declared in the module
//   local.X      a local value X is defined in the module
//   module.M.O   a module block M exists; for a local source, that module declares output O; an
//                index only where M has count or for_each
//   T.N..., data.T.N...  a resource / data block T N is declared; an index where, and only where,
//                it has count (a number) or for_each (a key, checked against literal key sets)
//   each.key / each.value  only in a block with for_each; count.index only with count
//   NAME.key / NAME.value  only inside the content of a dynamic block NAME (or its iterator)
//   path.module / path.root / path.cwd, terraform.workspace; self only in provisioners,
//   connections and postconditions; for-expression variables inside their for expression
// and besides: every module block's arguments are variables of the called module and it gives every
// variable that has no default; no name is declared twice; every declared variable and local is
// used; variable descriptions and defaults hold no references; a variable's validation
// refers to other objects only if required_version needs Terraform >= 1.9; every resource type's
// provider is in required_providers; every setting in a *.tfvars / *.tfvars.example file is a
// declared root variable.
//
// Prints what it checked; on problems prints each as FILE:LINE: REFERENCE: what is wrong, and
// exits 1. Exit 2: the parser is not installed (run scripts/setup).
"use strict";

const fs = require("fs");
const path = require("path");

function loadParser() {
  const candidates = [
    process.env.EVS_HCL2JSON,
    path.join(__dirname, "..", "..", "tools", "aws-standins", "node_modules", "@cdktf", "hcl2json"),
    "@cdktf/hcl2json",
  ].filter(Boolean);
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (error) {
      if (error.code !== "MODULE_NOT_FOUND") throw error;
    }
  }
  console.error(
    "check.js: @cdktf/hcl2json is not installed; run scripts/setup (it installs " +
      "tools/aws-standins/node_modules) or point EVS_HCL2JSON at the package",
  );
  process.exit(2);
}

const hcl = loadParser();

// ------------------------------------------------------------------------------------------------
// Files and modules
// ------------------------------------------------------------------------------------------------

function moduleFolders(root) {
  const folders = [];
  const visit = (dir) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name.endsWith(".tf"))) folders.push(dir);
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules") {
        visit(path.join(dir, e.name));
      }
    }
  };
  visit(root);
  return folders;
}

const META_MODULE_ARGS = new Set(["source", "version", "count", "for_each", "providers", "depends_on"]);
const BLOCK_KINDS = [
  "terraform", "provider", "variable", "locals", "resource", "data", "module", "output",
  "check", "moved", "import", "removed",
];

const problems = [];
const stats = {
  files: 0,
  references: 0,
  byKind: {},
  moduleInputs: 0,
  moduleOutputs: 0,
  tfvarsSettings: 0,
};

function count(kind) {
  stats.references++;
  stats.byKind[kind] = (stats.byKind[kind] || 0) + 1;
}

// A path as the user gave it: relative to the working folder when inside it, absolute otherwise.
function rel(file) {
  const relative = path.relative(process.cwd(), file);
  return relative === "" ? "." : relative.startsWith("..") ? file : relative;
}

// The line of the first occurrence of `needle` at or after the line where `header` matches.
function lineOf(file, text, header, needle) {
  const lines = text.split("\n");
  let start = 0;
  if (header) {
    const found = lines.findIndex((l) => header.test(l));
    if (found >= 0) start = found;
  }
  if (needle) {
    for (let i = start; i < lines.length; i++) {
      if (lines[i].includes(needle)) return i + 1;
    }
  }
  return start + 1;
}

function headerRegex(kind, labels) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp("^\\s*" + [kind, ...labels.map((l) => '"' + esc(l) + '"')].join("\\s+") + "\\s*\\{");
}

// A problem at the first line holding `needle` in the block that `header` starts (FILE:LINE: ...).
function report(file, header, needle, message) {
  problems.push(`${rel(file.path)}:${lineOf(file.path, file.text, header, needle)}: ${message}`);
}

// A problem with a reference in the block `ctx` describes.
function problem(ctx, reference, message) {
  report(ctx.file, ctx.header, reference, `${reference}: ${message} (in ${ctx.where})`);
}

async function parseFile(file) {
  const text = fs.readFileSync(file, "utf8");
  try {
    return { path: file, text, json: await hcl.parse(path.basename(file), text) };
  } catch (error) {
    problems.push(`${rel(file)}: does not parse: ${error.message}`);
    return { path: file, text, json: {} };
  }
}

// Collects the declarations of one module folder.
async function loadModule(dir) {
  const mod = {
    dir,
    files: [],
    variables: new Map(),
    locals: new Map(),
    resources: new Map(),
    data: new Map(),
    modules: new Map(),
    outputs: new Map(),
    providers: new Set(),
    requiredVersion: null,
    used: { variables: new Set(), locals: new Set() },
  };
  const names = fs.readdirSync(dir).filter((n) => n.endsWith(".tf")).sort();
  for (const name of names) {
    const file = await parseFile(path.join(dir, name));
    stats.files++;
    mod.files.push(file);
    const json = file.json;
    const declare = (map, key, value, what, blocks) => {
      if (blocks && blocks.length > 1) {
        problems.push(`${rel(file.path)}: ${what} "${key}" is declared ${blocks.length} times in this file`);
      }
      if (map.has(key)) {
        problems.push(
          `${rel(file.path)}: ${what} "${key}" is declared twice (also in ${rel(map.get(key).file.path)})`,
        );
        return;
      }
      map.set(key, { ...value, file });
    };
    for (const kind of Object.keys(json)) {
      if (!BLOCK_KINDS.includes(kind)) {
        problems.push(`${rel(file.path)}: unknown top-level block or attribute "${kind}"`);
      }
    }
    for (const [vname, blocks] of Object.entries(json.variable || {})) {
      const body = blocks[0] || {};
      declare(mod.variables, vname, { body, hasDefault: Object.hasOwn(body, "default") }, "variable", blocks);
    }
    for (const block of json.locals || []) {
      for (const [lname, value] of Object.entries(block)) declare(mod.locals, lname, { value }, "local");
    }
    for (const [type, byName] of Object.entries(json.resource || {})) {
      for (const [rname, blocks] of Object.entries(byName)) {
        const body = blocks[0] || {};
        declare(mod.resources, `${type}.${rname}`, { type, name: rname, body }, "resource", blocks);
      }
    }
    for (const [type, byName] of Object.entries(json.data || {})) {
      for (const [dname, blocks] of Object.entries(byName)) {
        const body = blocks[0] || {};
        declare(mod.data, `${type}.${dname}`, { type, name: dname, body }, "data source", blocks);
      }
    }
    for (const [mname, blocks] of Object.entries(json.module || {})) {
      declare(mod.modules, mname, { body: blocks[0] || {} }, "module", blocks);
    }
    for (const [oname, blocks] of Object.entries(json.output || {})) {
      declare(mod.outputs, oname, { body: blocks[0] || {} }, "output", blocks);
    }
    for (const block of json.terraform || []) {
      if (typeof block.required_version === "string") mod.requiredVersion = block.required_version;
      for (const rp of block.required_providers || []) {
        for (const p of Object.keys(rp)) mod.providers.add(p);
      }
    }
  }
  return mod;
}

// ------------------------------------------------------------------------------------------------
// Expressions
// ------------------------------------------------------------------------------------------------

const LITERAL_ESCAPES = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

// hcl2json gives an expression back as a template string: "${...}" around expressions, literal
// text (quotes unescaped, heredocs joined) around them. This turns it into a quoted HCL template
// again, escaping the literal parts only.
function quotedTemplate(s) {
  let out = '"';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("$${", i) || s.startsWith("%%{", i)) {
      out += s.slice(i, i + 3);
      i += 3;
    } else if (s.startsWith("${", i) || s.startsWith("%{", i)) {
      const end = closingBrace(s, i + 2);
      out += s.slice(i, end + 1);
      i = end + 1;
    } else {
      const c = s[i];
      out += LITERAL_ESCAPES[c] || c;
      i++;
    }
  }
  return out + '"';
}

// The index of the "}" closing an interpolation whose body starts at i (expression text: strings
// inside it keep their escapes and may hold templates of their own).
function closingBrace(s, i) {
  let depth = 1;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') {
      i = stringEnd(s, i + 1);
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
    i++;
  }
  throw new Error("unterminated interpolation in: " + s);
}

function stringEnd(s, i) {
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") {
      i += 2;
    } else if (c === '"') {
      return i + 1;
    } else if (s.startsWith("$${", i) || s.startsWith("%%{", i)) {
      i += 3;
    } else if (s.startsWith("${", i) || s.startsWith("%{", i)) {
      i = closingBrace(s, i + 2) + 1;
    } else {
      i++;
    }
  }
  throw new Error("unterminated string in: " + s);
}

function hasExpression(s) {
  return /(^|[^$])\$\{|(^|[^%])%\{/.test(s);
}

// Every traversal (reference) in `value`, with the for-expression variables in scope at its place.
async function traversals(file, value) {
  const ast = await hcl.getExpressionAst(path.basename(file.path), quotedTemplate(value));
  const found = [];
  const walk = (node, bound) => {
    if (!node) return;
    if (node.type === "scopeTraversal") {
      const parts = (node.meta.traversal || []).map((p) => ({
        index: p.type === "indexTraversal",
        name: p.segment,
      }));
      if (parts.length && !bound.has(parts[0].name)) found.push({ text: node.meta.value, parts });
      return;
    }
    if (node.type === "for") {
      const children = node.children || [];
      const collection =
        children.find((c) => c.meta && c.meta.value === node.meta.collectionExpression) || children[0];
      walk(collection, bound);
      const inner = new Set(bound);
      if (node.meta.keyVar) inner.add(node.meta.keyVar);
      if (node.meta.valVar) inner.add(node.meta.valVar);
      for (const child of children) if (child !== collection) walk(child, inner);
      return;
    }
    for (const child of node.children || []) walk(child, bound);
  };
  walk(ast, new Set());
  return found;
}

// The literal keys of a for_each value when they can be read without evaluating anything: a set
// or list of strings, a map, or a local holding one of those. null when unknown.
function literalKeys(mod, raw, depth = 0) {
  if (depth > 5 || raw === undefined || raw === null) return null;
  if (Array.isArray(raw)) {
    return raw.every((v) => typeof v === "string" && !hasExpression(v)) ? new Set(raw) : null;
  }
  if (typeof raw === "object") return new Set(Object.keys(raw));
  if (typeof raw !== "string") return null;
  let m = /^\$\{\s*local\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}$/.exec(raw);
  if (m) return mod.locals.has(m[1]) ? literalKeys(mod, mod.locals.get(m[1]).value, depth + 1) : null;
  m = /^\$\{\s*(?:toset\(\s*)?\[([^\]]*)\]\s*\)?\s*\}$/.exec(raw);
  if (m) {
    const items = m[1].split(",").map((x) => x.trim()).filter((x) => x !== "");
    if (items.every((x) => /^"[^"$%\\]*"$/.test(x))) return new Set(items.map((x) => x.slice(1, -1)));
  }
  return null;
}

const unquote = (s) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);

// Checks the index that follows T.N (parts[at]) against the block's count / for_each.
function checkInstanceIndex(mod, ctx, ref, what, body, next) {
  const hasCount = Object.hasOwn(body, "count");
  const hasForEach = Object.hasOwn(body, "for_each");
  if (!next) return; // the whole object (or an index computed at run time)
  if (hasCount) {
    if (!next.index || !/^\d+$/.test(next.name)) {
      problem(ctx, ref.text, `${what} has count: refer to an instance with [N]`);
    }
  } else if (hasForEach) {
    if (!next.index) {
      problem(ctx, ref.text, `${what} has for_each: refer to an instance with ["key"]`);
    } else {
      const keys = literalKeys(mod, body.for_each);
      if (keys && !keys.has(unquote(next.name))) {
        const how = next.name.startsWith('"') ? "" : ': refer to an instance with ["key"]';
        const known = [...keys].join(", ");
        problem(ctx, ref.text, `${what} has no instance ${next.name} (its for_each keys: ${known})${how}`);
      }
    }
  } else if (next.index) {
    problem(ctx, ref.text, `${what} has neither count nor for_each: it takes no index`);
  }
}

async function checkReference(mod, modulesByDir, ctx, ref) {
  const [root, ...rest] = ref.parts;
  const name = root.name;
  const second = rest[0];
  const needName = (kind) => {
    if (!second || second.index) {
      problem(ctx, ref.text, `${kind} needs an attribute name (${kind}.NAME)`);
      return false;
    }
    return true;
  };
  if (ctx.iterators.has(name)) {
    count("dynamic iterator");
    if (!second || !["key", "value"].includes(second.name)) {
      problem(ctx, ref.text, `a dynamic block's iterator has .key and .value only`);
    }
    return;
  }
  switch (name) {
    case "var":
      count("var");
      if (!needName("var")) return;
      mod.used.variables.add(second.name);
      if (!mod.variables.has(second.name)) {
        problem(ctx, ref.text, `no variable "${second.name}" is declared in ${ctx.moduleName}`);
      }
      if (ctx.validationOf !== undefined && second.name !== ctx.validationOf && !ctx.crossValidation) {
        problem(
          ctx,
          ref.text,
          `a validation of variable "${ctx.validationOf}" refers to another object, which needs ` +
            "Terraform >= 1.9 (required_version allows older)",
        );
      }
      return;
    case "local":
      count("local");
      if (!needName("local")) return;
      mod.used.locals.add(second.name);
      if (!mod.locals.has(second.name)) {
        problem(ctx, ref.text, `no local value "${second.name}" is defined in ${ctx.moduleName}`);
      }
      break;
    case "module": {
      count("module");
      if (!needName("module")) return;
      const call = mod.modules.get(second.name);
      if (!call) {
        problem(ctx, ref.text, `no module block "${second.name}" in ${ctx.moduleName}`);
        return;
      }
      const multi = Object.hasOwn(call.body, "count") || Object.hasOwn(call.body, "for_each");
      let output = rest[1];
      if (output && output.index) {
        if (!multi) {
          problem(ctx, ref.text, `module "${second.name}" has neither count nor for_each: it takes no index`);
        }
        output = rest[2];
      } else if (output && multi) {
        problem(ctx, ref.text, `module "${second.name}" has count or for_each: refer to an instance first`);
      }
      const child = modulesByDir.get(call.childDir);
      if (output && child) {
        stats.moduleOutputs++;
        if (!child.outputs.has(output.name)) {
          const where = rel(call.childDir);
          problem(ctx, ref.text, `module "${second.name}" (${where}) declares no output "${output.name}"`);
        }
      }
      break;
    }
    case "data": {
      count("data");
      const type = rest[0];
      const dname = rest[1];
      if (!type || !dname || type.index || dname.index) {
        problem(ctx, ref.text, `a data source reference is data.TYPE.NAME`);
        return;
      }
      const decl = mod.data.get(`${type.name}.${dname.name}`);
      if (!decl) {
        problem(ctx, ref.text, `no data "${type.name}" "${dname.name}" block in ${ctx.moduleName}`);
        return;
      }
      checkInstanceIndex(mod, ctx, ref, `data "${type.name}" "${dname.name}"`, decl.body, rest[2]);
      break;
    }
    case "each":
      count("each");
      if (!ctx.forEach) {
        problem(ctx, ref.text, "each is only available in a block with for_each");
      } else if (!second || !["key", "value"].includes(second.name)) {
        problem(ctx, ref.text, "each has .key and .value only");
      }
      break;
    case "count":
      count("count");
      if (!ctx.count) problem(ctx, ref.text, "count.index is only available in a block with count");
      else if (!second || second.name !== "index") problem(ctx, ref.text, "count has .index only");
      break;
    case "path":
      count("path");
      if (!second || !["module", "root", "cwd"].includes(second.name)) {
        problem(ctx, ref.text, "path has .module, .root and .cwd only");
      }
      break;
    case "terraform":
      count("terraform");
      if (!second || second.name !== "workspace") problem(ctx, ref.text, "terraform has .workspace only");
      break;
    case "self":
      count("self");
      if (!ctx.self) {
        problem(ctx, ref.text, "self is only available in provisioner, connection and postcondition blocks");
      }
      break;
    default: {
      count("resource");
      if (!second || second.index) {
        const what = "variable, local, module, data source, resource or iterator in scope";
        problem(ctx, ref.text, `"${name}" is no ${what}`);
        return;
      }
      const decl = mod.resources.get(`${name}.${second.name}`);
      if (!decl) {
        const hint = ["key", "value"].includes(second.name)
          ? `, and "${name}" is no dynamic block iterator in scope here`
          : "";
        const labels = `"${name}" "${second.name}"`;
        problem(ctx, ref.text, `no resource ${labels} is declared in ${ctx.moduleName}${hint}`);
        return;
      }
      checkInstanceIndex(mod, ctx, ref, `resource "${name}" "${second.name}"`, decl.body, rest[1]);
    }
  }
}

// Walks a block body (or any value), checking every expression; handles the nested blocks that
// change the scope (dynamic, lifecycle, provisioner, connection).
async function walk(mod, modulesByDir, ctx, value, key) {
  if (typeof value === "string") {
    if (!hasExpression(value)) return;
    let refs;
    try {
      refs = await traversals(ctx.file, value);
    } catch (error) {
      const where = `${ctx.where}${key ? ", " + key : ""}`;
      problems.push(`${rel(ctx.file.path)}: an expression does not parse (in ${where}): ${error.message}`);
      return;
    }
    for (const ref of refs) await checkReference(mod, modulesByDir, ctx, ref);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) await walk(mod, modulesByDir, ctx, item, key);
    return;
  }
  if (!value || typeof value !== "object") return;
  for (const [k, v] of Object.entries(value)) {
    if (hasExpression(k)) await walk(mod, modulesByDir, ctx, k, k);
    if (k === "dynamic" && ctx.blockBody) {
      for (const [label, blocks] of Object.entries(v)) {
        for (const block of blocks) {
          await walk(mod, modulesByDir, ctx, block.for_each, `dynamic "${label}" for_each`);
          const iterator =
            typeof block.iterator === "string" ? block.iterator.replace(/^\$\{\s*|\s*\}$/g, "") : label;
          const inner = { ...ctx, iterators: new Set([...ctx.iterators, iterator]) };
          await walk(mod, modulesByDir, inner, block.labels, `dynamic "${label}" labels`);
          await walk(mod, modulesByDir, inner, block.content, `dynamic "${label}" content`);
        }
      }
    } else if (k === "lifecycle" && ctx.blockBody) {
      for (const lc of v) {
        for (const [lk, lv] of Object.entries(lc)) {
          if (lk === "ignore_changes") continue; // attribute names, not references
          const inner = lk === "postcondition" ? { ...ctx, self: true } : ctx;
          await walk(mod, modulesByDir, inner, lv, `lifecycle ${lk}`);
        }
      }
    } else if ((k === "provisioner" || k === "connection") && ctx.blockBody) {
      await walk(mod, modulesByDir, { ...ctx, self: true }, v, k);
    } else {
      await walk(mod, modulesByDir, ctx, v, k);
    }
  }
}

function versionAtLeast(constraint, minor) {
  const m = constraint && />=\s*1\.(\d+)/.exec(constraint);
  return Boolean(m && Number(m[1]) >= minor);
}

async function checkModule(mod, modulesByDir, root) {
  const moduleName = mod.dir === root ? "the root module" : `module ${rel(mod.dir)}`;
  const base = (file, where, header) => ({
    file,
    where,
    header,
    moduleName,
    iterators: new Set(),
    forEach: false,
    count: false,
    self: false,
    blockBody: true,
  });

  for (const file of mod.files) {
    const json = file.json;
    for (const block of json.provider ? Object.entries(json.provider) : []) {
      const [pname, bodies] = block;
      const ctx = base(file, `provider "${pname}"`, headerRegex("provider", [pname]));
      for (const body of bodies) await walk(mod, modulesByDir, ctx, body);
    }
    for (const [lname, value] of Object.entries(Object.assign({}, ...(json.locals || [{}])))) {
      const ctx = { ...base(file, `local ${lname}`, /^\s*locals\s*\{/), blockBody: false };
      await walk(mod, modulesByDir, ctx, value);
    }
    for (const [vname, blocks] of Object.entries(json.variable || {})) {
      const header = headerRegex("variable", [vname]);
      for (const [attr, value] of Object.entries(blocks[0] || {})) {
        if (attr === "validation") {
          const ctx = {
            ...base(file, `variable "${vname}" validation`, header),
            validationOf: vname,
            crossValidation: versionAtLeast(mod.requiredVersion, 9),
          };
          await walk(mod, modulesByDir, ctx, value);
        } else if (attr !== "type" && JSON.stringify(value).match(/(^|[^$])\$\{/)) {
          const message = `${attr} cannot hold references or interpolations (use $\${ for a literal)`;
          report(file, header, attr, `variable "${vname}": ${message}`);
        }
      }
    }
    for (const kind of ["resource", "data"]) {
      for (const [type, byName] of Object.entries(json[kind] || {})) {
        for (const [name, blocks] of Object.entries(byName)) {
          const body = blocks[0] || {};
          const labels = kind === "resource" ? `resource "${type}" "${name}"` : `data "${type}" "${name}"`;
          const ctx = {
            ...base(file, labels, headerRegex(kind, [type, name])),
            forEach: Object.hasOwn(body, "for_each"),
            count: Object.hasOwn(body, "count"),
          };
          await walk(mod, modulesByDir, ctx, body);
          const provider = type.split("_")[0];
          if (!mod.providers.has(provider)) {
            const message = `provider "${provider}" is not in required_providers of ${moduleName}`;
            report(file, ctx.header, null, `${labels}: ${message}`);
          }
        }
      }
    }
    for (const [mname, blocks] of Object.entries(json.module || {})) {
      const body = blocks[0] || {};
      const header = headerRegex("module", [mname]);
      const ctx = {
        ...base(file, `module "${mname}"`, header),
        forEach: Object.hasOwn(body, "for_each"),
        count: Object.hasOwn(body, "count"),
      };
      const args = Object.fromEntries(Object.entries(body).filter(([k]) => k !== "source"));
      await walk(mod, modulesByDir, ctx, args);
      const call = mod.modules.get(mname);
      const child = call && modulesByDir.get(call.childDir);
      if (!child) continue; // a registry or git source: not checked here
      for (const arg of Object.keys(body)) {
        if (META_MODULE_ARGS.has(arg)) continue;
        stats.moduleInputs++;
        if (!child.variables.has(arg)) {
          const known = [...child.variables.keys()].join(", ");
          const message =
            `argument "${arg}" is not a variable of ${rel(child.dir)} (its variables: ${known})`;
          report(file, header, arg, `module "${mname}": ${message}`);
        }
      }
      for (const [vname, v] of child.variables) {
        if (!v.hasDefault && !Object.hasOwn(body, vname)) {
          const message = `the required variable "${vname}" of ${rel(child.dir)} (no default) is not given`;
          report(file, header, null, `module "${mname}": ${message}`);
        }
      }
    }
    for (const [oname, blocks] of Object.entries(json.output || {})) {
      const ctx = { ...base(file, `output "${oname}"`, headerRegex("output", [oname])), blockBody: false };
      await walk(mod, modulesByDir, ctx, blocks[0] || {});
    }
    for (const kind of ["check", "moved", "import", "removed"]) {
      if (json[kind]) report(file, null, kind, `"${kind}" blocks are not supported by check.js; extend it`);
    }
  }

  for (const [vname, v] of mod.variables) {
    if (!mod.used.variables.has(vname)) {
      const message = `variable "${vname}" is declared but never used in ${moduleName}`;
      report(v.file, headerRegex("variable", [vname]), null, message);
    }
  }
  for (const [lname, l] of mod.locals) {
    if (!mod.used.locals.has(lname)) {
      report(l.file, /^\s*locals\s*\{/, lname, `local "${lname}" is defined but never used in ${moduleName}`);
    }
  }
}

async function checkTfvars(rootModule) {
  const files = fs.readdirSync(rootModule.dir).filter((n) => /\.tfvars(\.example)?$/.test(n)).sort();
  for (const name of files) {
    const file = await parseFile(path.join(rootModule.dir, name));
    for (const [key, value] of Object.entries(file.json)) {
      stats.tfvarsSettings++;
      if (!rootModule.variables.has(key)) {
        report(file, null, key, `${key}: no variable "${key}" is declared in the root module`);
      }
      if (JSON.stringify(value).match(/(^|[^$])\$\{/)) {
        report(file, null, key, `${key}: a .tfvars value cannot hold references`);
      }
    }
  }
  return files;
}

async function main() {
  const root = path.resolve(process.argv[2] || __dirname);
  const folders = moduleFolders(root);
  if (folders.length === 0) {
    console.error(`check.js: no .tf files under ${root}`);
    process.exit(1);
  }
  const modulesByDir = new Map();
  for (const dir of folders) modulesByDir.set(dir, await loadModule(dir));
  for (const mod of modulesByDir.values()) {
    for (const [mname, call] of mod.modules) {
      const source = call.body.source;
      if (typeof source !== "string") {
        problems.push(`${rel(call.file.path)}: module "${mname}" has no source`);
      } else if (source.startsWith("./") || source.startsWith("../")) {
        call.childDir = path.resolve(mod.dir, source);
        if (!modulesByDir.has(call.childDir)) {
          if (fs.existsSync(call.childDir)) {
            modulesByDir.set(call.childDir, await loadModule(call.childDir));
          } else {
            problems.push(`${rel(call.file.path)}: module "${mname}": source ${source} has no .tf files`);
          }
        }
      }
    }
  }
  for (const mod of modulesByDir.values()) await checkModule(mod, modulesByDir, root);
  const tfvars = modulesByDir.has(root) ? await checkTfvars(modulesByDir.get(root)) : [];

  console.log(`check.js: ${rel(root)} (parsed with @cdktf/hcl2json, HashiCorp's HCL parser)`);
  for (const mod of modulesByDir.values()) {
    const name = mod.dir === root ? "root module" : `module ${path.relative(root, mod.dir)}`;
    console.log(
      `  ${name}: ${mod.files.length} files, ${mod.variables.size} variables, ` +
        `${mod.locals.size} locals, ${mod.resources.size} resources, ${mod.data.size} data sources, ` +
        `${mod.modules.size} module calls, ${mod.outputs.size} outputs`,
    );
  }
  const kinds = Object.entries(stats.byKind).map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(`  references resolved: ${stats.references} (${kinds})`);
  console.log(
    `  module arguments checked against the called module's variables: ${stats.moduleInputs}; ` +
      `module outputs referenced: ${stats.moduleOutputs}`,
  );
  if (tfvars.length) {
    console.log(`  ${tfvars.join(", ")}: ${stats.tfvarsSettings} settings, each a declared root variable`);
  }
  console.log(
    "  also: no duplicate declarations, every variable and local used, variable descriptions and " +
      "defaults literal, every resource's provider in required_providers",
  );
  if (problems.length) {
    for (const p of problems) console.log(`FAIL ${p}`);
    console.log(`check.js: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log("check.js: OK");
  process.exit(0);
}

main().catch((error) => {
  console.error(`check.js: ${error.stack || error}`);
  process.exit(1);
});
