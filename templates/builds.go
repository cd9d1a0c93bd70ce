package templates

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/bake-tool/bake/templates/interpolate"
)

var requirementsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "required_version"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "required_plugins"}},
}

// requirements checks a packer {} or bake {} block.
func (l *loader) requirements(b *hcl.Block) {
	req := &Requirement{Block: b.Type, Plugins: map[string]string{}, DeclRange: b.DefRange}
	l.plan.Requirements = append(l.plan.Requirements, req)
	content, diags := b.Body.Content(requirementsSchema)
	l.diags = append(l.diags, diags...)
	if a := content.Attributes["required_version"]; a != nil {
		s, diags := stringAttr(a, nil)
		l.diags = append(l.diags, diags...)
		req.RequiredVersion = s
		if !diags.HasErrors() {
			l.checkVersion(b.Type, s, a.Expr.Range())
		}
	}
	for _, rp := range content.Blocks.OfType("required_plugins") {
		attrs, diags := rp.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, name := range sortedKeys(attrs) {
			a := attrs[name]
			v, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			source := ""
			if !diags.HasErrors() && v.Type().IsObjectType() && v.Type().HasAttribute("source") {
				if s := v.GetAttr("source"); s.Type() == cty.String && s.IsKnown() && !s.IsNull() {
					source = s.AsString()
				}
			}
			req.Plugins[name] = source
			short := strings.TrimPrefix(path.Base(source), "packer-plugin-")
			if source == "" {
				short = name
			}
			if !l.builtinPlugin(short) {
				l.warnf(a.NameRange.Ptr(), "Plugin not built in",
					"bake has no external plugins; the plugin %q (%s) matches none of its built-in kinds, so blocks of that plugin's kinds will not load.", name, source)
			}
		}
	}
}

// builtinPlugin reports whether the plugin named short provides one of the
// built-in kinds: "docker" → docker, docker-tag; "amazon" → amazon-ebs.
func (l *loader) builtinPlugin(short string) bool {
	k := l.opts.Kinds
	for _, names := range [][]string{sortedKeys(k.Sources), sortedKeys(k.Provisioners), sortedKeys(k.PostProcessors), sortedKeys(k.DataSources)} {
		for _, n := range names {
			if n == short || strings.HasPrefix(n, short+"-") {
				return true
			}
		}
	}
	return false
}

func (l *loader) checkVersion(block, constraint string, rng hcl.Range) {
	cs, err := version.NewConstraint(constraint)
	if err != nil {
		l.errorf(&rng, "Invalid version constraint", "%q is not a version constraint: %s.", constraint, err)
		return
	}
	if block == "packer" {
		if !packerReleasesSatisfy(cs) {
			l.errorf(&rng, "Unsupported version",
				"This template requires packer %s; bake reads the templates of Packer %s.0 to %s.x, and none of those releases satisfies it.",
				constraint, packerReleases[0], packerReleases[len(packerReleases)-1])
		}
		return
	}
	v, err := version.NewVersion(l.opts.Version)
	if err != nil {
		return // a development build without a version satisfies anything
	}
	if !cs.Check(v.Core()) {
		l.errorf(&rng, "Unsupported version", "This template requires bake %s, and bake %s does not satisfy it.", constraint, l.opts.Version)
	}
}

// packerReleases are the Packer minor releases whose templates bake reads:
// HCL2 as Packer 1.7 stabilised it, up to 1.12.
var packerReleases = []string{"1.7", "1.8", "1.9", "1.10", "1.11", "1.12"}

// packerReleasesSatisfy reports whether some Packer release bake stands in
// for satisfies cs: a template pinned to "~> 1.9.0" or ">= 1.12.0" loads,
// one that needs "< 1.5" does not. Patch releases up to .20 are tried, so
// a constraint on any real patch release of those minors is met.
func packerReleasesSatisfy(cs version.Constraints) bool {
	for _, minor := range packerReleases {
		for patch := 0; patch <= 20; patch++ {
			if cs.Check(version.Must(version.NewVersion(fmt.Sprintf("%s.%d", minor, patch)))) {
				return true
			}
		}
	}
	return false
}

