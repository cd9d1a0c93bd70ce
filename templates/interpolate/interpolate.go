package interpolate

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// ErrUnknown is returned when a string uses a value that is not known
// yet: build_name before the build source is known, a build value
// ({{ .Host }}, {{ build "Host" }}) before the machine is up. The caller
// treats the attribute as unknown and decodes it again later.
var ErrUnknown = errors.New("value not known yet")

// Error is a mistake in a string's {{ }} syntax or use: an unknown
// function or field, a refused function, a function that failed. Its text
// never contains the string.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Fields names the data fields a string may use, without the dot:
// "SourceAMI", or "SourceAMITags.*" for a map field whose keys are free
// (.SourceAMITags.Name).
type Fields []string

func (f Fields) lookup(ident []string) (ok, isMap bool) {
	if len(ident) == 0 {
		return false, false
	}
	for _, n := range f {
		if n == ident[0] {
			return len(ident) == 1, false
		}
		if n == ident[0]+".*" {
			return len(ident) <= 2, true
		}
	}
	return false, false
}

func (f Fields) names() []string {
	out := make([]string, 0, len(f))
	for _, n := range f {
		out = append(out, "."+strings.TrimSuffix(n, ".*"))
	}
	sort.Strings(out)
	return out
}

// Context is what the engine functions read, fixed for a run, and the
// build's values once they are known.
type Context struct {
	// Now is the run's time: timestamp and isotime return it all run long.
	Now time.Time
	// BuildName and BuildType are the build source's name and type
	// (build_name, build_type); "" means not known yet.
	BuildName, BuildType string
	// TemplateDir is the template's directory, absolute (template_dir).
	TemplateDir string
	// WorkDir is the working directory (pwd).
	WorkDir string
	// Version is what packer_version returns.
	Version string
	// UserVariables are what user reads; nil refuses user (it exists in
	// legacy JSON templates only).
	UserVariables map[string]string
	// Getenv is what env reads; nil refuses env (legacy JSON variable
	// defaults only).
	Getenv func(string) string
	// BuildFields names the build's values a string may use as fields
	// ({{ .Host }}) or through build ({{ build "Host" }}); Build holds
	// them once the machine is up, nil before (ErrUnknown).
	BuildFields Fields
	Build       map[string]any
	// NewUUID makes uuid's value; nil means a time-ordered random UUID.
	NewUUID func() string
}

// Check reports whether text is valid here: its syntax, functions and
// fields, with deferred naming the fields the kind renders later. It does
// not run any function.
func Check(text string, ctx *Context, deferred Fields) error {
	if !strings.Contains(text, "{{") {
		return nil
	}
	_, err := parseChecked(text, ctx, deferred)
	return err
}

// Eval renders text now and returns its final value. Fields are the
// build's (ctx.BuildFields) only.
func Eval(text string, ctx *Context) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	p, err := parseChecked(text, ctx, nil)
	if err != nil {
		return "", err
	}
	return p.execute(ctx)
}

// Partial renders what text can render now and returns a template for
// Render: deferred names the fields the kind supplies while the build
// runs. Engine functions and the build's values are replaced by their
// values; an action that uses deferred fields stays. A text with no
// action comes back unchanged.
func Partial(text string, ctx *Context, deferred Fields) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	p, err := parseChecked(text, ctx, deferred)
	if err != nil {
		return "", err
	}
	if !p.deferred {
		v, err := p.execute(ctx)
		if err != nil {
			return "", err
		}
		return Literal(v), nil
	}
	if err := p.rewrite(p.tree.Root, ctx, false); err != nil {
		return "", err
	}
	if !p.changed {
		return text, nil // as written
	}
	return p.tree.Root.String(), nil
}

// Literal returns a template that renders to s.
func Literal(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return "{{" + strconv.Quote(s) + "}}"
}

// Render renders a template that Partial returned with data, a struct or a
// map whose fields the template names. Only the pure functions are there
// (lower, upper, split, replace, replace_all, clean_resource_name and Go's
// built-ins): Partial already replaced the others. A missing map key
// renders as "".
func Render(text string, data any) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New("value").Funcs(pureFuncs()).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", cleanParseError(err)
	}
	var b limitedBuilder
	if err := t.Execute(&b, data); err != nil {
		return "", cleanExecError(err)
	}
	return b.String(), nil
}

