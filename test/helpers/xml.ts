import sax from 'sax';

/** Parses XML strictly and returns its elements' names and text, or throws on any well-formedness error. */
export function parseStrict(text: string): { elements: { name: string; attributes: Record<string, string>; text: string }[] } {
  const parser = sax.parser(true, { xmlns: false });
  const elements: { name: string; attributes: Record<string, string>; text: string }[] = [];
  const stack: { name: string; attributes: Record<string, string>; text: string }[] = [];
  parser.onerror = (error) => {
    throw error;
  };
  parser.onopentag = (node) => {
    const element = { name: node.name, attributes: node.attributes as Record<string, string>, text: '' };
    elements.push(element);
    stack.push(element);
  };
  parser.ontext = (text) => {
    const top = stack.at(-1);
    if (top) top.text += text;
  };
  parser.oncdata = parser.ontext;
  parser.onclosetag = () => {
    stack.pop();
  };
  parser.write(text).close();
  return { elements };
}

export interface XmlNode {
  /** As written, prefix included (`atom:link`). */
  name: string;
  local: string;
  uri: string;
  attributes: Record<string, string>;
  text: string;
  children: XmlNode[];
}

/** Parses with sax in strict mode (throws on anything not well-formed), keeping namespaces. */
export function parseXmlTree(text: string): XmlNode {
  const parser = sax.parser(true, { xmlns: true });
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  parser.onerror = (error) => {
    throw error;
  };
  parser.onopentag = (tag) => {
    const qualified = tag as sax.QualifiedTag;
    const attributes: Record<string, string> = {};
    for (const [name, attribute] of Object.entries(qualified.attributes)) attributes[name] = attribute.value;
    const node: XmlNode = { name: qualified.name, local: qualified.local, uri: qualified.uri, attributes, text: '', children: [] };
    stack.at(-1)?.children.push(node);
    stack.push(node);
    root ??= node;
  };
  parser.onclosetag = () => {
    stack.pop();
  };
  parser.ontext = (chunk) => {
    const top = stack.at(-1);
    if (top) top.text += chunk;
  };
  parser.oncdata = parser.ontext;
  parser.write(text).close();
  if (!root) throw new Error('no root element');
  return root;
}

export function child(node: XmlNode, local: string): XmlNode {
  const found = node.children.find((c) => c.local === local);
  if (!found) throw new Error(`no <${local}> in <${node.local}>`);
  return found;
}