// source declares a top-level source block.
func (l *loader) source(b *hcl.Block) {
	s := &Source{Type: b.Labels[0], Name: b.Labels[1], DeclRange: b.DefRange, body: b.Body}
	if _, ok := l.opts.Kinds.Sources[s.Type]; !ok {
		l.unknownKind(b, "source", s.Type, sortedKeys(l.opts.Kinds.Sources))
		return
	}
	if prev, ok := l.sources[s.FullName()]; ok {
		l.errorf(&s.DeclRange, "Duplicate source", "The source %s was already declared at %s.", s.FullName(), prev.DeclRange)
		return
	}
	l.sources[s.FullName()] = s
	l.plan.Sources = append(l.plan.Sources, s)
}

// decodeSource decodes a source no build uses, so that its mistakes are
// still reported.
func (l *loader) decodeSource(s *Source) {
	ectx := l.rootCtx().NewChild()
	ectx.Variables = map[string]cty.Value{
		"source": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(s.Name), "type": cty.StringVal(s.Type)}),
		"build":  cty.ObjectVal(map[string]cty.Value{"name": cty.UnknownVal(cty.String)}),
	}
	cfg := l.opts.Kinds.Sources[s.Type].New()
	b, diags := DecodeWith(dynblock.Expand(s.body, ectx), ectx, s.Type, s.DeclRange, cfg, l.plan.interpContext(s.Name, s.Type, nil, false))
	b.Name = s.Name
	diags = append(diags, cfg.Prepare(b)...)
	l.diags = append(l.diags, diags...)
	s.Config, s.Body = cfg, b
}

var buildSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "description"}, {Name: "sources"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "source", LabelNames: []string{"reference"}},
		{Type: "provisioner", LabelNames: []string{"type"}},
		{Type: "error-cleanup-provisioner", LabelNames: []string{"type"}},
		{Type: "test", LabelNames: []string{"type"}},
		{Type: "post-processor", LabelNames: []string{"type"}},
		{Type: "post-processors"},
		{Type: "hcp_packer_registry"},
	},
}

// hcpRegistrySchema is Packer's hcp_packer_registry block, accepted so that
// templates publishing to HCP load; bake publishes nothing there.
var hcpRegistrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "bucket_name"}, {Name: "description"}, {Name: "bucket_labels"}, {Name: "build_labels"}},
}

var buildSourceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name"}}}

var postProcessorsSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "post-processor", LabelNames: []string{"type"}},
}}

