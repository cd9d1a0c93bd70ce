package templates

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var localBlockSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "expression", Required: true}, {Name: "sensitive"},
}}

// valueNode is a local or a data source: the things whose values depend on
// each other and are evaluated in dependency order.
type valueNode struct {
	key  string // "local.name" or "data.type.name"
	rng  hcl.Range
	deps []valueDep

	local *Local
	expr  hcl.Expression
	refs  []hcl.Traversal // the variables expr refers to

	dataType, dataName string
	block              *hcl.Block
}

type valueDep struct {
	key string
	rng hcl.Range
}

// localsAndData declares locals and data sources, checks every var.,
// local. and data. reference in the template, and evaluates locals and
// data sources in dependency order.
func (l *loader) localsAndData(localsBlocks, localBlocks, dataBlocks, all hcl.Blocks) {
	nodes := map[string]*valueNode{}
	var order []*valueNode
	add := func(n *valueNode, what string) bool {
		if prev, ok := nodes[n.key]; ok {
			l.errorf(n.rng.Ptr(), "Duplicate "+what, "%s was already declared at %s.", n.key, prev.rng)
			return false
		}
		nodes[n.key] = n
		order = append(order, n)
		return true
	}
	for _, b := range localsBlocks {
		attrs, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		list := make([]*hcl.Attribute, 0, len(attrs))
		for _, a := range attrs {
			list = append(list, a)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Range.Start.Byte < list[j].Range.Start.Byte })
		for _, a := range list {
			add(&valueNode{key: "local." + a.Name, rng: a.Range, expr: a.Expr,
				local: &Local{Name: a.Name, DeclRange: a.Range}}, "local")
		}
	}
	for _, b := range localBlocks {
		content, diags := b.Body.Content(localBlockSchema)
		l.diags = append(l.diags, diags...)
		a := content.Attributes["expression"]
		if a == nil {
			continue
		}
		n := &valueNode{key: "local." + b.Labels[0], rng: b.DefRange, expr: a.Expr,
			local: &Local{Name: b.Labels[0], DeclRange: b.DefRange}}
		if s := content.Attributes["sensitive"]; s != nil {
			v, diags := s.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if bv, err := convert.Convert(v, cty.Bool); err == nil && bv.IsKnown() && !bv.IsNull() {
				n.local.Sensitive = bv.True()
			}
		}
		add(n, "local")
	}
	for _, b := range dataBlocks {
		typ, name := b.Labels[0], b.Labels[1]
		if _, ok := l.opts.Kinds.DataSources[typ]; !ok {
			l.unknownKind(b, "data source", typ, sortedKeys(l.opts.Kinds.DataSources))
		}
		add(&valueNode{key: "data." + typ + "." + name, rng: b.DefRange, dataType: typ, dataName: name, block: b}, "data source")
	}

	// Check every reference once, up front, so that a misspelt name is
	// reported where it is written, and stand in an unknown value for it
	// so that evaluation does not report it again.
	for _, b := range all {
		if b.Type == "variable" || b.Type == "variables" {
			continue
		}
		walkTraversals(b.Body, func(t hcl.Traversal) { l.checkRef(t, nodes) })
	}

	for _, n := range order {
		var exprs []hcl.Traversal
		if n.expr != nil {
			exprs = n.expr.Variables()
			n.refs = exprs
		} else {
			walkTraversals(n.block.Body, func(t hcl.Traversal) { exprs = append(exprs, t) })
		}
		for _, t := range exprs {
			if k := refKey(t); k != "" && nodes[k] != nil {
				n.deps = append(n.deps, valueDep{key: k, rng: t.SourceRange()})
			}
		}
	}

	// Depth-first topological sort; a back edge is a cycle.
	const (
		white = iota
		grey
		black
	)
	state := map[string]int{}
	inCycle := map[string]bool{}
	var stack []string
	var sorted []*valueNode
	var visit func(n *valueNode)
	visit = func(n *valueNode) {
		state[n.key] = grey
		stack = append(stack, n.key)
		for _, d := range n.deps {
			switch state[d.key] {
			case grey:
				i := len(stack) - 1
				for stack[i] != d.key {
					i--
				}
				chain := append(append([]string(nil), stack[i:]...), d.key)
				for _, k := range stack[i:] {
					inCycle[k] = true
				}
				l.errorf(d.rng.Ptr(), "Circular reference", "The values refer to each other in a loop: %s.", strings.Join(chain, " → "))
			case white:
				visit(nodes[d.key])
			}
		}
		stack = stack[:len(stack)-1]
		state[n.key] = black
		sorted = append(sorted, n)
	}
	for _, n := range order {
		if state[n.key] == white {
			visit(n)
		}
	}
	// Each local is evaluated in a context holding only what it refers
	// to, so that evaluating n locals takes time linear in n (a context
	// holding every local would make it quadratic).
	base := l.rootCtx()
	for _, n := range sorted {
		if n.local != nil {
			l.evalLocal(n, base, inCycle[n.key])
		} else {
			l.evalData(n, inCycle[n.key])
		}
	}
	// From here on var, local and data no longer change: the root
	// context is built once.
	l.ctx = l.rootCtx()
}

