package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Placeholder is what a redacted value is replaced with.
const Placeholder = "<sensitive>"

// MinLength is the length in bytes under which a text is redacted only as
// a whole word, and under which a line of a multi-line value, or a part of
// a base64 encoding, is not redacted on its own.
const MinLength = 8

// Secret is a sensitive string. It prints as "<sensitive>" with every fmt
// verb, in JSON, as text and in slog, so that it cannot reach an error, a
// log or a manifest by accident. Reveal returns the value for the one place
// that must use it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<sensitive>".
func (s Secret) String() string { return Placeholder }

// GoString returns "<sensitive>", for %#v.
func (s Secret) GoString() string { return Placeholder }

// Format writes "<sensitive>" for every verb (quoted for %q).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(Placeholder))
		return
	}
	io.WriteString(f, Placeholder)
}

// MarshalJSON returns "<sensitive>" as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Placeholder + `"`), nil }

// MarshalText returns "<sensitive>".
func (s Secret) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }

// LogValue returns "<sensitive>" for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Placeholder) }

var (
	_ fmt.Formatter  = Secret("")
	_ json.Marshaler = Secret("")
	_ slog.LogValuer = Secret("")
)

// Redactor replaces sensitive values, in every encoding the package
// documents, with "<sensitive>". The zero value and a nil *Redactor redact
// nothing. A Redactor is safe for concurrent use; it prints as
// "<redactor>" so that formatting it never shows what it looks for.
type Redactor struct {
	// long replaces the texts of MinLength bytes or more, longest first
	// wherever several match at one position.
	long *strings.Replacer
	// short holds the shorter texts, redacted as whole words only, by
	// their first byte, longest first.
	short    [256][]Secret
	hasShort bool
	n        int
}

// New returns a Redactor for values. Empty values are ignored.
func New(values []string) *Redactor {
	seen := map[string]bool{}
	budget := nestedBudget
	var long, short []string
	add := func(s string, isFragment bool) {
		if s == "" || seen[s] || (isFragment && len(s) < MinLength) {
			return
		}
		seen[s] = true
		if len(s) >= MinLength {
			long = append(long, s)
		} else {
			short = append(short, s)
		}
	}
	// The texts to look for, each in every encoding: the values, trimmed,
	// and the lines of multi-line values (fragments: not looked for when
	// short). Shortest first, so that a big value does not use up the
	// nested encodings' budget before a password gets them.
	fragment := map[string]bool{} // text -> only a line of a longer value
	note := func(text string, isFragment bool) {
		if f, ok := fragment[text]; ok {
			isFragment = isFragment && f
		}
		fragment[text] = isFragment
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		note(v, false)
		if t := strings.TrimSpace(v); t != "" {
			note(t, false)
		}
		if strings.Contains(v, "\n") {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= MinLength {
					note(line, true)
				}
			}
		}
	}
	bases := make([]string, 0, len(fragment))
	for text := range fragment {
		bases = append(bases, text)
	}
	sort.Slice(bases, func(i, j int) bool {
		if len(bases[i]) != len(bases[j]) {
			return len(bases[i]) < len(bases[j])
		}
		return bases[i] < bases[j]
	})
	for _, b := range bases {
		for _, e := range encodings(b, &budget) {
			add(e, fragment[b])
		}
		if !fragment[b] {
			for _, e := range base64Forms(b) {
				add(e.text, e.fragment)
			}
		}
	}
	r := &Redactor{n: len(long) + len(short)}
	if len(long) > 0 {
		// strings.Replacer tries its old strings in argument order at each
		// position: longest first makes the longest match win.
		sort.SliceStable(long, func(i, j int) bool { return len(long[i]) > len(long[j]) })
		pairs := make([]string, 0, 2*len(long))
		for _, s := range long {
			pairs = append(pairs, s, Placeholder)
		}
		r.long = strings.NewReplacer(pairs...)
	}
	sort.SliceStable(short, func(i, j int) bool { return len(short[i]) > len(short[j]) })
	for _, s := range short {
		r.short[s[0]] = append(r.short[s[0]], Secret(s))
	}
	r.hasShort = len(short) > 0
	return r
}

// Format prints "<redactor>" whatever the verb.
func (r Redactor) Format(f fmt.State, verb rune) { io.WriteString(f, "<redactor>") }

// Empty reports whether r redacts nothing.
func (r *Redactor) Empty() bool { return r == nil || r.n == 0 }

// String returns s with every sensitive value replaced by "<sensitive>".
// The long texts are replaced first (at each position the longest that
// matches), so that a short value inside a long one does not leave the
// rest of the long one in view; then the short ones, as whole words.
func (r *Redactor) String(s string) string {
	if r.Empty() || s == "" {
		return s
	}
	if r.long != nil {
		s = r.long.Replace(s)
	}
	return r.replaceShort(s)
}

