package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/bake-tool/bake/artifacts"
)

// DocInfo is what the SBOM says about where it comes from.
type DocInfo struct {
	// Build is the build's "type.name"; RunID the run's id.
	Build, RunID string
	// BakeVersion names the tool in the creation info.
	BakeVersion string
	// Created is when the inventory was taken.
	Created time.Time
	// Subjects are the artifacts the SBOM describes (the build's subjects
	// in the run manifest); each becomes a package the document describes
	// and that contains every installed package.
	Subjects []artifacts.Subject
}

// NoDatabaseNote is the annotation of an SBOM whose machine had no
// package database bake reads.
const NoDatabaseNote = "no package database found: this SBOM lists no packages"

// Document returns the SPDX 2.3 document of inv. Every package gets a
// purl external reference and its version; the document DESCRIBES one
// package per subject (the artifact), which CONTAINS every installed
// package. What the inventory could not read is a document annotation
// (and, with no database at all, NoDatabaseNote), so that a reader sees
// that an empty list is not a clean machine.
func Document(inv *Inventory, info DocInfo) *spdx.Document {
	created := info.Created.UTC().Format(time.RFC3339)
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      info.Build,
		DocumentNamespace: fmt.Sprintf("https://bake.dev/spdx/%s/%s", info.RunID, info.Build),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "bake-" + info.BakeVersion}},
			Created:  created,
		},
	}
	if len(inv.Databases) > 0 {
		doc.DocumentComment = "Installed packages read from the machine's package databases (" + strings.Join(inv.Databases, ", ") + ") after provisioning, before the snapshot."
	}
	notes := append([]string(nil), inv.Notes...)
	if len(inv.Databases) == 0 {
		notes = append([]string{NoDatabaseNote}, notes...)
	}
	for _, n := range notes {
		doc.Annotations = append(doc.Annotations, &spdx.Annotation{
			Annotator:                common.Annotator{AnnotatorType: "Tool", Annotator: "bake-" + info.BakeVersion},
			AnnotationDate:           created,
			AnnotationType:           "OTHER",
			AnnotationSPDXIdentifier: common.MakeDocElementID("", "DOCUMENT"),
			AnnotationComment:        n,
		})
	}
	var roots []common.ElementID
	for i, s := range info.Subjects {
		id := common.ElementID(fmt.Sprintf("Artifact-%d", i))
		roots = append(roots, id)
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             s.Name,
			PackageSPDXIdentifier:   id,
			PackageDownloadLocation: "NOASSERTION",
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: s.Digest["sha256"]}},
			PrimaryPackagePurpose:   "OPERATING-SYSTEM",
			PackageComment:          "artifact of build " + info.Build,
		})
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(id)),
			Relationship: common.TypeRelationshipDescribe,
		})
	}
	used := map[common.ElementID]int{}
	for _, p := range inv.Packages {
		id := packageID(p)
		if n := used[id]; n > 0 {
			used[id] = n + 1
			id = common.ElementID(fmt.Sprintf("%s-%d", id, n+1))
		} else {
			used[id] = 1
		}
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: inv.PURL(p),
			}},
		})
		for _, root := range roots {
			doc.Relationships = append(doc.Relationships, &spdx.Relationship{
				RefA: common.MakeDocElementID("", string(root)), RefB: common.MakeDocElementID("", string(id)),
				Relationship: common.TypeRelationshipContains,
			})
		}
		if len(roots) == 0 {
			doc.Relationships = append(doc.Relationships, &spdx.Relationship{
				RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(id)),
				Relationship: common.TypeRelationshipDescribe,
			})
		}
	}
	return doc
}

// packageID is an SPDX element id for p: letters, digits, "." and "-"
// only, as SPDX 2.3 allows.
func packageID(p Package) common.ElementID {
	var b strings.Builder
	b.WriteString("Package-")
	b.WriteString(p.Kind)
	b.WriteString("-")
	for _, c := range p.Name + "-" + p.Arch {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return common.ElementID(b.String())
}

// Marshal returns doc as indented SPDX JSON ending in a newline.
func Marshal(doc *spdx.Document) ([]byte, error) {
	var b bytes.Buffer
	if err := spdxjson.Write(doc, &b, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("write SPDX JSON: %w", err)
	}
	return b.Bytes(), nil
}

// Parse reads an SPDX 2.3 JSON document.
func Parse(data []byte) (*spdx.Document, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read SPDX JSON: %w", err)
	}
	return doc, nil
}

// Statement returns the in-toto statement whose subjects are the
// artifacts the SBOM describes and whose predicate is the SPDX document
// itself (predicate type https://spdx.dev/Document, what cosign's
// --type spdxjson looks for).
func Statement(docJSON []byte, subjects []artifacts.Subject) (*artifacts.Attestation, error) {
	if subjects == nil {
		subjects = []artifacts.Subject{}
	}
	return &artifacts.Attestation{
		Type: artifacts.StatementType, Subject: subjects,
		PredicateType: artifacts.PredicateTypeSPDX, Predicate: bytes.TrimSpace(docJSON),
	}, nil
}

// Packages lists the packages of an SPDX document (not the artifacts it
// describes) with their purls, for bake sbom and policies.
func Packages(doc *spdx.Document) []ListedPackage {
	var out []ListedPackage
	for _, p := range doc.Packages {
		purl := ""
		for _, r := range p.PackageExternalReferences {
			if r.RefType == common.TypePackageManagerPURL {
				purl = r.Locator
			}
		}
		if purl == "" {
			continue
		}
		out = append(out, ListedPackage{Name: p.PackageName, Version: p.PackageVersion, PURL: purl})
	}
	return out
}

// ListedPackage is a package as an SPDX document lists it.
type ListedPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
}

// Notes returns the document's annotations' comments.
func Notes(doc *spdx.Document) []string {
	var out []string
	for _, a := range doc.Annotations {
		out = append(out, a.AnnotationComment)
	}
	return out
}

// SHA256 returns the hex sha256 of data.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
