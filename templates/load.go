package templates

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// PackerCompatVersion is the Packer version whose template language bake
// implements: a packer { required_version = "..." } constraint is checked
// against it (a bake {} block's constraint is checked against bake's own
// version).
const PackerCompatVersion = "1.11.0"

// LoadOptions configures Load.
type LoadOptions struct {
	// Kinds is the table of source, provisioner, post-processor and data
	// source kinds the template may use.
	Kinds Kinds
	// Vars are -var "name=value" settings, in command-line order.
	Vars []string
	// VarFiles are -var-file paths, in command-line order.
	VarFiles []string
	// Env is the environment ("KEY=value") that PKR_VAR_name and
	// BAKE_VAR_name are read from, and that env() reads.
	Env []string
	// SyntaxOnly stops after parsing: only syntax errors are reported.
	SyntaxOnly bool
	// ExecuteData runs data sources (Kind.Execute) with Context; when
	// false their values are unknown, which is enough to validate.
	ExecuteData bool
	// Context is passed to data sources; nil means context.Background().
	Context context.Context
	// Now is the run's time: timestamp() returns it for the whole run.
	// Zero means time.Now().
	Now time.Time
	// Version is bake's version: packer.version, and what a bake {}
	// block's required_version is checked against.
	Version string
	// FS, when set, is read instead of the operating system's files (for
	// tests): paths are then slash-separated and relative to its root.
	FS fs.FS
	// WorkDir is path.cwd and the base of abspath(); "" means the
	// process's working directory. Relative paths in file functions are
	// relative to the template's directory (path.root), as in Packer.
	WorkDir string
}

// Template file name suffixes a directory load reads, and var files it
// loads on its own.
var (
	templateSuffixes = []string{".pkr.hcl", ".bake.hcl", ".pkr.json", ".bake.json"}
	autoVarSuffixes  = []string{".auto.pkrvars.hcl", ".auto.bakevars.hcl", ".auto.pkrvars.json", ".auto.bakevars.json"}
)

type loader struct {
	opts   LoadOptions
	fs     fileSystem
	parser *hclparse.Parser
	plan   *Plan
	diags  hcl.Diagnostics
	order  map[string]int // file name → load position, for sorting diagnostics
	funcs  map[string]function.Function

	vars    map[string]cty.Value
	locals  map[string]cty.Value
	data    map[string]map[string]cty.Value
	sources map[string]*Source

	ctx *hcl.EvalContext // the root context, once locals and data are evaluated
}

// Load reads the template at path (a file, or a directory whose *.pkr.hcl,
// *.bake.hcl, *.pkr.json and *.bake.json files are read in name order) and
// returns its Plan. The Plan is never nil: when diagnostics hold errors it
// is incomplete, but its Files are set for WriteDiagnostics. Warnings do
// not stop a load.
func Load(path string, opts LoadOptions) (*Plan, hcl.Diagnostics) {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.WorkDir == "" && opts.FS == nil {
		opts.WorkDir, _ = os.Getwd()
	}
	l := &loader{
		opts:    opts,
		fs:      fileSystem{opts.FS},
		parser:  hclparse.NewParser(),
		plan:    &Plan{kinds: opts.Kinds},
		order:   map[string]int{},
		vars:    map[string]cty.Value{},
		locals:  map[string]cty.Value{},
		data:    map[string]map[string]cty.Value{},
		sources: map[string]*Source{},
	}
	l.load(path)
	l.plan.Files = l.parser.Files()
	return l.plan, l.finish()
}

func (l *loader) errorf(rng *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
		Detail: fmt.Sprintf(format, args...), Subject: rng})
}

func (l *loader) warnf(rng *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary,
		Detail: fmt.Sprintf(format, args...), Subject: rng})
}

func (l *loader) load(p string) {
	files, autoVars, root := l.discover(p)
	l.plan.Root = root
	l.plan.interp = newInterp(l.opts, root)
	var bodies []*hcl.File
	for _, name := range files {
		if f := l.parse(name); f != nil {
			bodies = append(bodies, f)
		}
	}
	l.plan.Digest = l.digest(p, root, files)
	if l.opts.SyntaxOnly || len(bodies) == 0 {
		return
	}
	l.funcs = functions(l.fs, l.plan.Root, l.opts.WorkDir, l.opts.Now, l.opts.Env)
	if len(files) == 1 && isLegacyJSON(files[0]) {
		l.legacy(bodies[0])
		return
	}

	var blocks hcl.Blocks
	for _, f := range bodies {
		content, diags := f.Body.Content(rootSchema)
		l.diags = append(l.diags, diags...)
		if content != nil {
			blocks = append(blocks, content.Blocks...)
		}
	}
	byType := map[string]hcl.Blocks{}
	for _, b := range blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}
	for _, b := range append(byType["packer"], byType["bake"]...) {
		l.requirements(b)
	}
	l.variables(byType["variable"], byType["variables"], autoVars)
	l.localsAndData(byType["locals"], byType["local"], byType["data"], blocks)
	for _, b := range byType["source"] {
		l.source(b)
	}
	used := map[*Source]bool{}
	for _, b := range byType["build"] {
		for _, bs := range l.build(b) {
			used[bs.source()] = true
		}
	}
	for _, s := range l.plan.Sources {
		if !used[s] {
			l.decodeSource(s)
		}
	}
	l.plan.ectx = l.rootCtx()
}

