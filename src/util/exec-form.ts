// The JSON ("exec") form of Dockerfile arguments, shared by the Dockerfile
// parser and `--change` on commit/import.

/** `["a", "b"]` → ['a', 'b']; undefined when `s` is not a JSON array of strings (shell form). */
export function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch { /* shell form */ }
  return undefined;
}