func (r *Redactor) replaceShort(s string) string {
	if !r.hasShort {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		n := r.matchShort(s, i)
		if n == 0 {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(Placeholder)
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// matchShort returns the length of the longest short text that stands as
// a whole word in s at i, 0 when none does.
func (r *Redactor) matchShort(s string, i int) int {
	if len(r.short[s[i]]) == 0 || !wordEdge(s, i-1) {
		return 0
	}
	for _, p := range r.short[s[i]] {
		t := string(p)
		if len(t) <= len(s)-i && s[i:i+len(t)] == t && wordEdge(s, i+len(t)) {
			return len(t)
		}
	}
	return 0
}

// wordEdge reports whether the byte of s at i, if any, ends a word: it is
// outside s, or neither an ASCII letter, a digit, '_' nor a non-ASCII byte.
func wordEdge(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	c := s[i]
	isWord := c >= 0x80 || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
	return !isWord
}

// encoder is one way a string can be escaped on its way out.
type encoder func(string) string

var encoders = []encoder{
	goQuote, goQuoteASCII, jsonEscape, jsonEscapeNoHTML,
	shellSingle, shellSingleAlt, shellDouble, shellBackslash, bashANSIC,
	url.QueryEscape, url.PathEscape,
}

// depth is how many encodings, one inside the other, a value is looked
// for under: a value shell-quoted in a script, inside a Go-quoted command
// line, inside a JSON document is three. Every level can double a text's
// length and multiplies the number of texts, so nested encodings (levels
// two and three) are made only for texts of at most maxNested bytes and
// only until nestedBudget bytes of them exist for one Redactor; the
// first level is always made.
const (
	depth        = 3
	maxNested    = 1024
	nestedBudget = 1 << 20
)

// encodings returns v and every encoding of it up to depth encodings
// deep, each once, drawing the nested ones from *budget.
func encodings(v string, budget *int) []string {
	seen := map[string]bool{v: true}
	out := []string{v}
	level := []string{v}
	for d := 0; d < depth; d++ {
		if d > 0 && (len(v) > maxNested || *budget <= 0) {
			break
		}
		var next []string
		for _, s := range level {
			for _, e := range encoders {
				if x := e(s); !seen[x] {
					seen[x] = true
					out = append(out, x)
					next = append(next, x)
					if d > 0 {
						*budget -= len(x)
					}
				}
			}
		}
		level = next
	}
	return out
}

// goQuote is the body of strconv.Quote (fmt's %q).
func goQuote(s string) string { return unquoted(strconv.Quote(s)) }

// goQuoteASCII is the body of strconv.QuoteToASCII (fmt's %+q).
func goQuoteASCII(s string) string { return unquoted(strconv.QuoteToASCII(s)) }

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return unquoted(string(b))
}

func jsonEscapeNoHTML(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return unquoted(strings.TrimSuffix(buf.String(), "\n"))
}

func unquoted(q string) string { return q[1 : len(q)-1] }

// shellSingle is the body of a POSIX single-quoted word, each quote of the
// value written as quote, backslash, quote, quote (the form of the shell
// provisioner's environment):
//
//	PW='it'\''s'
func shellSingle(s string) string { return strings.ReplaceAll(s, `'`, `'\''`) }

// shellSingleAlt is the other common form (Python's shlex.quote):
//
//	PW='it'"'"'s'
func shellSingleAlt(s string) string { return strings.ReplaceAll(s, `'`, `'"'"'`) }

// shellDouble is the body of a double-quoted shell word.
func shellDouble(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s)
}

// shellBackslash escapes as bash's printf %q does for text without
// control characters: a backslash before every byte a shell would read.
func shellBackslash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("._+:@%/-=~#", c) >= 0) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// bashANSIC is the body of bash's $'…' quoting, which printf %q uses for
// text with control characters.
func bashANSIC(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\v':
			b.WriteString(`\v`)
		case 0x1b:
			b.WriteString(`\E`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// b64Form is one base64 text of a value; a fragment is part of an
// encoding (the value inside a longer base64 text).
type b64Form struct {
	text     string
	fragment bool
}

// base64Forms returns v's base64 encodings, whole (padded and raw) and,
// for each of the three alignments v can have inside a longer encoded
// text, the characters that depend on v's bytes alone.
func base64Forms(v string) []b64Form {
	var out []b64Form
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		whole := enc.EncodeToString([]byte(v))
		out = append(out, b64Form{text: whole}, b64Form{text: strings.TrimRight(whole, "=")})
		for k := 0; k < 3; k++ {
			buf := make([]byte, k+len(v))
			copy(buf[k:], v)
			e := enc.EncodeToString(buf)
			start := (8*k + 5) / 6
			end := 8 * (k + len(v)) / 6
			if end > start {
				out = append(out, b64Form{text: e[start:end], fragment: true})
			}
		}
	}
	return out
}
