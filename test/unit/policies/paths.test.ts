import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_SEGMENT_LENGTH,
  MAX_SEGMENTS,
  PathSyntaxError,
  changedPaths,
  createSelector,
  isValidPath,
  leafPaths,
  parsePath,
  pathCovers,
  pathMatches,
  selectPaths,
} from "../../../policies/index.js";
import type { FieldPath, PathSyntaxReason } from "../../../policies/index.js";

const p = parsePath;
const ps = (...texts: string[]): FieldPath[] => texts.map((text) => parsePath(text));

const sampleProfile = {
  name: { given: "Ada", family: "Lovelace" },
  emails: { personal: "ada@example.org", work: "ada@analytical.example" },
  phones: { mobile: "+44 20 7946 0000" },
  addresses: {
    home: { lines: ["12 St James's Square"], locality: "London", postalCode: "SW1Y 4JH", country: "GB" },
    work: { lines: ["Analytical Engine Works", "Marylebone"], locality: "London", country: "GB" },
  },
  birthDate: "1815-12-10",
  locale: "en-GB",
  preferences: { sizes: { shoe: "EU 38" }, diet: ["vegetarian"], contactChannels: ["email", "post"] },
  custom: { "shoe-size": "38", newsletter: false, "favourite-engine": "analytical" },
};

function errorOf(run: () => unknown): PathSyntaxError {
  try {
    run();
  } catch (error) {
    if (error instanceof PathSyntaxError) return error;
    throw error;
  }
  throw new Error("expected a PathSyntaxError");
}

// ---------------------------------------------------------------------------