// build decodes a build block and returns its build sources.
func (l *loader) build(blk *hcl.Block) []*BuildSource {
	ectx := l.rootCtx()
	b := &Build{DeclRange: blk.DefRange}
	l.plan.Builds = append(l.plan.Builds, b)
	content, diags := dynblock.Expand(blk.Body, ectx).Content(buildSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return nil
	}
	var d hcl.Diagnostics
	b.Name, d = stringAttr(content.Attributes["name"], ectx)
	l.diags = append(l.diags, d...)
	b.Description, d = stringAttr(content.Attributes["description"], ectx)
	l.diags = append(l.diags, d...)

	for _, hb := range content.Blocks.OfType("hcp_packer_registry") {
		_, d := hb.Body.Content(hcpRegistrySchema)
		l.diags = append(l.diags, d...)
		l.warnf(hb.DefRange.Ptr(), "HCP Packer registry not supported",
			"bake does not publish to HCP Packer: this hcp_packer_registry block is read and ignored. bake's own registry is planned to take its place.")
	}

	addSource := func(ref string, rng hcl.Range, alias string, over hcl.Body) {
		s := l.lookupSource(ref, rng)
		if s == nil {
			return
		}
		bs := &BuildSource{Build: b, Type: s.Type, Name: s.Name, Alias: alias, DeclRange: rng, src: s}
		for _, prev := range b.Sources {
			if prev.FullName() == bs.FullName() {
				l.errorf(&rng, "Duplicate source", "The build already uses the source %s (at %s); give this one a different name = \"...\".",
					bs.FullName(), prev.DeclRange)
				return
			}
		}
		bs.body = s.body
		if over != nil {
			bs.body = overlayBody{base: s.body, over: over}
		}
		l.decodeBuildSource(bs)
		b.Sources = append(b.Sources, bs)
	}
	if a := content.Attributes["sources"]; a != nil {
		refs, rngs, d := stringList(a.Expr, ectx, `"sources"`)
		l.diags = append(l.diags, d...)
		for i, ref := range refs {
			addSource(ref, rngs[i], "", nil)
		}
	}
	for _, sb := range content.Blocks.OfType("source") {
		sc, rest, d := sb.Body.PartialContent(buildSourceSchema)
		l.diags = append(l.diags, d...)
		alias, d := stringAttr(sc.Attributes["name"], ectx)
		l.diags = append(l.diags, d...)
		addSource(sb.Labels[0], *labelRange(sb, 0), alias, rest)
	}
	if len(b.Sources) == 0 && !l.diags.HasErrors() {
		l.errorf(blk.DefRange.Ptr(), "Build has no sources", "A build needs at least one source: list them in sources = [\"source.TYPE.NAME\"] or add source blocks.")
	}

	for _, pb := range content.Blocks {
		switch pb.Type {
		case "provisioner":
			if p := l.provisioner(b, pb); p != nil {
				b.Provisioners = append(b.Provisioners, p)
			}
		case "error-cleanup-provisioner":
			p := l.provisioner(b, pb)
			if b.ErrorCleanupProvisioner != nil {
				l.errorf(pb.DefRange.Ptr(), "Duplicate error-cleanup-provisioner", "A build takes one error-cleanup-provisioner; the first is at %s.",
					b.ErrorCleanupProvisioner.DeclRange)
				continue
			}
			b.ErrorCleanupProvisioner = p
		case "test":
			l.warnf(pb.DefRange.Ptr(), "test blocks are a bake extension",
				"bake runs this test on a fresh machine started from the build's artifact; Packer does not know test blocks and would refuse this template.")
			if p := l.provisioner(b, pb); p != nil {
				for _, bs := range b.Sources {
					if k, ok := l.opts.Kinds.Sources[bs.Type]; ok && !k.Tests && p.AppliesTo(bs) {
						l.errorf(pb.DefRange.Ptr(), "Test cannot run on this source",
							"%s: the %s builder cannot start a machine from its artifact, so it cannot run test blocks (docker, qemu and amazon-ebs can); limit the test with only or except.",
							bs.QualifiedName(), bs.Type)
					}
				}
				b.Tests = append(b.Tests, p)
			}
		case "post-processor":
			if p := l.postProcessor(b, pb); p != nil {
				b.PostProcessors = append(b.PostProcessors, []*PostProcessor{p})
			}
		case "post-processors":
			pc, d := pb.Body.Content(postProcessorsSchema)
			l.diags = append(l.diags, d...)
			var chain []*PostProcessor
			for _, ppb := range pc.Blocks {
				if p := l.postProcessor(b, ppb); p != nil {
					chain = append(chain, p)
				}
			}
			if len(chain) > 0 {
				b.PostProcessors = append(b.PostProcessors, chain)
			}
		}
	}
	return b.Sources
}

