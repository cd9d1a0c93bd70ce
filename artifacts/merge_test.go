package artifacts

import (
	"bytes"
	"crypto"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// shard makes one CI shard's signed run manifest: builds named names,
// each with one image subject.
func shard(t *testing.T, key crypto.Signer, runID, templateSum string, at time.Time, names ...string) []byte {
	t.Helper()
	var builds []BuildRecord
	for i, n := range names {
		digest := "sha256:" + strings.Repeat(string("0123456789abcdef"[len(n)%16]), 63) + string("0123456789abcdef"[i])
		builds = append(builds, BuildRecord{Name: n, Builder: strings.Split(n, ".")[0], Status: StatusSucceeded, Started: at, Finished: at,
			Artifacts: []*Artifact{{Build: n, Items: []Item{{ExternalIdentifier: n, URI: "registry.example/" + n + "@" + digest, Digest: digest}}}}})
	}
	st, err := NewRunManifest(RunInfo{RunID: runID, Bucket: "golden", CreatedAt: at, BakeVersion: "test", TemplatePath: "golden.pkr.hcl",
		TemplateSHA256: templateSum, Variables: map[string]any{"region": "eu-west-1"}}, builds)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMergeRunManifests(t *testing.T) {
	key, _ := GenerateKey(KeyECDSAP256)
	tpl := strings.Repeat("7", 64)
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	a := shard(t, key, "run-a", tpl, t0.Add(time.Minute), "docker.base")
	b := shard(t, key, "run-b", tpl, t0, "qemu.base", "qemu.min")
	c := shard(t, key, "run-c", tpl, t0.Add(2*time.Minute), "amazon-ebs.base")

	st, err := MergeRunManifests([][]byte{a, b, c}, key.Public(), MergeOptions{RunID: "nightly-2026-12-01"})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(signed, key.Public(), VerifyOptions{})
	if err != nil {
		t.Fatalf("merged manifest does not verify: %v", err)
	}
	p := v.Statement.Predicate
	var names []string
	for _, b := range p.Builds {
		names = append(names, b.Name)
	}
	if got := strings.Join(names, " "); got != "amazon-ebs.base docker.base qemu.base qemu.min" {
		t.Errorf("merged builds = %s", got)
	}
	if len(v.Statement.Subject) != 4 {
		t.Errorf("merged subjects = %d, want 4", len(v.Statement.Subject))
	}
	if p.Fingerprint != "nightly-2026-12-01" || !p.CreatedAt.Equal(t0) || p.Labels[MergedFromLabel] != "run-a,run-b,run-c" {
		t.Errorf("merged run: id %s, created %s, merged-from %q", p.Fingerprint, p.CreatedAt, p.Labels[MergedFromLabel])
	}
	raw, _ := json.Marshal(p)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err := compilePredicateSchema(t).Validate(inst); err != nil {
		t.Errorf("merged predicate does not validate against the schema: %v", err)
	}
	// Without -run-id the id is derived from the parts, whatever their order.
	s1, _ := MergeRunManifests([][]byte{a, b}, key.Public(), MergeOptions{})
	s2, _ := MergeRunManifests([][]byte{b, a}, key.Public(), MergeOptions{})
	if s1.Predicate.Fingerprint != s2.Predicate.Fingerprint || !strings.HasPrefix(s1.Predicate.Fingerprint, "merged-") {
		t.Errorf("derived run ids %s, %s: want the same merged-… id", s1.Predicate.Fingerprint, s2.Predicate.Fingerprint)
	}

	other, _ := GenerateKey(KeyECDSAP256)
	for name, tc := range map[string]struct {
		parts [][]byte
		want  string
	}{
		"overlapping shards":    {[][]byte{a, shard(t, key, "run-d", tpl, t0, "docker.base")}, "build docker.base is in part 1 and part 2"},
		"another template":      {[][]byte{a, shard(t, key, "run-d", strings.Repeat("8", 64), t0, "qemu.x")}, "part 2 (run run-d) was built from another template"},
		"signed by another key": {[][]byte{a, shard(t, other, "run-d", tpl, t0, "qemu.x")}, "part 2: signature does not match"},
		"unsigned part":         {[][]byte{a, shard(t, nil, "run-d", tpl, t0, "qemu.x")}, "part 2: manifest is unsigned"},
		"one part":              {[][]byte{a}, "at least two"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := MergeRunManifests(tc.parts, key.Public(), MergeOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