// rootSchema lists the blocks a template file may hold.
var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "packer"},
	{Type: "bake"},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "variables"},
	{Type: "locals"},
	{Type: "local", LabelNames: []string{"name"}},
	{Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "build"},
}}

// discover lists the template files and auto var files at p, and the
// template's root directory.
func (l *loader) discover(p string) (files, autoVars []string, root string) {
	info, err := l.fs.stat(p)
	if err != nil {
		l.errorf(nil, "Cannot read template", "%s.", trimErr(err))
		return nil, nil, p
	}
	if !info.IsDir() {
		return []string{p}, nil, filepath.Dir(p)
	}
	entries, err := l.fs.readDir(p)
	if err != nil {
		l.errorf(nil, "Cannot read template directory", "%s.", trimErr(err))
		return nil, nil, p
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		switch {
		case hasSuffix(name, autoVarSuffixes):
			autoVars = append(autoVars, filepath.Join(p, name))
		case hasSuffix(name, templateSuffixes):
			files = append(files, filepath.Join(p, name))
		}
	}
	sort.Strings(files)
	sort.Strings(autoVars)
	if len(files) == 0 {
		l.errorf(nil, "No template files", "The directory %s holds no file ending in %s.", p, strings.Join(templateSuffixes, ", "))
	}
	return files, autoVars, filepath.Clean(p)
}

func hasSuffix(name string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// parse reads and parses one HCL or JSON file.
func (l *loader) parse(name string) *hcl.File {
	src, err := l.fs.readFile(name)
	if err != nil {
		l.errorf(nil, "Cannot read file", "%s.", trimErr(err))
		return nil
	}
	l.order[name] = len(l.order)
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(name, ".json") {
		f, diags = l.parser.ParseJSON(src, name)
	} else {
		f, diags = l.parser.ParseHCL(src, name)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	return f
}

// trimErr returns err's text without Go's capitalised path prefix noise.
func trimErr(err error) string {
	var pe *fs.PathError
	if e, ok := err.(*fs.PathError); ok {
		pe = e
		return fmt.Sprintf("%s: %s", pe.Path, pe.Err)
	}
	return err.Error()
}

// finish removes duplicate diagnostics (a problem found once per build
// source is shown once) and sorts them by file and position.
func (l *loader) finish() hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range l.diags {
		key := fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
		if d.Subject != nil {
			key = fmt.Sprintf("%d|%s|%s|%s", d.Severity, d.Summary, d.Detail, d.Subject.String())
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Subject, out[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			oa, oka := l.order[a.Filename]
			ob, okb := l.order[b.Filename]
			if oka && okb {
				return oa < ob
			}
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
	return out
}

// fileSystem reads either the operating system's files or an fs.FS.
type fileSystem struct{ fsys fs.FS }

func fsName(name string) string {
	n := strings.TrimPrefix(path.Clean(filepath.ToSlash(name)), "/")
	if n == "" {
		return "."
	}
	return n
}

func (f fileSystem) readFile(name string) ([]byte, error) {
	if f.fsys != nil {
		return fs.ReadFile(f.fsys, fsName(name))
	}
	return os.ReadFile(name)
}

func (f fileSystem) stat(name string) (fs.FileInfo, error) {
	if f.fsys != nil {
		return fs.Stat(f.fsys, fsName(name))
	}
	return os.Stat(name)
}

func (f fileSystem) readDir(name string) ([]fs.DirEntry, error) {
	if f.fsys != nil {
		return fs.ReadDir(f.fsys, fsName(name))
	}
	return os.ReadDir(name)
}

// rootCtx returns the evaluation context holding var, local, data, path,
// packer and the functions.
func (l *loader) rootCtx() *hcl.EvalContext {
	if l.ctx != nil {
		return l.ctx
	}
	data := map[string]cty.Value{}
	for t, m := range l.data {
		data[t] = cty.ObjectVal(m)
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   objectOrEmpty(l.vars),
			"local": objectOrEmpty(l.locals),
			"data":  objectOrEmpty(data),
			"path": cty.ObjectVal(map[string]cty.Value{
				"root": cty.StringVal(l.plan.Root),
				"cwd":  cty.StringVal(l.opts.WorkDir),
			}),
			"packer": cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal(l.opts.Version)}),
		},
		Functions: l.funcs,
	}
}

func objectOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}