// lookupSource resolves "source.type.name" or "type.name". Like Packer,
// it takes the last two parts of a three-part reference whatever the first
// ("sources.null.null" is common in public templates); a first part other
// than "source" or "sources" is a warning, for it is likely a typo.
func (l *loader) lookupSource(ref string, rng hcl.Range) *Source {
	name := ref
	if parts := strings.Split(ref, "."); len(parts) == 3 {
		if parts[0] != "source" && parts[0] != "sources" {
			l.warnf(&rng, "Unusual source reference", "The reference %q starts with %q; a source is referred to as source.%s.%s.",
				ref, parts[0], parts[1], parts[2])
		}
		name = parts[1] + "." + parts[2]
	}
	if s, ok := l.sources[name]; ok {
		return s
	}
	names := sortedKeys(l.sources)
	list := "none"
	if len(names) > 0 {
		list = strings.Join(names, ", ")
	}
	l.errorf(&rng, "Unknown source", "The build refers to the source %q, which is not declared; the declared sources are: %s.%s",
		ref, list, didYouMean(name, names))
	return nil
}

// sourceCtx is the context a build source's configuration is decoded in.
func (l *loader) sourceCtx(bs *BuildSource) *hcl.EvalContext {
	ectx := l.rootCtx().NewChild()
	ectx.Variables = map[string]cty.Value{
		"source": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(bs.LocalName()), "type": cty.StringVal(bs.Type)}),
		"build":  cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(bs.Build.Name)}),
	}
	return ectx
}

func (l *loader) decodeBuildSource(bs *BuildSource) {
	ectx := l.sourceCtx(bs)
	cfg := l.opts.Kinds.Sources[bs.Type].New()
	b, diags := DecodeWith(dynblock.Expand(bs.body, ectx), ectx, bs.Type, bs.src.DeclRange, cfg, l.plan.interpContext(bs.LocalName(), bs.Type, nil, false))
	b.Name = bs.LocalName() // defaults like qemu's output-<name> follow the build's name for the source
	diags = append(diags, cfg.Prepare(b)...)
	l.diags = append(l.diags, diags...)
	bs.Config, bs.Body = cfg, b
	if bs.src.Config == nil {
		bs.src.Config, bs.src.Body = cfg, b
	}
}

var provisionerMetaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "only"}, {Name: "except"}, {Name: "override"},
	{Name: "pause_before"}, {Name: "max_retries"}, {Name: "timeout"}, {Name: "name"}, {Name: "cache"},
}}

var postProcessorMetaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "only"}, {Name: "except"}, {Name: "keep_input_artifact"}, {Name: "name"},
}}

// onlyExcept parses the only and except meta-arguments, which must name
// sources of the build.
func (l *loader) onlyExcept(b *Build, content *hcl.BodyContent, ectx *hcl.EvalContext) (only, except []string) {
	parse := func(name string) []string {
		a := content.Attributes[name]
		if a == nil {
			return nil
		}
		list, rngs, d := stringList(a.Expr, ectx, fmt.Sprintf("%q", name))
		l.diags = append(l.diags, d...)
		for i, n := range list {
			l.checkBuildSourceName(b, name, n, rngs[i])
		}
		return list
	}
	only, except = parse("only"), parse("except")
	if content.Attributes["only"] != nil && content.Attributes["except"] != nil {
		l.errorf(content.Attributes["except"].NameRange.Ptr(), "Conflicting options", "Set \"only\" or \"except\", not both.")
	}
	return only, except
}

func (l *loader) checkBuildSourceName(b *Build, attr, n string, rng hcl.Range) {
	var names []string
	for _, bs := range b.Sources {
		if bs.matches(n) {
			return
		}
		names = append(names, bs.FullName())
	}
	if len(b.Sources) == 0 {
		return // the build's own error says so
	}
	l.errorf(&rng, "Unknown build source", "%s names %q, which is not a source of this build; its sources are: %s.%s",
		attr, n, strings.Join(names, ", "), didYouMean(strings.TrimPrefix(n, "source."), names))
}

