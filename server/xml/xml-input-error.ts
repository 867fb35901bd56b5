/** Raised for every XML body that is malformed, hostile or outside what Proffer reads. */
export class XmlInputError extends Error {
  readonly reason: string;
  /** JSON Pointer (RFC 6901) of the value the problem was found in, when known. */
  readonly pointer?: string;

  constructor(reason: string, pointer?: string) {
    super(pointer === undefined ? reason : `${reason} (at ${pointer === '' ? 'the root element' : pointer})`);
    this.name = 'XmlInputError';
    this.reason = reason;
    if (pointer !== undefined) this.pointer = pointer;
  }
}