describe("parsePath", () => {
  it.each([
    ["emails", ["emails"], false],
    ["addresses.home", ["addresses", "home"], false],
    ["addresses.home.postalCode", ["addresses", "home", "postalCode"], false],
    ["name.given", ["name", "given"], false],
    ["custom.shoe-size", ["custom", "shoe-size"], false],
    ["preferences.sizes.eu-38", ["preferences", "sizes", "eu-38"], false],
    ["Z", ["Z"], false],
    ["a1-", ["a1-"], false],
    ["Constructor", ["Constructor"], false],
    ["*", ["*"], true],
    ["preferences.*", ["preferences", "*"], true],
    ["addresses.*.country", ["addresses", "*", "country"], true],
    ["*.*.*", ["*", "*", "*"], true],
    ["a.b.c.d.e.f.g.h", ["a", "b", "c", "d", "e", "f", "g", "h"], false],
    ["x".repeat(MAX_SEGMENT_LENGTH), ["x".repeat(MAX_SEGMENT_LENGTH)], false],
  ])("accepts %j", (text, segments, hasWildcard) => {
    const path = parsePath(text);
    expect(path.text).toBe(text);
    expect(path.segments).toEqual(segments);
    expect(path.hasWildcard).toBe(hasWildcard);
    expect(Object.isFrozen(path)).toBe(true);
    expect(Object.isFrozen(path.segments)).toBe(true);
    expect(isValidPath(text)).toBe(true);
  });

  const nine = "a.b.c.d.e.f.g.h.i";
  const long = "y".repeat(MAX_SEGMENT_LENGTH + 1);
  it.each<[string, PathSyntaxReason, number, string]>([
    ["", "empty-path", 0, "empty"],
    [".", "empty-segment", 0, "cannot start with '.'"],
    [".emails", "empty-segment", 0, "cannot start with '.'"],
    ["emails.", "empty-segment", 6, "cannot end with '.'"],
    ["addresses..home", "empty-segment", 10, "'..'"],
    ["a b", "whitespace", 1, "whitespace"],
    [" emails", "whitespace", 0, "whitespace"],
    ["emails ", "whitespace", 6, "whitespace"],
    ["name.\tgiven", "whitespace", 5, "whitespace"],
    ["a\nb", "whitespace", 1, "whitespace"],
    ["a\u00a0b", "whitespace", 1, "whitespace"],
    ["a\u2003b", "whitespace", 1, "whitespace"],
    ["a\u3000b", "whitespace", 1, "whitespace"],
    ["a\ufeffb", "whitespace", 1, "whitespace"],
    ["1emails", "invalid-start", 0, "must start with a letter, not '1'"],
    ["-a", "invalid-start", 0, "must start with a letter, not '-'"],
    ["addresses.home.lines.0", "invalid-start", 21, "must start with a letter"],
    ["a_b", "invalid-character", 1, "'_' is not allowed"],
    ["_a", "invalid-character", 0, "'_' is not allowed"],
    ["a/b", "invalid-character", 1, "'/' is not allowed"],
    ["lines[0]", "invalid-character", 5, "'[' is not allowed"],
    ["caf\u00e9", "invalid-character", 3, "U+00E9 is not allowed"],
    ["\u00e9t\u00e9", "invalid-character", 0, "U+00E9"],
    ["a\u{1f600}", "invalid-character", 1, "U+1F600"],
    ["a*", "misplaced-wildcard", 1, "'*' must be a whole segment"],
    ["*a", "misplaced-wildcard", 0, "'*' must be a whole segment"],
    ["addresses.h*me", "misplaced-wildcard", 11, "'*' must be a whole segment"],
    ["**", "double-wildcard", 0, "'**' is not supported"],
    ["preferences.**", "double-wildcard", 12, "'**' is not supported"],
    [long, "segment-too-long", 0, `longer than ${MAX_SEGMENT_LENGTH} characters`],
    [`custom.${long}`, "segment-too-long", 7, "longer than"],
    [nine, "too-many-segments", 16, `at most ${MAX_SEGMENTS} segments`],
    ["__proto__", "reserved-segment", 0, "'__proto__' is a reserved name"],
    ["a.__proto__", "reserved-segment", 2, "reserved"],
    ["constructor", "reserved-segment", 0, "reserved"],
    ["custom.constructor", "reserved-segment", 7, "reserved"],
    ["prototype", "reserved-segment", 0, "reserved"],
    ["toString", "reserved-segment", 0, "reserved"],
    ["valueOf", "reserved-segment", 0, "reserved"],
    ["hasOwnProperty", "reserved-segment", 0, "reserved"],
    ["a.b..", "empty-segment", 4, "'..'"],
    ["1a.b c", "invalid-start", 0, "letter"],
  ])("rejects %j: %s at %i", (text, reason, position, detail) => {
    const error = errorOf(() => parsePath(text));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.name).toBe("PathSyntaxError");
    expect(error.reason).toBe(reason);
    expect(error.position).toBe(position);
    expect(error.text).toBe(text);
    expect(error.detail).toContain(detail);
    expect(error.message).toContain(`at offset ${position}`);
    expect(error.message).toContain(error.detail);
    expect(isValidPath(text)).toBe(false);
  });

  it("quotes the path in the message, shortened when long", () => {
    expect(errorOf(() => parsePath("a..b")).message).toBe(`Invalid path "a..b": empty segment ('..') at offset 2`);
    const text = `${"a.".repeat(60)}`;
    const message = errorOf(() => parsePath(text)).message;
    expect(message).toContain(`"${text.slice(0, 77)}..."`);
    expect(message).not.toContain(text);
  });

  it("stops early on very long input", () => {
    const error = errorOf(() => parsePath("a".repeat(1_000_000)));
    expect(error.reason).toBe("segment-too-long");
  });

  it.each([
    [null, "null"],
    [undefined, "undefined"],
    [42, "number"],
    [["a"], "an array"],
    [{ text: "a" }, "object"],
  ])("rejects a non-string %j", (value, type) => {
    const error = errorOf(() => parsePath(value as unknown as string));
    expect(error.reason).toBe("not-a-string");
    expect(error.position).toBe(0);
    expect(error.detail).toBe(`expected a string, got ${type}`);
    expect(isValidPath(value)).toBe(false);
  });

  it("refuses names added to Object.prototype at run time", () => {
    const proto = Object.prototype as Record<string, unknown>;
    expect(isValidPath("polluted")).toBe(true);
    proto["polluted"] = 1;
    try {
      expect(errorOf(() => parsePath("polluted")).reason).toBe("reserved-segment");
      expect(selectPaths({ polluted: 2, ok: 3 }, ps("*"))).toEqual({ ok: 3 });
    } finally {
      delete proto["polluted"];
    }
  });

  it("round-trips: valid exactly when it parses, and parsing keeps the text", () => {
    const text = fc
      .array(fc.constantFrom("a", "B", "1", "-", ".", "*", " ", "_", "x"), { maxLength: 12 })
      .map((chars) => chars.join(""));
    fc.assert(
      fc.property(text, (t) => {
        let parsed: FieldPath | undefined;
        try {
          parsed = parsePath(t);
        } catch (error) {
          expect(error).toBeInstanceOf(PathSyntaxError);
        }
        expect(isValidPath(t)).toBe(parsed !== undefined);
        if (parsed !== undefined) {
          expect(parsed.text).toBe(t);
          expect(parsed.segments.join(".")).toBe(t);
          expect(parsed.hasWildcard).toBe(parsed.segments.includes("*"));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------

describe("pathMatches", () => {
  it.each([
    ["emails", "emails", true],
    ["emails", "emails.work", true],
    ["emails.work", "emails", false],
    ["emails.work", "emails.personal", false],
    ["addresses", "addresses.home.country", true],
    ["addresses.*.country", "addresses.home.country", true],
    ["addresses.*.country", "addresses.work.country", true],
    ["addresses.*.country", "addresses.home.locality", false],
    ["addresses.*.country", "addresses.home", false],
    ["addresses.*.country", "phones.home.country", false],
    ["preferences.*", "preferences.sizes.shoe", true],
    ["preferences.*", "preferences", false],
    ["*", "birthDate", true],
    ["*.home", "addresses.home.lines", true],
    ["*.home", "addresses.work", false],
    ["name.Given", "name.given", false],
    ["custom.shoe-size", "custom.shoe-size", true],
    ["custom.shoe-size", "custom.shoe", false],
    // A `*` in the concrete path is compared literally.
    ["addresses.*", "addresses.*.country", true],
    ["addresses.home", "addresses.*", false],
  ])("%s matches %s: %s", (pattern, concrete, expected) => {
    expect(pathMatches(p(pattern), p(concrete))).toBe(expected);
  });
});

describe("pathCovers", () => {
  it.each([
    ["addresses", "addresses.*.country", true],
    ["addresses.*", "addresses.home.country", true],
    ["addresses.*", "addresses.*.country", true],
    ["addresses.*.country", "addresses.home.country", true],
    ["addresses.*.country", "addresses.*.country", true],
    ["addresses.home", "addresses.*.country", false],
    ["addresses.*.country", "addresses.*", false],
    ["addresses.*.country", "addresses", false],
    ["preferences.*", "preferences", false],
    ["preferences", "preferences.*", true],
    ["*", "emails", true],
    ["*", "*", true],
    ["emails", "*", false],
    ["*.home", "addresses.home.postalCode", true],
    ["*.home", "*.*", false],
    ["emails", "phones", false],
  ])("%s covers %s: %s", (a, b, expected) => {
    expect(pathCovers(p(a), p(b))).toBe(expected);
  });
});

// ---------------------------------------------------------------------------

describe("selectPaths", () => {
  it.each<[string, string[], unknown]>([
    ["a top-level map", ["emails"], { emails: sampleProfile.emails }],
    ["one entry of a map", ["emails.work"], { emails: { work: "ada@analytical.example" } }],
    [
      "a field of every entry",
      ["addresses.*.country"],
      { addresses: { home: { country: "GB" }, work: { country: "GB" } } },
    ],
    ["every child (same as the parent here)", ["preferences.*"], { preferences: sampleProfile.preferences }],
    ["a custom key", ["custom.shoe-size"], { custom: { "shoe-size": "38" } }],
    ["a scalar", ["birthDate"], { birthDate: "1815-12-10" }],
    ["an array, whole", ["addresses.home.lines"], { addresses: { home: { lines: ["12 St James's Square"] } } }],
    ["never into an array", ["preferences.diet.vegetarian"], {}],
    ["never below a scalar", ["name.given.first"], {}],
    ["a missing field", ["custom.hat-size", "name.middle"], {}],
    ["no patterns", [], {}],
    ["everything", ["*"], sampleProfile],
    [
      "overlapping patterns",
      ["addresses.home", "addresses.*.country", "*.home.lines", "name.given"],
      {
        name: { given: "Ada" },
        addresses: { home: sampleProfile.addresses.home, work: { country: "GB" } },
      },
    ],
    [
      "a longer pattern after a shorter one",
      ["addresses.home", "addresses.home.country", "addresses.home.lines"],
      { addresses: { home: sampleProfile.addresses.home } },
    ],
    [
      "a shorter pattern after a longer one",
      ["addresses.home.country", "addresses.home", "addresses.home.locality"],
      { addresses: { home: sampleProfile.addresses.home } },
    ],
    [
      "wildcard and name at the same place",
      ["*.home.country", "addresses.work.locality", "*.work.lines"],
      {
        addresses: {
          home: { country: "GB" },
          work: { locality: "London", lines: ["Analytical Engine Works", "Marylebone"] },
        },
      },
    ],
    ["wildcards at two levels", ["*.*.country"], { addresses: { home: { country: "GB" }, work: { country: "GB" } } }],
  ])("selects %s", (_label, patterns, expected) => {
    expect(selectPaths(sampleProfile, ps(...patterns))).toEqual(expected);
  });

  it("keeps an empty object the pattern names, but no empty parents", () => {
    const doc = { custom: {}, name: {}, addresses: { home: {} } };
    expect(selectPaths(doc, ps("custom"))).toEqual({ custom: {} });
    expect(selectPaths(doc, ps("name.given", "addresses.home.country"))).toEqual({});
    expect(selectPaths(doc, ps("addresses.*"))).toEqual({ addresses: { home: {} } });
  });

  it("returns {} for a document that is not an object", () => {
    for (const doc of [null, undefined, 1, "emails", true, ["emails"], new Date(0)]) {
      expect(selectPaths(doc, ps("*"))).toEqual({});
    }
  });

  it("neither mutates nor shares the input", () => {
    const doc = structuredClone(sampleProfile);
    const out = selectPaths(doc, ps("*")) as typeof sampleProfile;
    expect(out).toEqual(sampleProfile);
    expect(out).not.toBe(doc);
    expect(out.addresses).not.toBe(doc.addresses);
    expect(out.addresses.home.lines).not.toBe(doc.addresses.home.lines);
    out.addresses.home.lines.push("changed");
    out.name.given = "changed";
    expect(doc).toEqual(sampleProfile);
  });

  it("ignores inherited properties", () => {
    const doc = Object.create({ inherited: "secret" }) as Record<string, unknown>;
    doc["own"] = "x";
    const parent = { nested: Object.create({ deep: 1 }) as Record<string, unknown> };
    expect(selectPaths(doc, ps("*"))).toEqual({});
    expect(selectPaths({ a: doc }, ps("a"))).toEqual({});
    expect(selectPaths({ a: { b: doc } }, ps("a.b.inherited"))).toEqual({});
    expect(selectPaths(parent, ps("nested.deep"))).toEqual({});
    const plain = { own: "x" };
    Object.defineProperty(plain, "hidden", { value: "secret", enumerable: false });
    expect(selectPaths({ a: plain }, ps("a", "a.hidden"))).toEqual({ a: { own: "x" } });
  });

  it("ignores keys that cannot be path segments, at any depth", () => {
    const doc = JSON.parse(
      '{"__proto__": {"x": 1}, "ok": {"__proto__": 2, "a.b": 3, "": 4, "*": 5, "constructor": 6, "c": 7},' +
        ' "1a": 8, "with space": 9}',
    ) as unknown;
    expect(selectPaths(doc, ps("*"))).toEqual({ ok: { c: 7 } });
    expect(selectPaths(doc, ps("ok.*"))).toEqual({ ok: { c: 7 } });
    expect(selectPaths(doc, ps("ok"))).toEqual({ ok: { c: 7 } });
    expect(Object.getPrototypeOf(selectPaths(doc, ps("*")))).toBe(Object.prototype);
    expect(selectPaths({ ["k".repeat(65)]: 1 }, ps("*"))).toEqual({});
  });

  it("treats values that are not JSON as absent", () => {
    class Point {
      x = 1;
    }
    const doc = {
      u: undefined,
      f: () => 1,
      s: Symbol("s"),
      n: 10n,
      d: new Date(0),
      m: new Map([["a", 1]]),
      c: new Point(),
      keep: { u: undefined, d: new Date(0), v: 1 },
      nul: null,
      num: Number.NaN,
    };
    expect(selectPaths(doc, ps("*"))).toEqual({ keep: { v: 1 }, nul: null, num: Number.NaN });
    expect(Object.keys(selectPaths(doc, ps("*")))).toEqual(["keep", "nul", "num"]);
    expect(selectPaths(doc, ps("keep.*"))).toEqual({ keep: { v: 1 } });
    expect(selectPaths(doc, ps("c.x", "m.a"))).toEqual({});
  });

  it("accepts null-prototype and cross-realm objects", () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: { b: 1 } });
    expect(selectPaths(bare, ps("a.b"))).toEqual({ a: { b: 1 } });
    const foreign = runInNewContext('({ emails: { work: "w@example.org" }, lines: ["x"] })') as unknown;
    expect(selectPaths(foreign, ps("emails.*", "lines"))).toEqual({ emails: { work: "w@example.org" }, lines: ["x"] });
  });

  it("copies arrays as leaves: contents kept, non-JSON elements become null", () => {
    const inner = JSON.parse('{"__proto__": "own", "a.b": [1, {"k": 2}], "u": null}') as Record<string, unknown>;
    const doc = {
      list: [1, "two", null, true, [3, [4]], { x: { y: 5 }, drop: undefined }, undefined, () => 0, new Date(0), inner],
    };
    const out = selectPaths(doc, ps("list")) as { list: unknown[] };
    expect(out).toEqual({
      list: [1, "two", null, true, [3, [4]], { x: { y: 5 } }, null, null, null, inner],
    });
    const copied = out.list[9] as Record<string, unknown>;
    expect(copied).not.toBe(inner);
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.keys(copied)).toEqual(["__proto__", "a.b", "u"]);
    expect(Object.getOwnPropertyDescriptor(copied, "__proto__")?.value).toBe("own");
    expect(copied["a.b"]).not.toBe(inner["a.b"]);
    expect(out.list[4]).not.toBe(doc.list[4]);
  });

  it("compiles once with createSelector", () => {
    const select = createSelector(ps("emails", "addresses.*.country"));
    expect(select(sampleProfile)).toEqual({
      emails: sampleProfile.emails,
      addresses: { home: { country: "GB" }, work: { country: "GB" } },
    });
    expect(select({ emails: { x: "y" } })).toEqual({ emails: { x: "y" } });
    expect(select("nope")).toEqual({});
  });
});

// ---------------------------------------------------------------------------

describe("leafPaths", () => {
  it("lists every leaf of the sample profile, sorted", () => {
    expect(leafPaths(sampleProfile)).toEqual([
      "addresses.home.country",
      "addresses.home.lines",
      "addresses.home.locality",
      "addresses.home.postalCode",
      "addresses.work.country",
      "addresses.work.lines",
      "addresses.work.locality",
      "birthDate",
      "custom.favourite-engine",
      "custom.newsletter",
      "custom.shoe-size",
      "emails.personal",
      "emails.work",
      "locale",
      "name.family",
      "name.given",
      "phones.mobile",
      "preferences.contactChannels",
      "preferences.diet",
      "preferences.sizes.shoe",
    ]);
  });

  it.each<[string, unknown, string[]]>([
    ["not an object", "text", []],
    ["null", null, []],
    ["an array", [{ a: 1 }], []],
    ["empty objects", { a: {}, b: { c: {} } }, []],
    ["null and empty array leaves", { a: null, b: [], c: { d: 0 } }, ["a", "b", "c.d"]],
    ["non-JSON values", { a: undefined, b: () => 1, c: new Date(0), d: 1 }, ["d"]],
    ["keys that are not segments", JSON.parse('{"__proto__": 1, "a.b": 2, "ok": {"": 3, "x": 4}}'), ["ok.x"]],
    ["code-unit order", { b: 1, a: { b: 1 }, "a-b": 1, A: 1 }, ["A", "a-b", "a.b", "b"]],
  ])("handles %s", (_label, doc, expected) => {
    expect(leafPaths(doc)).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------

describe("changedPaths", () => {
  it.each<[string, unknown, unknown, string[]]>([
    ["no change", sampleProfile, structuredClone(sampleProfile), []],
    ["a changed scalar", { a: 1, b: 2 }, { a: 1, b: 3 }, ["b"]],
    ["an added leaf", { a: 1 }, { a: 1, c: { d: "x" } }, ["c.d"]],
    ["a removed subtree", { a: 1, c: { d: "x", e: [1] } }, { a: 1 }, ["c.d", "c.e"]],
    ["a changed array", { a: [1, 2] }, { a: [1, 3] }, ["a"]],
    ["a longer array", { a: [1, 2] }, { a: [1, 2, 3] }, ["a"]],
    ["an equal array", { a: [1, [2, { x: [3] }]] }, { a: [1, [2, { x: [3] }]] }, []],
    ["array of objects, changed", { a: [{ x: 1 }] }, { a: [{ x: 2 }] }, ["a"]],
    ["array of objects, extra key", { a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }, ["a"]],
    ["array of objects, missing key", { a: [{ x: 1, y: 2 }] }, { a: [{ x: 1 }] }, ["a"]],
    ["array element object vs array", { a: [{}] }, { a: [[]] }, ["a"]],
    ["array vs scalar", { a: [1] }, { a: 1 }, ["a"]],
    ["scalar vs array", { a: "1" }, { a: ["1"] }, ["a"]],
    ["scalar type", { a: 1 }, { a: "1" }, ["a"]],
    ["number vs string", { a: "x" }, { a: 1 }, ["a"]],
    ["null vs false", { a: null }, { a: false }, ["a"]],
    ["NaN is equal to NaN", { a: Number.NaN, b: [Number.NaN] }, { a: Number.NaN, b: [Number.NaN] }, []],
    ["NaN vs a number", { a: Number.NaN }, { a: 1 }, ["a"]],
    ["object replaced by a scalar", { a: { b: 1, c: 2 } }, { a: 5 }, ["a", "a.b", "a.c"]],
    ["scalar replaced by an object", { a: 5 }, { a: { b: 1 } }, ["a", "a.b"]],
    ["object replaced by an empty object", { a: { b: 1 } }, { a: {} }, ["a.b"]],
    ["empty object added", {}, { a: {} }, []],
    ["deep change", { a: { b: { c: 1, d: 2 } } }, { a: { b: { c: 1, d: 3 } } }, ["a.b.d"]],
    ["non-object before", null, { a: 1, b: { c: 2 } }, ["a", "b.c"]],
    ["non-object after", { a: 1 }, [1], ["a"]],
    ["undefined vs absent", { a: undefined }, {}, []],
    ["undefined vs value", { a: undefined }, { a: 1 }, ["a"]],
    ["Date vs object", { a: new Date(0) }, { a: { b: 1 } }, ["a.b"]],
    ["non-JSON array elements count as null", { a: [undefined, () => 1] }, { a: [null, null] }, []],
    ["non-JSON object members are absent", { a: [{ x: 1, u: undefined }] }, { a: [{ x: 1 }] }, []],
    ["array object vs array", { a: [{ x: 1 }] }, { a: [[1]] }, ["a"]],
    [
      "keys that are not segments",
      JSON.parse('{"__proto__": 1, "a.b": 2, "k": 1}'),
      JSON.parse('{"__proto__": 3, "c d": 4, "k": 1}'),
      [],
    ],
    ["sample profile edit", sampleProfile, editedProfile(), ["addresses.work.country", "emails.work", "phones.home"]],
  ])("reports %s", (_label, before, after, expected) => {
    expect(changedPaths(before, after)).toEqual(expected);
    expect(changedPaths(after, before)).toEqual(expected);
  });
});

function editedProfile(): unknown {
  const copy = structuredClone(sampleProfile) as unknown as Record<string, Record<string, unknown>>;
  delete copy["emails"]!["work"];
  copy["phones"]!["home"] = "+44 20 0000 0000";
  (copy["addresses"]!["work"] as Record<string, unknown>)["country"] = "FR";
  return copy;
}

// ---------------------------------------------------------------------------
// Properties

const NAMES = ["a", "b", "home", "work", "given", "x-1", "Q"] as const;
const nameArb = fc.constantFrom(...NAMES);
const patternSegmentArb = fc.oneof({ weight: 3, arbitrary: nameArb }, { weight: 1, arbitrary: fc.constant("*") });
const toPath = (segments: readonly string[]): FieldPath => parsePath(segments.join("."));
const patternArb = fc.array(patternSegmentArb, { minLength: 1, maxLength: 4 }).map(toPath);
const concreteArb = fc.array(nameArb, { minLength: 1, maxLength: 5 }).map(toPath);
const patternsArb = fc.array(patternArb, { maxLength: 4 });

/** A pattern at least as general as `path`: a prefix, with some segments made `*`. */
const generalise = (path: FieldPath): fc.Arbitrary<FieldPath> =>
  fc
    .tuple(fc.integer({ min: 1, max: path.segments.length }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }))
    .map(([keep, stars]) => toPath(path.segments.slice(0, keep).map((s, i) => (stars[i] ? "*" : s))));

/** A concrete path within `pattern`: wildcards filled in, maybe extended. */
const instantiate = (pattern: FieldPath): fc.Arbitrary<FieldPath> =>
  fc
    .tuple(fc.array(nameArb, { minLength: 8, maxLength: 8 }), fc.array(nameArb, { maxLength: 2 }))
    .map(([fill, tail]) => toPath([...pattern.segments.map((s, i) => (s === "*" ? fill[i]! : s)), ...tail]));

const leafArb = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
);
const { object: docArb } = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small", maxDepth: 4 }, leafArb, tie("object")),
  object: fc.dictionary(nameArb, tie("node"), { maxKeys: 4 }),
}));

function valueAt(doc: unknown, path: string): unknown {
  let value = doc;
  for (const segment of path.split(".")) value = (value as Record<string, unknown>)[segment];
  return value;
}

const matchedBySome = (patterns: readonly FieldPath[], path: string): boolean =>
  patterns.some((pattern) => pathMatches(pattern, parsePath(path)));

/** Every leaf of `small` is a leaf of `big` with an equal value. */
function expectSubDocument(small: unknown, big: unknown): void {
  const bigLeaves = new Set(leafPaths(big));
  for (const path of leafPaths(small)) {
    expect(bigLeaves.has(path)).toBe(true);
    expect(valueAt(big, path)).toEqual(valueAt(small, path));
  }
}

function collectReferences(value: unknown, into: Set<unknown>): Set<unknown> {
  if (typeof value === "object" && value !== null) {
    into.add(value);
    for (const item of Object.values(value)) collectReferences(item, into);
  }
  return into;
}

describe("properties", () => {
  it("select keeps only leaves some pattern matches", () => {
    fc.assert(
      fc.property(docArb, patternsArb, (doc, patterns) => {
        for (const path of leafPaths(selectPaths(doc, patterns))) {
          expect(matchedBySome(patterns, path)).toBe(true);
        }
      }),
    );
  });

  it("select keeps every matched leaf, with its value", () => {
    fc.assert(
      fc.property(docArb, patternsArb, (doc, patterns) => {
        const out = selectPaths(doc, patterns);
        const expected = leafPaths(doc).filter((path) => matchedBySome(patterns, path));
        expect(leafPaths(out)).toEqual(expected);
        for (const path of expected) expect(valueAt(out, path)).toEqual(valueAt(doc, path));
      }),
    );
  });

  it("select is idempotent", () => {
    fc.assert(
      fc.property(docArb, patternsArb, (doc, patterns) => {
        const once = selectPaths(doc, patterns);
        expect(selectPaths(once, patterns)).toEqual(once);
      }),
    );
  });

  it("select neither mutates nor shares the document", () => {
    fc.assert(
      fc.property(docArb, patternsArb, (doc, patterns) => {
        const before = structuredClone(doc);
        const out = selectPaths(doc, patterns);
        expect(doc).toEqual(before);
        const shared = collectReferences(doc, new Set());
        for (const ref of collectReferences(out, new Set())) expect(shared.has(ref)).toBe(false);
      }),
    );
  });

  it("select with a covering pattern returns a superset", () => {
    fc.assert(
      fc.property(
        docArb,
        patternArb.chain((b) => generalise(b).map((a) => [a, b] as const)),
        (doc, [a, b]) => {
          expect(pathCovers(a, b)).toBe(true);
          expectSubDocument(selectPaths(doc, [b]), selectPaths(doc, [a]));
        },
      ),
    );
  });

  it("select with more patterns returns a superset", () => {
    fc.assert(
      fc.property(docArb, patternsArb, patternsArb, (doc, some, more) => {
        expectSubDocument(selectPaths(doc, some), selectPaths(doc, [...some, ...more]));
        expectSubDocument(selectPaths(doc, some), doc);
      }),
    );
  });

  it("pathCovers is reflexive", () => {
    fc.assert(
      fc.property(patternArb, (a) => {
        expect(pathCovers(a, a)).toBe(true);
      }),
    );
  });

  it("pathCovers is transitive", () => {
    const chained = patternArb.chain((c) => generalise(c).chain((b) => generalise(b).map((a) => [a, b, c] as const)));
    fc.assert(
      fc.property(fc.oneof(chained, fc.tuple(patternArb, patternArb, patternArb)), ([a, b, c]) => {
        if (pathCovers(a, b) && pathCovers(b, c)) expect(pathCovers(a, c)).toBe(true);
      }),
    );
  });

  it("pathCovers(a, b) and pathMatches(b, x) imply pathMatches(a, x)", () => {
    const related = patternArb.chain((b) =>
      fc.tuple(generalise(b), fc.constant(b), instantiate(b)).map(([a, bb, x]) => [a, bb, x] as const),
    );
    fc.assert(
      fc.property(fc.oneof(related, fc.tuple(patternArb, patternArb, concreteArb)), ([a, b, x]) => {
        if (pathCovers(a, b) && pathMatches(b, x)) expect(pathMatches(a, x)).toBe(true);
      }),
    );
  });

  it("pathCovers is exact: when a does not cover b, some path matched by b escapes a", () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        const witness = toPath(b.segments.map((s) => (s === "*" ? "fresh" : s)));
        expect(pathMatches(b, witness)).toBe(true);
        expect(pathMatches(a, witness)).toBe(pathCovers(a, b));
      }),
    );
  });

  it("pathMatches agrees with selecting a single-leaf document", () => {
    fc.assert(
      fc.property(patternArb, concreteArb, (pattern, x) => {
        const doc: Record<string, unknown> = {};
        let node = doc;
        x.segments.forEach((segment, i) => {
          node[segment] = i === x.segments.length - 1 ? "leaf" : {};
          node = node[segment] as Record<string, unknown>;
        });
        const selected = leafPaths(selectPaths(doc, [pattern]));
        expect(selected).toEqual(pathMatches(pattern, x) ? [x.text] : []);
      }),
    );
  });

  it("leafPaths are sorted, unique and valid paths", () => {
    fc.assert(
      fc.property(docArb, (doc) => {
        const paths = leafPaths(doc);
        expect([...paths].sort()).toEqual(paths);
        expect(new Set(paths).size).toBe(paths.length);
        for (const path of paths) expect(isValidPath(path)).toBe(true);
      }),
    );
  });

  it("changedPaths are exactly the leaf paths whose values differ", () => {
    // Small documents over the same keys so that they overlap.
    fc.assert(
      fc.property(docArb, docArb, (before, after) => {
        const union = [...new Set([...leafPaths(before), ...leafPaths(after)])].sort();
        const differ = (path: string): boolean => {
          const x = leafValue(before, path);
          const y = leafValue(after, path);
          try {
            expect(x).toStrictEqual(y);
            return false;
          } catch {
            return true;
          }
        };
        expect(changedPaths(before, after)).toEqual(union.filter(differ));
        expect(changedPaths(after, before)).toEqual(changedPaths(before, after));
        expect(changedPaths(before, structuredClone(before))).toEqual([]);
      }),
    );
  });
});

/** The leaf at `path`, or a marker when there is none (absent, or an object). */
function leafValue(doc: unknown, path: string): unknown {
  let value = doc;
  for (const segment of path.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) {
      return NO_LEAF;
    }
    value = (value as Record<string, unknown>)[segment];
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? NO_LEAF : value;
}
const NO_LEAF = Symbol("no leaf");