// provisioner decodes a provisioner or error-cleanup-provisioner block.
func (l *loader) provisioner(b *Build, blk *hcl.Block) *Provisioner {
	p := &Provisioner{Type: blk.Labels[0], DeclRange: blk.DefRange}
	ectx := l.rootCtx()
	meta, rest, diags := blk.Body.PartialContent(provisionerMetaSchema)
	l.diags = append(l.diags, diags...)
	p.body = rest
	p.Only, p.Except = l.onlyExcept(b, meta, ectx)
	p.Name, diags = stringAttr(meta.Attributes["name"], ectx)
	l.diags = append(l.diags, diags...)
	if a := meta.Attributes["pause_before"]; a != nil {
		p.PauseBefore = l.durationAttr(a, ectx)
	}
	if a := meta.Attributes["timeout"]; a != nil {
		p.Timeout = l.durationAttr(a, ectx)
	}
	if a := meta.Attributes["max_retries"]; a != nil {
		v, d := a.Expr.Value(ectx)
		l.diags = append(l.diags, d...)
		if !d.HasErrors() {
			var n int
			if nv, err := convert.Convert(v, cty.Number); err != nil || nv.IsNull() || !nv.IsKnown() {
				l.errorf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "\"max_retries\" must be a whole number.")
			} else if bf := nv.AsBigFloat(); !bf.IsInt() || bf.Sign() < 0 {
				l.errorf(a.Expr.Range().Ptr(), "Invalid value", "\"max_retries\" must be a whole number, zero or more.")
			} else {
				i, _ := bf.Int64()
				n = int(i)
			}
			p.MaxRetries = n
		}
	}
	if a := meta.Attributes["cache"]; a != nil {
		v, d := a.Expr.Value(ectx)
		l.diags = append(l.diags, d...)
		if bv, err := convert.Convert(v, cty.Bool); err == nil && bv.IsKnown() && !bv.IsNull() {
			p.NoCache = bv.False()
		} else if !d.HasErrors() {
			l.errorf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "\"cache\" must be true or false.")
		}
	}
	if a := meta.Attributes["override"]; a != nil {
		p.overrides = l.overrides(b, a, ectx)
		p.Override = sortedKeys(p.overrides)
	}
	kind, ok := l.opts.Kinds.Provisioners[p.Type]
	if !ok {
		l.unknownKind(blk, "provisioner", p.Type, sortedKeys(l.opts.Kinds.Provisioners))
		return nil
	}
	p.Config, p.Body = l.decodeStep(b, kind, p.Type, p.DeclRange, ectx, p.body, p.AppliesTo, p.bodyFor)
	return p
}

// decodeStep decodes a provisioner's or post-processor's block of kind:
// once with source.* and build.* unknown (the plan's config), then once per
// build source it applies to, with that source's body (its override), to
// report problems that only show with a given source.
func (l *loader) decodeStep(b *Build, kind Kind, typ string, rng hcl.Range, ectx *hcl.EvalContext, body hcl.Body,
	applies func(*BuildSource) bool, bodyFor func(*BuildSource) hcl.Body) (Config, *Body) {
	cfg, decoded, diags := decodeKind(kind, body, provisionerCtx(ectx, nil, nil), typ, rng, l.plan.interpContext("", "", nil, true))
	l.diags = append(l.diags, diags...)
	for _, bs := range b.Sources {
		if applies(bs) {
			_, _, diags = decodeKind(kind, bodyFor(bs), provisionerCtx(ectx, bs, nil), typ, rng, l.plan.interpContext(bs.LocalName(), bs.Type, nil, true))
			l.diags = append(l.diags, diags...)
		}
	}
	return cfg, decoded
}

func decodeKind(kind Kind, body hcl.Body, ectx *hcl.EvalContext, typ string, rng hcl.Range, ictx *interpolate.Context) (Config, *Body, hcl.Diagnostics) {
	cfg := kind.New()
	b, diags := DecodeWith(dynblock.Expand(body, ectx), ectx, typ, rng, cfg, ictx)
	diags = append(diags, cfg.Prepare(b)...)
	return cfg, b, diags
}

