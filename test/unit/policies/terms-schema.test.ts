import { readFileSync, readdirSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TERMS,
  PURPOSE_TOKENS,
  TEMPLATES,
  checkTerms,
  compileTerms,
  evaluate,
  isValidPath,
  parseCategory,
  publicTerms,
} from "../../../policies/index.js";
import { anyRequest, anyTerms, anyVendor } from "./arbitraries.js";

const schemasDir = new URL("../../../schemas/", import.meta.url);
const TERMS = "https://proffer.dev/schemas/terms.json";

/** Every schema file, strictly (as server/http/contract.ts compiles them). */
function makeAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  for (const file of readdirSync(schemasDir).filter((f) => f.endsWith(".json"))) {
    ajv.addSchema(JSON.parse(readFileSync(new URL(file, schemasDir), "utf8")) as object);
  }
  return ajv;
}

const ajv = makeAjv();
const schema = JSON.parse(readFileSync(new URL("terms.json", schemasDir), "utf8")) as {
  $id: string;
  $defs: Record<string, { examples?: unknown[]; enum?: unknown[] }>;
};
const validator = (def: string) => {
  const validate = ajv.getSchema(`${TERMS}#/$defs/${def}`);
  if (!validate) throw new Error(`no $defs/${def}`);
  return (value: unknown) => {
    const ok = validate(value) as boolean;
    return { ok, errors: validate.errors };
  };
};

describe("schemas/terms.json", () => {
  it("has the $id the contract expects and compiles strictly", () => {
    expect(schema.$id).toBe(TERMS);
    for (const def of Object.keys(schema.$defs)) expect(ajv.getSchema(`${TERMS}#/$defs/${def}`), def).toBeTypeOf("function");
  });

  it("keeps to the draft-07 subset of 2020-12", () => {
    const text = JSON.stringify(schema);
    for (const keyword of ["$dynamicRef", "$dynamicAnchor", "prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentSchemas"]) {
      expect(text).not.toContain(`"${keyword}"`);
    }
  });

  it("every object $defs entry has examples, and they validate", () => {
    for (const [name, def] of Object.entries(schema.$defs)) {
      if (def.examples === undefined) {
        expect((def as { type?: string }).type, `${name} is an object without examples`).not.toBe("object");
        continue;
      }
      for (const example of def.examples) expect(validator(name)(example), `${name}: ${JSON.stringify(example)}`).toMatchObject({ ok: true });
    }
  });

  it("the purpose enum is the engine's vocabulary", () => {
    expect(schema.$defs.purpose?.enum).toEqual([...PURPOSE_TOKENS]);
  });

  it("examples of termsInput pass checkTerms and compile", () => {
    for (const example of schema.$defs.termsInput?.examples ?? []) {
      expect(checkTerms(example as never)).toEqual({ ok: true });
      expect(() => compileTerms(example as never, 1)).not.toThrow();
    }
  });

  it("every template validates against $defs/template and DEFAULT_TERMS against termsInput", () => {
    expect(TEMPLATES.length).toBeGreaterThanOrEqual(4);
    for (const template of TEMPLATES) expect(validator("template")(template), template.id).toMatchObject({ ok: true });
    expect(validator("termsInput")(DEFAULT_TERMS)).toMatchObject({ ok: true });
  });

  it("the fieldPath pattern accepts exactly the paths parsePath accepts", () => {
    const valid = validator("fieldPath");
    const segment = fc.oneof(
      fc.constantFrom("*", "a", "addresses", "home", "constructor", "toString", "valueOf", "__proto__", "x-1", "A9", "1a", "-a", "a_b", "", "a*", "**"),
      fc.string({ unit: fc.constantFrom("a", "Z", "0", "-", "*", "_", " ", "é"), maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 10 }), (segments) => {
        const text = segments.join(".");
        expect(valid(text).ok, text).toBe(isValidPath(text));
      }),
      { numRuns: 2000 },
    );
    expect(valid("a".repeat(65)).ok).toBe(isValidPath("a".repeat(65)));
    expect(valid(Array(8).fill("a".repeat(64)).join(".")).ok).toBe(true);
  });

  it("the categoryPattern pattern accepts exactly what parseCategory accepts", () => {
    const valid = validator("categoryPattern");
    const segment = fc.oneof(
      fc.constantFrom("*", "home", "home-office", "a1", "", "-a", "a-", "A", "a--b", "**"),
      fc.string({ unit: fc.constantFrom("a", "0", "-", "*", "A", "/"), maxLength: 5 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
        const text = segments.join("/");
        expect(valid(text).ok, text).toBe(parseCategory(text) !== undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it("generated terms pass the schema and checkTerms alike", () => {
    const valid = validator("termsInput");
    fc.assert(
      fc.property(anyTerms, (terms) => {
        expect(valid(terms)).toMatchObject({ ok: true });
        expect(checkTerms(terms)).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  it("every evaluation and every public view validates against the schema", () => {
    const validEvaluation = validator("evaluation");
    const validRequest = validator("request");
    const validPublic = validator("publicTerms");
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, fc.integer({ min: 1, max: 50 }), (terms, request, vendor, version) => {
        expect(validRequest(request)).toMatchObject({ ok: true });
        expect(validEvaluation(evaluate(compileTerms(terms, version), request, vendor))).toMatchObject({ ok: true });
        expect(validPublic(publicTerms(terms, version))).toMatchObject({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  it("refuses what checkTerms refuses when the schema can say it", () => {
    const valid = validator("termsInput");
    const bad: unknown[] = [
      { rules: [{ id: "x", effect: "permit" }] },
      { rules: [{ id: "x", effect: "deny", fields: ["a"], duties: { noProfiling: true } }] },
      { rules: [{ id: "x", effect: "deny", fields: ["a"], approval: "ask" }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a"], purposes: ["spying"] }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a..b"] }] },
      { rules: [{ id: "x", effect: "permit", fields: ["constructor"] }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a"], duties: { maxRetentionDays: -1 } }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a"], duties: { maxReadsPerDay: 0 } }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a"], vendors: { any: true, ids: [] } }] },
      { rules: [{ id: "x", effect: "permit", fields: ["a"], vendors: { domains: ["localhost"] } }] },
      { rules: [{ id: "X", effect: "permit", fields: ["a"] }] },
    ];
    for (const document of bad) {
      expect(valid(document).ok, JSON.stringify(document)).toBe(false);
      expect(checkTerms(document as never).ok, JSON.stringify(document)).toBe(false);
    }
    expect(valid({ rules: [{ id: "x", effect: "deny", fields: ["a"], approval: "auto" }] }).ok).toBe(true);
  });
});