// Parses reports whether Render can parse text: its syntax, and only the
// functions Render has.
func Parses(text string) error {
	if !strings.Contains(text, "{{") {
		return nil
	}
	if _, err := template.New("value").Funcs(pureFuncs()).Parse(text); err != nil {
		return cleanParseError(err)
	}
	return nil
}

// Has reports whether s holds an action, i.e. is more than plain text.
func Has(s string) bool { return strings.Contains(s, "{{") }

// parsed is a checked template.
type parsed struct {
	text string
	tree *parse.Tree
	// deferred is set when an action uses a deferred field.
	deferred bool
	// build is set when the text uses the build's values.
	build bool
	// vars is set when the text declares or uses a $variable.
	vars bool
	// changed is set when rewrite replaced a node.
	changed  bool
	deferSet Fields
}

func parseChecked(text string, ctx *Context, deferred Fields) (*parsed, error) {
	if ctx == nil {
		ctx = &Context{}
	}
	t := parse.New("value")
	t.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return nil, cleanParseError(err)
	}
	if len(trees) > 1 {
		return nil, errorf("{{ define }} and {{ block }} are not supported in option values")
	}
	p := &parsed{text: text, tree: trees["value"], deferSet: deferred}
	if p.tree == nil {
		p.tree = t
	}
	c := checker{p: p, ctx: ctx}
	if err := c.node(p.tree.Root, false); err != nil {
		return nil, err
	}
	if p.build && ctx.Build == nil {
		return nil, ErrUnknown
	}
	if p.vars && p.deferred {
		return nil, errorf("$variables cannot be used in a value that also uses fields known only while the build runs")
	}
	return p, nil
}

type checker struct {
	p   *parsed
	ctx *Context
}

// node checks n; dyn is set inside range and with, where the dot is
// something else and field names are not checked.
func (c *checker) node(n parse.Node, dyn bool) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, x := range n.Nodes {
			if err := c.node(x, dyn); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return c.node(n.Pipe, dyn)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		if len(n.Decl) > 0 {
			c.p.vars = true
		}
		for _, cmd := range n.Cmds {
			if err := c.node(cmd, dyn); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := c.node(a, dyn); err != nil {
				return err
			}
		}
	case *parse.IdentifierNode:
		return c.function(n.Ident)
	case *parse.FieldNode:
		if dyn {
			return nil
		}
		return c.field(n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" && !dyn {
			return c.field(n.Ident[1:])
		}
		if n.Ident[0] != "$" {
			c.p.vars = true
		}
		if len(n.Ident) == 1 && n.Ident[0] == "$" && !dyn {
			return errorf("\"$\" is not supported here: name a field, like .%s", firstField(c.available()))
		}
	case *parse.ChainNode:
		if _, ok := n.Node.(*parse.PipeNode); !ok {
			return errorf("a field of a function's value (%s.%s) is not supported", n.Node, strings.Join(n.Field, "."))
		}
		return c.node(n.Node, dyn)
	case *parse.DotNode:
		if !dyn {
			return errorf("\".\" alone is not supported here: name a field, like .%s", firstField(c.available()))
		}
	case *parse.IfNode:
		return c.branch(&n.BranchNode, dyn, false)
	case *parse.RangeNode:
		return c.branch(&n.BranchNode, dyn, true)
	case *parse.WithNode:
		return c.branch(&n.BranchNode, dyn, true)
	case *parse.TemplateNode:
		return errorf("{{ template }} is not supported in option values")
	case *parse.TextNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode,
		*parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
	default:
		return errorf("unsupported template construct")
	}
	return nil
}

func (c *checker) branch(b *parse.BranchNode, dyn, rebinds bool) error {
	if err := c.node(b.Pipe, dyn); err != nil {
		return err
	}
	if err := c.node(b.List, dyn || rebinds); err != nil {
		return err
	}
	return c.node(b.ElseList, dyn)
}

// available lists every field a string may use here.
func (c *checker) available() Fields {
	return append(append(Fields{}, c.p.deferSet...), c.ctx.BuildFields...)
}

func (c *checker) field(ident []string) error {
	if ok, _ := c.p.deferSet.lookup(ident); ok {
		c.p.deferred = true
		return nil
	}
	if ok, _ := c.ctx.BuildFields.lookup(ident); ok {
		c.p.build = true
		return nil
	}
	name := "." + strings.Join(ident, ".")
	all := c.available()
	if _, isMap := all.lookup(ident[:1]); isMap {
		return errorf("%s names a key inside a key: %s takes one key, like .%s.Name", name, "."+ident[0], ident[0])
	}
	if len(all) == 0 {
		return errorf("unknown field %s: this option has no {{ }} fields (they exist only in the options a kind renders while the build runs, like amazon-ebs's tags)", name)
	}
	msg := fmt.Sprintf("unknown field %s: this option may use %s", name, strings.Join(all.names(), ", "))
	if s := suggest(ident[0], all.names()); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return &Error{Msg: msg}
}