func (l *loader) durationAttr(a *hcl.Attribute, ectx *hcl.EvalContext) time.Duration {
	v, diags := a.Expr.Value(ectx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return 0
	}
	d, err := durationOf(v)
	if err != nil {
		l.errorf(a.Expr.Range().Ptr(), "Invalid duration", "Inappropriate value for attribute %q: %s.", a.Name, err)
		return 0
	}
	return d
}

// overrides parses a provisioner's override map: source name → attributes
// that replace the provisioner's for that source.
func (l *loader) overrides(b *Build, a *hcl.Attribute, ectx *hcl.EvalContext) map[string]hcl.Body {
	out := map[string]hcl.Body{}
	// A literal object (native syntax, or JSON) keeps each entry's range.
	if items, d := hcl.ExprMap(a.Expr); !d.HasErrors() {
		for _, item := range items {
			kv, d := item.Key.Value(ectx)
			l.diags = append(l.diags, d...)
			if d.HasErrors() || kv.Type() != cty.String || !kv.IsKnown() {
				continue
			}
			key := kv.AsString()
			l.checkBuildSourceName(b, "override", key, item.Key.Range())
			if inner, d := hcl.ExprMap(item.Value); !d.HasErrors() {
				attrs := hcl.Attributes{}
				for _, it := range inner {
					nv, d := it.Key.Value(ectx)
					l.diags = append(l.diags, d...)
					if d.HasErrors() || nv.Type() != cty.String || !nv.IsKnown() {
						continue
					}
					name := nv.AsString()
					attrs[name] = &hcl.Attribute{Name: name, Expr: it.Value,
						Range: hcl.RangeBetween(it.Key.Range(), it.Value.Range()), NameRange: it.Key.Range()}
				}
				out[key] = attrsBody{attrs: attrs, rng: item.Value.Range()}
				continue
			}
			v, d := item.Value.Value(ectx)
			l.diags = append(l.diags, d...)
			if !d.HasErrors() {
				out[key] = l.staticAttrs(v, item.Value.Range())
			}
		}
		return out
	}
	// JSON, or an expression computing the map.
	v, d := a.Expr.Value(ectx)
	l.diags = append(l.diags, d...)
	if d.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		if !d.HasErrors() {
			l.errorf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "\"override\" must be a map from source name to an object of attributes.")
		}
		return out
	}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		key := k.AsString()
		l.checkBuildSourceName(b, "override", key, a.Expr.Range())
		out[key] = l.staticAttrs(ev, a.Expr.Range())
	}
	return out
}

func (l *loader) staticAttrs(v cty.Value, rng hcl.Range) hcl.Body {
	attrs := hcl.Attributes{}
	if v.IsNull() || !v.IsKnown() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		l.errorf(&rng, "Incorrect attribute value type", "Each override entry must be an object of attributes.")
		return attrsBody{attrs: attrs, rng: rng}
	}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		name := k.AsString()
		attrs[name] = &hcl.Attribute{Name: name, Expr: hcl.StaticExpr(ev, rng), Range: rng, NameRange: rng}
	}
	return attrsBody{attrs: attrs, rng: rng}
}

// bodyFor returns the provisioner's body with bs's override applied.
func (p *Provisioner) bodyFor(bs *BuildSource) hcl.Body {
	if bs == nil {
		return p.body
	}
	for _, k := range sortedKeys(p.overrides) {
		if bs.matches(k) {
			return overlayBody{base: p.body, over: p.overrides[k]}
		}
	}
	return p.body
}

