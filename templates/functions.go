package templates

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"hash"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"golang.org/x/crypto/bcrypt"
)

// FunctionNames returns the names of the functions templates may call,
// sorted.
func FunctionNames() []string {
	return sortedKeys(functions(fileSystem{}, "", "", time.Time{}, nil))
}

// functions returns the function table: Packer's set minus the vault,
// consul and aws_secretsmanager functions. File functions (file, fileset,
// fileexists, filebase64, templatefile) read through fsys with relative
// paths based at templateDir, as Packer's do; abspath is based at workDir.
// timestamp() returns now.
func functions(fsys fileSystem, templateDir, workDir string, now time.Time, env []string) map[string]function.Function {
	files := fileFuncs{fs: fsys, dir: templateDir, cwd: workDir, env: env}
	fns := map[string]function.Function{
		// numeric
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc, "log": stdlib.LogFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc,
		"signum": stdlib.SignumFunc, "sum": sumFunc,
		// string
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"regex_replace": stdlib.RegexReplaceFunc, "regexall": stdlib.RegexAllFunc, "regex": stdlib.RegexFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"upper": stdlib.UpperFunc, "startswith": strPredFunc(strings.HasPrefix), "endswith": strPredFunc(strings.HasSuffix),
		"strcontains": strPredFunc(strings.Contains),
		// collection
		"alltrue": allAnyFunc(true), "anytrue": allAnyFunc(false), "chunklist": stdlib.ChunklistFunc,
		"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "index": indexFunc, "keys": stdlib.KeysFunc,
		"length": lengthFunc, "lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc, "one": oneFunc,
		"range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "transpose": transposeFunc, "values": stdlib.ValuesFunc,
		"zipmap": stdlib.ZipmapFunc,
		// encoding
		"base64decode": base64DecodeFunc, "base64encode": strFunc(func(s string) (string, error) {
			return base64.StdEncoding.EncodeToString([]byte(s)), nil
		}),
		"base64gzip": strFunc(func(s string) (string, error) {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			_, _ = w.Write([]byte(s))
			if err := w.Close(); err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
		}),
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"urlencode":  strFunc(func(s string) (string, error) { return url.QueryEscape(s), nil }),
		"yamldecode": ctyyaml.YAMLDecodeFunc, "yamlencode": ctyyaml.YAMLEncodeFunc,
		// file system
		"abspath": strFunc(files.abspath), "basename": strFunc(func(s string) (string, error) { return filepath.Base(s), nil }),
		"dirname": strFunc(func(s string) (string, error) { return filepath.Dir(s), nil }),
		"file":    strFunc(files.file), "fileexists": files.existsFunc(), "fileset": files.filesetFunc(),
		"filebase64": strFunc(files.filebase64),
		"pathexpand": strFunc(files.pathexpand), "env": strFunc(files.getenv),
		// date and time
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		"timestamp":      constFunc(cty.StringVal(now.UTC().Format(time.RFC3339))),
		"legacy_isotime": isotimeFunc(now),
		// crypto
		"md5": hashFunc(md5.New, hex.EncodeToString), "sha1": hashFunc(sha1.New, hex.EncodeToString),
		"sha256": hashFunc(sha256.New, hex.EncodeToString), "sha512": hashFunc(sha512.New, hex.EncodeToString),
		"base64sha256": hashFunc(sha256.New, base64.StdEncoding.EncodeToString),
		"base64sha512": hashFunc(sha512.New, base64.StdEncoding.EncodeToString),
		"bcrypt":       bcryptFunc, "rsadecrypt": rsaDecryptFunc,
		// uuid
		"uuidv4": uuidv4Func, "uuidv5": uuidv5Func,
		// ip network
		"cidrhost": cidrHostFunc, "cidrnetmask": cidrNetmaskFunc, "cidrsubnet": cidrSubnetFunc,
		"cidrsubnets": cidrSubnetsFunc,
		// type conversion
		"can": tryfunc.CanFunc, "try": tryfunc.TryFunc, "convert": convertFunc,
		"tobool": stdlib.MakeToFunc(cty.Bool), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	}
	// templatefile renders with every function but itself (no recursion).
	inner := make(map[string]function.Function, len(fns))
	for k, v := range fns {
		inner[k] = v
	}
	fns["templatefile"] = files.templateFunc(inner)
	return fns
}

