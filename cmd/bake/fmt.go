package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

const fmtExample = `Example:
  bake fmt .
  bake fmt -check -recursive .
  bake fmt -diff -write=false template.pkr.hcl
  cat template.pkr.hcl | bake fmt -`

// fmtSuffixes are the files a directory walk formats.
var fmtSuffixes = []string{".pkr.hcl", ".bake.hcl", ".pkrvars.hcl", ".bakevars.hcl"}

func runFmt(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("fmt", "[flags] [PATH...]\n\nRewrite templates and var files in the canonical format. PATH \"-\" reads\nstandard input and writes standard output.\n\n"+fmtExample, env.stderr)
	check := fs.Bool("check", false, "write nothing; list the files that are not formatted and exit 1 if any")
	diff := fs.Bool("diff", false, "print the changes as a unified diff")
	write := fs.Bool("write", true, "write the formatted files back (off with -check)")
	recursive := fs.Bool("recursive", false, "also format files in subdirectories")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		pos = []string{"."}
	}
	f := &formatter{env: env, check: *check, diff: *diff, write: *write && !*check}
	for _, p := range pos {
		if p == "-" {
			f.stdin()
			continue
		}
		files, err := fmtFiles(p, *recursive)
		if err != nil {
			fmt.Fprintf(env.stderr, "bake fmt: %v\n", err)
			f.failed = true
			continue
		}
		for _, name := range files {
			f.file(name)
		}
	}
	switch {
	case f.failed:
		return exitUsage
	case f.check && f.changed:
		return exitFailed
	}
	return exitOK
}

type formatter struct {
	env                *cliEnv
	check, diff, write bool
	changed, failed    bool
}

// fmtFiles lists the files to format at p: p itself when it is a file,
// else the HCL templates and var files in it.
func fmtFiles(p string, recursive bool) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		for _, s := range fmtSuffixes {
			if strings.HasSuffix(d.Name(), s) {
				out = append(out, path)
				break
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (f *formatter) stdin() {
	src, err := io.ReadAll(f.env.stdin)
	if err != nil {
		fmt.Fprintf(f.env.stderr, "bake fmt: read standard input: %v\n", err)
		f.failed = true
		return
	}
	out, ok := f.format(src, "<stdin>")
	if !ok {
		return
	}
	if !bytes.Equal(src, out) {
		f.changed = true
	}
	switch {
	case f.diff:
		writeUnifiedDiff(f.env.stdout, "<stdin>", src, out)
	case !f.check:
		_, _ = f.env.stdout.Write(out)
	}
}

func (f *formatter) file(name string) {
	if strings.HasSuffix(name, ".json") {
		return // JSON templates have no canonical HCL layout
	}
	src, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintf(f.env.stderr, "bake fmt: %v\n", err)
		f.failed = true
		return
	}
	out, ok := f.format(src, name)
	if !ok || bytes.Equal(src, out) {
		return
	}
	f.changed = true
	fmt.Fprintln(f.env.stdout, name)
	if f.diff {
		writeUnifiedDiff(f.env.stdout, name, src, out)
	}
	if f.write {
		info, err := os.Stat(name)
		if err == nil {
			err = os.WriteFile(name, out, info.Mode().Perm())
		}
		if err != nil {
			fmt.Fprintf(f.env.stderr, "bake fmt: %v\n", err)
			f.failed = true
		}
	}
}

func (f *formatter) format(src []byte, name string) ([]byte, bool) {
	out, diags := templates.Format(src, name)
	if diags.HasErrors() {
		files := map[string]*hcl.File{name: {Bytes: src}}
		_ = templates.WriteDiagnostics(f.env.stderr, files, diags, false, 0, nil)
		f.failed = true
		return nil, false
	}
	return out, true
}

// writeUnifiedDiff writes the line diff of a → b in unified format, three
// lines of context.
func writeUnifiedDiff(w io.Writer, name string, a, b []byte) {
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	slash := strings.TrimPrefix(filepath.ToSlash(name), "/")
	fmt.Fprintf(w, "--- old/%s\n+++ new/%s\n", slash, slash)
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j == len(ops) || j-end > 2*ctx {
				end = min(end+ctx, len(ops))
				break
			}
			end = j
		}
		aStart, bStart, aN, bN := ops[start].a, ops[start].b, 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				aN++
			}
			if op.kind != '-' {
				bN++
			}
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", aStart+1, aN, bStart+1, bN)
		for _, op := range ops[start:end] {
			fmt.Fprintf(w, "%c%s\n", op.kind, op.text)
		}
		i = end
	}
}

type diffOp struct {
	kind byte // ' ', '-', '+'
	text string
	a, b int // line index in a and b where the op applies
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines is a longest-common-subsequence line diff; templates are
// small enough for its quadratic table.
func diffLines(a, b []string) []diffOp {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], i, j})
			j++
		}
	}
	return ops
}
