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