// postProcessor decodes a post-processor block.
func (l *loader) postProcessor(b *Build, blk *hcl.Block) *PostProcessor {
	p := &PostProcessor{Type: blk.Labels[0], DeclRange: blk.DefRange}
	ectx := l.rootCtx()
	meta, rest, diags := blk.Body.PartialContent(postProcessorMetaSchema)
	l.diags = append(l.diags, diags...)
	p.body = rest
	p.Only, p.Except = l.onlyExcept(b, meta, ectx)
	p.Name, diags = stringAttr(meta.Attributes["name"], ectx)
	l.diags = append(l.diags, diags...)
	if a := meta.Attributes["keep_input_artifact"]; a != nil {
		v, d := a.Expr.Value(ectx)
		l.diags = append(l.diags, d...)
		if bv, err := convert.Convert(v, cty.Bool); err == nil && bv.IsKnown() && !bv.IsNull() {
			keep := bv.True()
			p.KeepInputArtifact = &keep
		} else if !d.HasErrors() {
			l.errorf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "\"keep_input_artifact\" must be true or false.")
		}
	}
	kind, ok := l.opts.Kinds.PostProcessors[p.Type]
	if !ok {
		l.unknownKind(blk, "post-processor", p.Type, sortedKeys(l.opts.Kinds.PostProcessors))
		return nil
	}
	p.Config, p.Body = l.decodeStep(b, kind, p.Type, p.DeclRange, ectx, p.body, p.AppliesTo,
		func(*BuildSource) hcl.Body { return p.body })
	return p
}

// provisionerCtx adds source.* and build.* to root: unknown when bs (or
// bv) is nil.
func provisionerCtx(root *hcl.EvalContext, bs *BuildSource, bv *BuildValues) *hcl.EvalContext {
	str := func(known bool, s string) cty.Value {
		if !known {
			return cty.UnknownVal(cty.String)
		}
		return cty.StringVal(s)
	}
	src := cty.ObjectVal(map[string]cty.Value{"name": cty.UnknownVal(cty.String), "type": cty.UnknownVal(cty.String)})
	buildName := cty.UnknownVal(cty.String)
	if bs != nil {
		src = cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(bs.LocalName()), "type": cty.StringVal(bs.Type)})
		if bs.Build != nil {
			buildName = cty.StringVal(bs.Build.Name)
		}
	}
	known := bv != nil
	if bv == nil {
		bv = &BuildValues{}
	}
	port := cty.UnknownVal(cty.Number)
	if known {
		port = cty.NumberIntVal(int64(bv.Port))
	}
	ectx := root.NewChild()
	ectx.Variables = map[string]cty.Value{
		"source": src,
		"build": cty.ObjectVal(map[string]cty.Value{
			"name":          buildName,
			"ID":            str(known, bv.ID),
			"Name":          str(known, bv.Name),
			"Host":          str(known, bv.Host),
			"Port":          port,
			"User":          str(known, bv.User),
			"Password":      str(known, bv.Password),
			"SSHPublicKey":  str(known, bv.SSHPublicKey),
			"SSHPrivateKey": str(known, bv.SSHPrivateKey),
		}),
	}
	return ectx
}

// DecodeProvisioner decodes p's configuration for the build source bs with
// the build's values known, applying p's override for bs. The engine calls
// it once the machine is up; the Body it returns points runtime errors at
// the attributes.
func (p *Plan) DecodeProvisioner(pv *Provisioner, bs *BuildSource, bv BuildValues) (Config, *Body, hcl.Diagnostics) {
	kind, ok := p.kinds.Provisioners[pv.Type]
	if !ok {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown provisioner type", Subject: pv.DeclRange.Ptr()}}
	}
	return decodeKind(kind, pv.bodyFor(bs), provisionerCtx(p.ectx, bs, &bv), pv.Type, pv.DeclRange, p.interpContext(bs.LocalName(), bs.Type, &bv, true))
}

// DecodePostProcessor decodes pp's configuration for the build source bs
// with the build's values known.
func (p *Plan) DecodePostProcessor(pp *PostProcessor, bs *BuildSource, bv BuildValues) (Config, *Body, hcl.Diagnostics) {
	kind, ok := p.kinds.PostProcessors[pp.Type]
	if !ok {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown post-processor type", Subject: pp.DeclRange.Ptr()}}
	}
	return decodeKind(kind, pp.body, provisionerCtx(p.ectx, bs, &bv), pp.Type, pp.DeclRange, p.interpContext(bs.LocalName(), bs.Type, &bv, true))
}
