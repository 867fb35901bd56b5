/**
 * What anyone may read of a person's terms, and the same as a W3C ODRL 2.2
 * policy in JSON-LD.
 *
 * Public: the rules for any vendor, as offers (permit) and refusals (deny),
 * with their fields, need categories, purposes, duties and approval, and
 * their ids (decisions name rules by id). Private: rules that name vendors
 * (by id or domain: they tell whom the person deals with), descriptions and
 * the title (free text).
 */
import type { Duties, PublicRule, PublicTerms, TermsInput } from "./types.js";
import { PURPOSE_TOKENS, dpvPurpose } from "./vocabulary.js";

/** The public part of `terms` (version `version`). */
export function publicTerms(terms: TermsInput, version: number): PublicTerms {
  const rules: PublicRule[] = [];
  for (const rule of terms.rules) {
    if (rule.vendors !== undefined && !("any" in rule.vendors)) continue;
    const out: PublicRule = { id: rule.id, effect: rule.effect };
    if (rule.fields !== undefined) out.fields = rule.fields.slice();
    if (rule.needs !== undefined) out.needs = { categories: rule.needs.categories.slice() };
    if (rule.purposes !== undefined) out.purposes = rule.purposes.slice();
    if (rule.effect === "permit") {
      if (rule.duties !== undefined && Object.keys(rule.duties).length > 0) out.duties = { ...rule.duties };
      out.approval = rule.approval ?? "auto";
    }
    rules.push(out);
  }
  return { version, default: "deny", rules };
}

// ---------------------------------------------------------------------------
// ODRL 2.2 (https://www.w3.org/TR/odrl-model/, https://www.w3.org/TR/odrl-vocab/)

export interface OdrlOptions {
  /** The policy's IRI. */
  uid: string;
  /** The person's IRI: the assigner, and the base of asset IRIs unless given below. */
  assigner: string;
  /** Base IRI of the profile asset; a field path is its fragment. Default `${assigner}/profile`. */
  profile?: string;
  /** Base IRI of the needs asset; a category is its fragment. Default `${assigner}/needs`. */
  needs?: string;
}

/** The ODRL profile these policies follow (the extension terms below). */
export const ODRL_PROFILE = "https://proffer.dev/ns/odrl";
const PROFFER_NS = "https://proffer.dev/ns/odrl#";
const DPV = "https://w3id.org/dpv#";
const XSD_DURATION = "http://www.w3.org/2001/XMLSchema#duration";
/** QUDT's "per day": the unit of a reads-per-day count. */
const PER_DAY = "http://qudt.org/vocab/unit/PER-DAY";

type OdrlNode = Record<string, unknown>;

export interface OdrlPolicy {
  "@context": "http://www.w3.org/ns/odrl.jsonld";
  "@type": "Offer" | "Set";
  uid: string;
  profile: string;
  assigner: string;
  conflict: "prohibit";
  permission: OdrlNode[];
  prohibition: OdrlNode[];
}

/**
 * Public terms as an ODRL 2.2 policy: an `Offer` from the person when some
 * rule permits, else a `Set`. Each rule becomes one ODRL rule per target
 * (field path or need category): permit → permission of `use`, deny →
 * prohibition of `use`; purposes → a `purpose` constraint (`isAnyOf`, DPV
 * IRIs); `grantExpiryDays` → `elapsedTime`, `maxReadsPerDay` → `count` per
 * day; `maxRetentionDays` and `deleteOnRevoke` → `delete` duties; `ask` →
 * an `obtainConsent` duty; `noThirdPartySharing` → a prohibition to
 * `distribute`, `noProfiling` → prohibitions of DPV Profiling and Tracking.
 * `conflict: prohibit` is deny-overrides; ODRL has no default deny, but an
 * ODRL policy permits only what it says, which is the same.
 */
export function toOdrl(terms: PublicTerms, options: OdrlOptions): OdrlPolicy {
  const profileBase = options.profile ?? `${options.assigner}/profile`;
  const needsBase = options.needs ?? `${options.assigner}/needs`;
  const permission: OdrlNode[] = [];
  const prohibition: OdrlNode[] = [];
  for (const rule of terms.rules) {
    const targets = [
      ...(rule.fields ?? []).map((path) => (path === "*" ? profileBase : `${profileBase}#${path}`)),
      ...(rule.needs?.categories ?? []).map((category) => (category === "*" ? needsBase : `${needsBase}#${category}`)),
    ];
    const purpose = rule.purposes === undefined ? [] : [purposeConstraint(rule.purposes)];
    targets.forEach((target, index) => {
      const uid = `${options.uid}#${rule.id}-${index + 1}`;
      if (rule.effect === "deny") {
        prohibition.push(withConstraints({ uid, target, action: "use" }, purpose));
        return;
      }
      const duties: Duties = rule.duties ?? {};
      const constraints = [...purpose, ...grantConstraints(duties)];
      const duty = dutiesOf(duties, rule.approval === "ask", options.assigner);
      const node = withConstraints({ uid, target, action: "use" }, constraints);
      if (duty.length > 0) node.duty = duty;
      permission.push(node);
      if (duties.noThirdPartySharing === true) prohibition.push({ target, action: "distribute" });
      if (duties.noProfiling === true) {
        prohibition.push({ target, action: `${DPV}Profiling` }, { target, action: `${DPV}Tracking` });
      }
    });
  }
  if (permission.length === 0 && prohibition.length === 0) {
    // An ODRL policy holds at least one rule: with nothing public, say that nothing is offered.
    prohibition.push({ target: profileBase, action: "use" }, { target: needsBase, action: "use" });
  }
  return {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": permission.length > 0 ? "Offer" : "Set",
    uid: options.uid,
    profile: ODRL_PROFILE,
    assigner: options.assigner,
    conflict: "prohibit",
    permission,
    prohibition,
  };
}

function withConstraints(node: OdrlNode, constraints: OdrlNode[]): OdrlNode {
  if (constraints.length > 0) node.constraint = constraints;
  return node;
}

function purposeConstraint(purposes: readonly string[]): OdrlNode {
  const ordered = PURPOSE_TOKENS.filter((p) => purposes.includes(p));
  return { leftOperand: "purpose", operator: "isAnyOf", rightOperand: ordered.map((p) => ({ "@id": dpvPurpose(p) })) };
}

function days(n: number): OdrlNode {
  return { "@value": `P${n}D`, "@type": XSD_DURATION };
}

function grantConstraints(duties: Duties): OdrlNode[] {
  const out: OdrlNode[] = [];
  if (duties.grantExpiryDays !== undefined) {
    out.push({ leftOperand: "elapsedTime", operator: "lteq", rightOperand: days(duties.grantExpiryDays) });
  }
  if (duties.maxReadsPerDay !== undefined) {
    out.push({ leftOperand: "count", operator: "lteq", rightOperand: duties.maxReadsPerDay, unit: PER_DAY });
  }
  return out;
}

function dutiesOf(duties: Duties, ask: boolean, assigner: string): OdrlNode[] {
  const out: OdrlNode[] = [];
  if (ask) out.push({ action: "obtainConsent", consentingParty: assigner });
  if (duties.maxRetentionDays !== undefined) {
    out.push({
      action: "delete",
      constraint: [{ leftOperand: "elapsedTime", operator: "lteq", rightOperand: days(duties.maxRetentionDays) }],
    });
  }
  if (duties.deleteOnRevoke === true) {
    out.push({
      action: "delete",
      constraint: [{ leftOperand: "event", operator: "gt", rightOperand: { "@id": `${PROFFER_NS}revocation` } }],
    });
  }
  return out;
}
