package script

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates/interpolate"
)

// Var is one environment variable.
type Var struct{ Key, Value string }

// Env merges the environment of a script: base first (the build's own
// variables), then environment_vars entries ("KEY=value") in order, then
// env; a later value of a key wins. The result is sorted by key.
func Env(base map[string]string, vars []string, env map[string]string) []Var {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	maps.Copy(m, env)
	out := make([]Var, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Var{k, m[k]})
	}
	return out
}

// Set returns env with key set to value, keeping it sorted by key.
func Set(env []Var, key, value string) []Var {
	i, found := slices.BinarySearchFunc(env, key, func(v Var, k string) int { return strings.Compare(v.Key, k) })
	if found {
		env[i].Value = value
		return env
	}
	return slices.Insert(env, i, Var{key, value})
}

// BuildEnv is the variables every script gets about the build, under
// Packer's names and bake's.
func BuildEnv(info provisioners.BuildInfo) map[string]string {
	m := map[string]string{
		"PACKER_BUILD_NAME":   info.SourceName,
		"PACKER_BUILDER_TYPE": info.Type,
		"BAKE_BUILD_NAME":     info.SourceName,
		"BAKE_BUILD_TYPE":     info.Type,
	}
	if info.RunID != "" {
		m["BAKE_RUN_ID"] = info.RunID
	}
	return m
}

// QuoteSingle escapes v for use between single quotes in a POSIX shell:
// each ' becomes '"'"'.
func QuoteSingle(v string) string { return strings.ReplaceAll(v, `'`, `'"'"'`) }

// Render formats each variable with format (two %s: name, value), the
// value escaped for single quotes, and joins the results. With Packer's
// default "%s='%s' " it gives "A='1' B='it'"'"'s' ".
func Render(format string, env []Var) string {
	var b strings.Builder
	for _, v := range env {
		fmt.Fprintf(&b, format, v.Key, QuoteSingle(v.Value))
	}
	return b.String()
}

// Strings returns env as "KEY=value" entries, for a process environment.
func Strings(env []Var) []string {
	out := make([]string, len(env))
	for i, v := range env {
		out[i] = v.Key + "=" + v.Value
	}
	return out
}

// Inline makes a script from inline commands: a "#!" line with shebang,
// then each command on its own line.
func Inline(shebang string, lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!%s\n", shebang)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Expand renders the execute_command template text with data, with the
// functions of Packer's template engine (see templates/interpolate).
func Expand(text string, data any) (string, error) {
	s, err := interpolate.Render(text, data)
	if err != nil {
		return "", fmt.Errorf("render execute_command: %w", err)
	}
	return s, nil
}

// ExitError is the error of a script whose exit status is not one of
// valid_exit_codes.
type ExitError struct {
	// Script names the script: its file, or "inline commands".
	Script string
	// Code is the exit status.
	Code int
	// Valid are the statuses that would have been success.
	Valid []int
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("%s: script exited with code %d", e.Script, e.Code)
	if len(e.Valid) != 1 || e.Valid[0] != 0 {
		s += fmt.Sprintf(" (valid_exit_codes: %v)", e.Valid)
	}
	return s
}

// Check returns nil when code is one of valid (nil means [0]), else an
// *ExitError naming name.
func Check(name string, code int, valid []int) error {
	if len(valid) == 0 {
		valid = []int{0}
	}
	if slices.Contains(valid, code) {
		return nil
	}
	return &ExitError{Script: name, Code: code, Valid: valid}
}