func constFunc(v cty.Value) function.Function {
	return function.New(&function.Spec{
		Type: function.StaticReturnType(v.Type()),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) { return v, nil },
	})
}

// strFunc wraps a string → string function.
func strFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(s), nil
		},
	})
}

func strPredFunc(f func(s, sub string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true, AllowMarked: true}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType() || ty == cty.DynamicPseudoType {
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "argument must be a string, a collection type, or a structural type")
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		if !v.IsKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if v.Type() == cty.String {
			return stdlib.Strlen(v)
		}
		if v.Type().IsObjectType() {
			return cty.NumberIntVal(int64(len(v.Type().AttributeTypes()))), nil
		}
		return v.Length(), nil
	},
})

var indexFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}, {Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ty := args[0].Type()
		if !(ty.IsListType() || ty.IsTupleType()) {
			return cty.NilVal, function.NewArgErrorf(0, "argument must be a list or tuple")
		}
		for it := args[0].ElementIterator(); it.Next(); {
			i, v := it.Element()
			if eq := v.Equals(args[1]); eq.IsKnown() && eq.True() {
				return i, nil
			}
		}
		return cty.NilVal, function.NewArgErrorf(1, "item not found")
	},
})

var sumFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ty := args[0].Type()
		if !(ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) {
			return cty.NilVal, function.NewArgErrorf(0, "argument must be a list, set or tuple of numbers")
		}
		total := cty.Zero
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			n, err := convert.Convert(v, cty.Number)
			if err != nil || n.IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "every element must be a number")
			}
			total = total.Add(n)
		}
		return total, nil
	},
})

var oneFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty.IsListType() || ty.IsSetType():
			return ty.ElementType(), nil
		case ty.IsTupleType():
			if n := len(ty.TupleElementTypes()); n == 1 {
				return ty.TupleElementTypes()[0], nil
			} else if n == 0 {
				return cty.DynamicPseudoType, nil
			}
		}
		return cty.NilType, function.NewArgErrorf(0, "must be a list, set or tuple of at most one element")
	},
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		vals := args[0].AsValueSlice()
		switch len(vals) {
		case 0:
			return cty.NullVal(ret), nil
		case 1:
			return vals[0], nil
		}
		return cty.NilVal, function.NewArgErrorf(0, "must have zero or one elements")
	},
})

func allAnyFunc(all bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for _, v := range args[0].AsValueSlice() {
				if v.IsNull() {
					continue
				}
				if v.True() != all {
					return cty.BoolVal(!all), nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

var transposeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "values", Type: cty.Map(cty.List(cty.String))}},
	Type:   function.StaticReturnType(cty.Map(cty.List(cty.String))),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		out := map[string][]cty.Value{}
		for it := args[0].ElementIterator(); it.Next(); {
			k, l := it.Element()
			for _, v := range l.AsValueSlice() {
				out[v.AsString()] = append(out[v.AsString()], k)
			}
		}
		if len(out) == 0 {
			return cty.MapValEmpty(cty.List(cty.String)), nil
		}
		m := map[string]cty.Value{}
		for k, v := range out {
			m[k] = cty.ListVal(v)
		}
		return cty.MapVal(m), nil
	},
})

var base64DecodeFunc = strFunc(func(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("failed to decode base64 data: %w", err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("the decoded data is not valid UTF-8")
	}
	return string(b), nil
})

func hashFunc(h func() hash.Hash, enc func([]byte) string) function.Function {
	return strFunc(func(s string) (string, error) {
		w := h()
		w.Write([]byte(s))
		return enc(w.Sum(nil)), nil
	})
}

var bcryptFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "str", Type: cty.String}},
	VarParam: &function.Parameter{Name: "cost", Type: cty.Number},
	Type:     function.StaticReturnType(cty.String),
	// bcrypt salts randomly: its result differs on every call.
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		cost := bcrypt.DefaultCost
		if len(args) > 1 {
			c, _ := args[1].AsBigFloat().Int64()
			cost = int(c)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(args[0].AsString()), cost)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("bcrypt: %w", err)
		}
		return cty.StringVal(string(h)), nil
	},
})

var rsaDecryptFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "ciphertext", Type: cty.String}, {Name: "privatekey", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ct, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the ciphertext is not base64: %s", err)
		}
		block, _ := pem.Decode([]byte(args[1].AsString()))
		if block == nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "the private key is not PEM-encoded")
		}
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "the private key is not an RSA key: %s", err)
		}
		//nolint:staticcheck // Packer's rsadecrypt is defined as PKCS #1 v1.5.
		pt, err := rsa.DecryptPKCS1v15(nil, key, ct)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("decrypt: %w", err)
		}
		return cty.StringVal(string(pt)), nil
	},
})

var uuidv4Func = function.New(&function.Spec{
	Type: function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		var u [16]byte
		_, _ = rand.Read(u[:])
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		return cty.StringVal(formatUUID(u)), nil
	},
})

var uuidNamespaces = map[string]string{
	"dns":  "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	"url":  "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
	"oid":  "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
	"x500": "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
}

var uuidv5Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "namespace", Type: cty.String}, {Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ns := args[0].AsString()
		if s, ok := uuidNamespaces[ns]; ok {
			ns = s
		}
		raw, err := hex.DecodeString(strings.ReplaceAll(ns, "-", ""))
		if err != nil || len(raw) != 16 {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "namespace must be dns, url, oid, x500 or a UUID")
		}
		h := sha1.New()
		h.Write(raw)
		h.Write([]byte(args[1].AsString()))
		var u [16]byte
		copy(u[:], h.Sum(nil))
		u[6] = u[6]&0x0f | 0x50
		u[8] = u[8]&0x3f | 0x80
		return cty.StringVal(formatUUID(u)), nil
	},
})

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func isotimeFunc(now time.Time) function.Function {
	return function.New(&function.Spec{
		VarParam: &function.Parameter{Name: "format", Type: cty.String},
		Type:     function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			layout := time.RFC3339
			if len(args) > 0 {
				layout = args[0].AsString()
			}
			return cty.StringVal(now.UTC().Format(layout)), nil
		},
	})
}

// convertFunc is convert(value, type): the second argument is a type
// expression such as list(string).
var convertFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true},
		{Name: "type", Type: typeexpr.TypeConstraintType},
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		want := typeexpr.TypeConstraintFromVal(args[1])
		v, err := convert.Convert(args[0], want)
		if err != nil {
			return cty.NilType, function.NewArgError(0, err)
		}
		return v.Type(), nil
	},
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		v, err := convert.Convert(args[0], ret)
		if err != nil {
			return cty.NilVal, function.NewArgError(0, err)
		}
		return v, nil
	},
})

// fileFuncs are the functions that read files.
type fileFuncs struct {
	fs  fileSystem
	dir string // the template's directory: the base of relative paths read
	cwd string // the working directory: the base of abspath
	env []string
}

// resolve returns where a path given to a file function is read: "~/"
// is the home directory, and a relative path is relative to the
// template's directory, not the working directory (Packer's rules since
// HCL2).
func (f fileFuncs) resolve(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := f.pathexpand(p); err == nil {
			p = home
		}
	}
	if !filepath.IsAbs(p) && f.dir != "" {
		return filepath.Join(f.dir, p)
	}
	return p
}

