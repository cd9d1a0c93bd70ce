package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

const consoleSynopsis = `[flags] [TEMPLATE]

Evaluates expressions as TEMPLATE's own expressions see them: variables,
locals, path, packer and the functions (data sources are not run, so their
values are unknown). On a terminal it reads expressions one per line until
"exit" or end of input, printing each result or its error; from a pipe it
evaluates every line and prints the last result, as packer console does.
A value that refers to a sensitive variable or local is shown as
(sensitive value).

Example:
  echo 'var.region' | bake console -var region=eu-west-1 template.pkr.hcl
  bake console .`

// sensitiveValue is what console prints for a sensitive value, as Packer
// and Terraform print it.
const sensitiveValue = "(sensitive value)"

func runConsole(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("console", consoleSynopsis, env.stderr)
	var tf templateFlags
	fs.Var(&tf.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.Var(&tf.varFiles, "var-file", "read variables from a .pkrvars.hcl file (repeatable)")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(env.stderr, "bake console: give at most one template file or directory")
		fs.Usage()
		return exitUsage
	}
	opts := tf.loadOptions(ctx, env)
	path := "."
	if len(pos) == 1 {
		path = pos[0]
	} else {
		// No template: the functions, path and packer only.
		opts.FS = fstest.MapFS{"console.pkr.hcl": &fstest.MapFile{}}
		opts.WorkDir = "."
	}
	plan, diags := templates.Load(path, opts)
	if len(diags) > 0 {
		writeDiagnostics(env, plan, diags)
	}
	if diags.HasErrors() {
		return exitUsage
	}
	c := &console{env: env, plan: plan, redact: redact.New(plan.SensitiveValues())}
	if isTerminal(env.stdin) {
		return c.interactive()
	}
	return c.piped()
}

// console evaluates expressions against one loaded template.
type console struct {
	env    *cliEnv
	plan   *templates.Plan
	redact *redact.Redactor
}

// eval evaluates one line and returns what to print, or false with the
// diagnostics written.
func (c *console) eval(line string) (string, bool) {
	val, sensitive, diags := c.plan.Eval(line)
	if len(diags) > 0 {
		files := map[string]*hcl.File{templates.ConsoleFilename: {Bytes: []byte(line)}}
		for name, f := range c.plan.Files {
			files[name] = f
		}
		var buf bytes.Buffer
		templates.WriteDiagnostics(&buf, files, diags, false, 0, c.redact.String)
		if c.env.machine != nil {
			machineDiagnostics(c.env.machine, buf.Bytes(), diags.HasErrors())
		} else {
			c.env.stderr.Write(buf.Bytes())
		}
		if diags.HasErrors() {
			return "", false
		}
	}
	if sensitive {
		return sensitiveValue, true
	}
	return c.redact.String(consoleValue(val)), true
}

// interactive reads expressions from a terminal, printing each result;
// an error is reported and the loop goes on.
func (c *console) interactive() int {
	sc := bufio.NewScanner(c.env.stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(c.env.stderr, "> ")
		if !sc.Scan() {
			fmt.Fprintln(c.env.stderr)
			return exitOK
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "exit", "quit":
			return exitOK
		}
		if out, ok := c.eval(line); ok {
			fmt.Fprintln(c.env.stdout, out)
		}
	}
}

// piped evaluates every line of stdin and prints the last result, as
// packer console does with a pipe; any error makes the exit code 1, but
// the later lines are still evaluated.
func (c *console) piped() int {
	sc := bufio.NewScanner(c.env.stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	code := exitOK
	last := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		out, ok := c.eval(line)
		if !ok {
			code = exitFailed
			out = ""
		}
		last = out
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(c.env.stderr, "bake console: read stdin: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(c.env.stdout, last)
	return code
}

// consoleValue formats v as packer console does (Terraform 0.11's repl
// format): a string bare at the top and quoted inside a collection,
// lists as "[", one indented element a line each followed by ",", "]",
// maps and objects as "{", indented `"key" = value` lines sorted by key,
// "}"; null as null, and a value not wholly known as <unknown>.
func consoleValue(v cty.Value) string {
	if !v.IsWhollyKnown() {
		return "<unknown>"
	}
	return formatConsole(v, false)
}

func formatConsole(v cty.Value, nested bool) string {
	if v.IsNull() {
		return "null"
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if nested {
			return strconv.Quote(v.AsString())
		}
		return v.AsString()
	case ty == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return strconv.FormatInt(i, 10)
			}
		}
		f, _ := bf.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case ty == cty.Bool:
		return strconv.FormatBool(v.True())
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var b strings.Builder
		b.WriteString("[")
		if v.LengthInt() > 0 {
			b.WriteString("\n")
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			b.WriteString(indentConsole(formatConsole(e, true)))
			b.WriteString(",\n")
		}
		b.WriteString("]")
		return b.String()
	case ty.IsMapType() || ty.IsObjectType():
		m := v.AsValueMap()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		if len(keys) > 0 {
			b.WriteString("\n")
		}
		for _, k := range keys {
			b.WriteString(indentConsole(strconv.Quote(k) + " = " + formatConsole(m[k], true)))
			b.WriteString("\n")
		}
		b.WriteString("}")
		return b.String()
	}
	return "<unknown-type>"
}

func indentConsole(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