func (c *checker) function(name string) error {
	if why, ok := refused[name]; ok {
		return errorf("the function %s is not supported: %s", name, why)
	}
	switch name {
	case "user":
		if c.ctx.UserVariables == nil {
			return errorf("the function user exists in legacy JSON templates only; in HCL2 write var.NAME")
		}
	case "env":
		if c.ctx.Getenv == nil {
			return errorf("the function env exists in legacy JSON variable defaults only; in HCL2 use env(\"NAME\") in a variable's default")
		}
	case "build":
		if len(c.ctx.BuildFields) == 0 {
			return errorf("the function build is available in provisioners and post-processors only")
		}
		c.p.build = true
	}
	if _, ok := knownFuncs[name]; ok {
		return nil
	}
	msg := fmt.Sprintf("unknown function %s", name)
	if s := suggest(name, funcNames()); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return &Error{Msg: msg}
}

func firstField(f Fields) string {
	if len(f) == 0 {
		return "SourceAMI"
	}
	return strings.TrimSuffix(f[0], ".*")
}

// usesDeferred reports whether n refers to a deferred field.
func (p *parsed) usesDeferred(n parse.Node) bool {
	found := false
	walk(n, func(x parse.Node) {
		switch x := x.(type) {
		case *parse.FieldNode:
			if ok, _ := p.deferSet.lookup(x.Ident); ok {
				found = true
			}
		case *parse.VariableNode:
			if len(x.Ident) > 1 && x.Ident[0] == "$" {
				if ok, _ := p.deferSet.lookup(x.Ident[1:]); ok {
					found = true
				}
			}
		case *parse.BranchNode:
			found = true // range/with rebind the dot to something deferred or not: keep
		}
	})
	return found
}

// walk calls f on n and every node below it.
func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			walk(x, f)
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, f)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.ChainNode:
		walk(n.Node, f)
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		f(&n.BranchNode)
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		f(&n.BranchNode)
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	}
}

// rewrite replaces, below n, each action that uses no deferred field by
// its value, and inside the others each engine function call and build
// value by its value. Inside range and with (rebound), where the dot is
// what the kind supplies, actions are kept.
func (p *parsed) rewrite(n parse.Node, ctx *Context, rebound bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for i, x := range n.Nodes {
			if a, ok := x.(*parse.ActionNode); ok && !rebound && !p.usesDeferred(a.Pipe) {
				v, err := p.evalNode("{{"+a.Pipe.String()+"}}", ctx)
				if err != nil {
					return err
				}
				p.changed = true
				// As text only without braces: a "{" next to another
				// text or an action would make a delimiter.
				if !strings.Contains(v, "{") {
					n.Nodes[i] = &parse.TextNode{NodeType: parse.NodeText, Pos: a.Pos, Text: []byte(v)}
				} else {
					a.Pipe.Cmds = []*parse.CommandNode{literalCmd(v)}
				}
				continue
			}
			if err := p.rewrite(x, ctx, rebound); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return p.rewritePipe(n.Pipe, ctx)
	case *parse.IfNode:
		return p.rewriteBranch(&n.BranchNode, ctx, rebound, rebound)
	case *parse.RangeNode:
		return p.rewriteBranch(&n.BranchNode, ctx, rebound, true)
	case *parse.WithNode:
		return p.rewriteBranch(&n.BranchNode, ctx, rebound, true)
	}
	return nil
}

func (p *parsed) rewriteBranch(b *parse.BranchNode, ctx *Context, rebound, inner bool) error {
	if err := p.rewritePipe(b.Pipe, ctx); err != nil {
		return err
	}
	if err := p.rewrite(b.List, ctx, inner); err != nil {
		return err
	}
	return p.rewrite(b.ElseList, ctx, rebound)
}

