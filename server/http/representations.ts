import { SCHEMA_BASE } from './contract.js';

/** The root element of each document's XML form (docs/xml.md). */
const XML_ROOTS: Record<string, string> = {
  'profile.json': 'profile',
  'need.json': 'need',
  'need.json#/$defs/needInput': 'need',
  'need.json#/$defs/needList': 'needs',
  'export.json': 'export',
};

export function xmlRootFor(schemaRef: string): string {
  const root = XML_ROOTS[schemaRef.replace(SCHEMA_BASE, '')];
  if (!root) throw new Error(`no XML root element for ${schemaRef}`);
  return root;
}
