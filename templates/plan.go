package templates

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates/interpolate"
)

// Plan is a loaded template: what to build, typed and checked.
type Plan struct {
	// Root is the template's directory (path.root).
	Root string
	// Files holds every parsed file by name, for WriteDiagnostics.
	Files map[string]*hcl.File
	// Digest is the hex sha256 of the template files as Load read them:
	// for a single file its sha256 (as sha256sum prints it); for a
	// directory the sha256 of sha256sum's output over its template files
	// sorted by name, each named relative to the directory. Neither the
	// spelling of the path nor an edit after Load changes it; var files
	// are not part of it.
	Digest string
	// Requirements lists the packer {} / bake {} blocks' settings.
	Requirements []*Requirement
	// Variables are the input variables, in declaration order.
	Variables []*Variable
	// Locals are the local values, in evaluation (dependency) order.
	Locals []*Local
	// DataSources are the data blocks, in evaluation order.
	DataSources []*DataSource
	// Sources are the top-level source blocks, in declaration order.
	Sources []*Source
	// Builds are the build blocks, in declaration order.
	Builds []*Build

	kinds     Kinds
	ectx      *hcl.EvalContext     // root context: var, local, data, path, packer, functions
	interp    *interpolate.Context // the run's {{ }} context
	sensitive map[string]bool
}

// Requirement is one packer {} or bake {} block.
type Requirement struct {
	// Block is "packer" or "bake".
	Block string
	// RequiredVersion is the version constraint, "" when not set.
	RequiredVersion string
	// Plugins maps a required_plugins entry's name to its source.
	Plugins   map[string]string
	DeclRange hcl.Range
}

// Variable is one input variable with its final value.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type
	Sensitive   bool
	// Value is the variable's value after precedence, conversion to Type
	// and optional-attribute defaults.
	Value cty.Value
	// SetBy says where Value came from: "default", "env PKR_VAR_x",
	// "file x.auto.pkrvars.hcl", "-var-file x.pkrvars.hcl", "-var".
	SetBy     string
	DeclRange hcl.Range
}

// Local is one local value.
type Local struct {
	Name      string
	Value     cty.Value
	Sensitive bool
	DeclRange hcl.Range
}

// DataSource is one data block. Value is unknown (of the kind's Type) when
// data sources were not executed.
type DataSource struct {
	Type, Name string
	Config     Config
	Body       *Body
	Value      cty.Value
	DeclRange  hcl.Range
}

// Source is a top-level source block.
type Source struct {
	Type, Name string
	// Config is the block decoded on its own (with source.* known).
	Config Config
	Body   *Body
	// DeclRange is the block header.
	DeclRange hcl.Range

	body hcl.Body
}

// FullName returns "type.name".
func (s *Source) FullName() string { return s.Type + "." + s.Name }

// Build is one build block.
type Build struct {
	// Name is the build's name attribute, "" when not set.
	Name        string
	Description string
	// Sources are the build's sources, each with its own decoded config.
	Sources []*BuildSource
	// Provisioners run in order on every source they apply to.
	Provisioners []*Provisioner
	// ErrorCleanupProvisioner runs when a build fails, nil when not set.
	ErrorCleanupProvisioner *Provisioner
	// Tests are the build's test blocks (a bake extension): provisioner
	// bodies run, in order, on a fresh machine started from the artifact.
	Tests []*Provisioner
	// PostProcessors are the post-processor chains: a lone post-processor
	// block is a chain of one.
	PostProcessors [][]*PostProcessor
	DeclRange      hcl.Range
}

// ProvisionersFor returns the provisioners that apply to bs, in order.
func (b *Build) ProvisionersFor(bs *BuildSource) []*Provisioner {
	var out []*Provisioner
	for _, p := range b.Provisioners {
		if p.AppliesTo(bs) {
			out = append(out, p)
		}
	}
	return out
}

// TestsFor returns the test blocks that apply to bs, in order.
func (b *Build) TestsFor(bs *BuildSource) []*Provisioner {
	var out []*Provisioner
	for _, p := range b.Tests {
		if p.AppliesTo(bs) {
			out = append(out, p)
		}
	}
	return out
}