// exprCtx returns a context for an expression referring to refs: base's
// functions, var, path and packer, with local and data holding only the
// values refs name. A reference that does not name one value (local
// alone, local["x"], a name not declared) gets the whole object, so that
// evaluation and its errors are the same as in the root context.
func (l *loader) exprCtx(base *hcl.EvalContext, refs []hcl.Traversal) *hcl.EvalContext {
	locals := map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	allLocals, allData := false, false
	for _, t := range refs {
		switch t.RootName() {
		case "local":
			name, ok := attrStep(t, 1)
			v, found := l.locals[name]
			if !ok || !found {
				allLocals = true
				continue
			}
			locals[name] = v
		case "data":
			typ, ok1 := attrStep(t, 1)
			name, ok2 := attrStep(t, 2)
			v, found := l.data[typ][name]
			if !ok1 || !ok2 || !found {
				allData = true
				continue
			}
			if data[typ] == nil {
				data[typ] = map[string]cty.Value{}
			}
			data[typ][name] = v
		}
	}
	vars := make(map[string]cty.Value, len(base.Variables))
	for k, v := range base.Variables {
		vars[k] = v
	}
	if allLocals {
		vars["local"] = objectOrEmpty(l.locals)
	} else {
		vars["local"] = objectOrEmpty(locals)
	}
	if allData {
		data = l.data
	}
	objs := make(map[string]cty.Value, len(data))
	for typ, m := range data {
		objs[typ] = objectOrEmpty(m)
	}
	vars["data"] = objectOrEmpty(objs)
	return &hcl.EvalContext{Variables: vars, Functions: base.Functions}
}

// attrStep returns the name of t's i-th step when it is an attribute
// access (local.NAME), false otherwise.
func attrStep(t hcl.Traversal, i int) (string, bool) {
	if i >= len(t) {
		return "", false
	}
	a, ok := t[i].(hcl.TraverseAttr)
	return a.Name, ok
}

// refKey returns the node key a traversal refers to, "" when none.
func refKey(t hcl.Traversal) string {
	parts := []string{t.RootName()}
	want := 0
	switch t.RootName() {
	case "local":
		want = 1
	case "data":
		want = 2
	default:
		return ""
	}
	for _, step := range t[1:] {
		if len(parts) > want {
			break
		}
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			return ""
		}
		parts = append(parts, a.Name)
	}
	if len(parts) != want+1 {
		return ""
	}
	return strings.Join(parts, ".")
}

