package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// digest returns the Plan's Digest for the template at p, whose files
// were read (and parsed) from root.
func (l *loader) digest(p, root string, files []string) string {
	contents := map[string][]byte{}
	for _, name := range files {
		if f := l.parser.Files()[name]; f != nil {
			contents[name] = f.Bytes
		}
	}
	return templateDigest(root, !(len(files) == 1 && files[0] == p), contents)
}

// templateDigest returns the hex sha256 that identifies the template
// files as read: for a single file (dir false), the sha256 of its
// content, as sha256sum prints it; for a directory, the sha256 of
// sha256sum's output over its files sorted by name ("<hex>  <name>\n"
// each), every name relative to root, so that `sha256sum $(ls *.pkr.hcl
// ... | sort) | sha256sum` in the directory gives it. It depends neither
// on how the path was spelt nor on later edits; "" when nothing was read.
func templateDigest(root string, dir bool, contents map[string][]byte) string {
	if len(contents) == 0 {
		return ""
	}
	type entry struct{ name, sum string }
	entries := make([]entry, 0, len(contents))
	for name, b := range contents {
		s := sha256.Sum256(b)
		if !dir {
			return hex.EncodeToString(s[:])
		}
		rel, err := filepath.Rel(root, name)
		if err != nil {
			rel = filepath.Base(name)
		}
		entries = append(entries, entry{filepath.ToSlash(rel), hex.EncodeToString(s[:])})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s  %s\n", e.sum, e.name)
	}
	s := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(s[:])
}
