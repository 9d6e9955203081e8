/**
 * Templated target URLs (`url`, `targetUrl`, `hooks[].endpoint`). Values
 * inside a longer URL are percent-encoded (`encodeURIComponent`), so an id
 * with `/`, `?` or spaces stays one path segment; a URL that is exactly one
 * placeholder takes the value as it is. A missing value is a permanent
 * delivery error naming the placeholder.
 */
import { formatPath } from '../config/index.ts';
import { type FieldPath, RenderError, TemplateCompileError } from './errors.ts';
import { compileStringTemplate } from './string-template.ts';

/**
 * True when `url` keeps the path segments of `probe` (the template with
 * harmless values). Percent-encoding keeps `/` in a value, but not `.` or
 * `..`: as a whole segment (even as `%2E%2E`) the URL parser removes them
 * with the segment before, so a value such as ".." would reach another path.
 */
function pathKept(url: string, probe: string): boolean {
  try {
    return new URL(url).pathname.split('/').length === new URL(probe).pathname.split('/').length;
  } catch {
    return true; // not a URL at all: reported by the caller's own check, or by the transport
  }
}

/** A prefix that has reached the path, query or fragment: `scheme://authority/`, `?` or `#`. */
const AFTER_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*[/?#]/;

export interface UrlTemplate {
  readonly source: string;
  /** The URL for one event; throws `RenderError` when a value is missing or the result is not a URL. */
  render(doc: unknown): string;
}

export function compileUrlTemplate(source: string, path: FieldPath): UrlTemplate {
  const t = compileStringTemplate(source, path);
  if (t.placeholders.length === 0) {
    if (!URL.canParse(source))
      throw new TemplateCompileError(`"${source}" is not a valid absolute URL`, path);
    return { source, render: () => source };
  }
  if (!t.single) {
    // Check the literal parts now: the URL with every value replaced by a harmless one must parse.
    const probe = t.placeholders.reduce((s, p) => s.replace(p.text, 'x'), source);
    if (!URL.canParse(probe)) {
      throw new TemplateCompileError(`"${source}" is not a valid absolute URL template`, path);
    }
  }
  const encode = t.single ? undefined : encodeURIComponent;
  // The same URL with every value replaced by a harmless one: its path has the segments the template means.
  const probe = (doc: unknown) => t.text(doc, (v) => (v === '' ? '' : 'x')) ?? source;
  // Percent-encoded values after the authority cannot make a URL that parsed with "x" in their place
  // invalid, so only values in the scheme, host or port (or a whole-URL value) are checked per render.
  const first = t.placeholders[0]!.text;
  const check = t.single !== undefined || !AFTER_AUTHORITY.test(source.slice(0, source.indexOf(first)));
  const where = formatPath(path);
  return {
    source,
    render(doc) {
      const url = t.text(doc, encode);
      if (url === undefined) {
        const missing = t.missing(doc).map((p) => p.text);
        throw new RenderError(
          `${where} needs ${missing.join(', ')} but the event has no value there (template "${source}")`,
          path,
        );
      }
      if (check && !URL.canParse(url)) {
        throw new RenderError(`${where} renders to "${url}", which is not a valid absolute URL`, path);
      }
      if (encode && !pathKept(url, probe(doc))) {
        throw new RenderError(
          `${where}: the values of ${t.placeholders.map((p) => p.text).join(', ')} make a dot segment ("." or "..") in "${url}", which would leave its path segment (template "${source}")`,
          path,
        );
      }
      return url;
    },
  };
}