func (p *parsed) rewritePipe(pipe *parse.PipeNode, ctx *Context) error {
	if pipe == nil {
		return nil
	}
	for i, cmd := range pipe.Cmds {
		if err := p.rewriteArgs(cmd, ctx); err != nil {
			return err
		}
		id, ok := cmd.Args[0].(*parse.IdentifierNode)
		if !ok || !contextFuncs[id.Ident] {
			continue
		}
		if i > 0 || p.usesDeferred(cmd) {
			return errorf("the function %s cannot take a value known only while the build runs", id.Ident)
		}
		v, err := p.evalNode("{{"+cmd.String()+"}}", ctx)
		if err != nil {
			return err
		}
		pipe.Cmds[i] = literalCmd(v)
		p.changed = true
	}
	return nil
}

// rewriteArgs replaces the build's values among cmd's arguments by their
// values, and rewrites nested pipelines.
func (p *parsed) rewriteArgs(cmd *parse.CommandNode, ctx *Context) error {
	for j, a := range cmd.Args {
		switch a := a.(type) {
		case *parse.IdentifierNode:
			if j > 0 && contextFuncs[a.Ident] {
				v, err := p.evalNode("{{"+a.Ident+"}}", ctx)
				if err != nil {
					return err
				}
				cmd.Args[j] = stringNode(v)
				p.changed = true
			}
		case *parse.PipeNode:
			if err := p.rewritePipe(a, ctx); err != nil {
				return err
			}
		case *parse.FieldNode:
			if ok, _ := ctx.BuildFields.lookup(a.Ident); ok && !p.usesDeferred(a) {
				v, err := p.evalNode("{{"+a.String()+"}}", ctx)
				if err != nil {
					return err
				}
				cmd.Args[j] = stringNode(v)
				p.changed = true
			}
		case *parse.VariableNode:
			if len(a.Ident) > 1 && a.Ident[0] == "$" {
				if ok, _ := ctx.BuildFields.lookup(a.Ident[1:]); ok && !p.usesDeferred(a) {
					v, err := p.evalNode("{{"+a.String()+"}}", ctx)
					if err != nil {
						return err
					}
					cmd.Args[j] = stringNode(v)
					p.changed = true
					p.changed = true
				}
			}
		case *parse.ChainNode:
			if pn, ok := a.Node.(*parse.PipeNode); ok {
				if err := p.rewritePipe(pn, ctx); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func stringNode(v string) *parse.StringNode {
	return &parse.StringNode{NodeType: parse.NodeString, Quoted: strconv.Quote(v), Text: v}
}

func literalCmd(v string) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Args: []parse.Node{stringNode(v)}}
}

// evalNode renders a piece of the template with every function.
func (p *parsed) evalNode(text string, ctx *Context) (string, error) {
	t, err := template.New("value").Funcs(allFuncs(ctx)).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", cleanParseError(err)
	}
	return run(t, ctx.Build)
}

func (p *parsed) execute(ctx *Context) (string, error) {
	t, err := template.New("value").Funcs(allFuncs(ctx)).Option("missingkey=zero").Parse(p.text)
	if err != nil {
		return "", cleanParseError(err)
	}
	return run(t, ctx.Build)
}

func run(t *template.Template, data map[string]any) (string, error) {
	var b limitedBuilder
	var d any
	if data != nil {
		d = data
	}
	if err := t.Execute(&b, d); err != nil {
		return "", cleanExecError(err)
	}
	return b.String(), nil
}

// maxOutput bounds a rendered value, so that a template cannot make bake
// allocate without end.
const maxOutput = 1 << 20

var errTooLong = &Error{Msg: fmt.Sprintf("the rendered value is longer than %d bytes", maxOutput)}

type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxOutput {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// cleanParseError drops text/template's "template: name:line:" prefix.
func cleanParseError(err error) error {
	s := err.Error()
	if strings.HasPrefix(s, "template: ") {
		rest := s[len("template: "):]
		// name:line: or name:line:col:
		for range 3 {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				break
			}
			head := rest[:i]
			if head != "value" && strings.TrimLeft(head, "0123456789") != "" {
				break
			}
			rest = strings.TrimLeft(rest[i+1:], " ")
		}
		s = rest
	}
	return errorf("invalid {{ }} syntax: %s", s)
}

// cleanExecError returns the cause of an execution error without
// text/template's context, which quotes the template.
func cleanExecError(err error) error {
	if errors.Is(err, ErrUnknown) {
		return ErrUnknown
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	s := err.Error()
	if i := strings.LastIndex(s, ">: "); i >= 0 {
		s = s[i+3:]
	}
	return errorf("render {{ }}: %s", s)
}