// PostProcessorsFor returns the post-processor chains for bs, each chain
// holding only the post-processors that apply to bs; empty chains dropped.
func (b *Build) PostProcessorsFor(bs *BuildSource) [][]*PostProcessor {
	var out [][]*PostProcessor
	for _, chain := range b.PostProcessors {
		var c []*PostProcessor
		for _, p := range chain {
			if p.AppliesTo(bs) {
				c = append(c, p)
			}
		}
		if len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// BuildSource is one source of one build: what a single parallel build
// runs.
type BuildSource struct {
	// Build is the build block this source belongs to.
	Build *Build `json:"-"`
	// Type and Name name the top-level source; Alias is the build-level
	// name = "..." given to it, "" when none.
	Type, Name, Alias string
	// Config is the source's configuration for this build: the top-level
	// source with the build-level block's attributes overriding it.
	Config Config
	Body   *Body
	// DeclRange is where the build names the source (the sources list
	// entry or the nested source block).
	DeclRange hcl.Range

	body hcl.Body // the merged body, for re-decoding
	src  *Source
}

func (bs *BuildSource) source() *Source { return bs.src }

// LocalName returns the alias when set, else the source's name: the value
// of source.name.
func (bs *BuildSource) LocalName() string {
	if bs.Alias != "" {
		return bs.Alias
	}
	return bs.Name
}

// FullName returns "type.name", name being the alias when set: the name
// bake prefixes output with and -only/-except match.
func (bs *BuildSource) FullName() string { return bs.Type + "." + bs.LocalName() }

// QualifiedName returns "build.type.name" when the build has a name, else
// FullName.
func (bs *BuildSource) QualifiedName() string {
	if bs.Build != nil && bs.Build.Name != "" {
		return bs.Build.Name + "." + bs.FullName()
	}
	return bs.FullName()
}

// matches reports whether name designates bs: its full name with or
// without the "source." prefix, the top-level source's full name, or the
// local name.
func (bs *BuildSource) matches(name string) bool {
	name = strings.TrimPrefix(name, "source.")
	return name == bs.FullName() || name == bs.Type+"."+bs.Name || name == bs.LocalName()
}

// Provisioner is one provisioner (or error-cleanup-provisioner) block.
type Provisioner struct {
	Type string
	// Name is the name meta-argument, "" when not set.
	Name string
	// Only and Except name build sources ("type.name"); empty means all.
	Only, Except []string
	// Override lists the source names that have an override entry.
	Override    []string
	PauseBefore time.Duration
	Timeout     time.Duration
	MaxRetries  int
	// NoCache is `cache = false`: the build cache never reuses this step
	// or any after it.
	NoCache bool
	// Config is decoded with source.* and build.* unknown and without
	// overrides; use Plan.DecodeProvisioner for a given build source.
	Config    Config
	Body      *Body
	DeclRange hcl.Range

	body      hcl.Body            // without meta-arguments
	overrides map[string]hcl.Body // by key as written
}

// AppliesTo reports whether the provisioner runs on bs (only/except).
func (p *Provisioner) AppliesTo(bs *BuildSource) bool { return applies(p.Only, p.Except, bs) }

// PostProcessor is one post-processor block.
type PostProcessor struct {
	Type string
	// Name is the name meta-argument, "" when not set.
	Name         string
	Only, Except []string
	// KeepInputArtifact is nil when not set: the post-processor decides.
	KeepInputArtifact *bool
	Config            Config
	Body              *Body
	DeclRange         hcl.Range

	body hcl.Body
}

// AppliesTo reports whether the post-processor runs for bs (only/except).
func (p *PostProcessor) AppliesTo(bs *BuildSource) bool { return applies(p.Only, p.Except, bs) }

func applies(only, except []string, bs *BuildSource) bool {
	if len(only) > 0 {
		ok := false
		for _, n := range only {
			if bs.matches(n) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	for _, n := range except {
		if bs.matches(n) {
			return false
		}
	}
	return true
}

// BuildValues are the build.* values known once a build's machine is up.
type BuildValues struct {
	ID            string
	Name          string
	Host          string
	Port          int
	User          string
	Password      string
	SSHPublicKey  string
	SSHPrivateKey string
}

// BuildSources returns every build source of every build, in order.
func (p *Plan) BuildSources() []*BuildSource {
	var out []*BuildSource
	for _, b := range p.Builds {
		out = append(out, b.Sources...)
	}
	return out
}

// Names returns the full name ("type.name") of every build source.
func (p *Plan) Names() []string {
	var out []string
	for _, bs := range p.BuildSources() {
		out = append(out, bs.QualifiedName())
	}
	return out
}

// Select returns the build sources that -only and -except select. Each
// pattern is a path.Match glob tried against a build source's "type.name",
// its "build.type.name" and its local name. A pattern that matches no build
// source is an error diagnostic listing the names there are.
func (p *Plan) Select(only, except []string) ([]*BuildSource, hcl.Diagnostics) {
	all := p.BuildSources()
	var diags hcl.Diagnostics
	match := func(pat string, bs *BuildSource) bool {
		for _, n := range []string{bs.FullName(), bs.QualifiedName(), bs.LocalName(), bs.Type + "." + bs.Name} {
			if ok, _ := path.Match(pat, n); ok {
				return true
			}
		}
		return false
	}
	check := func(flag string, pats []string) {
		for _, pat := range pats {
			if _, err := path.Match(pat, ""); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + flag + " pattern",
					Detail: fmt.Sprintf("%q is not a valid pattern: %s.", pat, err)})
				continue
			}
			found := false
			for _, bs := range all {
				if match(pat, bs) {
					found = true
					break
				}
			}
			if !found {
				names := p.Names()
				sort.Strings(names)
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No build matches " + flag + " " + pat,
					Detail: fmt.Sprintf("%s %q matches none of this template's builds: %s.", flag, pat, strings.Join(names, ", "))})
			}
		}
	}
	check("-only", only)
	check("-except", except)
	var out []*BuildSource
	for _, bs := range all {
		keep := len(only) == 0
		for _, pat := range only {
			if match(pat, bs) {
				keep = true
			}
		}
		for _, pat := range except {
			if match(pat, bs) {
				keep = false
			}
		}
		if keep {
			out = append(out, bs)
		}
	}
	return out, diags
}

// SensitiveValues returns every string value of a sensitive variable or
// local (each leaf of structured values), longest first. Redaction is not
// done here but at the sinks, by the program's one redactor
// (internal/redact), which this package may not import.
func (p *Plan) SensitiveValues() []string {
	out := make([]string, 0, len(p.sensitive))
	for v := range p.sensitive {
		out = append(out, v)
	}
	// Longest first, so that a value containing another is redacted whole;
	// then by value, so that the order is the same every time.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

func (p *Plan) addSensitive(v cty.Value) {
	if v.IsNull() || !v.IsKnown() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		p.addSensitiveString(v.AsString())
	case ty == cty.Number:
		p.addSensitiveString(v.AsBigFloat().Text('f', -1))
	case ty == cty.Bool:
		// true/false are too common to redact.
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			p.addSensitive(e)
		}
	}
}

func (p *Plan) addSensitiveString(s string) {
	if s == "" {
		return
	}
	if p.sensitive == nil {
		p.sensitive = map[string]bool{}
	}
	p.sensitive[s] = true
}