func (f fileFuncs) file(p string) (string, error) {
	b, err := f.fs.readFile(f.resolve(p))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, unwrapPath(err))
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not valid UTF-8; use filebase64 for binary files", p)
	}
	return string(b), nil
}

// filebase64 returns a file's bytes, base64-encoded, for binary files.
func (f fileFuncs) filebase64(p string) (string, error) {
	b, err := f.fs.readFile(f.resolve(p))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, unwrapPath(err))
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func (f fileFuncs) abspath(p string) (string, error) {
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	return filepath.Join(f.cwd, p), nil
}

func (f fileFuncs) getenv(k string) (string, error) {
	for i := len(f.env) - 1; i >= 0; i-- {
		if name, v, ok := strings.Cut(f.env[i], "="); ok && name == k {
			return v, nil
		}
	}
	return "", nil
}

func (f fileFuncs) pathexpand(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, _ := f.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory: %w", err)
		}
		home = h
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

func (f fileFuncs) existsFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			info, err := f.fs.stat(f.resolve(args[0].AsString()))
			if err != nil {
				return cty.False, nil
			}
			if !info.Mode().IsRegular() {
				return cty.False, fmt.Errorf("%s is not a regular file", args[0].AsString())
			}
			return cty.True, nil
		},
	})
}

// filesetFunc is fileset(path, pattern): the files under path whose path
// relative to it matches pattern, where "**" matches any number of
// directories.
func (f fileFuncs) filesetFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "pattern", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			base, pattern := f.resolve(args[0].AsString()), args[1].AsString()
			if _, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), ""); err != nil {
				return cty.NilVal, function.NewArgErrorf(1, "invalid pattern %q: %s", pattern, err)
			}
			var found []cty.Value
			var walk func(dir, rel string) error
			walk = func(dir, rel string) error {
				entries, err := f.fs.readDir(dir)
				if err != nil {
					return err
				}
				for _, e := range entries {
					r := path.Join(rel, e.Name())
					if e.IsDir() {
						if err := walk(filepath.Join(dir, e.Name()), r); err != nil {
							return err
						}
						continue
					}
					if globMatch(strings.Split(pattern, "/"), strings.Split(r, "/")) {
						found = append(found, cty.StringVal(r))
					}
				}
				return nil
			}
			if err := walk(base, ""); err != nil {
				return cty.NilVal, fmt.Errorf("fileset %s: %w", args[0].AsString(), unwrapPath(err))
			}
			if len(found) == 0 {
				return cty.SetValEmpty(cty.String), nil
			}
			sort.Slice(found, func(i, j int) bool { return found[i].AsString() < found[j].AsString() })
			return cty.SetVal(found), nil
		},
	})
}

// globMatch matches path segments against pattern segments; "**" matches
// zero or more segments.
func globMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if globMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], segs[0]); !ok {
		return false
	}
	return globMatch(pat[1:], segs[1:])
}

// templateFunc is templatefile(path, vars): the file rendered as an HCL
// template with vars as its variables.
func (f fileFuncs) templateFunc(fns map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.DynamicPseudoType),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			src, err := f.file(name)
			if err != nil {
				return cty.DynamicVal, err
			}
			expr, diags := hclsyntax.ParseTemplate([]byte(src), name, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.DynamicVal, function.NewArgError(0, diags)
			}
			vars := args[1]
			if !vars.Type().IsObjectType() && !vars.Type().IsMapType() {
				return cty.DynamicVal, function.NewArgErrorf(1, "vars must be an object or map")
			}
			ectx := &hcl.EvalContext{Variables: vars.AsValueMap(), Functions: fns}
			for _, t := range expr.Variables() {
				if _, ok := ectx.Variables[t.RootName()]; !ok {
					return cty.DynamicVal, function.NewArgErrorf(1, "vars has no value for %q, which %s uses", t.RootName(), name)
				}
			}
			v, diags := expr.Value(ectx)
			if diags.HasErrors() {
				return cty.DynamicVal, diags
			}
			return v, nil
		},
	})
}
