package interpolate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/agext/levenshtein"
)

// contextFuncs are the engine functions whose value depends on the run or
// the build: Partial replaces their calls by their values.
var contextFuncs = map[string]bool{
	"timestamp": true, "isotime": true, "uuid": true, "pwd": true, "template_dir": true,
	"packer_version": true, "build_name": true, "build_type": true, "user": true, "env": true,
	"build": true,
}

// refused are Packer's functions that bake does not run, with the reason.
var refused = map[string]string{
	"vault":                  "bake reads no secrets from Vault; pass the value in a sensitive variable",
	"consul_key":             "bake reads no keys from Consul; pass the value in a variable",
	"aws_secretsmanager":     "bake reads no secrets from AWS Secrets Manager; pass the value in a sensitive variable",
	"aws_secretsmanager_raw": "bake reads no secrets from AWS Secrets Manager; pass the value in a sensitive variable",
	"sed":                    "Packer removed it too; use replace or replace_all",
}

// builtins are text/template's own functions.
var builtins = []string{"and", "or", "not", "len", "index", "slice", "print", "printf", "println",
	"html", "js", "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call"}

// knownFuncs is every function a string may call.
var knownFuncs = func() map[string]struct{} {
	m := map[string]struct{}{}
	for k := range pureFuncs() {
		m[k] = struct{}{}
	}
	for k := range contextFuncs {
		m[k] = struct{}{}
	}
	for _, k := range builtins {
		m[k] = struct{}{}
	}
	return m
}()

