package sbom

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Package kinds, as the purl types name them.
const (
	KindDeb = "deb"
	KindRPM = "rpm"
	KindAPK = "apk"
)

// Package is one installed package.
type Package struct {
	// Kind is the package database it is in: "deb", "rpm" or "apk".
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
}

// Inventory is what a machine's package databases list.
type Inventory struct {
	// OS is /etc/os-release's ID and VERSION_ID ("debian", "12"), empty
	// when the machine has none.
	OSID        string `json:"osId,omitempty"`
	OSVersionID string `json:"osVersionId,omitempty"`
	// Databases are the package databases read ("dpkg", "rpm", "apk").
	Databases []string `json:"databases"`
	// Packages are the installed packages, sorted by kind, name, arch.
	Packages []Package `json:"packages"`
	// Notes say what could not be read (no database, a tool that failed).
	// An inventory with no database has no packages and says so here.
	Notes []string `json:"notes,omitempty"`
}

// marker starts every section line Script prints, so that no package
// field can be taken for one.
const marker = "@@bake-inventory "

// Script is the POSIX shell script the engine runs on the machine through
// its communicator. It prints /etc/os-release, then one section per
// package database found: dpkg-query -W (the same rows, with the
// architecture), rpm -qa, and apk's installed database, each row
// tab-separated. It always exits 0; what it cannot read it reports as a
// note, so a machine without a database gives an SBOM that says so and
// the build goes on.
const Script = `M='` + marker + `'
if [ -r /etc/os-release ]; then echo "${M}os"; cat /etc/os-release; fi
found=
if command -v dpkg-query >/dev/null 2>&1; then
  if [ -f /var/lib/dpkg/status ]; then
    found=1
    echo "${M}db dpkg"
    dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n' 2>/dev/null || echo "${M}note dpkg-query failed (exit $?)"
  else
    echo "${M}note dpkg-query is installed but /var/lib/dpkg/status is missing"
  fi
fi
if command -v rpm >/dev/null 2>&1 && rpm -q rpm >/dev/null 2>&1; then
  found=1
  echo "${M}db rpm"
  rpm -qa --qf '%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\n' 2>/dev/null || echo "${M}note rpm -qa failed (exit $?)"
fi
if [ -f /lib/apk/db/installed ]; then
  found=1
  echo "${M}db apk"
  cat /lib/apk/db/installed
fi
if [ -z "$found" ]; then echo "${M}note no package database found (looked for dpkg, rpm and apk)"; fi
echo "${M}end"
exit 0
`

// ParseInventory reads Script's output. Unknown sections and malformed
// rows are errors naming the line, so that an SBOM never silently lists
// fewer packages than the machine has; an output without the end marker
// (a command cut short) is an error too.
func ParseInventory(out []byte) (*Inventory, error) {
	inv := &Inventory{Databases: []string{}, Packages: []Package{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	section := ""
	var apk Package
	flushAPK := func() {
		if apk.Name != "" {
			apk.Kind = KindAPK
			inv.Packages = append(inv.Packages, apk)
		}
		apk = Package{}
	}
	ended := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, marker); ok {
			if section == "apk" {
				flushAPK()
			}
			word, arg, _ := strings.Cut(rest, " ")
			switch word {
			case "os":
				section = "os"
			case "db":
				switch arg {
				case "dpkg", "rpm", "apk":
				default:
					return nil, fmt.Errorf("inventory line %d: unknown package database %q", n, arg)
				}
				section = arg
				inv.Databases = append(inv.Databases, arg)
			case "note":
				inv.Notes = append(inv.Notes, arg)
			case "end":
				ended = true
				section = ""
			default:
				return nil, fmt.Errorf("inventory line %d: unknown section %q", n, word)
			}
			continue
		}
		if ended {
			continue
		}
		switch section {
		case "os":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"'`)
			switch k {
			case "ID":
				inv.OSID = v
			case "VERSION_ID":
				inv.OSVersionID = v
			}
		case "dpkg", "rpm":
			if line == "" {
				continue
			}
			f := strings.Split(line, "\t")
			if len(f) != 3 || f[0] == "" {
				return nil, fmt.Errorf("inventory line %d: %s row %q: want NAME<TAB>VERSION<TAB>ARCH", n, section, line)
			}
			kind := KindDeb
			if section == "rpm" {
				kind = KindRPM
			}
			inv.Packages = append(inv.Packages, Package{Kind: kind, Name: f[0], Version: f[1], Arch: f[2]})
		case "apk":
			// The installed database: blank-line separated stanzas of
			// "X:value" lines; P is the name, V the version, A the arch.
			if line == "" {
				flushAPK()
				continue
			}
			if len(line) < 2 || line[1] != ':' {
				continue
			}
			switch line[0] {
			case 'P':
				apk.Name = line[2:]
			case 'V':
				apk.Version = line[2:]
			case 'A':
				apk.Arch = line[2:]
			}
		case "":
			if strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("inventory line %d: %q outside any section", n, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("inventory line %d: %w", n+1, err)
	}
	if !ended {
		return nil, fmt.Errorf("inventory output ends after %d lines without its end marker (cut short?)", n)
	}
	sort.SliceStable(inv.Packages, func(i, j int) bool {
		a, b := inv.Packages[i], inv.Packages[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	return inv, nil
}

// PURL returns the package URL of p on the machine inv describes, e.g.
// pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12.
func (inv *Inventory) PURL(p Package) string {
	ns := inv.OSID
	if ns == "" {
		switch p.Kind {
		case KindDeb:
			ns = "debian"
		case KindAPK:
			ns = "alpine"
		default:
			ns = "unknown"
		}
	}
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(p.Kind)
	b.WriteString("/")
	b.WriteString(purlEscape(ns))
	b.WriteString("/")
	b.WriteString(purlEscape(p.Name))
	if p.Version != "" {
		b.WriteString("@")
		b.WriteString(purlEscape(p.Version))
	}
	var q []string
	if p.Arch != "" {
		q = append(q, "arch="+purlEscape(p.Arch))
	}
	if inv.OSID != "" && inv.OSVersionID != "" {
		q = append(q, "distro="+purlEscape(inv.OSID+"-"+inv.OSVersionID))
	}
	if len(q) > 0 {
		b.WriteString("?")
		b.WriteString(strings.Join(q, "&"))
	}
	return b.String()
}

// purlEscape percent-encodes s as the purl spec asks: everything but
// ASCII letters, digits and ".-_~" (and ":", which needs no encoding
// in a version) is encoded, so "+" in a Debian version becomes %2B.
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~', c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