// checkRef reports a var., local. or data. reference to something not
// declared.
func (l *loader) checkRef(t hcl.Traversal, nodes map[string]*valueNode) {
	if len(t) < 2 {
		return
	}
	a, ok := t[1].(hcl.TraverseAttr)
	if !ok {
		return
	}
	rng := t.SourceRange()
	switch t.RootName() {
	case "var":
		if _, ok := l.vars[a.Name]; ok {
			return
		}
		l.errorf(&rng, "Undefined variable", "No variable named %q is declared.%s", a.Name, didYouMean(a.Name, sortedKeys(l.vars)))
		l.vars[a.Name] = cty.DynamicVal
	case "local":
		if _, ok := nodes["local."+a.Name]; ok {
			return
		}
		if _, ok := l.locals[a.Name]; ok {
			return // already reported
		}
		var names []string
		for k := range nodes {
			if n, ok := strings.CutPrefix(k, "local."); ok {
				names = append(names, n)
			}
		}
		l.errorf(&rng, "Undefined local", "No local value named %q is declared.%s", a.Name, didYouMean(a.Name, names))
		l.locals[a.Name] = cty.DynamicVal
	case "data":
		if len(t) < 3 {
			return
		}
		n, ok := t[2].(hcl.TraverseAttr)
		if !ok {
			return
		}
		key := "data." + a.Name + "." + n.Name
		if _, ok := nodes[key]; ok {
			return
		}
		if _, ok := l.data[a.Name][n.Name]; ok {
			return
		}
		var names []string
		for k := range nodes {
			if strings.HasPrefix(k, "data.") {
				names = append(names, k)
			}
		}
		l.errorf(&rng, "Undefined data source", "No data source %s is declared.%s", key, didYouMean(key, names))
		if l.data[a.Name] == nil {
			l.data[a.Name] = map[string]cty.Value{}
		}
		l.data[a.Name][n.Name] = cty.DynamicVal
	}
}

func didYouMean(given string, names []string) string {
	sort.Strings(names)
	if s := Suggest(given, names); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func (l *loader) evalLocal(n *valueNode, base *hcl.EvalContext, cyclic bool) {
	val := cty.DynamicVal
	if !cyclic {
		v, diags := n.expr.Value(l.exprCtx(base, n.refs))
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			val = v
		}
	}
	n.local.Value = val
	if n.local.Sensitive {
		l.plan.addSensitive(val)
	}
	l.locals[n.local.Name] = val
	l.plan.Locals = append(l.plan.Locals, n.local)
}

func (l *loader) evalData(n *valueNode, cyclic bool) {
	ds := &DataSource{Type: n.dataType, Name: n.dataName, DeclRange: n.block.DefRange, Value: cty.DynamicVal}
	defer func() {
		if l.data[ds.Type] == nil {
			l.data[ds.Type] = map[string]cty.Value{}
		}
		l.data[ds.Type][ds.Name] = ds.Value
		l.plan.DataSources = append(l.plan.DataSources, ds)
	}()
	kind, ok := l.opts.Kinds.DataSources[n.dataType]
	if !ok || cyclic {
		return
	}
	ty := kind.Type
	if ty == cty.NilType {
		ty = cty.DynamicPseudoType
	}
	ds.Value = cty.UnknownVal(ty)
	ectx := l.rootCtx()
	ds.Config = kind.New()
	b, diags := Decode(dynblock.Expand(n.block.Body, ectx), ectx, n.dataType, n.block.DefRange, ds.Config)
	diags = append(diags, ds.Config.Prepare(b)...)
	ds.Body = b
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !l.opts.ExecuteData || kind.Execute == nil || len(b.Unknown) > 0 {
		return
	}
	v, err := kind.Execute(l.opts.Context, ds.Config)
	if err != nil {
		l.errorf(n.block.DefRange.Ptr(), "Data source failed", "data.%s.%s: %s.", ds.Type, ds.Name, err)
		return
	}
	ds.Value = v
}

// unknownKind reports a block whose type label names no kind.
func (l *loader) unknownKind(b *hcl.Block, what, typ string, known []string) {
	l.errorf(labelRange(b, 0), "Unknown "+what+" type", "bake has no %s of type %q; the known types are %s.%s",
		what, typ, strings.Join(known, ", "), didYouMean(typ, known))
}