func funcNames() []string {
	out := make([]string, 0, len(knownFuncs))
	for k := range knownFuncs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FuncNames returns the names of the engine functions bake implements
// (without text/template's built-ins), sorted.
func FuncNames() []string {
	var out []string
	for k := range pureFuncs() {
		if k != "print" && k != "printf" && k != "println" {
			out = append(out, k)
		}
	}
	for k := range contextFuncs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pureFuncs are the functions whose value depends on their arguments
// only; Render has these.
func pureFuncs() template.FuncMap {
	return template.FuncMap{
		"lower":               strings.ToLower,
		"upper":               strings.ToUpper,
		"split":               split,
		"replace":             replace,
		"replace_all":         replaceAll,
		"clean_resource_name": CleanResourceName,
		"clean_ami_name":      CleanResourceName,
		// Bounded versions of the built-ins that can grow a value.
		"print":   func(a ...any) (string, error) { return bounded(fmt.Sprint(a...)) },
		"println": func(a ...any) (string, error) { return bounded(fmt.Sprintln(a...)) },
		"printf":  printf,
	}
}

// allFuncs are every function, the context ones reading ctx.
func allFuncs(ctx *Context) template.FuncMap {
	m := pureFuncs()
	m["timestamp"] = func() string { return strconv.FormatInt(ctx.Now.Unix(), 10) }
	m["isotime"] = func(layout ...string) (string, error) {
		switch len(layout) {
		case 0:
			return ctx.Now.UTC().Format(time.RFC3339), nil
		case 1:
			if len(layout[0]) > 256 {
				return "", errorf("isotime: the layout is longer than 256 characters")
			}
			return ctx.Now.UTC().Format(layout[0]), nil
		}
		return "", errorf("isotime takes one layout at most, not %d", len(layout))
	}
	m["uuid"] = func() string {
		if ctx.NewUUID != nil {
			return ctx.NewUUID()
		}
		return timeOrderedUUID(time.Now())
	}
	m["pwd"] = func() (string, error) {
		if ctx.WorkDir != "" {
			return ctx.WorkDir, nil
		}
		wd, err := os.Getwd()
		if err != nil {
			return "", errorf("pwd: the working directory is unknown")
		}
		return wd, nil
	}
	m["template_dir"] = func() (string, error) {
		if ctx.TemplateDir == "" {
			return "", errorf("template_dir: the template's directory is not known here")
		}
		return ctx.TemplateDir, nil
	}
	m["packer_version"] = func() (string, error) {
		if ctx.Version == "" {
			return "", errorf("packer_version: the version is not known")
		}
		return ctx.Version, nil
	}
	m["build_name"] = func() (string, error) {
		if ctx.BuildName == "" {
			return "", ErrUnknown
		}
		return ctx.BuildName, nil
	}
	m["build_type"] = func() (string, error) {
		if ctx.BuildType == "" {
			return "", ErrUnknown
		}
		return ctx.BuildType, nil
	}
	m["user"] = func(name string) (string, error) {
		v, ok := ctx.UserVariables[name]
		if !ok {
			return "", errorf("user: there is no variable %q", name)
		}
		return v, nil
	}
	m["env"] = func(name string) (string, error) {
		if ctx.Getenv == nil {
			return "", errorf("env is not available here")
		}
		return ctx.Getenv(name), nil
	}
	m["build"] = func(name string) (any, error) {
		if ok, _ := ctx.BuildFields.lookup([]string{name}); !ok {
			return nil, errorf("build: unknown value %q; there are %s", name, strings.Join(ctx.BuildFields.names(), ", "))
		}
		if ctx.Build == nil {
			return nil, ErrUnknown
		}
		return ctx.Build[name], nil
	}
	return m
}

// split returns the i-th part of s split at sep, as Packer's split does
// ({{ split "a-b-c" "-" 1 }} is "b").
func split(s, sep string, i int) (string, error) {
	parts := strings.Split(s, sep)
	if i < 0 || i >= len(parts) {
		return "", errorf("split: there is no part %d: the separator gives %d parts", i, len(parts))
	}
	return parts[i], nil
}

// replace replaces the first n occurrences of old in src with new (all
// when n < 0); src comes last so that a pipeline can feed it.
func replace(old, new string, n int, src string) (string, error) {
	if len(new) > len(old) && n != 0 {
		k := strings.Count(src, old)
		if n > 0 && n < k {
			k = n
		}
		if len(src)+k*(len(new)-len(old)) > maxOutput {
			return "", errTooLong
		}
	}
	return strings.Replace(src, old, new, n), nil
}

// replaceAll replaces every occurrence of old in src with new.
func replaceAll(old, new, src string) (string, error) { return replace(old, new, -1, src) }

func bounded(s string) (string, error) {
	if len(s) > maxOutput {
		return "", errTooLong
	}
	return s, nil
}

// printf is fmt.Sprintf without widths or precisions so large that the
// value would not fit.
func printf(format string, a ...any) (string, error) {
	digits := 0
	for i := 0; i < len(format); i++ {
		if format[i] >= '0' && format[i] <= '9' {
			digits++
			if digits > 5 {
				return "", errorf("printf: a width or precision in the format is too large")
			}
		} else {
			digits = 0
		}
	}
	return bounded(fmt.Sprintf(format, a...))
}

// CleanResourceName replaces each byte of s that an AMI name may not hold
// by "-": AMI names take letters, digits, spaces and ( ) [ ] . / - ' @ _.
// As in Packer, it works on bytes, so a non-ASCII character becomes one
// "-" per byte of its UTF-8 encoding.
func CleanResourceName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !AMINameByte(c) {
			b[i] = '-'
		}
	}
	return string(b)
}

// AMINameByte reports whether c may appear in an AMI name.
func AMINameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("()[] ./-'@_", c) >= 0
}

// timeOrderedUUID is Packer's uuid: the first 32 bits are the Unix time,
// the other 96 random, written 8-4-4-4-12.
func timeOrderedUUID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%08x-%s-%s-%s-%s", uint32(now.Unix()), h[0:4], h[4:8], h[8:12], h[12:24])
}

// suggest returns the name of names closest to s, "" when none is close.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := levenshtein.Distance(strings.TrimPrefix(s, "."), strings.TrimPrefix(n, "."), nil)
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
