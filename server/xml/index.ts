export { PROFFER_XML_NAMESPACE } from './namespace.js';
export { XmlInputError } from './xml-input-error.js';
export { loadSchemas, schemaSet, type ResolvedSchema, type SchemaSet } from './schema-set.js';
export { toXml, type ToXmlOptions } from './to-xml.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, fromXml, type FromXmlOptions } from './from-xml.js';
export { findNonXmlCharacter } from './xml-chars.js';
