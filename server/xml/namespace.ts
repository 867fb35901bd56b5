/** The namespace of every Proffer XML document (the default xmlns of the root element). */
export const PROFFER_XML_NAMESPACE = 'https://proffer.dev/ns/1';
