package sbom

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

func readInventory(t *testing.T, name string) *Inventory {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory(data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestParseDebian reads the inventory Script printed in the reference
// image (debian:bookworm, 91 packages as dpkg-query -W lists them).
func TestParseDebian(t *testing.T) {
	inv := readInventory(t, "debian-bookworm.inventory")
	if inv.OSID != "debian" || inv.OSVersionID != "12" {
		t.Errorf("os = %q %q, want debian 12", inv.OSID, inv.OSVersionID)
	}
	if len(inv.Packages) != 91 {
		t.Errorf("%d packages, want 91", len(inv.Packages))
	}
	if strings.Join(inv.Databases, ",") != "dpkg" || len(inv.Notes) != 0 {
		t.Errorf("databases %v notes %v", inv.Databases, inv.Notes)
	}
	var bsd Package
	for _, p := range inv.Packages {
		if p.Name == "bsdutils" {
			bsd = p
		}
	}
	if bsd.Version != "1:2.38.1-5+deb12u3" || bsd.Arch != "amd64" || bsd.Kind != KindDeb {
		t.Errorf("bsdutils = %+v", bsd)
	}
	if got, want := inv.PURL(bsd), "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12"; got != want {
		t.Errorf("purl = %s, want %s", got, want)
	}
}

func TestParseRPMAndAPK(t *testing.T) {
	out := marker + "os\nID=\"alpine\"\nVERSION_ID=3.20.1\n" +
		marker + "db apk\nC:Q1abc\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n" +
		marker + "db rpm\nbash\t0:5.1.8-9.el9\tx86_64\n" +
		marker + "end\n"
	inv, err := ParseInventory([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, inv.PURL(p))
	}
	want := []string{
		"pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.1",
		"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.1",
		"pkg:rpm/alpine/bash@0:5.1.8-9.el9?arch=x86_64&distro=alpine-3.20.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("purls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseBadInput(t *testing.T) {
	for name, tc := range map[string]struct{ out, want string }{
		"cut short":       {marker + "db dpkg\nbash\t5\tamd64\n", "without its end marker"},
		"bad row":         {marker + "db dpkg\nbash 5 amd64\n" + marker + "end\n", "line 2: dpkg row"},
		"unknown db":      {marker + "db pacman\n" + marker + "end\n", `unknown package database "pacman"`},
		"unknown section": {marker + "what\n" + marker + "end\n", `unknown section "what"`},
		"stray text":      {"hello\n" + marker + "end\n", "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseInventory([]byte(tc.out))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestDocumentRoundTrip writes the SPDX document and reads it back with
// the SPDX library's own reader: every package with its version and purl,
// the artifact described and containing them.
func TestDocumentRoundTrip(t *testing.T) {
	inv := readInventory(t, "debian-bookworm.inventory")
	sub := artifacts.Subject{Name: "bake.local/app@sha256:" + strings.Repeat("a", 64), Digest: map[string]string{"sha256": strings.Repeat("a", 64)}}
	doc := Document(inv, DocInfo{Build: "docker.app", RunID: "run-1", BakeVersion: "test", Created: time.Unix(1700000000, 0), Subjects: []artifacts.Subject{sub}})
	data, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.SPDXVersion != "SPDX-2.3" || back.DocumentName != "docker.app" {
		t.Errorf("version %q name %q", back.SPDXVersion, back.DocumentName)
	}
	pkgs := Packages(back)
	if len(pkgs) != len(inv.Packages) {
		t.Fatalf("%d packages read back, want %d", len(pkgs), len(inv.Packages))
	}
	for i, p := range inv.Packages {
		if pkgs[i].Name != p.Name || pkgs[i].Version != p.Version || pkgs[i].PURL != inv.PURL(p) {
			t.Errorf("package %d = %+v, want %+v", i, pkgs[i], p)
		}
	}
	contains := 0
	for _, r := range back.Relationships {
		if r.Relationship == "CONTAINS" && r.RefA.ElementRefID == "Artifact-0" {
			contains++
		}
	}
	if contains != len(inv.Packages) {
		t.Errorf("artifact CONTAINS %d packages, want %d", contains, len(inv.Packages))
	}
	st, _ := Statement(data, []artifacts.Subject{sub})
	if st.PredicateType != "https://spdx.dev/Document" || len(st.Subject) != 1 {
		t.Errorf("statement %s %v", st.PredicateType, st.Subject)
	}
}

func TestDocumentNoDatabase(t *testing.T) {
	inv, err := ParseInventory([]byte(marker + "note no package database found (looked for dpkg, rpm and apk)\n" + marker + "end\n"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(Document(inv, DocInfo{Build: "docker.tiny", RunID: "r", BakeVersion: "test", Created: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(Notes(back), "\n")
	if len(Packages(back)) != 0 || !strings.Contains(notes, NoDatabaseNote) || !strings.Contains(notes, "looked for dpkg") {
		t.Errorf("packages %d, notes %q", len(Packages(back)), notes)
	}
}

func FuzzParseInventory(f *testing.F) {
	if data, err := os.ReadFile("testdata/debian-bookworm.inventory"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(marker + "db apk\nP:musl\nV:1\n\n" + marker + "end\n"))
	f.Add([]byte(marker + "note x\n" + marker + "end\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInventory(data)
		if err != nil {
			return
		}
		for _, p := range inv.Packages {
			if !strings.HasPrefix(inv.PURL(p), "pkg:"+p.Kind+"/") {
				t.Fatalf("purl %q", inv.PURL(p))
			}
		}
		if _, err := Marshal(Document(inv, DocInfo{Build: "b", RunID: "r"})); err != nil {
			t.Fatal(err)
		}
	})
}
