// Package redact keeps sensitive values out of everything bake writes: the
// terminal, -json events, -log-dir files, run manifests and diagnostics.
//
// It is the program's one redactor. The template loader collects the
// sensitive values (templates.Plan.SensitiveValues); cmd/bake makes a
// Redactor of them with New and every sink redacts through it.
//
// A value can leave bake in other shapes than it was written: quoted by a
// Go %q, escaped in JSON, quoted for a shell, split over lines by a script
// that prints it, base64-encoded. A Redactor looks for each of these. Its
// rules, as README.md's section on sensitive variables documents them:
//
//   - A value is redacted as written, in each of these encodings, and in
//     them nested up to three deep (a shell-quoted value inside a
//     Go-quoted command line inside JSON): Go %q and its ASCII form, JSON
//     string escaping (with and without HTML escapes), shell single quotes
//     (a quote in the value closed, escaped or double-quoted, and
//     reopened), shell double quotes, shell backslash escapes (bash's
//     printf %q), bash's $'…' quoting, URL query and path escaping.
//     Nested encodings are made for texts of up to 1 KiB, shortest first,
//     within a budget of 1 MiB of them per Redactor, so that a big value
//     full of quotes cannot make bake slow; the first level always is.
//   - A value with leading or trailing white space is also redacted
//     trimmed.
//   - Each line of a multi-line value (trimmed of surrounding white space)
//     that is at least MinLength bytes long is redacted on its own, so that
//     a key a script prints line by line is redacted line by line. Shorter
//     lines are not.
//   - The base64 encodings of a value (standard and URL alphabets, padded
//     and raw) are redacted, as are the parts of its encoding that do not
//     depend on the bytes around it, so that the value is also caught
//     inside a longer base64 text; such a part shorter than MinLength is
//     not looked for.
//   - Any of these texts shorter than MinLength bytes is redacted only
//     where it stands as a whole word: where neither the byte before it
//     nor the byte after it is an ASCII letter, a digit, an underscore or
//     a non-ASCII byte. A sensitive "3" is redacted in "pin 3" and
//     "pin=3", never in "43" or "v3".
//
// Text redaction at the sink is the second line of defence. The first is
// to carry a secret as a Secret, which prints as "<sensitive>" in every
// format, and never to format a command line or an environment into an
// error.
package redact
